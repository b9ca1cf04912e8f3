"""The live access matrix of a tessera-db deployment: every table x identity x command,
and every function of the exposed schema x role. One implementation, used by
``tessera-db policy matrix`` / ``policy diff``, by the test suite, and to generate
docs/rls-policy-matrix.md and the declared matrix shipped with the package
(tessera_db/data/policy_matrix.json).

Tables. Every relation of kind r/p in schema ``tessera`` (partitions excluded) is probed,
as each actor, with SELECT, INSERT, UPDATE, DELETE and TRUNCATE. The actors are probe
identities: two probe tenants A and B (fixed ids), a sponsor of each (a ``client_users``
row), an operator (an ``operators`` row), a signed-in stranger, and the database roles
anon, service_role, tessera_proxy and tessera_settlement. Every probe row is created by
the prober inside one transaction that is rolled back at the end, so the target keeps no
role, row, grant or setting of the probe. The prober is a superuser, or a role that
bypasses RLS and holds tessera_owner's privileges (Supabase's deploy login ``postgres``),
which is made a member of the actors' roles inside that transaction.

Outcomes (one cell of the matrix):

    denied     the statement raised SQLSTATE 42501 (no privilege, RLS WITH CHECK, or a
               guard trigger)
    none       the statement ran and saw / changed no probe row
    A  B  A,B  the probe tenants whose rows were seen, inserted, updated or deleted; a row's
               tenant is its client_id (A or B); rows of a table without client_id are
               ``platform``; a newly inserted client (or a NULL client_id) is ``new``.
               Rows of the deployment's own clients are not counted (the probe tenants
               stand for them), so a deployment with data gives the same matrix as an
               empty one.

How each command is probed (each probe runs in its own savepoint and is rolled back):

    SELECT    ``SELECT client_id FROM t`` (``SELECT 1`` without client_id): the tenants
              of the rows returned.
    INSERT    one INSERT per probe row of the spec: a row for tenant A and, separately, a
              forged row for tenant B (``platform`` / ``new`` for the tables without
              tenants). The cell lists the probes that succeeded; ``denied`` when all of
              them raised 42501.
    UPDATE    ``UPDATE t SET <column> = <the value every probe row already has>``, no
              WHERE and no RETURNING, so the statement reads no column and PostgreSQL
              applies only the UPDATE policies (the most an attacker can reach). The
              column is the spec's ``update`` column: for tessera.workloads a mechanic_*
              flag, the only kind of column a sponsor may change.
    DELETE    ``DELETE FROM t`` (no WHERE, no RETURNING).
    TRUNCATE  ``TRUNCATE t`` (row-level security never applies to TRUNCATE).

Which rows a write changed is read back by the prober inside the probe's savepoint
(row versions whose ctid appeared or vanished), so RETURNING -- which needs SELECT and
would add the SELECT policies -- is never used. For DELETE and TRUNCATE the foreign keys
that reference the probed table are dropped inside the savepoint first: a cell then shows
what authorization allows, not what ON DELETE RESTRICT happens to block. Any error other
than 42501 is a broken probe (ProbeError).

Functions. Every function of schema ``tessera`` from pg_proc: EXECUTE per role
(has_function_privilege, PUBLIC from the ACL), SECURITY DEFINER or INVOKER, the pinned
search_path (proconfig), volatility, and what it may touch: the tables, views and
functions of the project's schemas named schema-qualified in its body outside comments
(tables also in string literals, a dynamic statement's text; functions only outside them)
(the project's rule for definer bodies, whose search_path holds only
pg_catalog and pg_temp), plus pg_depend's dependencies (SQL-standard bodies) ("touches");
and the tables and views reached through the project functions it calls, transitively
("reaches": an invoker wrapper in tessera over a definer body in tessera_private reaches
what the body touches). Dynamic SQL and unqualified names are not seen, and a reviewer
reads the body for those.

What the probe cannot undo: sequences (nextval is never rolled back) advance by the
identity values the probe rows and their audit events drew; and every table is locked
briefly (ACCESS EXCLUSIVE for the TRUNCATE and foreign-key probes, released at each
savepoint's rollback), so run it on a live deployment in a quiet moment.

Regenerate docs/rls-policy-matrix.md with::

    TESSERA_WRITE_MATRIX=1 .venv/bin/pytest tests/test_policy_matrix.py -k doc

and the declared matrix (after a reviewed change) with::

    tessera-db policy diff --write-expected
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

SCHEMA = "tessera"
#: The schemas whose objects a function's body is searched for.
PROJECT_SCHEMAS = ("tessera", "tessera_private")
COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
#: The roles of the function grid (PUBLIC: a grant to everyone, from the ACL).
FUNCTION_ROLES = ("PUBLIC", "anon", "authenticated", "service_role", "tessera_proxy", "tessera_settlement",
                  "tessera_sealer")
DOC_PATH = "docs/rls-policy-matrix.md"
REGENERATE = "TESSERA_WRITE_MATRIX=1 .venv/bin/pytest tests/test_policy_matrix.py -k doc"
REGENERATE_EXPECTED = "tessera-db policy diff --write-expected"
FORMAT = "tessera-policy-matrix/1"

# Fixed tenant ids keep the seed (and any failure message) deterministic.
TENANT_IDS: dict[str, uuid.UUID] = {
    "A": uuid.UUID("00000000-0000-4000-8000-00000000000a"),
    "B": uuid.UUID("00000000-0000-4000-8000-00000000000b"),
}
# Probe addresses under .invalid (RFC 2606): never a real operator's or sponsor's.
SPONSOR_EMAIL = {"A": "sponsor-a@tenant-a.invalid", "B": "sponsor-b@tenant-b.invalid"}
OPERATOR_EMAIL = "operator@policy-matrix.invalid"
STRANGER_EMAIL = "stranger@policy-matrix.invalid"


def declared_path() -> Path:
    """The declared matrix shipped with the package (default of ``policy diff --expected``)."""
    return Path(str(resources.files("tessera_db") / "data" / "policy_matrix.json"))


# --------------------------------------------------------------------------- actors


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    claims: Mapping[str, Any]
    about: str


ACTORS: tuple[Actor, ...] = (
    Actor("anon", "anon", {"role": "anon"}, "unauthenticated API caller"),
    Actor("sponsor_A", "authenticated",
          {"email": SPONSOR_EMAIL["A"], "sub": SPONSOR_EMAIL["A"], "role": "authenticated"},
          f"authenticated, JWT email {SPONSOR_EMAIL['A']} listed in client_users of A"),
    Actor("sponsor_B", "authenticated",
          {"email": SPONSOR_EMAIL["B"], "sub": SPONSOR_EMAIL["B"], "role": "authenticated"},
          f"authenticated, JWT email {SPONSOR_EMAIL['B']} listed in client_users of B"),
    Actor("stranger", "authenticated",
          {"email": STRANGER_EMAIL, "sub": STRANGER_EMAIL, "role": "authenticated"},
          "authenticated, JWT email listed nowhere (negative control)"),
    Actor("operator", "authenticated",
          {"email": OPERATOR_EMAIL, "sub": OPERATOR_EMAIL, "role": "authenticated"},
          f"authenticated, JWT email {OPERATOR_EMAIL} listed in tessera.operators"),
    Actor("service_role", "service_role", {"role": "service_role", "sub": "policy-matrix"},
          "server-side jobs (BYPASSRLS)"),
    Actor("tessera_proxy", "tessera_proxy", {}, "the proxy worker login"),
    Actor("tessera_settlement", "tessera_settlement", {}, "the settlement job login"),
)
ACTOR_NAMES = tuple(a.name for a in ACTORS)
ACTORS_BY_NAME = {a.name: a for a in ACTORS}


def act_as(conn: psycopg.Connection[Any], actor: Actor) -> None:
    """Become ``actor`` for the rest of the transaction (or until RESET ROLE)."""
    conn.execute(
        "SELECT set_config('request.jwt.claims', %s, true), set_config('role', %s, true)",
        (json.dumps(dict(actor.claims)) if actor.claims else "", actor.role),
    )


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcome:
    """``denied`` (42501) or the set of tenants whose rows were seen / changed."""

    denied: bool = False
    tenants: frozenset[str] = frozenset()

    def __str__(self) -> str:
        if self.denied:
            return "denied"
        return ",".join(_tenant_order(self.tenants)) or "none"

    @classmethod
    def parse(cls, cell: str) -> Outcome:
        if cell == "denied":
            return DENIED
        if cell == "none":
            return NONE
        tenants = frozenset(cell.split(","))
        unknown = tenants - set(TENANT_LABELS)
        if unknown or "" in tenants:
            raise ValueError(f"unknown outcome {cell!r}; use denied, none or tenants from {TENANT_LABELS}")
        return cls(tenants=tenants)


DENIED = Outcome(denied=True)
NONE = Outcome()
TENANT_LABELS = ("A", "B", "platform", "new")


def _tenant_order(tenants: frozenset[str]) -> list[str]:
    return sorted(tenants, key=lambda t: (TENANT_LABELS.index(t) if t in TENANT_LABELS else 99, t))


# --------------------------------------------------------------------------- table specs


class _TenantId:
    """Placeholder in row values: the id of the row's tenant (A or B)."""

    def __repr__(self) -> str:
        return "TENANT"


TENANT = _TenantId()


@dataclass(frozen=True)
class Row:
    tenant: str  # A | B | platform | new
    values: Mapping[str, Any]

    def resolved(self) -> dict[str, Any]:
        return {k: (TENANT_IDS[self.tenant] if v is TENANT else v) for k, v in self.values.items()}


def row(tenant: str, **values: Any) -> Row:
    return Row(tenant, values)


@dataclass(frozen=True)
class TableSpec:
    """How one table is probed (the expected cells are in data/policy_matrix.json).

    seed      rows created by the superuser before probing (in this order, across tables)
    insert    the INSERT probes: a row for tenant A and a forged row for tenant B
    update    (column, value): ``UPDATE t SET column = value``; every seeded row must
              already hold that value, so the probe changes nothing but row versions
    """

    seed: tuple[Row, ...]
    insert: tuple[Row, ...]
    update: tuple[str, Any]


# Row values of the monthly-readings tables (issue 4); the seeds are version 1 of
# October 2026 for each tenant, and the share token rows point at them.
_READING: dict[str, Any] = dict(
    month="2026-10-01", version=1, requests=0, uncached_input_tokens=0, cache_read_input_tokens=0,
    cache_write_5m_input_tokens=0, cache_write_1h_input_tokens=0, output_tokens=0, reasoning_tokens=0,
    original_cost_usd=0, actual_cost_usd=0, savings_usd=0, by_mechanics="[]", by_feature_tag="[]",
    snapshot_ids="{}", issued_by="policy-matrix", recorded_cutoff=0)
_SHARE: dict[str, Any] = dict(
    month="2026-10-01", version=1, token_sha256=b"\x0a" * 32, created_by="policy-matrix",
    expires_at="2100-01-01T00:00:00Z")

# Row values of the savings ledger tables (issue 4): fixed workload and price snapshot ids
# (seeded under workloads and pricing_catalog) so the foreign keys hold.
_WORKLOAD = {"A": uuid.UUID("00000000-0000-4000-8000-0000000001aa"),
             "B": uuid.UUID("00000000-0000-4000-8000-0000000001bb")}
_SNAPSHOT = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
# Issue 6: fixed batch ids (batch_secrets refer to them) and the sealing scheme.
_BATCH = {"A": uuid.UUID("00000000-0000-4000-8000-0000000006aa"),
          "B": uuid.UUID("00000000-0000-4000-8000-0000000006bb")}
_SCHEME = "hpke-x25519-sha256-chacha20poly1305.v1"


def _saving(tenant: str, request_id: str) -> Row:
    return row(tenant, client_id=TENANT, workload_id=_WORKLOAD[tenant], request_id=request_id,
               occurred_at="2026-10-15T00:00:00Z", requested_provider="openai", requested_model="probe-model",
               routed_provider="openai", routed_model="probe-model", requested_snapshot_id=_SNAPSHOT,
               routed_snapshot_id=_SNAPSHOT, uncached_input_tokens=1, output_tokens=1, original_cost_usd=2,
               actual_cost_usd=2, mechanics="{}")


# The probe rows of every table, with the reasons behind the declared cells. The
# declared cells themselves are tessera_db/data/policy_matrix.json (read a cell as "as
# <actor>, <command> on this table reaches the rows of <cell>"); changing one is a
# security decision: say why in the commit.
TABLES: dict[str, TableSpec] = {
    "clients": TableSpec(
        seed=(row("A", client_id=TENANT, name="Tenant A"),
              row("B", client_id=TENANT, name="Tenant B")),
        insert=(row("new", name="Probe client"),),
        update=("plan_tier", "free"),
        # Sponsors read their own client; the kill switch and the opt-in change only
        # through tessera.set_kill_switch / set_cross_customer_intelligence.
    ),
    "workloads": TableSpec(
        # Fixed workload ids: the savings entries (issue 4) refer to them.
        seed=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], name="main"),
              row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], name="main")),
        insert=(row("A", client_id=TENANT, name="probe"),
                row("B", client_id=TENANT, name="probe")),
        # A mechanic_* flag: the only kind of column the sponsor guard lets sponsors set.
        update=("mechanic_auto_route", False),
    ),
    "operators": TableSpec(
        seed=(row("platform", email=OPERATOR_EMAIL),),
        insert=(row("platform", email="probe-operator@tessera.example"),),
        update=("display_name", None),
    ),
    "client_users": TableSpec(
        seed=(row("A", client_id=TENANT, email=SPONSOR_EMAIL["A"]),
              row("B", client_id=TENANT, email=SPONSOR_EMAIL["B"])),
        insert=(row("A", client_id=TENANT, email="probe-sponsor@tenant.example"),
                row("B", client_id=TENANT, email="probe-sponsor@tenant.example")),
        update=("display_name", None),
    ),
    # -- pricing catalog, sources and observations (issue 4) -------------------------
    # Platform-wide reference data (no client_id). Nobody holds a write privilege:
    # prices change only through tessera.publish_price, observations only through
    # tessera.record_price_observations (both SECURITY DEFINER, service_role only); the
    # guard / append-only triggers refuse the owner too. Operators and sponsors read
    # prices, sources and observations (public price files); import runs are internal.
    "pricing_catalog": TableSpec(
        seed=(row("platform", pricing_snapshot_id=_SNAPSHOT, provider="openai", model="probe-model",
                  input_usd_per_token=1, output_usd_per_token=1, effective_from="2026-01-01T00:00:00Z"),),
        insert=(row("platform", provider="openai", model="probe-insert", input_usd_per_token=1,
                    output_usd_per_token=1, effective_from="2026-01-01T00:00:00Z"),),
        update=("model", "probe-model"),
    ),
    "price_sources": TableSpec(
        seed=(row("platform", source="probe_source", upstream="probe_source", precedence=99,
                  description="probe", registered_on="2026-11-23"),),
        insert=(row("platform", source="probe_insert", upstream="litellm", precedence=98,
                    description="probe", registered_on="2026-11-23"),),
        update=("registered_on", "2026-11-23"),
    ),
    "price_import_runs": TableSpec(
        seed=(row("platform", import_run_id=uuid.UUID("00000000-0000-4000-8000-0000000000e1"),
                  source="litellm", file_name="probe.json", file_sha256="0" * 64,
                  observed_at="2026-01-01T00:00:00Z", imported_by="probe"),),
        insert=(row("platform", source="litellm", file_name="probe-insert.json", file_sha256="0" * 64,
                    observed_at="2026-01-01T00:00:00Z", imported_by="probe"),),
        update=("imported_by", "probe"),
    ),
    "price_observations": TableSpec(
        seed=(row("platform", import_run_id=uuid.UUID("00000000-0000-4000-8000-0000000000e1"),
                  source="litellm", provider="openai", model="probe-model", source_model="probe",
                  component="input", value=1, raw_value="1", observed_at="2026-01-01T00:00:00Z"),),
        insert=(row("platform", import_run_id=uuid.UUID("00000000-0000-4000-8000-0000000000e1"),
                    source="litellm", provider="openai", model="probe-model", source_model="probe",
                    component="output", value=1, raw_value="1", observed_at="2026-01-01T00:00:00Z"),),
        update=("source_model", "probe"),
    ),
    # -- monthly readings and share tokens (issue 4) --------------------------------
    "monthly_readings": TableSpec(
        seed=(row("A", **_READING, client_id=TENANT), row("B", **_READING, client_id=TENANT)),
        insert=(row("A", **{**_READING, "version": 2, "correction_reason": "probe"}, client_id=TENANT),
                row("B", **{**_READING, "version": 2, "correction_reason": "probe"}, client_id=TENANT)),
        update=("requests", 0),
        # Append-only: nobody updates, deletes or truncates an issued reading (no
        # privilege, and the make_append_only triggers for the owner). Operators and
        # service jobs issue readings; sponsors read their own; anon only through
        # tessera.reading_by_share_token().
    ),
    "reading_share_tokens": TableSpec(
        seed=(row("A", **_SHARE, client_id=TENANT), row("B", **_SHARE, client_id=TENANT)),
        insert=(row("A", **{**_SHARE, "token_sha256": b"\x0b" * 32}, client_id=TENANT),
                row("B", **{**_SHARE, "token_sha256": b"\x0b" * 32}, client_id=TENANT)),
        # The guard lets an UPDATE only revoke (revoked_at NULL -> time), so the no-op
        # probe is refused for every role that may update at all.
        update=("revoked_at", None),
        # Tokens are created and revoked only through tessera.create_reading_share_token /
        # revoke_reading_share_token (API roles hold SELECT only: a token is generated by
        # the database, never chosen by a caller). Service jobs may purge rows.
    ),
    # -- per-request savings and the balance ledger (issue 4) ----------------------
    # Append-only: nobody updates, deletes or truncates (no privilege; the
    # make_append_only triggers, ENABLE ALWAYS, refuse the owner and superusers too).
    # Savings rows are written only by tessera.record_request (SECURITY DEFINER, EXECUTE
    # for tessera_proxy only): no role holds INSERT, and the proxy reads nothing.
    "optimize_savings": TableSpec(
        seed=(_saving("A", "seed-a"), _saving("B", "seed-b")),
        insert=(_saving("A", "probe-a"), _saving("B", "probe-b")),
        update=("batch", False),
    ),
    # The idempotency key of optimize_savings (a partitioned table cannot hold it):
    # internal, reached only by record_request.
    "savings_request_keys": TableSpec(
        seed=(row("A", client_id=TENANT, request_id="seed", occurred_at="2026-10-15T00:00:00Z"),
              row("B", client_id=TENANT, request_id="seed", occurred_at="2026-10-15T00:00:00Z")),
        insert=(row("A", client_id=TENANT, request_id="probe", occurred_at="2026-10-15T00:00:00Z"),
                row("B", client_id=TENANT, request_id="probe", occurred_at="2026-10-15T00:00:00Z")),
        update=("request_id", "seed"),
    ),
    # Refused measurements (issue 12): appended only by tessera.record_requests (and
    # replay_dead_letters), both SECURITY DEFINER; sponsors read their own clients',
    # operators and service jobs all; append-only like the ledger.
    # The operator-side delete log (issue 14): operators and jobs read it; nobody writes
    # it directly (tessera.erase_client does, as the owner); operators may only attach a
    # certificate (a column grant; the guard trigger allows it once).
    "client_erasures": TableSpec(
        seed=(row("A", client_id=TENANT, plan_tier="free", reason="seed", initiated_by="ops@tessera.example",
                  started_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:00:01Z", counts="{}",
                  erasure_event_id=1),
              row("B", client_id=TENANT, plan_tier="free", reason="seed", initiated_by="ops@tessera.example",
                  started_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:00:01Z", counts="{}",
                  erasure_event_id=1)),
        insert=(row("A", client_id=TENANT, plan_tier="free", reason="probe", initiated_by="ops@tessera.example"),
                row("B", client_id=TENANT, plan_tier="free", reason="probe", initiated_by="ops@tessera.example")),
        update=("reason", "seed"),
    ),
    "savings_dead_letters": TableSpec(
        seed=(row("A", client_id=TENANT, request_id="seed", entry="rejected", payload='{"request_id": "seed"}',
                  sqlstate="P0002", reason="seed", db_role="policy-matrix"),
              row("B", client_id=TENANT, request_id="seed", entry="rejected", payload='{"request_id": "seed"}',
                  sqlstate="P0002", reason="seed", db_role="policy-matrix")),
        insert=(row("A", client_id=TENANT, request_id="probe", entry="rejected", payload="{}", sqlstate="P0002",
                    reason="probe", db_role="policy-matrix"),
                row("B", client_id=TENANT, request_id="probe", entry="rejected", payload="{}", sqlstate="P0002",
                    reason="probe", db_role="policy-matrix")),
        update=("reason", "seed"),
    ),
    # Operators and service jobs append (actor stamped from the claims); sponsors read
    # their own clients' ledger (and balance, tessera.client_balances).
    "balance_transactions": TableSpec(
        seed=(row("A", client_id=TENANT, kind="top_up", amount_usd=10, reason="seed", actor="seed"),
              row("B", client_id=TENANT, kind="top_up", amount_usd=10, reason="seed", actor="seed")),
        insert=(row("A", client_id=TENANT, kind="adjustment", amount_usd=-1, reason="probe", actor="probe"),
                row("B", client_id=TENANT, kind="adjustment", amount_usd=-1, reason="probe", actor="probe")),
        update=("reason", "seed"),
    ),
    # -- audit log (issue 5) -----------------------------------------------------------
    # Append-only and written only by triggers and definer functions (through
    # tessera_private.write_audit_event, as the owner): no role holds INSERT, UPDATE,
    # DELETE or TRUNCATE, and the make_append_only triggers refuse the owner too.
    # Sponsors read their own clients' events; operators and service jobs (sealer,
    # verifier, export) read all. The seeds of the other tables write audit rows too
    # (all inserts, hence the UPDATE probe column); platform events (operators, prices:
    # client_id NULL) show as ``new``, the engine's label for a NULL client_id.
    "audit_events": TableSpec(
        seed=(row("A", client_id=TENANT, entity="clients", action="insert"),
              row("B", client_id=TENANT, entity="clients", action="insert")),
        insert=(row("A", client_id=TENANT, entity="probe", action="insert"),
                row("B", client_id=TENANT, entity="probe", action="insert")),
        update=("action", "insert"),
    ),
    # Signed Merkle checkpoints over audit_events (issue 5, H2's block): public
    # commitments with no tenant data, so operators and sponsors read them all (a
    # signed-in user linked to no client sees none, like the price catalog); nobody
    # writes but the tessera_sealer login through tessera.audit_append_checkpoint.
    "audit_checkpoints": TableSpec(
        # Tree sizes far beyond any real log (2**62), so the UNIQUE sizes of a sealed
        # deployment's checkpoints never collide with the probe rows.
        seed=(row("platform", tree_size=2**62, root_hash=b"\x01" * 32, prev_tree_size=2**62 - 1,
                  prev_root_hash=b"\x05" * 32, horizon="5", prev_horizon="4", sealed_at="2026-11-23T00:00:00Z",
                  key_id="a" * 64, signature=b"\x02" * 64, frontier=[b"\x01" * 32]),),
        insert=(row("platform", tree_size=2**62 + 1, root_hash=b"\x03" * 32, prev_tree_size=2**62,
                    prev_root_hash=b"\x01" * 32, horizon="6", prev_horizon="5", sealed_at="2026-11-23T00:01:00Z",
                    key_id="a" * 64, signature=b"\x04" * 64, frontier=[b"\x03" * 32, b"\x01" * 32]),),
        update=("version", 1),
    ),
    # -- keys, settlement secrets, exact cache, worker config (issue 6) ---------------
    # No API role writes these tables directly: keys are made / revoked / rotated by
    # tessera.create_api_key & co. (from the key's hash; the client generates it), batches move only
    # through tessera.create_batch / transition_batch (state machine trigger), secrets
    # are stored and opened only by the proxy / settlement definer functions, the cache
    # only by cache_lookup / cache_put / flush_cache, settings by set_exact_cache_ttl and
    # the config-version trigger. Column grants keep key_sha256, sealed and response_body
    # unreadable for every API role. service_role deletes what the sweeper purges.
    "api_keys": TableSpec(
        seed=(row("A", client_id=TENANT, key_sha256=b"\x0c" * 32, display_hint="tk_…seed", name="seed",
                  capabilities="{proxy}", created_by="policy-matrix"),
              row("B", client_id=TENANT, key_sha256=b"\x0c" * 32, display_hint="tk_…seed", name="seed",
                  capabilities="{proxy}", created_by="policy-matrix")),
        insert=(row("A", client_id=TENANT, key_sha256=b"\x0d" * 32, display_hint="tk_…prob", name="probe",
                    capabilities="{proxy,batch}", created_by="policy-matrix"),
                row("B", client_id=TENANT, key_sha256=b"\x0d" * 32, display_hint="tk_…prob", name="probe",
                    capabilities="{proxy,batch}", created_by="policy-matrix")),
        update=("name", "seed"),
    ),
    # Platform security log (no client_id): operators read; the sweeper purges.
    "api_key_failures": TableSpec(
        seed=(row("platform", source="192.0.2.1", source_ip="192.0.2.1", key_hint="(malformed)",
                  reason="malformed"),),
        insert=(row("platform", source="192.0.2.2", source_ip="192.0.2.2", key_hint="(malformed)",
                    reason="malformed"),),
        update=("reason", "malformed"),
    ),
    "batches": TableSpec(
        seed=(row("A", client_id=TENANT, batch_id=_BATCH["A"], workload_id=_WORKLOAD["A"], provider="openai"),
              row("B", client_id=TENANT, batch_id=_BATCH["B"], workload_id=_WORKLOAD["B"], provider="openai")),
        insert=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], provider="openai"),
                row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], provider="openai")),
        update=("provider", "openai"),
    ),
    "batch_secrets": TableSpec(
        seed=(row("A", client_id=TENANT, batch_id=_BATCH["A"], secret_id=_BATCH["A"], scheme=_SCHEME,
                  key_id="k1", sealed=b"\x00" * 49),
              row("B", client_id=TENANT, batch_id=_BATCH["B"], secret_id=_BATCH["B"], scheme=_SCHEME,
                  key_id="k1", sealed=b"\x00" * 49)),
        insert=(row("A", client_id=TENANT, batch_id=_BATCH["A"], secret_id=_BATCH["B"], scheme=_SCHEME,
                    key_id="k1", sealed=b"\x00" * 49),
                row("B", client_id=TENANT, batch_id=_BATCH["B"], secret_id=_BATCH["A"], scheme=_SCHEME,
                    key_id="k1", sealed=b"\x00" * 49)),
        update=("key_id", "k1"),
    ),
    "cache_entries": TableSpec(
        seed=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], entry_id=b"\x01" * 32, response_body=b"{}",
                  expires_at="2100-01-01T00:00:00Z"),
              row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], entry_id=b"\x01" * 32, response_body=b"{}",
                  expires_at="2100-01-01T00:00:00Z")),
        insert=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], entry_id=b"\x02" * 32, response_body=b"{}",
                    expires_at="2100-01-01T00:00:00Z"),
                row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], entry_id=b"\x02" * 32, response_body=b"{}",
                    expires_at="2100-01-01T00:00:00Z")),
        update=("content_type", "application/json"),
    ),
    # No seed: seeding tessera.workloads already created each workload's settings row
    # (trigger workloads_worker_config_changed).
    "workload_settings": TableSpec(
        seed=(),
        insert=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], config_version=99),
                row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], config_version=99)),
        update=("exact_cache_ttl", "7 days"),
    ),
    # -- operations (issue 15) ---------------------------------------------------------
    # Quality-SLA samples: append-only, written through tessera.record_canary_scores
    # (proxy, service_role) only; sponsors read their own clients', operators and the
    # SLA job all.
    "canary_scores": TableSpec(
        seed=(row("A", client_id=TENANT, request_id="seed", eval_set="golden", workload_id=_WORKLOAD["A"],
                  mechanics=["auto_route"], routed_score=0.9, baseline_score=1, sampled_at="2026-01-01T00:00:00Z"),
              row("B", client_id=TENANT, request_id="seed", eval_set="golden", workload_id=_WORKLOAD["B"],
                  mechanics=["auto_route"], routed_score=0.9, baseline_score=1, sampled_at="2026-01-01T00:00:00Z")),
        insert=(row("A", client_id=TENANT, request_id="probe", eval_set="golden", workload_id=_WORKLOAD["A"],
                    mechanics=["auto_route"], routed_score=0.9, baseline_score=1, sampled_at="2026-01-01T00:00:00Z"),
                row("B", client_id=TENANT, request_id="probe", eval_set="golden", workload_id=_WORKLOAD["B"],
                    mechanics=["auto_route"], routed_score=0.9, baseline_score=1,
                    sampled_at="2026-01-01T00:00:00Z")),
        update=("eval_set", "golden"),
    ),
    # Anomalies: sponsors read their own clients' and act only through
    # tessera.respond_to_anomaly (no direct write); service_role (the SLA job) opens them;
    # nobody updates directly (the state machine is the guard trigger's and the function's).
    "anomalies": TableSpec(
        seed=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], kind="unconsented_mechanic",
                  mechanics=["auto_route"], dedupe_key="seed"),
              row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], kind="unconsented_mechanic",
                  mechanics=["auto_route"], dedupe_key="seed")),
        insert=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], kind="kill_switch_late",
                    mechanics=["auto_route"], dedupe_key="probe"),
                row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], kind="kill_switch_late",
                    mechanics=["auto_route"], dedupe_key="probe")),
        update=("state", "open"),
    ),
    # Kill-switch history: written only by the trigger on tessera.clients.
    "kill_switch_engagements": TableSpec(
        seed=(row("A", client_id=TENANT, engaged_by="seed"), row("B", client_id=TENANT, engaged_by="seed")),
        insert=(row("A", client_id=TENANT, engaged_by="probe", engaged_at="2026-01-01T00:00:00Z",
                    released_at="2026-01-01T00:01:00Z", released_by="probe"),
                row("B", client_id=TENANT, engaged_by="probe", engaged_at="2026-01-01T00:00:00Z",
                    released_at="2026-01-01T00:01:00Z", released_by="probe")),
        update=("engaged_by", "seed"),
    ),
    # No seed: seeding tessera.workloads already drew each workload's first config
    # version, which the trigger on workload_settings recorded here.
    "worker_config_versions": TableSpec(
        seed=(),
        insert=(row("A", client_id=TENANT, workload_id=_WORKLOAD["A"], config_version=99, kill_switch=False,
                    opted_in=[], mechanics=[]),
                row("B", client_id=TENANT, workload_id=_WORKLOAD["B"], config_version=99, kill_switch=False,
                    opted_in=[], mechanics=[])),
        update=("disabled_stacks", "[]"),
    ),
}
Matrix = dict[str, dict[str, dict[str, Outcome]]]  # table -> actor -> command -> outcome


class ProbeError(AssertionError):
    """A probe failed with something other than 42501: the probe itself is broken."""


# --------------------------------------------------------------------------- catalog


def catalog_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Every table (relkind r/p, partitions excluded) in schema tessera, from the catalog."""
    return [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " ORDER BY c.relname",
        (SCHEMA,),
    ).fetchall()]


def coverage_problems(conn: psycopg.Connection[Any]) -> list[str]:
    """Tables without a probe spec, and specs whose table no longer exists."""
    in_catalog = set(catalog_tables(conn))
    problems = [f"table {SCHEMA}.{t} has no probe spec in tessera_db/policy_matrix.py TABLES"
                for t in sorted(in_catalog - set(TABLES))]
    problems += [f"TABLES entry {t!r} names no table in schema {SCHEMA}"
                 for t in sorted(set(TABLES) - in_catalog)]
    return problems


def _has_client_id(conn: psycopg.Connection[Any], table: str) -> bool:
    return bool(conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute"
        "  WHERE attrelid = %s::regclass AND attname = 'client_id' AND attnum > 0 AND NOT attisdropped)",
        (f"{SCHEMA}.{table}",),
    ).fetchone()[0])  # type: ignore[index]


# --------------------------------------------------------------------------- seeding


def _insert(table: str, values: Mapping[str, Any]) -> sql.Composed:
    cols = list(values)
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(SCHEMA, table),
        sql.SQL(", ").join(sql.Identifier(c) for c in cols),
        sql.SQL(", ").join(sql.Literal(values[c]) for c in cols),
    )


def seed(conn: psycopg.Connection[Any], tables: Mapping[str, TableSpec] = TABLES) -> None:
    """Create the seed rows as the connected superuser (in the open transaction)."""
    for table, spec in tables.items():
        for r in spec.seed:
            conn.execute(_insert(table, r.resolved()))


# --------------------------------------------------------------------------- probing


_TENANT_BY_ID = {v: k for k, v in TENANT_IDS.items()}


@dataclass(frozen=True)
class _Target:
    """One table as probed: whether it has tenants, and the deployment's own client ids
    (rows of those clients are not counted; the probe tenants stand for them)."""

    table: str
    has_client_id: bool
    foreign: tuple[uuid.UUID, ...] = ()
    prober: str | None = None  # the role probing (reads rows back); None: the session user

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(SCHEMA, self.table)

    def probe_rows_only(self) -> sql.Composable:
        """WHERE clause leaving out the deployment's own clients' rows (empty without any)."""
        if not (self.has_client_id and self.foreign):
            return sql.SQL("")
        return sql.SQL(" WHERE client_id IS NULL OR client_id <> ALL ({}::uuid[])").format(
            sql.Literal([str(f) for f in self.foreign]))


def _rows(conn: psycopg.Connection[Any], target: _Target) -> dict[str, str]:
    """(partition, ctid) -> tenant label of every probe-relevant row, read as the superuser."""
    tenant = sql.Identifier("client_id") if target.has_client_id else sql.SQL("NULL::uuid")
    query = sql.SQL("SELECT tableoid::text || ':' || ctid::text, {} FROM {}{}").format(
        tenant, target.ident, target.probe_rows_only())
    return {key: _label(cid, target.has_client_id) for key, cid in conn.execute(query).fetchall()}


def _label(client_id: uuid.UUID | None, has_client_id: bool) -> str:
    if not has_client_id:
        return "platform"
    return _TENANT_BY_ID.get(client_id, "new") if client_id is not None else "new"


def _drop_referencing_fks(conn: psycopg.Connection[Any], table: str) -> None:
    fks = conn.execute(
        "SELECT n.nspname, c.relname, k.conname FROM pg_catalog.pg_constraint k"
        "  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE k.contype = 'f' AND k.confrelid = %s::regclass AND k.conparentid = 0",
        (f"{SCHEMA}.{table}",),
    ).fetchall()
    for nsp, rel, con in fks:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.Identifier(nsp, rel), sql.Identifier(con)))


def _statement(target: _Target, spec: TableSpec, command: str, probe: Row | None = None) -> sql.Composed:
    if command == "SELECT":
        what = sql.Identifier("client_id") if target.has_client_id else sql.SQL("1")
        return sql.SQL("SELECT {} FROM {}{}").format(what, target.ident, target.probe_rows_only())
    if command == "INSERT":
        assert probe is not None
        return _insert(target.table, probe.resolved())
    if command == "UPDATE":
        column, value = spec.update
        return sql.SQL("UPDATE {} SET {} = {}").format(target.ident, sql.Identifier(column), sql.Literal(value))
    if command == "DELETE":
        return sql.SQL("DELETE FROM {}").format(target.ident)
    if command == "TRUNCATE":
        return sql.SQL("TRUNCATE {}").format(target.ident)
    raise ValueError(command)


def _run(conn: psycopg.Connection[Any], target: _Target, actor: Actor, command: str,
         stmt: sql.Composed) -> Outcome:
    """Run one statement as ``actor`` in a savepoint; the savepoint is always rolled back."""
    before = _rows(conn, target) if command != "SELECT" else {}
    conn.execute("SAVEPOINT probe")
    try:
        if command in ("DELETE", "TRUNCATE"):
            _drop_referencing_fks(conn, target.table)
        act_as(conn, actor)
        try:
            cur = conn.execute(stmt)
        except psycopg.errors.InsufficientPrivilege:
            return DENIED
        except psycopg.Error as exc:
            raise ProbeError(
                f"{command} on {SCHEMA}.{target.table} as {actor.name} failed with "
                f"{exc.sqlstate}: {exc}".strip()) from exc
        if command == "SELECT":
            return Outcome(tenants=frozenset(_label(r[0], target.has_client_id) for r in cur.fetchall()))
        if target.prober:
            conn.execute("SELECT set_config('role', %s, true)", (target.prober,))
        else:
            conn.execute("RESET ROLE")
        after = _rows(conn, target)
        changed = {t for c, t in after.items() if c not in before}
        changed |= {t for c, t in before.items() if c not in after}
        return Outcome(tenants=frozenset(changed))
    finally:
        conn.execute("ROLLBACK TO SAVEPOINT probe")
        conn.execute("RELEASE SAVEPOINT probe")


def probe(conn: psycopg.Connection[Any], table: str, spec: TableSpec, actor: Actor,
          command: str, foreign: tuple[uuid.UUID, ...] = (), prober: str | None = None) -> Outcome:
    target = _Target(table, _has_client_id(conn, table), foreign, prober)
    if command != "INSERT":
        return _run(conn, target, actor, command, _statement(target, spec, command))
    results = [(p, _run(conn, target, actor, command, _statement(target, spec, command, p)))
               for p in spec.insert]
    succeeded = frozenset(p.tenant for p, outcome in results if not outcome.denied)
    return Outcome(tenants=succeeded) if succeeded else DENIED


def _deployment_clients(conn: psycopg.Connection[Any]) -> tuple[uuid.UUID, ...]:
    """The client ids the deployment already has (live and erased): not probe tenants."""
    rows = conn.execute(
        "SELECT client_id FROM tessera.clients UNION SELECT client_id FROM tessera.client_erasures").fetchall()
    return tuple(sorted((r[0] for r in rows if r[0] not in _TENANT_BY_ID), key=str))


def _nonempty_platform_tables(conn: psycopg.Connection[Any], tables: Mapping[str, TableSpec]) -> set[str]:
    out = set()
    for table in tables:
        if not _has_client_id(conn, table) and conn.execute(
                sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(SCHEMA, table))).fetchone()[0]:  # type: ignore[index]
            out.add(table)
    return out


def observe(conn: psycopg.Connection[Any], tables: Mapping[str, TableSpec] = TABLES) -> Matrix:
    """Seed (as the superuser) and probe every (table, actor, command). Call in an open
    transaction of a superuser connection; the caller rolls back."""
    foreign = _deployment_clients(conn)
    prober = _prepare_prober(conn)
    prefilled = _nonempty_platform_tables(conn, tables)
    seed(conn, tables)
    _check_update_values(conn, tables, skip=prefilled)
    return {
        table: {actor.name: {command: probe(conn, table, spec, actor, command, foreign, prober)
                             for command in COMMANDS}
                for actor in ACTORS}
        for table, spec in tables.items()
    }


def _prepare_prober(conn: psycopg.Connection[Any]) -> str | None:
    """The role probing, when it is not the session user (e.g. a deploy login that is no
    superuser). It must bypass RLS and hold the owner's privileges (a member of
    tessera_owner); it is made a member of every actor's role it may not yet SET ROLE to,
    inside the transaction (so the grant is rolled back with everything else)."""
    current, session, superuser, bypass, owner = conn.execute(
        "SELECT current_user, session_user, r.rolsuper, r.rolbypassrls,"
        "       pg_catalog.pg_has_role(current_user, 'tessera_owner', 'USAGE')"
        "  FROM pg_catalog.pg_roles r WHERE r.rolname = current_user").fetchone()  # type: ignore[misc]
    if superuser:
        return None if current == session else str(current)
    if not (bypass and owner):
        raise PermissionError(
            f"role {current} cannot probe: it needs to be a superuser, or to bypass row-level security "
            "(BYPASSRLS) and hold tessera_owner's privileges (a member of tessera_owner that inherits)")
    for role in sorted({a.role for a in ACTORS}):
        if not conn.execute("SELECT pg_catalog.pg_has_role(current_user, %s, 'MEMBER')", (role,)).fetchone()[0]:  # type: ignore[index]
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(str(current))))
    return str(current)


def _check_update_values(conn: psycopg.Connection[Any], tables: Mapping[str, TableSpec],
                         skip: frozenset[str] | set[str] = frozenset()) -> None:
    """The UPDATE probe must change no probe row: every probe row already holds the value
    (a platform table that had rows of its own is not checked: those rows are not counted)."""
    for table, spec in tables.items():
        if table in skip:
            continue
        column, value = spec.update
        only_probe = (sql.SQL(" AND client_id = ANY ({}::uuid[])").format(
            sql.Literal([str(t) for t in TENANT_IDS.values()])) if _has_client_id(conn, table) else sql.SQL(""))
        differing = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {} IS DISTINCT FROM {}{}").format(
            sql.Identifier(SCHEMA, table), sql.Identifier(column), sql.Literal(value), only_probe)).fetchone()[0]  # type: ignore[index]
        if differing:
            raise ProbeError(f"{SCHEMA}.{table}: {differing} probe row(s) do not hold {column} = {value!r}")


# --------------------------------------------------------------------------- functions


_VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}
# One left-to-right pass over a body: comments, string literals (E'' with backslash escapes,
# standard '' and dollar-quoted), whichever starts first, so "--" inside a string or a
# quote inside a comment is read as PostgreSQL reads it.
_LEXEMES = re.compile(
    r"(?P<comment>--[^\n]*|/\*.*?\*/)"
    r"|(?P<string>[eE]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|\$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)?\$)",
    re.DOTALL)


def _code_and_strings(body: str) -> tuple[str, str]:
    """The body without comments and string literals, and the string literals' text."""
    code, strings = [], []
    last = 0
    for match in _LEXEMES.finditer(body):
        code.append(body[last:match.start()])
        code.append(" ")
        if match.group("string"):
            strings.append(match.group("string"))
        last = match.end()
    code.append(body[last:])
    return "".join(code), "\n".join(strings)
_QUALIFIED = re.compile(r'\b(' + "|".join(PROJECT_SCHEMAS) + r')\s*\.\s*"?([a-z_][a-z0-9_$]*)"?', re.IGNORECASE)


@dataclass(frozen=True)
class FunctionInfo:
    """One function of the exposed schema, as a reviewer needs it."""

    security: str                   # definer | invoker
    search_path: str | None         # the pinned search_path (proconfig), None if not pinned
    volatility: str                 # immutable | stable | volatile
    execute: Mapping[str, bool]     # role -> may EXECUTE (PUBLIC: granted to everyone)
    touches: tuple[str, ...]        # named in its body: tables/views (schema.name), functions (schema.name())
    reaches: tuple[str, ...] = ()   # tables/views it touches directly or through the project functions it calls

    def to_json(self) -> dict[str, Any]:
        return {"security": self.security, "search_path": self.search_path, "volatility": self.volatility,
                "execute": dict(self.execute), "touches": list(self.touches), "reaches": list(self.reaches)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FunctionInfo:
        return cls(data["security"], data["search_path"], data["volatility"], dict(data["execute"]),
                   tuple(data["touches"]), tuple(data.get("reaches", ())))


def observe_functions(conn: psycopg.Connection[Any]) -> dict[str, FunctionInfo]:
    """Every function of schema tessera: signature -> FunctionInfo, from the catalog."""
    roles = {r[0] for r in conn.execute(
        "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY (%s)", (list(FUNCTION_ROLES),)).fetchall()}
    relations = {(s, n) for s, n in conn.execute(
        "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = ANY (%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition",
        (list(PROJECT_SCHEMAS),)).fetchall()}
    rows = conn.execute(
        "SELECT p.oid, n.nspname, p.proname, p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')',"
        "       p.prosecdef, p.provolatile, p.proconfig, COALESCE(p.prosrc, ''),"
        "       EXISTS (SELECT 1"
        "                 FROM pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) a"
        "                WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'),"
        "       ARRAY(SELECT CASE d.refclassid"
        "                  WHEN 'pg_catalog.pg_class'::regclass THEN"
        "                       (SELECT rn.nspname || '.' || rc.relname FROM pg_catalog.pg_class rc"
        "                          JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace"
        "                         WHERE rc.oid = d.refobjid)"
        "                  ELSE (SELECT rn.nspname || '.' || rp.proname || '()' FROM pg_catalog.pg_proc rp"
        "                          JOIN pg_catalog.pg_namespace rn ON rn.oid = rp.pronamespace"
        "                         WHERE rp.oid = d.refobjid)"
        "                  END"
        "               FROM pg_catalog.pg_depend d"
        "              WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'n'"
        "                AND d.refclassid IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_proc'::regclass))"
        "  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = ANY (%s) AND p.prokind IN ('f', 'p')"
        " ORDER BY 2, 4",
        (list(PROJECT_SCHEMAS),)).fetchall()
    functions = {(r[1], r[2]) for r in rows}
    # Direct references of every project function, by name (overloads share them).
    direct: dict[str, set[str]] = {}
    for _oid, schema, name, _sig, _sec, _vol, _config, body, _public, depends in rows:
        found = direct.setdefault(f"{schema}.{name}()", set())
        code, strings = _code_and_strings(body)
        # Tables also inside string literals (a dynamic statement's text), functions only in code.
        for ref_schema, obj in _QUALIFIED.findall(code + "\n" + strings):
            if (ref_schema.lower(), obj.lower()) in relations:
                found.add(f"{ref_schema.lower()}.{obj.lower()}")
        for ref_schema, obj in _QUALIFIED.findall(code):
            key = (ref_schema.lower(), obj.lower())
            if key in functions and key != (schema, name):
                found.add(f"{key[0]}.{key[1]}()")
        found.update(d for d in depends or () if d and d.split(".", 1)[0] in PROJECT_SCHEMAS
                     and d != f"{schema}.{name}()")

    def reach(start: str) -> set[str]:
        seen, todo, tables = {start}, [start], set()
        while todo:
            for ref in direct.get(todo.pop(), ()):
                if not ref.endswith("()"):
                    tables.add(ref)
                elif ref not in seen:
                    seen.add(ref)
                    todo.append(ref)
        return tables

    out: dict[str, FunctionInfo] = {}
    for oid, schema, name, signature, secdef, volatility, config, _body, public, _depends in rows:
        if schema != SCHEMA:
            continue
        execute = {"PUBLIC": bool(public)}
        for role in FUNCTION_ROLES[1:]:
            execute[role] = role in roles and bool(conn.execute(
                "SELECT pg_catalog.has_function_privilege(%s, %s::oid, 'EXECUTE')", (role, oid)).fetchone()[0])  # type: ignore[index]
        path = next((c.split("=", 1)[1] for c in (config or ()) if c.startswith("search_path=")), None)
        out[signature] = FunctionInfo(
            security="definer" if secdef else "invoker", search_path=path,
            volatility=_VOLATILITY.get(volatility, volatility), execute=execute,
            touches=tuple(sorted(direct[f"{schema}.{name}()"])), reaches=tuple(sorted(reach(f"{schema}.{name}()"))))
    return out


# --------------------------------------------------------------------------- the whole matrix


@dataclass
class PolicyMatrix:
    """What ``policy matrix`` takes: the table grid, the function grid, and where/when."""

    tables: Matrix
    functions: dict[str, FunctionInfo]
    database: str | None = None
    taken_at: str | None = None
    actors: tuple[Actor, ...] = field(default=ACTORS, repr=False)

    def to_json(self, *, meta: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT}
        if meta:
            out["database"] = self.database
            out["taken_at"] = self.taken_at
        out["actors"] = {a.name: {"role": a.role, "about": a.about} for a in self.actors}
        out["tables"] = {f"{SCHEMA}.{t}": {a: {c: str(o) for c, o in cells.items()} for a, cells in grid_.items()}
                         for t, grid_ in sorted(self.tables.items())}
        out["functions"] = {f"{SCHEMA}.{sig}": info.to_json() for sig, info in sorted(self.functions.items())}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PolicyMatrix:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a policy matrix (format {data.get('format')!r}, expected {FORMAT!r})")
        prefix = f"{SCHEMA}."
        tables = {t.removeprefix(prefix): {a: {c: Outcome.parse(o) for c, o in cells.items()}
                                           for a, cells in grid_.items()}
                  for t, grid_ in data["tables"].items()}
        functions = {sig.removeprefix(prefix): FunctionInfo.from_json(info) for sig, info in data["functions"].items()}
        return cls(tables, functions, data.get("database"), data.get("taken_at"))


def take(conn: psycopg.Connection[Any], *, now: dt.datetime | None = None) -> PolicyMatrix:
    """The whole matrix, in the connection's open transaction (the caller rolls back)."""
    _prepare_prober(conn)  # refuses a role that cannot probe, before anything else
    problems = coverage_problems(conn)
    if problems:
        raise ProbeError("; ".join(problems))
    functions = observe_functions(conn)
    tables = observe(conn)
    database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return PolicyMatrix(tables, functions, database, when.strftime("%Y-%m-%d %H:%M:%S UTC"))


def take_live(dsn: str, *, now: dt.datetime | None = None, lock_timeout: str = "5s") -> PolicyMatrix:
    """Connect, take the matrix in one transaction, and roll it back: the target keeps
    no probe role, row, grant or setting. Needs a superuser, or a login that bypasses RLS
    and holds tessera_owner's privileges (Supabase's deploy login ``postgres``): the probe
    seeds rows under forced row-level security and reads every row back."""
    from tessera_db.errors import TesseraError, from_psycopg

    try:
        conn = psycopg.connect(dsn, autocommit=False)
    except psycopg.Error as exc:
        raise from_psycopg(exc) from exc
    try:
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
        try:
            return take(conn, now=now)
        except PermissionError as exc:
            raise TesseraError(f"policy matrix: {exc}") from None
        except psycopg.Error as exc:
            raise from_psycopg(exc) from exc
    finally:
        conn.rollback()
        conn.close()


def load(path: str | Path | None = None) -> PolicyMatrix:
    """A matrix saved as JSON (default: the declared one shipped with the package)."""
    file = Path(path) if path is not None else declared_path()
    return PolicyMatrix.from_json(json.loads(file.read_text(encoding="utf-8")))


def dump_json(matrix: PolicyMatrix, *, meta: bool = True) -> str:
    return json.dumps(matrix.to_json(meta=meta), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- differences


def differences(observed: Matrix, wanted: Matrix) -> list[str]:
    """Readable list of the table cells where two matrices disagree (wanted = declared)."""
    out = []
    for table in sorted(set(observed) | set(wanted)):
        if table not in observed:
            out.append(f"table {SCHEMA}.{table}: declared, but not in the live database")
            continue
        if table not in wanted:
            out.append(f"table {SCHEMA}.{table}: in the live database, but not declared")
            continue
        for actor in ACTOR_NAMES:
            for command in COMMANDS:
                got = observed.get(table, {}).get(actor, {}).get(command)
                want = wanted.get(table, {}).get(actor, {}).get(command)
                if got != want:
                    out.append(f"table {SCHEMA}.{table}: {actor} {command}: declared {want}, live {got}")
    return out


def _yes(flag: bool | None) -> str:
    return "yes" if flag else "no"


def function_differences(live: Mapping[str, FunctionInfo], declared: Mapping[str, FunctionInfo]) -> list[str]:
    out = []
    for sig in sorted(set(live) | set(declared)):
        name = f"function {SCHEMA}.{sig}"
        if sig not in live:
            out.append(f"{name}: declared, but not in the live database")
            continue
        got = live[sig]
        if sig not in declared:
            who = ", ".join(r for r, ok in got.execute.items() if ok) or "nobody"
            out.append(f"{name}: in the live database, but not declared (security {got.security}, EXECUTE: {who})")
            continue
        want = declared[sig]
        for attr in ("security", "search_path", "volatility"):
            if getattr(got, attr) != getattr(want, attr):
                out.append(f"{name}: {attr} declared {getattr(want, attr)}, live {getattr(got, attr)}")
        for role in sorted(set(got.execute) | set(want.execute), key=_role_order):
            if got.execute.get(role) != want.execute.get(role):
                out.append(f"{name}: EXECUTE for {role}: declared {_yes(want.execute.get(role))}, "
                           f"live {_yes(got.execute.get(role))}")
        added, removed = sorted(set(got.touches) - set(want.touches)), sorted(set(want.touches) - set(got.touches))
        if added:
            out.append(f"{name}: touches, not declared: {', '.join(added)}")
        if removed:
            out.append(f"{name}: declared touches, no longer seen: {', '.join(removed)}")
        added, removed = sorted(set(got.reaches) - set(want.reaches)), sorted(set(want.reaches) - set(got.reaches))
        if added:
            out.append(f"{name}: reaches, not declared: {', '.join(added)}")
        if removed:
            out.append(f"{name}: declared reaches, no longer seen: {', '.join(removed)}")
    return out


def _role_order(role: str) -> tuple[int, str]:
    return (FUNCTION_ROLES.index(role) if role in FUNCTION_ROLES else 99, role)


def diff(live: PolicyMatrix, declared: PolicyMatrix) -> list[str]:
    """Every difference between the live and the declared matrix (empty: equal)."""
    return differences(live.tables, declared.tables) + function_differences(live.functions, declared.functions)


# --------------------------------------------------------------------------- rendering

_CELL_MEANINGS = (
    ("denied", "the statement raised SQLSTATE 42501 (missing privilege, RLS `WITH CHECK`, or a guard trigger)"),
    ("none", "the statement ran but saw or changed no probe row"),
    ("A, B, A, B", "the probe tenants (by `client_id`) whose rows were seen, inserted, updated or deleted"),
    ("platform", "rows of a table without `client_id` (e.g. `tessera.operators`)"),
    ("new", "a new tenant row (INSERT into `tessera.clients`), or a row with a NULL `client_id`"),
)
_TOUCHES_METHOD = (
    "tables, views and functions of `tessera` / `tessera_private` named schema-qualified in the "
    "function's body outside comments (tables also inside string literals, the text of a dynamic "
    "statement; functions only outside them) (the project pins definer bodies to "
    "`pg_catalog, pg_temp`, so they must qualify every name), plus pg_depend's dependencies "
    "(SQL-standard bodies); dynamic SQL and unqualified names are not seen: read the body for those. "
    "Reaches: the tables and views it touches directly or through the project functions it calls, "
    "transitively (by name: overloads are taken together)")


def render_markdown(matrix: PolicyMatrix) -> str:
    """The matrix as the reviewer-facing Markdown document (docs/rls-policy-matrix.md when
    taken without database and time)."""
    observed = matrix.tables
    out = [
        "<!-- Generated from the live catalog by tessera_db/policy_matrix.py; do not edit by hand.",
        f"     Regenerate: {REGENERATE}",
        "     tests/test_policy_matrix.py fails when this file differs from what the database does. -->",
        "",
        "# Row-level security and function matrix",
        "",
    ]
    if matrix.database:
        out += [f"Database `{matrix.database}`, taken {matrix.taken_at}.", ""]
    out += [
        "What each identity can do to each table in schema `tessera`, observed by running the",
        "statements against the database with two probe tenants, A and B, created inside one",
        "transaction that is rolled back (`tessera-db policy matrix`; the deployment's own",
        "clients' rows are not counted). Each probe runs in a savepoint that is rolled back.",
        "",
        "| Cell | Meaning |",
        "| --- | --- |",
        "| `denied` | the statement raised SQLSTATE 42501 (missing privilege, RLS `WITH CHECK`, or a guard trigger) |",
        "| `none` | the statement ran but saw or changed no probe row |",
        "| `A`, `B`, `A, B` | the tenants (by `client_id`) whose rows were seen, inserted, updated or deleted |",
        "| `platform` | rows of a table without `client_id` (e.g. `tessera.operators`) |",
        "| `new` | a new tenant row (INSERT into `tessera.clients`), or a row with a NULL `client_id` |",
        "",
        "Probes, each in its own savepoint:",
        "",
        "- SELECT: `SELECT client_id FROM t`.",
        "- INSERT: a row for tenant A and, separately, a forged row for tenant B; the cell lists",
        "  those that succeeded.",
        "- UPDATE: `UPDATE t SET <column> = <the value every probe row already has>`, no WHERE and no",
        "  RETURNING, so only the UPDATE policies apply (RETURNING would add the SELECT policies",
        "  and hide an UPDATE policy wider than the SELECT one). The column is named under each",
        "  table's heading.",
        "- DELETE: `DELETE FROM t` (no WHERE, no RETURNING, for the same reason).",
        "- TRUNCATE: `TRUNCATE t`; row-level security never applies to TRUNCATE.",
        "",
        "Which rows a write touched is read back by the prober (a superuser, or a login that",
        "bypasses RLS with the owner's privileges) inside the savepoint. Foreign keys referencing",
        "the table are dropped inside the savepoint for DELETE and TRUNCATE, so a cell shows what",
        "authorization allows, not what `ON DELETE RESTRICT` blocks. Sequences the probe rows drew",
        "from stay advanced: PostgreSQL never rolls back `nextval`.",
        "",
        "## Actors",
        "",
        "| Actor | Database role | Who |",
        "| --- | --- | --- |",
    ]
    out += [f"| {a.name} | `{a.role}` | {a.about} |" for a in matrix.actors]
    for table in sorted(observed):
        spec = TABLES.get(table)
        update = f"`{spec.update[0]}`" if spec else "?"
        out += ["", f"## tessera.{table}", "", f"UPDATE probe column: {update}.", "",
                "| Actor | " + " | ".join(COMMANDS) + " |",
                "| --- |" + " --- |" * len(COMMANDS)]
        for actor in ACTOR_NAMES:
            cells = [_md_cell(observed[table][actor][c]) for c in COMMANDS]
            out.append(f"| {actor} | " + " | ".join(cells) + " |")
    out += ["", "## Functions of schema tessera", "",
            "Every function of the exposed schema: who may EXECUTE it (`PUBLIC`: granted to every",
            "role), SECURITY DEFINER or INVOKER, the pinned `search_path`, volatility, and what it",
            f"may touch: {_TOUCHES_METHOD}.", "",
            "| Function | " + " | ".join(FUNCTION_ROLES)
            + " | Security | search_path | Volatility | Touches | Reaches |",
            "| --- |" + " :-: |" * len(FUNCTION_ROLES) + " --- | --- | --- | --- | --- |"]
    for sig, info in sorted(matrix.functions.items()):
        marks = ["x" if info.execute.get(r) else "" for r in FUNCTION_ROLES]
        touches = ", ".join(f"`{t}`" for t in info.touches) or "-"
        reaches = ", ".join(f"`{t}`" for t in info.reaches) or "-"
        out.append(f"| `{sig}` | " + " | ".join(marks) + f" | {info.security} | "
                   f"{'`' + info.search_path + '`' if info.search_path else 'not pinned'} | {info.volatility} | "
                   f"{touches} | {reaches} |")
    return "\n".join(out) + "\n"


def _md_cell(outcome: Outcome) -> str:
    if outcome.denied:
        return "denied"
    return ", ".join(_tenant_order(outcome.tenants)) or "none"


def render_csv(matrix: PolicyMatrix) -> str:
    """Long format, one fact a line: kind, object, subject, attribute, value."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["kind", "object", "subject", "attribute", "value"])
    if matrix.database:
        writer.writerow(["meta", "database", "", "name", matrix.database])
        writer.writerow(["meta", "database", "", "taken_at", matrix.taken_at])
    for table in sorted(matrix.tables):
        for actor in ACTOR_NAMES:
            for command in COMMANDS:
                writer.writerow(["table", f"{SCHEMA}.{table}", actor, command,
                                 str(matrix.tables[table][actor][command])])
    for sig, info in sorted(matrix.functions.items()):
        name = f"{SCHEMA}.{sig}"
        for role in FUNCTION_ROLES:
            writer.writerow(["function", name, role, "EXECUTE", _yes(info.execute.get(role))])
        writer.writerow(["function", name, "", "security", info.security])
        writer.writerow(["function", name, "", "search_path", info.search_path or ""])
        writer.writerow(["function", name, "", "volatility", info.volatility])
        writer.writerow(["function", name, "", "touches", " ".join(info.touches)])
        writer.writerow(["function", name, "", "reaches", " ".join(info.reaches)])
    return buf.getvalue()


def cell_class(actor: str, outcome: Outcome) -> str:
    """HTML colour class of a cell: denied, none, own (a sponsor reaching only their own
    tenant's rows) or allowed."""
    if outcome.denied:
        return "denied"
    if not outcome.tenants:
        return "none"
    if actor.startswith("sponsor_") and outcome.tenants == {actor.removeprefix("sponsor_")}:
        return "own"
    return "allowed"


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 6px} .meta{color:#57606a;margin:0 0 16px}
table{border-collapse:collapse;margin:6px 0 4px} th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left}
th{background:#f6f8fa;font-weight:600} td.c{text-align:center;min-width:64px}
.denied{background:#ffd7d5;color:#82071e} .none{background:#eaeef2;color:#57606a}
.own{background:#fff1c2;color:#7d4e00} .allowed{background:#d2f4d3;color:#0f5323}
.yes{background:#d2f4d3;color:#0f5323} .no{background:#fff;color:#8c959f}
.definer{background:#fff1c2} .unpinned{background:#ffd7d5} .legend td{font-size:13px}
.tables{display:flex;flex-wrap:wrap;gap:8px 28px} .probe{color:#57606a;font-size:12px;margin:0}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.functions th,.functions td{font-size:12px;padding:2px 6px;vertical-align:top}
.functions td.c{min-width:0} .functions .sig{max-width:300px} .functions .touches{max-width:420px}
.functions .path{white-space:nowrap}
"""


def render_html(matrix: PolicyMatrix) -> str:
    """One self-contained page (inline CSS, no script, no external asset)."""
    e = html.escape
    title = f"tessera-db policy matrix: {matrix.database or 'database'}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Policy matrix of <code>{e(matrix.database or '?')}</code></h1>",
        (f'<p class="meta" id="taken">Taken {e(matrix.taken_at or "?")} by <code>tessera-db policy matrix</code>: '
         "every probe ran inside one transaction that was rolled back.</p>"),
        '<h2>Legend</h2><table class="legend" id="legend"><tbody>',
        ('<tr><td class="c allowed">A,B</td><td>allowed: the rows of these probe tenants (or '
         "<code>platform</code> rows, or a <code>new</code> tenant) were seen / changed</td></tr>"),
        '<tr><td class="c own">A</td><td>own rows only: a sponsor reached only their own tenant\'s rows</td></tr>',
        '<tr><td class="c none">none</td><td>the statement ran but reached no probe row</td></tr>',
        '<tr><td class="c denied">denied</td>'
        '<td>refused with SQLSTATE 42501 (privilege, RLS WITH CHECK or a guard)</td></tr>',
        '<tr><td class="c yes">yes</td><td>functions: the role may EXECUTE it (PUBLIC: every role may)</td></tr>',
        ('<tr><td class="c definer">definer</td><td>functions: SECURITY DEFINER (runs as its owner); a search_path '
         'that is <span class="unpinned">not pinned</span> is marked</td></tr>'),
        "</tbody></table>",
        ('<p class="probe">Probes: SELECT <code>client_id</code>; INSERT a row for A and a forged one for B; '
         "UPDATE one column to the value it has, no WHERE; DELETE with no WHERE; TRUNCATE. Each in its own "
         "savepoint, rolled back. Rows of the deployment's own clients are not counted.</p>"),
        "<h2>Actors</h2><table><thead><tr><th>Actor</th><th>Role</th><th>Who</th></tr></thead><tbody>",
    ]
    parts += [f"<tr><td>{e(a.name)}</td><td><code>{e(a.role)}</code></td><td>{e(a.about)}</td></tr>"
              for a in matrix.actors]
    parts += ["</tbody></table>", f"<h2>Tables ({len(matrix.tables)})</h2>", '<div class="tables">']
    for table in sorted(matrix.tables):
        name = f"{SCHEMA}.{table}"
        parts += [f'<section><h2 id="t-{e(table)}"><code>{e(name)}</code></h2>',
                  f'<table class="grid" data-table="{e(name)}"><thead><tr><th>Actor</th>']
        parts += [f"<th>{c}</th>" for c in COMMANDS]
        parts.append("</tr></thead><tbody>")
        for actor in ACTOR_NAMES:
            cells = matrix.tables[table][actor]
            parts.append(f"<tr><th>{e(actor)}</th>" + "".join(
                f'<td class="c {cell_class(actor, cells[c])}" title="{e(actor)} {c} on {e(name)}">'
                f"{e(str(cells[c]))}</td>" for c in COMMANDS) + "</tr>")
        parts.append("</tbody></table></section>")
    parts += ["</div>", f"<h2>Functions of schema tessera ({len(matrix.functions)})</h2>",
              f'<p class="probe">Touches: {e(_TOUCHES_METHOD.replace("`", ""))}.</p>',
              '<table class="grid functions" id="functions"><thead><tr><th>Function</th>']
    parts += [f"<th>{e(r)}</th>" for r in FUNCTION_ROLES]
    parts.append("<th>Security</th><th>search_path</th><th>Volatility</th><th>Touches</th><th>Reaches</th>"
                 "</tr></thead><tbody>")
    for sig, info in sorted(matrix.functions.items()):
        row_ = [f'<tr><th class="sig"><code>{e(SCHEMA + "." + sig)}</code></th>']
        row_ += [f'<td class="c {"yes" if info.execute.get(r) else "no"}" title="{e(r)} EXECUTE {e(sig)}">'
                 f'{"yes" if info.execute.get(r) else "-"}</td>' for r in FUNCTION_ROLES]
        row_.append(f'<td class="{"definer" if info.security == "definer" else ""}">{e(info.security)}</td>')
        row_.append(f'<td class="path {"" if info.search_path else "unpinned"}">'
                    f"{'<code>' + e(info.search_path) + '</code>' if info.search_path else 'not pinned'}</td>")
        row_.append(f'<td>{e(info.volatility)}</td><td class="touches">'
                    f"{', '.join('<code>' + e(t) + '</code>' for t in info.touches) or '-'}</td>"
                    f'<td class="touches">{", ".join("<code>" + e(t) + "</code>" for t in info.reaches) or "-"}'
                    "</td></tr>")
        parts.append("".join(row_))
    parts += ["</tbody></table>", "</body></html>"]
    return "\n".join(parts) + "\n"


def render(matrix: PolicyMatrix, fmt: str) -> str:
    if fmt == "json":
        return dump_json(matrix)
    if fmt == "csv":
        return render_csv(matrix)
    if fmt == "html":
        return render_html(matrix)
    if fmt == "md":
        return render_markdown(matrix)
    raise ValueError(f"unknown format {fmt!r}")
