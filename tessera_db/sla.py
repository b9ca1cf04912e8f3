"""Quality SLA, anomalies and the kill-switch contract (issue 15; docs/operations.md).

The rules live in the database (``tessera.sla_run``, ``tessera.sla_credit_amount``,
``tessera.respond_to_anomaly``, ``tessera.kill_switch_report``); this module only calls
them on a connection that already has the right identity:

* :func:`run` -- the daily SLA job (service_role), idempotent, with an injectable clock.
* :func:`rederive_credits` -- re-derive a month's SLA service credits from the raw rows;
  ``tessera-db readings rederive`` calls it (one call site) next to the reading.
* :func:`kill_switch_report` -- each engagement and whether the 60 s contract held.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tessera_db.errors import translate_errors


@dataclass(frozen=True)
class Breach:
    """One breach ``tessera.sla_run`` found: ``status`` is ``disabled`` (new: stack
    disabled, credit written) or ``already_recorded`` (a rerun: nothing written)."""

    client_id: Any
    workload_id: Any
    mechanics: list[str]
    first_day: dt.date
    last_day: dt.date
    days: list[dict[str, Any]]
    charged_usd: Decimal
    credit_usd: Decimal
    anomaly_id: Any
    credit_transaction_id: Any
    status: str


def run(conn: psycopg.Connection[Any], now: dt.datetime | None = None) -> list[Breach]:
    """Run the SLA job as of ``now`` (default: the database clock) on a service_role
    connection; returns every breach in the job's window, new or already recorded."""
    with translate_errors(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM tessera.sla_run(COALESCE(%s::timestamptz, now()))", (now,))
        return [Breach(**row) for row in cur.fetchall()]


@dataclass(frozen=True)
class CreditCheck:
    """One SLA credit of the month: recorded in the ledger vs re-derived now."""

    anomaly_id: Any
    workload_id: Any
    mechanics: list[str]
    first_day: dt.date
    last_day: dt.date
    credit_transaction_id: Any
    recorded_usd: Decimal
    rederived_usd: Decimal
    agrees: bool


def rederive_credits(conn: psycopg.Connection[Any], client_id: Any, month: dt.date) -> list[CreditCheck]:
    """Every quality-SLA credit of the client dated in ``month``, re-derived from
    optimize_savings (``tessera.sla_credit_rederive``) under the caller's RLS."""
    with translate_errors(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM tessera.sla_credit_rederive(%s, %s)", (client_id, month))
        return [CreditCheck(**row) for row in cur.fetchall()]


def credit_differences(conn: psycopg.Connection[Any], client_id: Any, month: dt.date) -> list[list[Any]]:
    """The month's SLA credits that disagree with their re-derivation, as
    ``[figure, issued, rederived]`` rows in the shape ``readings rederive`` prints."""
    return [[f"sla_credit {c.anomaly_id}", str(c.recorded_usd), str(c.rederived_usd)]
            for c in rederive_credits(conn, client_id, month) if not c.agrees]


def kill_switch_report(conn: psycopg.Connection[Any], client_id: Any, start: dt.datetime | None = None,
                       end: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Each kill-switch engagement of the client engaged in [start, end), with the last
    mechanic that fired after it and whether the 60 s contract held."""
    with translate_errors(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM tessera.kill_switch_report(%s, %s, %s)", (client_id, start, end))
        return list(cur.fetchall())
