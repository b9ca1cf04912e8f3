"""Importing the three fixture formats: versions, observations and confidence.

* each fixture imports to versioned catalog rows with a confidence, every accepted
  component stored as an observation with its raw text and exact numeric value;
* re-importing the same file is 'unchanged' (no new version), a changed price is a new
  version with the old row closed;
* confidence = (agreeing / observing independent upstreams) * 0.99^days since the
  freshest agreeing observation: agreement, disagreement, decay by (fractional) day,
  tokencost never counting as a vote beside LiteLLM, and re-derivation for a past time
  unaffected by later imports;
* the CLI prints the summary.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tessera_db.cli import main
from tessera_db.pricing import import_file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "prices"
LITELLM = FIXTURES / "litellm-1.109.1-cut.json"
TOKENCOST = FIXTURES / "tokencost-0.1.26-cut.json"
OPENROUTER = FIXTURES / "openrouter-models.json"
T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=30)


def _confidence(db: Any, provider: str, model: str, at: datetime) -> dict[str, tuple[Any, ...]]:
    with db.as_service("test") as c:
        rows = c.execute(
            "SELECT component, observing_upstreams, agreeing_upstreams, confidence"
            "  FROM tessera.price_confidence((SELECT pricing_snapshot_id FROM tessera.pricing_catalog"
            "   WHERE provider = %s AND model = %s AND effective_to IS NULL), %s)",
            (provider, model, at)).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_litellm_import(db: Any) -> None:
    s = import_file(db, "litellm", LITELLM, observed_at=T0)
    assert s.models_read == 7
    assert (s.created, s.changed, s.unchanged) == (5, 0, 0)
    assert sorted(name for name, _ in s.rejected) == ["sample_spec", "standard/1024-x-1024/gpt-image-1.5"]
    assert set(s.confidence) == {("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"),
                                 ("google", "gemini-2.5-pro"), ("openai", "text-embedding-3-small")}
    with db.as_service("test") as c:
        row = c.execute("SELECT input_usd_per_token::text, cache_read_usd_per_token::text, batch_output_usd_per_token::text"
                        " FROM tessera.pricing_catalog WHERE model = 'gpt-4o'").fetchone()
        assert row == ("0.0000025", "0.00000125", "0.000005")
        gem = c.execute("SELECT tier_threshold_tokens, above_tier_input_usd_per_token, above_tier_cache_read_usd_per_token"
                        " FROM tessera.pricing_catalog WHERE provider = 'google'").fetchone()
        assert gem == (200000, Decimal("0.0000025"), Decimal("2.5E-7"))
        obs = c.execute("SELECT raw_value, value::text, source_model, observed_at FROM tessera.price_observations"
                        " WHERE model = 'gpt-4o' AND component = 'cache_read'").fetchone()
        assert obs == ("1.25e-06", "0.00000125", "gpt-4o", T0)
        run = c.execute("SELECT source, file_name, imported_by FROM tessera.price_import_runs").fetchone()
        assert run == ("litellm", LITELLM.name, "prices-import:litellm")


def test_tokencost_import(db: Any) -> None:
    s = import_file(db, "tokencost", TOKENCOST, observed_at=T0)
    assert (s.models_read, s.created, s.rejected) == (3, 3, [])
    assert Decimal("0.7") < s.confidence[("anthropic", "claude-sonnet-4-20250514")] <= Decimal("0.739700")
    at = _confidence(db, "anthropic", "claude-sonnet-4-20250514", T0 + timedelta(days=30))
    assert at["input"] == (1, 1, Decimal("0.739700"))   # one vote (tokencost for litellm), 0.99^30


def test_openrouter_import(db: Any) -> None:
    s = import_file(db, "openrouter", OPENROUTER, observed_at=T0)
    assert (s.models_read, s.created) == (5, 4)
    assert s.rejected[0][0] == "openrouter/auto" and "negative price" in s.rejected[0][1]
    assert ("anthropic", "claude-sonnet-4-5") in s.confidence


def test_reimport_is_unchanged_and_a_change_is_a_new_version(db: Any, tmp_path: Path) -> None:
    import_file(db, "litellm", LITELLM, observed_at=T0)
    again = import_file(db, "litellm", LITELLM, observed_at=T0 + timedelta(days=1))
    assert (again.created, again.changed, again.unchanged) == (0, 0, 5)

    data = json.loads(LITELLM.read_text())
    data["gpt-4o"]["input_cost_per_token"] = 2e-06
    changed_file = tmp_path / "litellm-changed.json"
    changed_file.write_text(json.dumps(data))
    third = import_file(db, "litellm", changed_file, observed_at=T0 + timedelta(days=2))
    assert (third.created, third.changed, third.unchanged) == (0, 1, 4)
    with db.as_service("test") as c:
        rows = c.execute("SELECT input_usd_per_token::text, effective_from, effective_to FROM tessera.pricing_catalog"
                         " WHERE model = 'gpt-4o' ORDER BY effective_from, effective_to NULLS LAST").fetchall()
        assert [r[0] for r in rows] == ["0.0000025", "0.000002"]
        assert rows[0][2] == rows[1][1] and rows[1][2] is None
        assert c.execute("SELECT count(*) FROM tessera.price_import_runs").fetchone()[0] == 3


def test_confidence_agreement_disagreement_and_decay(db: Any) -> None:
    import_file(db, "litellm", LITELLM, observed_at=T0)
    import_file(db, "openrouter", OPENROUTER, observed_at=T0)
    at = _confidence(db, "openai", "gpt-4o", T0)
    assert at["input"] == (2, 2, Decimal("1.000000"))          # both upstreams agree
    assert at["batch_input"] == (1, 1, Decimal("1.000000"))    # only LiteLLM prices batches
    gem = _confidence(db, "google", "gemini-2.5-pro", T0)
    assert gem["cache_read"] == (2, 1, Decimal("0.500000"))    # OpenRouter says 0.00000031
    # Decay: 0.99 per day since the freshest agreeing observation, fractional days too.
    assert _confidence(db, "openai", "gpt-4o", T0 + timedelta(days=1))["input"][2] == Decimal("0.990000")
    assert _confidence(db, "openai", "gpt-4o", T0 + timedelta(days=10))["input"][2] == Decimal("0.904382")
    assert _confidence(db, "openai", "gpt-4o", T0 + timedelta(hours=12))["input"][2] == Decimal("0.994987")
    assert _confidence(db, "google", "gemini-2.5-pro", T0 + timedelta(days=2))["cache_read"][2] == Decimal("0.490050")
    # Before anything was observed: no vote, confidence 0.
    assert _confidence(db, "openai", "gpt-4o", T0 - timedelta(seconds=1))["input"] == (0, 0, Decimal("0"))


def test_tokencost_never_adds_a_vote_beside_litellm(db: Any, tmp_path: Path) -> None:
    import_file(db, "litellm", LITELLM, observed_at=T0)
    import_file(db, "openrouter", OPENROUTER, observed_at=T0)
    before = _confidence(db, "google", "gemini-2.5-pro", T0 + timedelta(days=5))
    assert before["cache_read"] == (2, 1, Decimal("0.475495"))
    # tokencost repeats LiteLLM's gemini numbers, observed later: as an independent
    # vote it would make 2 of 3 agree, and as LiteLLM's freshest it would undo 5 days
    # of decay. Neither may happen.
    copy = {"gemini/gemini-2.5-pro": json.loads(LITELLM.read_text())["gemini/gemini-2.5-pro"]}
    path = tmp_path / "tokencost.json"
    path.write_text(json.dumps(copy))
    s = import_file(db, "tokencost", path, observed_at=T0 + timedelta(days=4))
    assert s.unchanged == 1
    assert _confidence(db, "google", "gemini-2.5-pro", T0 + timedelta(days=5)) == before


def test_tokencost_alone_stands_in_for_its_upstream(db: Any) -> None:
    import_file(db, "tokencost", TOKENCOST, observed_at=T0)
    import_file(db, "openrouter", OPENROUTER, observed_at=T0)
    assert _confidence(db, "openai", "gpt-4o-mini", T0)["input"] == (2, 2, Decimal("1.000000"))


def test_confidence_is_rederivable_for_a_past_time(db: Any, tmp_path: Path) -> None:
    import_file(db, "litellm", LITELLM, observed_at=T0)
    import_file(db, "openrouter", OPENROUTER, observed_at=T0)
    at = T0 + timedelta(days=3)
    first = _confidence(db, "openai", "gpt-4o", at)
    data = json.loads(OPENROUTER.read_text())
    data["data"][0]["pricing"]["prompt"] = "0.000003"   # OpenRouter later disagrees
    path = tmp_path / "or.json"
    path.write_text(json.dumps(data))
    import_file(db, "openrouter", path, observed_at=T0 + timedelta(days=6))
    assert _confidence(db, "openai", "gpt-4o", at) == first
    assert _confidence(db, "openai", "gpt-4o", T0 + timedelta(days=6))["input"] == (2, 1, Decimal("0.470740"))


def test_sponsor_reads_prices_and_confidence_but_not_import_runs(db: Any, postgresql: Any) -> None:
    postgresql.execute("INSERT INTO tessera.clients (client_id, name) VALUES"
                       " ('a0000000-0000-4000-8000-000000000001', 'Acme')")
    postgresql.execute("INSERT INTO tessera.client_users (client_id, email) VALUES"
                       " ('a0000000-0000-4000-8000-000000000001', 'alice@acme.example')")
    postgresql.commit()
    import_file(db, "litellm", LITELLM, observed_at=T0)
    import_file(db, "openrouter", OPENROUTER, observed_at=T0)
    with db.as_sponsor("alice@acme.example") as c:
        assert c.execute("SELECT count(*) FROM tessera.pricing_catalog WHERE effective_to IS NULL").fetchone()[0] == 5
        assert c.execute("SELECT count(*) FROM tessera.price_import_runs").fetchone()[0] == 0
        conf = c.execute("SELECT component, observing_upstreams, agreeing_upstreams FROM tessera.price_confidence("
                         "(SELECT pricing_snapshot_id FROM tessera.pricing_catalog WHERE model = 'gpt-4o'), %s)"
                         " WHERE component = 'input'", (T0,)).fetchone()
        assert conf == ("input", 2, 2)   # the same figure an operator re-derives
    with db.as_sponsor("stranger@nowhere.example") as c:   # listed nowhere
        assert c.execute("SELECT count(*) FROM tessera.pricing_catalog").fetchone()[0] == 0


def test_cli_import_prints_summary(app_dsn: str) -> None:
    result = CliRunner().invoke(main, ["prices", "import", "--source", "openrouter", str(OPENROUTER),
                                       "--dsn", app_dsn])
    assert result.exit_code == 0, result.output
    assert "models read:   5" in result.output
    assert "new versions:  4 (4 new models, 0 price changes)" in result.output
    assert "openrouter/auto: input: negative price '-1'" in result.output
    again = CliRunner().invoke(main, ["prices", "import", "--source", "openrouter", str(OPENROUTER), "--dsn", app_dsn])
    assert "unchanged:     4" in again.output


def test_cli_unknown_source_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text("{}")
    result = CliRunner().invoke(main, ["prices", "import", "--source", "nope", str(f)])
    assert result.exit_code == 2


def test_demo_pricing_block_fills_every_table_once(db: Any) -> None:
    from tessera_db import demo

    demo.load(db)
    demo.load(db)   # re-runnable: no new versions the second time
    with db.as_operator("ops@tessera.example") as c:
        counts = c.execute(
            "SELECT (SELECT count(*) FROM tessera.pricing_catalog WHERE model = 'gpt-4o'),"
            "       (SELECT count(*) FROM tessera.pricing_catalog),"
            "       (SELECT count(*) FROM tessera.price_import_runs),"
            "       (SELECT count(DISTINCT source) FROM tessera.price_observations),"
            "       (SELECT count(*) FROM tessera.price_sources)").fetchone()
        # 5 versions of the pricing block, plus the two demo models the operations block
        # (issue 15) publishes 60 days back so its past canary days have prices.
        assert counts == (2, 7, 3, 3, 3)
        conf = c.execute(
            "SELECT observing_upstreams, agreeing_upstreams FROM tessera.price_confidence("
            " (SELECT pricing_snapshot_id FROM tessera.pricing_catalog WHERE model = 'gpt-4o'"
            "   AND effective_to IS NOT NULL)) WHERE component = 'input'").fetchone()
        assert conf == (2, 2)   # litellm + openrouter; tokencost is litellm's copy
