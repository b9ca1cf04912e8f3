"""``tessera-db audit export`` (issue 5 item 7): one client's audit events as CSV with a
header, streamed, as the caller's identity.

* a sponsor gets exactly their client's rows -- also a sponsor of two clients exporting
  one of them (so a widened query cannot hide behind row-level security);
* a sponsor of another client, a stranger and an unknown client are refused before any
  output, as in ``savings export``; operators and server-side jobs export any client,
  a deleted one included (its events outlive it);
* --from / --to are inclusive UTC days; the header lists every audit_events column; the
  values are encoding v1's canonical texts (content_hash recomputes from a row);
* streaming: COPY TO STDOUT written block by block, never fetched into memory.

Events in the past cannot be written normally (occurred_at is the writing transaction's
now()), so the fixture plants a few as the superuser with the stamp trigger disabled for
that one transaction -- test data only; their content_hash is a placeholder.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import struct
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from tessera_db.cli import main
from tessera_db.commands import audit as audit_cmd
from tessera_db.db import Database
from tests.readings_fixtures import OPERATOR, SPONSOR, A, B, seed_tenants

BOTH = "sponsor-both@ab.example"   # sponsors A and B
STRANGER = "nobody@nowhere.example"
GONE = uuid.UUID("00000000-0000-4000-8000-0000000000c1")  # a client created, then deleted

#: (client, occurred_at, entity_id) of the planted past events.
PAST = [
    (A, "2026-02-28 23:59:59.999999+00", "a-feb-last"),
    (A, "2026-03-01 00:00:00+00", "a-mar-first"),
    (A, "2026-03-15 12:00:00+00", "a-mar-mid"),
    (A, "2026-03-31 23:59:59.999999+00", "a-mar-last"),
    (A, "2026-04-01 00:00:00+00", "a-apr-first"),
    (B, "2026-03-10 08:00:00+00", "b-mar"),
]


def plant(conn: psycopg.Connection[Any], rows: list[tuple[uuid.UUID, str, str]]) -> None:
    """Past events, as the superuser with the stamp trigger off for this transaction."""
    conn.execute("ALTER TABLE tessera.audit_events DISABLE TRIGGER audit_events_stamp")
    for client, occurred_at, entity_id in rows:
        conn.execute(
            "INSERT INTO tessera.audit_events (occurred_at, client_id, entity, entity_id, action, after,"
            " actor_role, actor_session_role, request_id, content_hash)"
            " VALUES (%s, %s, 'workloads', %s, 'update', '{\"mechanic\": true}', 'postgres', 'postgres',"
            " %s, sha256(convert_to(%s, 'UTF8')))",
            (occurred_at, client, entity_id, f"req-{entity_id}", entity_id))
    conn.execute("ALTER TABLE tessera.audit_events ENABLE ALWAYS TRIGGER audit_events_stamp")


@pytest.fixture
def seeded(postgresql: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """Clients A and B (their inserts are audit events), a sponsor of both, a deleted
    client, platform events, planted past events; committed."""
    conn = postgresql
    seed_tenants(conn)
    conn.execute("INSERT INTO tessera.client_users (client_id, email) VALUES (%s, %s), (%s, %s)",
                 (A, BOTH, B, BOTH))
    conn.execute("INSERT INTO tessera.clients (client_id, name) VALUES (%s, 'gone')", (GONE,))
    conn.execute("DELETE FROM tessera.clients WHERE client_id = %s", (GONE,))
    conn.execute("SELECT tessera.record_auth_failure('auth_failure', NULL, '198.51.100.7', NULL)")
    conn.commit()
    plant(conn, PAST)
    conn.commit()
    return conn


def expected(conn: psycopg.Connection[Any], client: uuid.UUID, where: str = "true") -> list[str]:
    """event_ids of the client's events, read as the superuser, in export order."""
    return [str(r[0]) for r in conn.execute(
        f"SELECT event_id FROM tessera.audit_events WHERE client_id = %s AND {where}"
        " ORDER BY occurred_at, event_id", (client,))]


def export(app_dsn: str, client: Any, *extra: str) -> Any:
    return CliRunner().invoke(main, ["audit", "export", "--client", str(client), "--dsn", app_dsn, *extra],
                              catch_exceptions=False)


def rows_of(result: Any) -> list[dict[str, str]]:
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_sponsor_exports_exactly_their_clients_rows(seeded: psycopg.Connection[Any], app_dsn: str,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    result = export(app_dsn, A, "--as", SPONSOR[A], "--output", str(out))
    assert result.exit_code == 0, result.output
    with out.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == list(audit_cmd.EXPORT_COLUMNS)
    assert [r["event_id"] for r in rows] == expected(seeded, A)
    assert len(rows) >= len([p for p in PAST if p[0] == A]) + 3  # client, workload, sponsor rows
    assert {r["client_id"] for r in rows} == {str(A)}
    # A sponsor of both clients who exports A still gets only A: the query, not RLS, narrows it.
    both = rows_of(export(app_dsn, A, "--as", BOTH))
    assert [r["event_id"] for r in both] == expected(seeded, A)


def test_another_clients_export_is_refused_before_any_output(seeded: psycopg.Connection[Any], app_dsn: str,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "b.csv"
    for who, client in ((SPONSOR[A], B), (STRANGER, A), (SPONSOR[A], GONE), (SPONSOR[A], uuid.uuid4())):
        result = export(app_dsn, client, "--as", who, "--output", str(out))
        assert result.exit_code == 1, result.output
        assert f"error: not permitted to export client {client} (or no such client) [42501]" in result.output
        assert "event_id" not in result.stdout
    assert not list(tmp_path.iterdir())  # no file, no .partial


def test_operators_and_jobs_export_any_client(seeded: psycopg.Connection[Any], app_dsn: str) -> None:
    assert [r["event_id"] for r in rows_of(export(app_dsn, B, "--as", OPERATOR))] == expected(seeded, B)
    assert [r["event_id"] for r in rows_of(export(app_dsn, A))] == expected(seeded, A)  # service_role
    gone = rows_of(export(app_dsn, GONE, "--as", OPERATOR))
    assert [r["action"] for r in gone] == ["insert", "delete"]
    # Platform events (client_id NULL) are in no client's export.
    assert seeded.execute("SELECT count(*) FROM tessera.audit_events WHERE client_id IS NULL").fetchone()[0] > 0  # type: ignore[index]


@pytest.mark.parametrize(("args", "ids"), [
    (["--from", "2026-03-01", "--to", "2026-03-31"], ["a-mar-first", "a-mar-mid", "a-mar-last"]),
    (["--from", "2026-03-31", "--to", "2026-03-31"], ["a-mar-last"]),
    (["--to", "2026-03-01"], ["a-feb-last", "a-mar-first"]),
    (["--from", "2026-03-16", "--to", "2026-04-01"], ["a-mar-last", "a-apr-first"]),
    (["--from", "2026-04-02", "--to", "2026-04-30"], []),
])
def test_date_range_is_inclusive_utc_days(seeded: psycopg.Connection[Any], app_dsn: str, args: list[str],
                                          ids: list[str]) -> None:
    rows = rows_of(export(app_dsn, A, "--as", SPONSOR[A], *args))
    assert [r["entity_id"] for r in rows] == ids


def test_from_alone_reaches_today(seeded: psycopg.Connection[Any], app_dsn: str) -> None:
    rows = rows_of(export(app_dsn, A, "--as", SPONSOR[A], "--from", "2026-04-01"))
    assert [r["event_id"] for r in rows] == expected(seeded, A, "occurred_at >= '2026-04-01 00:00+00'")
    assert rows[0]["entity_id"] == "a-apr-first" and len(rows) > 1


def test_an_empty_range_still_has_the_header(seeded: psycopg.Connection[Any], app_dsn: str) -> None:
    result = export(app_dsn, A, "--as", SPONSOR[A], "--from", "2000-01-01", "--to", "2000-01-31")
    assert result.exit_code == 0 and result.stdout.splitlines() == [",".join(audit_cmd.EXPORT_COLUMNS)]


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-04-01", "--to", "2026-03-01"], "--from 2026-04-01 is after --to 2026-03-01"),
    (["--from", "2026-3-1x"], "expected YYYY-MM-DD"),
    (["--to", "20260301"], "expected YYYY-MM-DD"),
])
def test_bad_ranges_are_usage_errors(seeded: psycopg.Connection[Any], app_dsn: str, args: list[str],
                                     message: str) -> None:
    result = CliRunner().invoke(main, ["audit", "export", "--client", str(A), "--dsn", app_dsn, *args])
    assert result.exit_code == 2 and message in result.output


def _field(value: str | None) -> bytes:
    if value is None:
        return b"\xff\xff\xff\xff"
    data = value.encode("utf-8")
    return struct.pack(">I", len(data)) + data


def test_values_are_canonical_and_the_hash_recomputes(seeded: psycopg.Connection[Any], app_dsn: str) -> None:
    rows = rows_of(export(app_dsn, A, "--as", OPERATOR, "--from", "2026-05-01"))
    stored = {str(r[0]): r[1].hex() for r in seeded.execute(
        "SELECT event_id, content_hash FROM tessera.audit_events WHERE client_id = %s", (A,))}
    assert rows
    for row in rows:
        assert row["content_hash"] == stored[row["event_id"]] and len(row["content_hash"]) == 64
        dt.datetime.strptime(row["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        # Encoding v1 over the exported texts (no empty strings in these rows: empty = NULL).
        fields = [row[c] or None for c in audit_cmd.EXPORT_COLUMNS[:-1]]
        digest = hashlib.sha256(b"tessera.audit_events.v1" + b"".join(_field(f) for f in fields)).hexdigest()
        assert digest == row["content_hash"], row["entity"]


def test_export_streams_through_copy_without_fetching(seeded: psycopg.Connection[Any], db: Database,
                                                      monkeypatch: Any) -> None:
    plant(seeded, [(A, f"2026-01-{1 + i // 200:02d} 10:00:00+00", f"bulk-{i:05d}") for i in range(3000)])
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
        written = audit_cmd.export_csv(conn, str(A), dt.date(2026, 1, 1), dt.date(2026, 1, 31), sink)
    monkeypatch.undo()
    lines = sink.getvalue().decode().splitlines()
    assert len(lines) == 1 + 3000 and written == len(sink.getvalue())
    assert Sink.writes > 1, "the CSV arrived in one piece: not streamed"
