"""``tessera-db policy``: review a deployment's access rules (README "Reviewing a deployment").

    tessera-db policy matrix [--dsn DSN] [--format md|csv|json|html] [-o FILE]
    tessera-db policy diff [--expected FILE] [--dsn DSN] [--write-expected]

Both take the live matrix (tessera_db/policy_matrix.py): every table x identity x command,
probed with probe tenants and identities created inside one transaction that is rolled
back, and every function of the exposed schema x role. They need a superuser DSN, or a
login that bypasses RLS and is a member of tessera_owner (Supabase's deploy login).
``diff`` compares it with the declared matrix shipped with the package
(tessera_db/data/policy_matrix.json) and exits 1 listing every difference;
``--write-expected`` rewrites the declared file from the live database instead (after a
reviewed schema change).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tessera_db import policy_matrix as pm
from tessera_db.commands._options import friendly_errors, resolve_dsn
from tessera_db.errors import TesseraError

superuser_dsn_option = click.option(
    "--dsn", envvar="TESSERA_DSN",
    help="DSN of the database to probe, as a superuser or a login that bypasses RLS and is a member of "
         "tessera_owner, e.g. Supabase's postgres (default: $TESSERA_DSN, else the dev cluster's superuser).")


def _take(dsn: str | None) -> pm.PolicyMatrix:
    try:
        return pm.take_live(resolve_dsn(dsn))
    except pm.ProbeError as exc:
        raise TesseraError(f"cannot probe this database: {exc}") from None


@click.group()
def policy() -> None:
    """The live access matrix of a deployment, and how it differs from the declared one."""


@policy.command("matrix")
@superuser_dsn_option
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json", "html"]), default="md",
              show_default=True, help="Output format (html: one self-contained page).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE instead of standard output.")
@friendly_errors
def matrix(dsn: str | None, fmt: str, output: Path | None) -> None:
    """Every table x identity x command and every tessera function x role, observed live.

    Probe rows and identities exist only inside one transaction, which is rolled back.
    """
    taken = _take(dsn)
    text = pm.render(taken, fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}: {len(taken.tables)} tables x {len(pm.ACTORS)} identities x "
               f"{len(pm.COMMANDS)} commands, {len(taken.functions)} functions of schema {pm.SCHEMA} "
               f"(database {taken.database}, {taken.taken_at})")


@policy.command("diff")
@click.option("--expected", type=click.Path(dir_okay=False, path_type=Path),
              help="Declared matrix, JSON (default: the one shipped with the package, "
                   "tessera_db/data/policy_matrix.json).")
@superuser_dsn_option
@click.option("--write-expected", "write_expected", is_flag=True,
              help="Write the live matrix to the --expected file instead of comparing "
                   "(after a reviewed change; commit the file).")
@friendly_errors
def diff(expected: Path | None, dsn: str | None, write_expected: bool) -> None:
    """Compare the live matrix with the declared one; exit 1 listing every difference."""
    path = expected if expected is not None else pm.declared_path()
    if write_expected:
        live = _take(dsn)
        path.write_text(pm.dump_json(live, meta=False), encoding="utf-8")
        click.echo(f"wrote {path}: {len(live.tables)} tables, {len(live.functions)} functions "
                   f"(from database {live.database})")
        return
    try:
        declared = pm.load(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TesseraError(f"cannot read the declared matrix {path}: {exc}") from None
    live = _take(dsn)
    problems = pm.diff(live, declared)
    if problems:
        click.echo(f"policy diff: database {live.database} differs from {path} in {len(problems)} place(s):")
        for problem in problems:
            click.echo(f"  {problem}")
        sys.exit(1)
    click.echo(f"policy diff: database {live.database} matches {path} "
               f"({len(live.tables)} tables, {len(live.functions)} functions)")
