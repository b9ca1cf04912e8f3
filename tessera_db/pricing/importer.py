"""Import a price file: record every observation, publish versions, report confidence.

    summary = import_file(db, "litellm", "model_prices_and_context_window.json")

In ONE transaction, as service_role (``db.as_service``) or on a connection you pass:

1. the file is parsed (tessera_db.pricing.sources); rejected entries are counted with
   their reason and never stored;
2. tessera.record_price_observations() stores the run and every accepted component as
   text (the database parses it to numeric);
3. for every model of the run, the catalog price is chosen per component from the
   latest run of each source that covered the model, taking the source with the lowest
   price_sources.precedence (litellm, then openrouter, then tokencost), and published
   with tessera.publish_price() (no-op 'unchanged' when nothing differs);
4. the confidence of each published snapshot (tessera.price_confidence; the minimum
   over its components) goes into the summary.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from tessera_db.db import Database
from tessera_db.errors import translate_errors
from tessera_db.pricing.sources import COMPONENTS, parse

T = TypeVar("T")
Progress = Callable[[list[T]], Iterable[T]]

# The price each (provider, model) of a run should have: per component, the latest run
# of each source that covered the model, then the source of lowest precedence.
CHOSEN_PRICES = """
WITH touched AS (
    SELECT DISTINCT provider, model FROM tessera.price_observations WHERE import_run_id = %(run)s
),
latest_run AS (
    SELECT DISTINCT ON (o.provider, o.model, o.source) o.provider, o.model, o.source, o.import_run_id
      FROM tessera.price_observations AS o
      JOIN touched AS t ON t.provider = o.provider AND t.model = o.model
     ORDER BY o.provider, o.model, o.source, o.observed_at DESC, o.observation_id DESC
)
SELECT DISTINCT ON (o.provider, o.model, o.component) o.provider, o.model, o.component, o.value
  FROM tessera.price_observations AS o
  JOIN latest_run AS r ON r.import_run_id = o.import_run_id AND r.provider = o.provider AND r.model = o.model
  JOIN tessera.price_sources AS s ON s.source = o.source
 ORDER BY o.provider, o.model, o.component, s.precedence
"""

PUBLISH = """
SELECT pricing_snapshot_id, outcome FROM tessera.publish_price(
    p_provider => %(provider)s, p_model => %(model)s,
    p_input => %(input)s, p_output => %(output)s,
    p_cache_read => %(cache_read)s, p_cache_write_5m => %(cache_write_5m)s,
    p_cache_write_1h => %(cache_write_1h)s, p_batch_input => %(batch_input)s,
    p_batch_output => %(batch_output)s, p_tier_threshold_tokens => %(tier_threshold_tokens)s,
    p_above_tier_input => %(above_tier_input)s, p_above_tier_output => %(above_tier_output)s,
    p_above_tier_cache_read => %(above_tier_cache_read)s)
"""


@dataclass
class ImportSummary:
    source: str
    file: str
    import_run_id: Any = None
    models_read: int = 0
    created: int = 0          # first version of a model
    changed: int = 0          # a new version; the previous one was closed
    unchanged: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (name in file, reason)
    snapshots: dict[tuple[str, str], Any] = field(default_factory=dict)
    confidence: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # min over components

    @property
    def new_versions(self) -> int:
        return self.created + self.changed

    def lines(self) -> list[str]:
        out = [f"source {self.source}: {self.file}",
               f"  models read:   {self.models_read}",
               f"  new versions:  {self.new_versions} ({self.created} new models, {self.changed} price changes)",
               f"  unchanged:     {self.unchanged}",
               f"  rejected:      {len(self.rejected)}"]
        out += [f"    {name}: {reason}" for name, reason in self.rejected]
        if self.confidence:
            low = sorted(self.confidence.items(), key=lambda kv: (kv[1], kv[0]))[:5]
            out.append("  lowest confidence: " + ", ".join(f"{p}/{m} {c}" for (p, m), c in low))
        return out


def _no_progress(items: list[T]) -> Iterable[T]:
    return items


def import_file(target: Database | psycopg.Connection[Any], source: str, path: str | Path, *,
                observed_at: datetime | None = None,
                progress: Progress[Any] | None = None) -> ImportSummary:
    """Import one price file; see the module docstring. ``target`` is a Database (the
    import runs as service_role) or an open connection whose role may execute
    tessera.record_price_observations and tessera.publish_price."""
    file = Path(path)
    data = file.read_bytes()
    entries = parse(source, data.decode("utf-8"))
    summary = ImportSummary(source=source, file=file.name, models_read=len(entries))
    summary.rejected = [(e.source_model, e.reason or "") for e in entries if e.rejected]
    observations = [
        {"provider": e.provider, "model": e.model, "source_model": e.source_model,
         "component": component, "raw_value": raw}
        for e in entries if not e.rejected for component, raw in e.components.items()
    ]
    args = (source, file.name, hashlib.sha256(data).hexdigest(), observed_at, observations,
            progress or _no_progress, summary)
    if isinstance(target, Database):
        with target.as_service(f"prices-import:{source}") as conn:
            _write(conn, *args)
    else:
        with translate_errors(), target.transaction():
            _write(target, *args)
    return summary


def _write(conn: psycopg.Connection[Any], source: str, file_name: str, sha256: str,
           observed_at: datetime | None, observations: list[dict[str, Any]],
           progress: Progress[Any], summary: ImportSummary) -> None:
    run = conn.execute(
        "SELECT tessera.record_price_observations(%s, %s, %s, coalesce(%s::timestamptz, now()), %s::jsonb)",
        (source, file_name, sha256, observed_at, json.dumps(observations)),
    ).fetchone()[0]  # type: ignore[index]
    summary.import_run_id = run

    chosen: dict[tuple[str, str], dict[str, Decimal]] = {}
    for provider, model, component, value in conn.execute(CHOSEN_PRICES, {"run": run}).fetchall():
        chosen.setdefault((provider, model), {})[component] = value

    for key in progress(sorted(chosen)):
        params: dict[str, Any] = dict.fromkeys(COMPONENTS)
        params.update(chosen[key])
        if params["tier_threshold_tokens"] is not None:
            params["tier_threshold_tokens"] = int(params["tier_threshold_tokens"])
        params["provider"], params["model"] = key
        conn.execute("SAVEPOINT publish")
        try:
            snapshot, outcome = conn.execute(PUBLISH, params).fetchone()  # type: ignore[misc]
        except psycopg.errors.DataError as exc:  # class 22: a version the catalog refuses
            conn.execute("ROLLBACK TO SAVEPOINT publish")
            summary.rejected.append((f"{key[0]}/{key[1]}", (exc.diag.message_primary or str(exc)).strip()))
            continue
        except psycopg.errors.CheckViolation as exc:
            conn.execute("ROLLBACK TO SAVEPOINT publish")
            summary.rejected.append((f"{key[0]}/{key[1]}", f"refused by {exc.diag.constraint_name}"))
            continue
        conn.execute("RELEASE SAVEPOINT publish")
        summary.snapshots[key] = snapshot
        setattr(summary, outcome, getattr(summary, outcome) + 1)

    for key, snapshot in summary.snapshots.items():
        row = conn.execute("SELECT min(confidence) FROM tessera.price_confidence(%s)", (snapshot,)).fetchone()
        if row and row[0] is not None:
            summary.confidence[key] = row[0]
