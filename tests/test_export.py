"""``tessera-db savings export`` (issue 4, item 7): CSV with a header, streamed, as the
caller's identity.

* a sponsor exports their own client's month: header + exactly that month's rows;
* a sponsor of another client is refused with a clear error, and no file is written;
* an operator may export any client;
* streaming: the export goes through COPY TO STDOUT and writes block by block; it never
  calls a fetch method (they are booby-trapped here) and writes more than one block for
  a large month.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import psycopg
from click.testing import CliRunner

from tessera_db.cli import main
from tessera_db.commands import savings as savings_cmd
from tessera_db.db import Database
from tests.readings_fixtures import (  # noqa: F401 (seeded is a fixture)
    MONTH,
    OPERATOR,
    SPONSOR,
    A,
    B,
    add_row,
    seeded,
    utc,
)


def export(app_dsn: str, *extra: str, client: Any = A) -> Any:
    return CliRunner().invoke(main, ["savings", "export", "--client", str(client), "--month", "2026-10",
                                     "--dsn", app_dsn, *extra], catch_exceptions=False)


def test_sponsor_exports_own_month_with_a_header(seeded: Any, app_dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    result = export(app_dsn, "--as-sponsor", SPONSOR[A], "--output", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(newline="")))
    assert list(rows[0]) == list(savings_cmd.COLUMNS)
    assert [r["request_id"] for r in rows] == ["a-1", "a-2", "a-3", "a-4"]  # Oct (UTC) only, in time order
    assert rows[1]["mechanics"] == "auto_route;exact_cache"
    assert rows[3]["occurred_at"] == "2026-10-31 23:59:59+00"
    assert {r["client_id"] for r in rows} == {str(A)}
    assert rows[0]["feature_tag"] == "search" and rows[2]["feature_tag"] == ""


def test_stdout_export_and_operator_sees_any_client(seeded: Any, app_dsn: str) -> None:
    result = export(app_dsn, "--as-operator", OPERATOR, client=B)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][0] == "client_id" and [r[2] for r in rows[1:]] == ["b-1"]


def test_sponsor_cannot_export_another_client(seeded: Any, app_dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "b.csv"
    result = export(app_dsn, "--as-sponsor", SPONSOR[A], "--output", str(out), client=B)
    assert result.exit_code == 1
    assert f"error: not permitted to export client {B}" in result.output
    assert not out.exists() and not list(tmp_path.iterdir())
    stranger = export(app_dsn, "--as-sponsor", "nobody@nowhere.example")
    assert stranger.exit_code == 1 and "not permitted" in stranger.output


def test_export_streams_through_copy_without_fetching(seeded: Any, db: Database, monkeypatch: Any) -> None:
    for i in range(3000):
        add_row(seeded, A, f"bulk-{i:05d}", utc(2026, 10, 2, i // 3600, (i // 60) % 60, i % 60),
                feature_tag="bulk-export-feature-tag")
    seeded.commit()

    def trap(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("export fetched rows into memory instead of streaming")

    class Sink(io.BytesIO):
        writes = 0

        def write(self, b: Any) -> int:
            Sink.writes += 1
            return super().write(b)

    sink = Sink()
    with db.as_sponsor(SPONSOR[A]) as conn:
        for name in ("fetchall", "fetchmany"):
            monkeypatch.setattr(psycopg.Cursor, name, trap)
        written = savings_cmd.export_csv(conn, str(A), MONTH, sink)
    monkeypatch.undo()
    lines = sink.getvalue().decode().splitlines()
    assert len(lines) == 1 + 4 + 3000 and written == len(sink.getvalue())
    assert Sink.writes > 1, "the CSV arrived in one piece: not streamed"
