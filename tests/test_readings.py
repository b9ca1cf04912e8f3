"""Monthly readings (issue 4, item 5) and their share tokens.

* issue: figures computed in the database from the raw optimize_savings rows of the
  client's UTC month (boundaries included/excluded correctly), breakdowns by mechanics
  stack and feature_tag, snapshot ids, actor; operators and service_role only;
* immutability: UPDATE, DELETE and TRUNCATE of an issued reading are refused for every
  role, the owner and the superuser included, even under session_replication_role =
  replica; a correction is a new version with a reason, version 1 untouched;
* rederive: agrees with the issued reading; reports a tampered raw row figure by
  figure; a row recorded after the issuance is outside the reading's cut-off (no
  difference) until a correction takes it in, one forged under the cut-off is reported;
  the CLI re-prices rows whose costs were not derived from their prices and exits 3
  (tests/test_readings_rederive.py: the priced cases, late rows, concurrency);
* share tokens: anon gets exactly the shared reading; wrong, malformed, revoked or
  expired tokens give nothing; anon reaches no table; only the SHA-256 is stored; a
  sponsor cannot share another client's reading.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from tessera_db.cli import main
from tessera_db.db import Database
from tessera_db.errors import InvalidInput, NotFound, PermissionDenied
from tests.readings_fixtures import (  # noqa: F401 (seeded is a fixture)
    MONTH,
    OPERATOR,
    SNAP_BIG,
    SNAP_SMALL,
    SPONSOR,
    A,
    B,
    add_row,
    seeded,
    utc,
)

ISSUE = "SELECT * FROM tessera.issue_monthly_reading(%s, %s, %s)"


def issue(db: Database, client: Any = A, reason: str | None = None, *, as_operator: bool = True) -> dict[str, Any]:
    ctx = db.as_operator(OPERATOR) if as_operator else db.as_service("nightly-readings")
    with ctx as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(ISSUE, (client, MONTH, reason)).fetchone()
    assert row is not None
    return row


def rederive(db: Database, client: Any = A) -> list[tuple[str, Any, Any]]:
    with db.as_operator(OPERATOR) as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT figure, issued, rederived FROM tessera.rederive_monthly_reading(%s, %s)",
            (client, MONTH)).fetchall()]


# --------------------------------------------------------------------------- issue


def test_issue_computes_the_months_figures_from_the_raw_rows(seeded: Any, db: Database) -> None:
    r = issue(db)
    assert (r["version"], r["requests"]) == (1, 4)  # a-sep and a-nov are outside October (UTC)
    assert r["uncached_input_tokens"] == 400 and r["cache_read_input_tokens"] == 40
    assert r["output_tokens"] == 200 and r["reasoning_tokens"] == 7
    assert r["original_cost_usd"] == Decimal("0.0475")
    assert r["actual_cost_usd"] == Decimal("0.0115")
    assert r["savings_usd"] == Decimal("0.0360")
    assert r["snapshot_ids"] == sorted([SNAP_BIG, SNAP_SMALL])
    assert r["issued_by"] == f"authenticated:{OPERATOR}"
    assert r["correction_reason"] is None
    stacks = {tuple(e["mechanics"]): (e["requests"], Decimal(str(e["savings_usd"]))) for e in r["by_mechanics"]}
    assert stacks == {(): (1, Decimal("0")), ("auto_route",): (2, Decimal("0.016")),
                      ("auto_route", "exact_cache"): (1, Decimal("0.020"))}
    assert [e["mechanics"] for e in r["by_mechanics"]] == [[], ["auto_route"], ["auto_route", "exact_cache"]]
    tags = [(e["feature_tag"], e["requests"]) for e in r["by_feature_tag"]]
    assert tags == [(None, 1), ("chat", 1), ("search", 2)]


def test_issue_of_an_empty_month_is_all_zeros(seeded: Any, db: Database) -> None:
    with db.as_service("nightly-readings") as conn:
        row = conn.execute("SELECT requests, savings_usd, by_mechanics, snapshot_ids, issued_by"
                           " FROM tessera.issue_monthly_reading(%s, '2026-01-01')", (A,)).fetchone()
    assert row == (0, Decimal("0"), [], [], "service_role:nightly-readings")


def test_only_operators_and_service_jobs_issue(seeded: Any, db: Database) -> None:
    with pytest.raises(PermissionDenied, match="only operators"), db.as_sponsor(SPONSOR[A]) as conn:
        conn.execute(ISSUE, (A, MONTH, None))
    with pytest.raises(PermissionDenied), db.as_anon() as conn:
        conn.execute(ISSUE, (A, MONTH, None))
    with pytest.raises(InvalidInput, match="first day"), db.as_operator(OPERATOR) as conn:
        conn.execute(ISSUE, (A, "2026-10-02", None))


# --------------------------------------------------------------------------- immutability


@pytest.mark.parametrize("statement", [
    "UPDATE tessera.monthly_readings SET requests = requests",
    "UPDATE tessera.monthly_readings SET savings_usd = 0 WHERE false",
    "DELETE FROM tessera.monthly_readings",
    "TRUNCATE tessera.monthly_readings CASCADE",
])
@pytest.mark.parametrize("who", ["superuser", "superuser_replica", "tessera_owner", "operator", "service_role"])
def test_issued_reading_is_immutable_for_every_role(seeded: Any, db: Database, statement: str, who: str) -> None:
    issue(db)
    conn = seeded
    if who == "superuser_replica":
        conn.execute("SET LOCAL session_replication_role = replica")
    elif who == "tessera_owner":
        conn.execute("SET LOCAL ROLE tessera_owner")
    elif who == "operator":
        conn.execute("SELECT set_config('request.jwt.claims', %s, true), set_config('role', 'authenticated', true)",
                     (json.dumps({"email": OPERATOR, "role": "authenticated"}),))
    elif who == "service_role":
        conn.execute("SET LOCAL ROLE service_role")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)
    conn.rollback()
    assert conn.execute("SELECT count(*), sum(requests) FROM tessera.monthly_readings").fetchone() == (1, 4)


def test_correction_is_a_new_version_and_needs_a_reason(seeded: Any, db: Database) -> None:
    first = issue(db)
    with pytest.raises(InvalidInput, match="needs a reason"):
        issue(db)
    add_row(seeded, A, "a-late", utc(2026, 10, 31, 12), original="1", actual="0.5")
    seeded.commit()
    second = issue(db, reason="late rows from the EU proxy")
    assert (second["version"], second["requests"], second["correction_reason"]) == \
        (2, 5, "late rows from the EU proxy")
    rows = seeded.execute("SELECT version, requests, savings_usd, issued_at FROM tessera.monthly_readings"
                          " ORDER BY version").fetchall()
    assert rows[0] == (1, 4, first["savings_usd"], first["issued_at"])  # version 1 untouched
    assert rows[1][:2] == (2, 5)


def test_concurrent_corrections_get_consecutive_versions(seeded: Any, db: Database, app_dsn: str) -> None:
    """Two jobs correcting the same month at once: the advisory lock serialises them, so
    both succeed with versions 2 and 3 instead of one failing on the primary key."""
    import threading

    issue(db)
    barrier = threading.Barrier(2)
    versions: list[int] = []
    errors: list[BaseException] = []

    def job(n: int) -> None:
        try:
            with Database(app_dsn, min_size=1, max_size=1) as own, own.as_service(f"job-{n}") as conn:
                conn.execute("SELECT 1")
                barrier.wait(timeout=10)
                row = conn.execute(ISSUE, (A, MONTH, f"rerun {n}")).fetchone()
                assert row is not None
                versions.append(row[2])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(versions) == [2, 3]


# --------------------------------------------------------------------------- rederive


def _tamper(conn: psycopg.Connection[Any], sql: str) -> None:
    """Rewrite history as an attacker with superuser would: switch the guards off first
    (ENABLE ALWAYS triggers survive session_replication_role = replica)."""
    conn.execute("ALTER TABLE tessera.optimize_savings DISABLE TRIGGER USER")
    conn.execute("ALTER TABLE tessera.optimize_savings_default DISABLE TRIGGER USER"
                 if conn.execute("SELECT to_regclass('tessera.optimize_savings_default')").fetchone()[0]
                 else "SELECT 1")
    for (part,) in conn.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'tessera.optimize_savings'::regclass"
    ).fetchall():
        conn.execute(f"ALTER TABLE {part} DISABLE TRIGGER USER")
    conn.execute(sql)
    conn.commit()


def test_rederive_agrees_with_the_issued_reading(seeded: Any, db: Database) -> None:
    issue(db)
    assert rederive(db) == []
    with db.as_sponsor(SPONSOR[A]) as conn:  # a sponsor can check their own reading
        assert conn.execute("SELECT count(*) FROM tessera.rederive_monthly_reading(%s, %s)",
                            (A, MONTH)).fetchone() == (0,)


def test_rederive_reports_a_tampered_raw_row(seeded: Any, db: Database) -> None:
    issue(db)
    _tamper(seeded, "UPDATE tessera.optimize_savings SET actual_cost_usd = 0.001 WHERE request_id = 'a-4'")
    diffs = {figure: (issued, rederived) for figure, issued, rederived in rederive(db)}
    assert diffs["actual_cost_usd"] == (0.0115, 0.01)
    assert diffs["savings_usd"] == (0.036, 0.0375)
    assert diffs['by_mechanics[["auto_route"]].actual_cost_usd'] == (0.0065, 0.005)
    assert diffs['by_feature_tag["chat"].savings_usd'] == (0.01, 0.0115)
    assert "requests" not in diffs


def test_rederive_leaves_late_rows_to_a_correction_and_reports_a_forged_covered_row(seeded: Any,
                                                                                   db: Database) -> None:
    issue(db)
    add_row(seeded, A, "a-late", utc(2026, 10, 5), feature_tag="brand-new", original="1", actual="1")
    seeded.commit()
    assert rederive(db) == []  # recorded after the issuance: outside its cut-off, no difference
    assert issue(db, reason="late row")["requests"] == 5  # the correction takes it in
    assert rederive(db) == []
    add_row(seeded, A, "a-forged", utc(2026, 10, 6), feature_tag="forged", original="1", actual="1")
    _tamper(seeded, "UPDATE tessera.optimize_savings SET recorded_seq = 1 WHERE request_id = 'a-forged'")
    diffs = {figure: (issued, rederived) for figure, issued, rederived in rederive(db)}
    assert diffs["requests"] == (5, 6)  # slipped in under the cut-off: a difference
    issued, rederived = diffs['by_feature_tag["forged"]']  # one line for a whole new element
    assert issued is None and rederived["requests"] == 1


def test_rederive_without_an_issued_reading_is_not_found(seeded: Any, db: Database) -> None:
    with pytest.raises(NotFound, match="no issued reading"):
        rederive(db, B)


def test_cli_rederive_reprices_rows_whose_costs_were_written_by_hand(seeded: Any, db: Database,
                                                                     app_dsn: str) -> None:
    """The seed writes costs straight into the table, not derived from its prices:
    the CLI re-prices every row from its buckets and snapshots and names them (the SQL
    function above sums stored costs and agrees). tests/test_readings_rederive.py has
    the priced cases."""
    issue(db)
    runner = CliRunner()
    args = ["readings", "rederive", "--client", str(A), "--month", "2026-10", "--dsn", app_dsn]
    bad = runner.invoke(main, args, catch_exceptions=False)
    assert bad.exit_code == 3, bad.output
    lines = {" ".join(line.split()) for line in bad.output.splitlines()}
    assert "request a-1 at 2026-10-01 00:00:00+00: original_cost_usd stored 0.010 rederived 0.00157," \
           " actual_cost_usd stored 0.004 rederived 0.000157" in lines
    assert any(line.startswith("request a-2 ") and line.endswith("has no cache_read price)") for line in lines)
    assert "original_cost_usd issued 0.0475 rederived 0.02457" in lines
    missing = runner.invoke(main, [*args[:3], str(B), *args[4:]], catch_exceptions=False)
    assert missing.exit_code == 1 and "error: no issued reading" in missing.output


def test_cli_issue_and_correction(seeded: Any, app_dsn: str) -> None:
    runner = CliRunner()
    base = ["readings", "issue", "--client", str(A), "--month", "2026-10", "--dsn", app_dsn]
    first = runner.invoke(main, base, catch_exceptions=False)
    assert first.exit_code == 0 and "version 1: 4 requests" in first.output
    again = runner.invoke(main, base, catch_exceptions=False)
    assert again.exit_code == 1 and "needs a reason" in again.output
    corr = runner.invoke(main, [*base, "--reason", "re-priced", "--as-operator", OPERATOR], catch_exceptions=False)
    assert corr.exit_code == 0 and "version 2" in corr.output
    sponsor = runner.invoke(main, [*base, "--reason", "x", "--as-sponsor", SPONSOR[A]], catch_exceptions=False)
    assert sponsor.exit_code == 1 and "only operators" in sponsor.output


# --------------------------------------------------------------------------- share tokens


def share(db: Database, email: str, client: Any = A, version: int | None = None,
          valid_for: str = "30 days") -> tuple[Any, str]:
    with db.as_sponsor(email) as conn:
        row = conn.execute("SELECT share_token_id, token FROM tessera.create_reading_share_token(%s, %s, %s, %s)",
                           (client, MONTH, version, valid_for)).fetchone()
    assert row is not None
    return row[0], row[1]


def by_token(db: Database, token: Any) -> list[tuple[Any, ...]]:
    with db.as_anon() as conn:
        return conn.execute("SELECT month, version, requests, savings_usd"
                            " FROM tessera.reading_by_share_token(%s)", (token,)).fetchall()


def test_anon_gets_exactly_the_shared_reading(seeded: Any, db: Database) -> None:
    issue(db)
    issue(db, B)
    issue(db, reason="second version")  # A v2 exists; the token names v1
    _, token = share(db, SPONSOR[A], version=1)
    assert token.startswith("tsr_") and len(token) == 4 + 32 + 1 + 43
    assert by_token(db, token) == [(MONTH, 1, 4, Decimal("0.0360"))]
    with db.as_anon() as conn:
        cols = [c.name for c in conn.execute("SELECT * FROM tessera.reading_by_share_token(%s)", (token,)).description]
    assert "issued_by" not in cols and "client_id" not in cols


@pytest.mark.parametrize("wrong", [
    None, "", "tsr_", "x" * 80,
    # well-formed but unknown, and another client's prefix on a valid secret (filled in below)
    "tsr_" + "0" * 32 + "_" + "A" * 43, "SWAP_PREFIX",
])
def test_wrong_tokens_give_nothing(seeded: Any, db: Database, wrong: str | None) -> None:
    issue(db)
    _, token = share(db, SPONSOR[A])
    if wrong == "SWAP_PREFIX":
        wrong = "tsr_" + B.hex + token[36:]
    assert by_token(db, wrong) == []


def test_anon_reaches_no_table(seeded: Any, db: Database) -> None:
    issue(db)
    share(db, SPONSOR[A])
    for table in ("monthly_readings", "reading_share_tokens", "optimize_savings", "clients"):
        with pytest.raises(PermissionDenied), db.as_anon() as conn:
            conn.execute(f"SELECT * FROM tessera.{table}")
    with pytest.raises(PermissionDenied), db.as_anon() as conn:
        conn.execute("SELECT * FROM tessera.monthly_reading_figures(%s, %s)", (A, MONTH))
    with pytest.raises(PermissionDenied), db.as_anon() as conn:
        conn.execute("SELECT * FROM tessera.create_reading_share_token(%s, %s)", (A, MONTH))


def test_setting_the_token_guc_by_hand_reveals_nothing(seeded: Any, db: Database) -> None:
    """The owner's token policy needs the raw token; knowing the stored hash is useless."""
    issue(db)
    _, token = share(db, SPONSOR[A])
    stored = seeded.execute("SELECT encode(token_sha256, 'hex') FROM tessera.reading_share_tokens").fetchone()[0]
    with db.as_sponsor(SPONSOR[B]) as conn:
        conn.execute("SELECT set_config('tessera.share_token', %s, true)", (stored,))
        assert conn.execute("SELECT count(*) FROM tessera.monthly_readings WHERE client_id = %s",
                            (A,)).fetchone() == (0,)


def test_definer_owner_sees_only_what_the_presented_token_opens(seeded: Any, db: Database) -> None:
    """The backstop under reading_by_share_token: as tessera_owner (FORCE RLS) with no
    JWT, the owner's policies admit exactly the token's row and reading, nothing else."""
    issue(db)
    issue(db, B)
    issue(db, reason="v2")
    _, token = share(db, SPONSOR[A], version=1)
    share(db, SPONSOR[B], client=B)
    conn = seeded
    conn.execute("SET LOCAL ROLE tessera_owner")
    count = "SELECT (SELECT count(*) FROM tessera.reading_share_tokens), (SELECT count(*) FROM tessera.monthly_readings)"
    assert conn.execute(count).fetchone() == (0, 0)
    conn.execute("SELECT set_config('tessera.share_token', %s, true)", (token,))
    assert conn.execute(count).fetchone() == (1, 1)
    assert conn.execute("SELECT client_id, version FROM tessera.monthly_readings").fetchone() == (A, 1)
    conn.rollback()


def test_only_the_hash_is_stored(seeded: Any, db: Database) -> None:
    issue(db)
    share_id, token = share(db, SPONSOR[A])
    secret = token.split("_", 2)[2]  # tsr_<client hex>_<random base64url, which may hold "_">
    assert len(secret) >= 40
    dump = seeded.execute("SELECT string_agg(t::text, ' ') FROM tessera.reading_share_tokens AS t").fetchone()[0]
    assert token not in dump and secret not in dump
    stored = seeded.execute("SELECT token_sha256 FROM tessera.reading_share_tokens WHERE share_token_id = %s",
                            (share_id,)).fetchone()[0]
    assert bytes(stored) == hashlib.sha256(token.encode()).digest()


def test_sponsor_cannot_share_another_clients_reading(seeded: Any, db: Database) -> None:
    issue(db)
    with pytest.raises(PermissionDenied):
        share(db, SPONSOR[B], client=A)
    with pytest.raises(NotFound):  # own client, nothing issued
        share(db, SPONSOR[B], client=B)
    _, op_token = share(db, OPERATOR)  # operators may share any client's reading
    assert len(by_token(db, op_token)) == 1


def test_revoked_and_expired_tokens_stop_working(seeded: Any, db: Database) -> None:
    issue(db)
    share_id, token = share(db, SPONSOR[A])
    with pytest.raises(NotFound), db.as_sponsor(SPONSOR[B]) as conn:
        conn.execute("SELECT tessera.revoke_reading_share_token(%s, %s)", (A, share_id))
    assert len(by_token(db, token)) == 1
    with db.as_sponsor(SPONSOR[A]) as conn:
        assert conn.execute("SELECT tessera.revoke_reading_share_token(%s, %s)", (A, share_id)).fetchone() == (True,)
    assert by_token(db, token) == []
    # Expired: plant a token row whose validity is over.
    expired = "tsr_" + A.hex + "_" + "E" * 43
    seeded.execute("INSERT INTO tessera.reading_share_tokens (client_id, month, version, token_sha256, created_by,"
                   " created_at, expires_at) VALUES (%s, %s, 1, sha256(%s::bytea), 'test', now() - interval '2 days',"
                   " now() - interval '1 day')", (A, MONTH, expired.encode()))
    seeded.commit()
    assert by_token(db, expired) == []


def test_share_token_rows_change_only_by_revocation(seeded: Any, db: Database) -> None:
    issue(db)
    share(db, SPONSOR[A])
    seeded.execute("SET LOCAL session_replication_role = replica")
    for stmt in ("UPDATE tessera.reading_share_tokens SET expires_at = expires_at + interval '1 year'",
                 "UPDATE tessera.reading_share_tokens SET version = 1, revoked_at = now()"
                 " , token_sha256 = sha256('x'::bytea)"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            seeded.execute(stmt)
        seeded.rollback()
    with pytest.raises(PermissionDenied), db.as_sponsor(SPONSOR[A]) as conn:
        conn.execute("UPDATE tessera.reading_share_tokens SET revoked_at = now()")
    with pytest.raises(PermissionDenied), db.as_sponsor(SPONSOR[A]) as conn:
        conn.execute("INSERT INTO tessera.reading_share_tokens (client_id, month, version, token_sha256, created_by,"
                     " expires_at) VALUES (%s, %s, 1, sha256('weak'::bytea), 'me', now() + interval '1 day')",
                     (A, MONTH))


def test_cli_share_prints_a_working_token(seeded: Any, db: Database, app_dsn: str) -> None:
    issue(db)
    result = CliRunner().invoke(main, ["readings", "share", "--client", str(A), "--month", "2026-10",
                                       "--as-sponsor", SPONSOR[A], "--dsn", app_dsn], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert len(by_token(db, token)) == 1


def test_demo_data_has_readings_and_a_working_demo_link(db: Database) -> None:
    from tessera_db import demo

    demo.load(db)
    demo.load(db)  # re-runnable
    with db.as_operator(OPERATOR) as conn:
        per_client = conn.execute("SELECT client_id::text, count(*) FROM tessera.monthly_readings"
                                  " GROUP BY 1 ORDER BY 1").fetchall()
    assert [c for c, _ in per_client][:2] == ["a0000000-0000-4000-8000-000000000001",
                                              "b0000000-0000-4000-8000-000000000002"]
    assert all(n >= 1 for _, n in per_client)
    demo_token = "tsr_a0000000000040008000000000000001_DemoOnlyShareTokenForAcmeReadingNotSecret00"
    assert len(by_token(db, demo_token)) == 1
    with db.as_sponsor("bob@globex.example") as conn:  # Globex's sponsor sees Globex's readings only
        assert {r[0] for r in conn.execute("SELECT client_id::text FROM tessera.monthly_readings")} == \
            {"b0000000-0000-4000-8000-000000000002"}
