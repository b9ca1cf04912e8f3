-- Frozen migration 0002_money_ledger: rendered from load.sql; never edit once merged.

-- >>> schema/50_pricing_catalog.sql
-- tessera.pricing_catalog: versioned, append-only model prices.
--
-- One row per (provider, model, validity period) with every price component a request
-- can use, in USD per token as numeric (never float). A price change closes the current
-- row's effective_to and inserts a new row with a new pricing_snapshot_id, in one
-- transaction, through tessera.publish_price(); the only UPDATE ever allowed is setting
-- effective_to once, from NULL to a time not before effective_from (trigger
-- pricing_catalog_guard_update, for every role). Platform-wide reference data: no
-- client_id (a Citus reference table on the scale-out path).
CREATE TABLE tessera.pricing_catalog (
    pricing_snapshot_id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    provider                         text        NOT NULL,
    model                            text        NOT NULL,
    input_usd_per_token              numeric     NOT NULL,
    output_usd_per_token             numeric     NOT NULL,
    cache_read_usd_per_token         numeric,
    cache_write_5m_usd_per_token     numeric,
    cache_write_1h_usd_per_token     numeric,
    batch_input_usd_per_token        numeric,
    batch_output_usd_per_token       numeric,
    tier_threshold_tokens            integer,
    above_tier_input_usd_per_token   numeric,
    above_tier_output_usd_per_token  numeric,
    above_tier_cache_read_usd_per_token numeric,
    effective_from                   timestamptz NOT NULL,
    effective_to                     timestamptz,
    published_at                     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pricing_catalog_pkey PRIMARY KEY (pricing_snapshot_id),
    CONSTRAINT pricing_catalog_provider_format CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]*$'),
    CONSTRAINT pricing_catalog_model_not_blank CHECK (model ~ '[^[:space:]]' AND char_length(model) <= 200),
    CONSTRAINT pricing_catalog_prices_non_negative CHECK (
        input_usd_per_token >= 0 AND output_usd_per_token >= 0
        AND coalesce(cache_read_usd_per_token, 0) >= 0
        AND coalesce(cache_write_5m_usd_per_token, 0) >= 0
        AND coalesce(cache_write_1h_usd_per_token, 0) >= 0
        AND coalesce(batch_input_usd_per_token, 0) >= 0
        AND coalesce(batch_output_usd_per_token, 0) >= 0
        AND coalesce(above_tier_input_usd_per_token, 0) >= 0
        AND coalesce(above_tier_output_usd_per_token, 0) >= 0
        AND coalesce(above_tier_cache_read_usd_per_token, 0) >= 0),
    -- An above-threshold tier needs its threshold and at least its input/output prices.
    CONSTRAINT pricing_catalog_tier_complete CHECK (
        (tier_threshold_tokens IS NULL
         AND above_tier_input_usd_per_token IS NULL
         AND above_tier_output_usd_per_token IS NULL
         AND above_tier_cache_read_usd_per_token IS NULL)
        OR (tier_threshold_tokens > 0
            AND above_tier_input_usd_per_token IS NOT NULL
            AND above_tier_output_usd_per_token IS NOT NULL)),
    CONSTRAINT pricing_catalog_period_ordered CHECK (effective_to IS NULL OR effective_to >= effective_from),
    -- No two periods of one model overlap ('[)' ranges: a close at T and an open at T touch).
    CONSTRAINT pricing_catalog_no_overlap EXCLUDE USING gist (
        provider WITH =, model WITH =, tstzrange(effective_from, effective_to, '[)') WITH &&)
);

-- The price in force for a model at a time: the lookup record_request makes.
CREATE INDEX pricing_catalog_model_effective_idx
    ON tessera.pricing_catalog (provider, model, effective_from DESC);

COMMENT ON TABLE tessera.pricing_catalog IS
    'Append-only, versioned model prices (USD per token, numeric). A change closes effective_to and inserts a new pricing_snapshot_id via tessera.publish_price(); history is never rewritten.';
COMMENT ON COLUMN tessera.pricing_catalog.pricing_snapshot_id IS 'Immutable id of this price version; optimize_savings rows point at it.';
COMMENT ON COLUMN tessera.pricing_catalog.provider IS 'Canonical provider (openai, anthropic, google, ...), lower-case.';
COMMENT ON COLUMN tessera.pricing_catalog.model IS 'Canonical model name, without provider prefix (see tessera_db.pricing.names).';
COMMENT ON COLUMN tessera.pricing_catalog.input_usd_per_token IS 'Uncached input tokens.';
COMMENT ON COLUMN tessera.pricing_catalog.output_usd_per_token IS 'Output tokens (reasoning tokens too, unless a source prices them apart).';
COMMENT ON COLUMN tessera.pricing_catalog.cache_read_usd_per_token IS 'Input tokens served from the provider prompt cache.';
COMMENT ON COLUMN tessera.pricing_catalog.cache_write_5m_usd_per_token IS 'Input tokens written to a 5-minute prompt cache (Anthropic-style cache creation).';
COMMENT ON COLUMN tessera.pricing_catalog.cache_write_1h_usd_per_token IS 'Input tokens written to a 1-hour prompt cache, where priced apart.';
COMMENT ON COLUMN tessera.pricing_catalog.batch_input_usd_per_token IS 'Input tokens through the provider batch API.';
COMMENT ON COLUMN tessera.pricing_catalog.batch_output_usd_per_token IS 'Output tokens through the provider batch API.';
COMMENT ON COLUMN tessera.pricing_catalog.tier_threshold_tokens IS 'Prompt size above which the above_tier_* prices apply (e.g. 200000).';
COMMENT ON COLUMN tessera.pricing_catalog.above_tier_input_usd_per_token IS 'Input price above the threshold.';
COMMENT ON COLUMN tessera.pricing_catalog.above_tier_output_usd_per_token IS 'Output price above the threshold.';
COMMENT ON COLUMN tessera.pricing_catalog.above_tier_cache_read_usd_per_token IS 'Cache-read price above the threshold.';
COMMENT ON COLUMN tessera.pricing_catalog.effective_from IS 'Start of validity (inclusive).';
COMMENT ON COLUMN tessera.pricing_catalog.effective_to IS 'End of validity (exclusive); NULL while current. Set once, never moved.';
COMMENT ON COLUMN tessera.pricing_catalog.published_at IS 'When this version was inserted.';

-- >>> schema/51_price_sources.sql
-- tessera.price_sources: where price observations come from, and whose numbers they
-- really are.
--
-- tokencost ships a copy of LiteLLM's model_prices file, so an observation from
-- tokencost is LiteLLM's number again, not a second opinion: each source names its
-- independent upstream, and confidence (tessera.price_confidence) counts agreement by
-- upstream, never by source. Append-only (tessera_private.make_append_only): changing a
-- source's upstream would silently change every confidence re-derived for the past; a
-- new source is a new row, added by a migration.
CREATE TABLE tessera.price_sources (
    source       text        NOT NULL,
    upstream     text        NOT NULL,
    precedence   integer     NOT NULL,
    description  text        NOT NULL,
    -- Given by the migration that adds the source (no default): from this date its
    -- observations can exist.
    registered_on date       NOT NULL,
    CONSTRAINT price_sources_pkey PRIMARY KEY (source),
    CONSTRAINT price_sources_source_format CHECK (source ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT price_sources_upstream_format CHECK (upstream ~ '^[a-z][a-z0-9_]*$'),
    -- Which source's value the catalog publishes when several observed a component
    -- (lowest first); unique so the choice is never a tie.
    CONSTRAINT price_sources_precedence_key UNIQUE (precedence),
    CONSTRAINT price_sources_precedence_positive CHECK (precedence > 0),
    CONSTRAINT price_sources_description_not_blank CHECK (description ~ '[^[:space:]]')
);

COMMENT ON TABLE tessera.price_sources IS
    'Price sources and their independent upstream (tokencost -> litellm). Confidence counts agreement by upstream. Append-only.';
COMMENT ON COLUMN tessera.price_sources.source IS 'Source name as given to `tessera-db prices import --source`.';
COMMENT ON COLUMN tessera.price_sources.upstream IS 'The independent origin of its numbers; sources sharing an upstream are one vote.';
COMMENT ON COLUMN tessera.price_sources.registered_on IS 'When the source was added to the registry (set by its migration).';
COMMENT ON COLUMN tessera.price_sources.precedence IS 'Publishing order: the catalog takes each component from the lowest-precedence source that observed it.';

SELECT tessera_private.make_append_only('tessera.price_sources');

-- Reference rows: the importers in tessera_db/pricing/ know exactly these sources.
INSERT INTO tessera.price_sources (source, upstream, precedence, description, registered_on) VALUES
    ('litellm',    'litellm',    1, 'LiteLLM model_prices_and_context_window.json (BerriAI/litellm)', '2026-11-23'),
    ('openrouter', 'openrouter', 2, 'OpenRouter /api/v1/models response (USD per token, as strings)', '2026-11-23'),
    ('tokencost',  'litellm',    3, 'tokencost model_prices.json: a copy of LiteLLM''s file, so never an independent vote', '2026-11-23');

-- >>> schema/52_price_import_runs.sql
-- tessera.price_import_runs: one row per imported price file (provenance of a batch of
-- tessera.price_observations). Written only by tessera.record_price_observations();
-- append-only.
CREATE TABLE tessera.price_import_runs (
    import_run_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    source         text        NOT NULL,
    file_name      text        NOT NULL,
    file_sha256    text        NOT NULL,
    observed_at    timestamptz NOT NULL,
    imported_at    timestamptz NOT NULL DEFAULT now(),
    imported_by    text        NOT NULL,
    CONSTRAINT price_import_runs_pkey PRIMARY KEY (import_run_id),
    CONSTRAINT price_import_runs_source_fkey FOREIGN KEY (source) REFERENCES tessera.price_sources (source),
    CONSTRAINT price_import_runs_file_name_length CHECK (char_length(file_name) BETWEEN 1 AND 500),
    CONSTRAINT price_import_runs_file_sha256_format CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT price_import_runs_imported_by_not_blank CHECK (imported_by ~ '[^[:space:]]')
);

CREATE INDEX price_import_runs_source_idx ON tessera.price_import_runs (source, observed_at DESC);

COMMENT ON TABLE tessera.price_import_runs IS
    'One row per imported price file: source, file name and SHA-256, when its prices were observed, who imported it. Append-only.';
COMMENT ON COLUMN tessera.price_import_runs.observed_at IS 'When the file''s prices were true (default: import time); every observation of the run carries it.';
COMMENT ON COLUMN tessera.price_import_runs.imported_by IS 'The caller: JWT sub/email if any, else the session user.';

SELECT tessera_private.make_append_only('tessera.price_import_runs');

-- >>> schema/53_price_observations.sql
-- tessera.price_observations: every price component every source reported, as read.
--
-- Append-only, so confidence (tessera.price_confidence) can be re-derived for any past
-- time from these rows alone. value is numeric parsed from raw_value, the source's own
-- text (no float round trip: '1.25e-06' is stored as 0.00000125 and the text kept).
-- component names are the pricing_catalog columns without "_usd_per_token".
CREATE TABLE tessera.price_observations (
    observation_id  bigint      GENERATED ALWAYS AS IDENTITY,
    import_run_id   uuid        NOT NULL,
    source          text        NOT NULL,
    provider        text        NOT NULL,
    model           text        NOT NULL,
    source_model    text        NOT NULL,
    component       text        NOT NULL,
    value           numeric     NOT NULL,
    raw_value       text        NOT NULL,
    observed_at     timestamptz NOT NULL,
    CONSTRAINT price_observations_pkey PRIMARY KEY (observation_id),
    CONSTRAINT price_observations_import_run_id_fkey FOREIGN KEY (import_run_id)
        REFERENCES tessera.price_import_runs (import_run_id),
    CONSTRAINT price_observations_source_fkey FOREIGN KEY (source) REFERENCES tessera.price_sources (source),
    CONSTRAINT price_observations_provider_format CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]*$'),
    CONSTRAINT price_observations_model_not_blank CHECK (model ~ '[^[:space:]]' AND char_length(model) <= 200),
    CONSTRAINT price_observations_source_model_length CHECK (char_length(source_model) BETWEEN 1 AND 300),
    CONSTRAINT price_observations_component_known CHECK (component IN (
        'input', 'output', 'cache_read', 'cache_write_5m', 'cache_write_1h', 'batch_input',
        'batch_output', 'tier_threshold_tokens', 'above_tier_input', 'above_tier_output',
        'above_tier_cache_read')),
    CONSTRAINT price_observations_value_non_negative CHECK (value >= 0),
    CONSTRAINT price_observations_raw_value_length CHECK (char_length(raw_value) BETWEEN 1 AND 100),
    -- A run reads each (model, component) once.
    CONSTRAINT price_observations_run_component_key UNIQUE (import_run_id, provider, model, component)
);

-- Confidence reads the latest observation per (model, component, source) up to a time.
CREATE INDEX price_observations_model_idx
    ON tessera.price_observations (provider, model, component, source, observed_at DESC);

COMMENT ON TABLE tessera.price_observations IS
    'Append-only price observations (source, model, component, numeric value, raw text, observed_at, import run): the inputs confidence is re-derived from.';
COMMENT ON COLUMN tessera.price_observations.source_model IS 'The model name exactly as the source spelled it (before tessera_db.pricing.names normalisation).';
COMMENT ON COLUMN tessera.price_observations.raw_value IS 'The value as the source wrote it (JSON number or string text).';

SELECT tessera_private.make_append_only('tessera.price_observations');

-- >>> functions/tessera_private.guard_pricing_catalog_update.sql
-- tessera_private.guard_pricing_catalog_update(): keeps tessera.pricing_catalog
-- append-only except for the one close a price change needs.
--
-- Attached (policies/pricing_catalog.sql, all ENABLE ALWAYS so that
-- session_replication_role = replica cannot switch them off) as:
--   pricing_catalog_guard_update            BEFORE UPDATE, per row: the only change
--       allowed is effective_to from NULL to a value >= effective_from, once. Every other
--       column must keep its exact stored text (1.0 -> 1.00 is a change too).
--   pricing_catalog_guard_update_statement  BEFORE UPDATE OF <every other column>, per
--       statement: refuses a statement that SETs any other column even when it matches no
--       row (RLS may hide every row from the caller; the refusal must not depend on it).
--   pricing_catalog_refuse_delete_truncate  BEFORE DELETE OR TRUNCATE, per statement.
-- Every refusal is SQLSTATE 42501, for every role: the owner and superusers included.
CREATE FUNCTION tessera_private.guard_pricing_catalog_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    kept tessera.pricing_catalog;
BEGIN
    IF TG_OP <> 'UPDATE' OR TG_LEVEL = 'STATEMENT' THEN
        RAISE EXCEPTION '% on tessera.pricing_catalog is refused: prices are append-only; only effective_to may be set, once',
                        CASE WHEN TG_OP = 'UPDATE' THEN 'UPDATE of a column other than effective_to' ELSE TG_OP END
            USING ERRCODE = 'insufficient_privilege', SCHEMA = 'tessera', TABLE = 'pricing_catalog',
                  HINT = 'Publish a new version with tessera.publish_price().';
    END IF;

    -- Every column but effective_to must be byte-for-byte what it was.
    kept := NEW;
    kept.effective_to := OLD.effective_to;
    IF kept::text IS DISTINCT FROM OLD::text THEN
        RAISE EXCEPTION 'UPDATE of tessera.pricing_catalog may change only effective_to (snapshot %)', OLD.pricing_snapshot_id
            USING ERRCODE = 'insufficient_privilege', SCHEMA = 'tessera', TABLE = 'pricing_catalog',
                  HINT = 'Publish a new version with tessera.publish_price().';
    END IF;
    IF OLD.effective_to IS NOT NULL THEN
        RAISE EXCEPTION 'pricing snapshot % is already closed (effective_to %); a period is closed once', OLD.pricing_snapshot_id, OLD.effective_to
            USING ERRCODE = 'insufficient_privilege', SCHEMA = 'tessera', TABLE = 'pricing_catalog';
    END IF;
    IF NEW.effective_to IS NULL OR NEW.effective_to < NEW.effective_from THEN
        RAISE EXCEPTION 'pricing snapshot % may only be closed at a time not before its effective_from %', OLD.pricing_snapshot_id, OLD.effective_from
            USING ERRCODE = 'insufficient_privilege', SCHEMA = 'tessera', TABLE = 'pricing_catalog';
    END IF;
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_pricing_catalog_update() IS
    'Trigger body for tessera.pricing_catalog: allows only effective_to NULL -> value >= effective_from, once; refuses every other UPDATE, DELETE and TRUNCATE (SQLSTATE 42501), for every role.';

REVOKE ALL ON FUNCTION tessera_private.guard_pricing_catalog_update() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera.publish_price.sql
-- tessera.publish_price(...): the one writer of tessera.pricing_catalog.
--
-- In one transaction: serialise publishers of this (provider, model) with a
-- transaction-scoped advisory lock (it also covers the first version, when there is no
-- row to lock), lock the current row (effective_to IS NULL) FOR UPDATE, and then
--   * every component equal (numerically, NULL = NULL) -> no write; returns the current
--     snapshot id with outcome 'unchanged';
--   * otherwise close the current row at p_effective_from and insert the new version from
--     p_effective_from -> outcome 'changed' ('created' when there was no current row).
-- Never backdated: p_effective_from >= now(). Requests already recorded were priced with
-- the snapshot in force when they happened; a backdated version would make the catalog
-- disagree with the ledger.
--
-- Why SECURITY DEFINER, EXECUTE for service_role only: no role holds INSERT or UPDATE on
-- the catalog (not even service_role, which bypasses RLS), so this function is the only
-- path to a price row and always closes-then-inserts under the lock. It runs as
-- tessera_owner, which FORCE RLS keeps to open or not-yet-ended rows
-- (policies/pricing_catalog.sql), and the guard triggers bind it like everyone else.
CREATE FUNCTION tessera.publish_price(
    p_provider                text,
    p_model                   text,
    p_input                   numeric,
    p_output                  numeric,
    p_cache_read              numeric     DEFAULT NULL,
    p_cache_write_5m          numeric     DEFAULT NULL,
    p_cache_write_1h          numeric     DEFAULT NULL,
    p_batch_input             numeric     DEFAULT NULL,
    p_batch_output            numeric     DEFAULT NULL,
    p_tier_threshold_tokens   integer     DEFAULT NULL,
    p_above_tier_input        numeric     DEFAULT NULL,
    p_above_tier_output       numeric     DEFAULT NULL,
    p_above_tier_cache_read   numeric     DEFAULT NULL,
    p_effective_from          timestamptz DEFAULT now())
RETURNS TABLE (pricing_snapshot_id uuid, outcome text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    cur tessera.pricing_catalog;
    new_id uuid := gen_random_uuid();
BEGIN
    IF p_effective_from IS NULL OR p_effective_from < now() THEN
        RAISE EXCEPTION 'a price version takes effect now or later, never backdated (effective_from %)', p_effective_from
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('tessera.pricing_catalog:' || p_provider || '/' || p_model, 0));

    SELECT c.* INTO cur
      FROM tessera.pricing_catalog AS c
     WHERE c.provider = p_provider AND c.model = p_model AND c.effective_to IS NULL
       FOR UPDATE;

    IF FOUND THEN
        IF  cur.input_usd_per_token                 IS NOT DISTINCT FROM p_input
        AND cur.output_usd_per_token                IS NOT DISTINCT FROM p_output
        AND cur.cache_read_usd_per_token            IS NOT DISTINCT FROM p_cache_read
        AND cur.cache_write_5m_usd_per_token        IS NOT DISTINCT FROM p_cache_write_5m
        AND cur.cache_write_1h_usd_per_token        IS NOT DISTINCT FROM p_cache_write_1h
        AND cur.batch_input_usd_per_token           IS NOT DISTINCT FROM p_batch_input
        AND cur.batch_output_usd_per_token          IS NOT DISTINCT FROM p_batch_output
        AND cur.tier_threshold_tokens               IS NOT DISTINCT FROM p_tier_threshold_tokens
        AND cur.above_tier_input_usd_per_token      IS NOT DISTINCT FROM p_above_tier_input
        AND cur.above_tier_output_usd_per_token     IS NOT DISTINCT FROM p_above_tier_output
        AND cur.above_tier_cache_read_usd_per_token IS NOT DISTINCT FROM p_above_tier_cache_read
        THEN
            RETURN QUERY SELECT cur.pricing_snapshot_id, 'unchanged'::text;
            RETURN;
        END IF;
        IF p_effective_from < cur.effective_from THEN
            RAISE EXCEPTION 'the current price of %/% takes effect at %; a new version cannot start before it (%)',
                            p_provider, p_model, cur.effective_from, p_effective_from
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        UPDATE tessera.pricing_catalog AS c
           SET effective_to = p_effective_from
         WHERE c.pricing_snapshot_id = cur.pricing_snapshot_id;
    END IF;

    INSERT INTO tessera.pricing_catalog (
        pricing_snapshot_id, provider, model, input_usd_per_token, output_usd_per_token,
        cache_read_usd_per_token, cache_write_5m_usd_per_token, cache_write_1h_usd_per_token,
        batch_input_usd_per_token, batch_output_usd_per_token, tier_threshold_tokens,
        above_tier_input_usd_per_token, above_tier_output_usd_per_token,
        above_tier_cache_read_usd_per_token, effective_from)
    VALUES (
        new_id, p_provider, p_model, p_input, p_output,
        p_cache_read, p_cache_write_5m, p_cache_write_1h,
        p_batch_input, p_batch_output, p_tier_threshold_tokens,
        p_above_tier_input, p_above_tier_output,
        p_above_tier_cache_read, p_effective_from);

    RETURN QUERY SELECT new_id, CASE WHEN cur.pricing_snapshot_id IS NULL THEN 'created' ELSE 'changed' END;
END
$function$;

COMMENT ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) IS
    'Publishes a model price: identical components -> current snapshot, ''unchanged''; otherwise closes the current row and inserts a new version (''changed''/''created'') in one transaction. SECURITY DEFINER, service_role only.';

REVOKE ALL ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) TO service_role;

-- >>> functions/tessera.record_price_observations.sql
-- tessera.record_price_observations(source, file, sha256, observed_at, observations):
-- the one writer of tessera.price_import_runs and tessera.price_observations.
--
-- p_observations is a JSON array of objects
--     {"provider": ..., "model": ..., "source_model": ..., "component": ..., "raw_value": "1.25e-06"}
-- raw_value is the source's own text; it is parsed here with ::numeric (exact decimal,
-- never through a float) and kept beside the value. Returns the new import_run_id.
--
-- SECURITY DEFINER, EXECUTE for service_role only (the import job): no role holds INSERT
-- on either table, so every observation arrives with its run, its source and the caller
-- recorded, and nothing can be rewritten afterwards (both tables are append-only).
CREATE FUNCTION tessera.record_price_observations(
    p_source        text,
    p_file_name     text,
    p_file_sha256   text,
    p_observed_at   timestamptz,
    p_observations  jsonb)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    run_id uuid := gen_random_uuid();
    claims jsonb := tessera_private.jwt_claims();
BEGIN
    IF p_observed_at IS NULL OR p_observed_at > now() THEN
        RAISE EXCEPTION 'observed_at % is in the future', p_observed_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.jsonb_typeof(p_observations) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'observations must be a JSON array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO tessera.price_import_runs (import_run_id, source, file_name, file_sha256, observed_at, imported_by)
    VALUES (run_id, p_source, p_file_name, p_file_sha256, p_observed_at,
            COALESCE(NULLIF(claims ->> 'sub', ''), NULLIF(claims ->> 'email', ''), session_user::text));

    INSERT INTO tessera.price_observations (import_run_id, source, provider, model, source_model,
                                            component, value, raw_value, observed_at)
    SELECT run_id, p_source, o.provider, o.model, o.source_model, o.component,
           o.raw_value::numeric, o.raw_value, p_observed_at
      FROM pg_catalog.jsonb_to_recordset(p_observations)
           AS o (provider text, model text, source_model text, component text, raw_value text);

    RETURN run_id;
END
$function$;

COMMENT ON FUNCTION tessera.record_price_observations(text, text, text, timestamptz, jsonb) IS
    'Records one imported price file: an import run plus its observations (raw text kept, parsed as exact numeric). SECURITY DEFINER, service_role only.';

REVOKE ALL ON FUNCTION tessera.record_price_observations(text, text, text, timestamptz, jsonb) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.record_price_observations(text, text, text, timestamptz, jsonb) TO service_role;

-- >>> functions/tessera.price_confidence.sql
-- tessera.price_confidence(snapshot, at): how far the independent sources agree with each
-- price component of a catalog snapshot, as known at time `at`. Re-derivable at any time
-- from tessera.price_observations and tessera.price_sources alone (both append-only).
--
-- For each non-NULL component c of the snapshot (provider p, model m, value v):
--   1. each source's current observation of (p, m, c) is its latest with
--      observed_at <= at (ties: the later observation_id);
--   2. each independent upstream casts one vote: the current observation of the source
--      that IS the upstream (source = upstream) if it has one, else the freshest current
--      observation among the sources copying it. So tokencost (upstream litellm) can
--      never add a vote, nor refresh litellm's, when LiteLLM itself was imported;
--   3. N = upstreams with a vote; A = those whose vote equals v (numeric equality);
--      t = the latest observed_at among the A agreeing votes;
--   4. confidence = round((A / N) * 0.99 ^ d, 6), d = max(0, (at - t) in days, fractional);
--      0 when A = 0 (no upstream agrees, or none observed c at all: N = 0).
-- The overall confidence of a snapshot is the minimum over its components (docs/pricing.md).
--
-- SECURITY INVOKER: the caller's row-level security decides which observations count
-- (operators, sponsors and service_role read them all; see policies/price_observations.sql).
CREATE FUNCTION tessera.price_confidence(p_pricing_snapshot_id uuid, p_at timestamptz DEFAULT now())
RETURNS TABLE (component text, catalog_value numeric, observing_upstreams integer,
               agreeing_upstreams integer, freshest_agreeing_at timestamptz, confidence numeric)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH snap AS (
        SELECT c.* FROM tessera.pricing_catalog AS c WHERE c.pricing_snapshot_id = p_pricing_snapshot_id
    ),
    catalog_values AS (
        SELECT s.provider, s.model, v.component, v.value
          FROM snap AS s
         CROSS JOIN LATERAL (VALUES
               ('input', s.input_usd_per_token),
               ('output', s.output_usd_per_token),
               ('cache_read', s.cache_read_usd_per_token),
               ('cache_write_5m', s.cache_write_5m_usd_per_token),
               ('cache_write_1h', s.cache_write_1h_usd_per_token),
               ('batch_input', s.batch_input_usd_per_token),
               ('batch_output', s.batch_output_usd_per_token),
               ('tier_threshold_tokens', s.tier_threshold_tokens::numeric),
               ('above_tier_input', s.above_tier_input_usd_per_token),
               ('above_tier_output', s.above_tier_output_usd_per_token),
               ('above_tier_cache_read', s.above_tier_cache_read_usd_per_token)) AS v (component, value)
         WHERE v.value IS NOT NULL
    ),
    current_per_source AS (
        SELECT DISTINCT ON (o.source, o.component) o.source, o.component, o.value, o.observed_at
          FROM tessera.price_observations AS o
          JOIN snap AS s ON o.provider = s.provider AND o.model = s.model
         WHERE o.observed_at <= p_at
         ORDER BY o.source, o.component, o.observed_at DESC, o.observation_id DESC
    ),
    votes AS (
        SELECT DISTINCT ON (src.upstream, cps.component) src.upstream, cps.component, cps.value, cps.observed_at
          FROM current_per_source AS cps
          JOIN tessera.price_sources AS src ON src.source = cps.source
         ORDER BY src.upstream, cps.component, (src.source = src.upstream) DESC, cps.observed_at DESC, src.precedence
    ),
    tally AS (
        SELECT cv.component, cv.value,
               count(v.upstream)::integer AS observing,
               (count(v.upstream) FILTER (WHERE v.value = cv.value))::integer AS agreeing,
               max(v.observed_at) FILTER (WHERE v.value = cv.value) AS freshest
          FROM catalog_values AS cv
          LEFT JOIN votes AS v ON v.component = cv.component
         GROUP BY cv.component, cv.value
    )
    SELECT t.component, t.value, t.observing, t.agreeing, t.freshest,
           CASE WHEN t.agreeing = 0 THEN 0::numeric
                ELSE pg_catalog.round(
                        (t.agreeing::numeric / t.observing)
                        * pg_catalog.power(0.99::numeric,
                              GREATEST(0::numeric,
                                  EXTRACT(EPOCH FROM (p_at - t.freshest)) / 86400)),
                        6)
           END
      FROM tally AS t
     ORDER BY t.component
$function$;

COMMENT ON FUNCTION tessera.price_confidence(uuid, timestamptz) IS
    'Per-component confidence of a pricing snapshot at a time: (agreeing independent upstreams / observing upstreams) * 0.99^days since the freshest agreeing observation, rounded to 6 places. Re-derivable from price_observations. SECURITY INVOKER.';

REVOKE ALL ON FUNCTION tessera.price_confidence(uuid, timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.price_confidence(uuid, timestamptz) TO authenticated, service_role;

-- >>> policies/pricing_catalog.sql
-- Row-level security, policies, guard triggers and grants for tessera.pricing_catalog.
--
--   operator, sponsor  read every price (public reference data: what providers charge)
--   stranger, anon     nothing (authenticated without an operator or sponsor listing)
--   service_role       read; writes only through tessera.publish_price()
--   tessera_proxy      nothing directly; the ledger's definer function reads prices
--   owner (definer functions: publish_price, the ledger's record_request)
--                      open or not-yet-ended rows only; insert open rows; close an open
--                      row at now or later. History already closed is invisible to them.
--   everyone, owner and superusers included: the guard triggers below.
ALTER TABLE tessera.pricing_catalog ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.pricing_catalog FORCE ROW LEVEL SECURITY;

CREATE POLICY pricing_catalog_select_operator_or_sponsor ON tessera.pricing_catalog
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR pg_catalog.cardinality((SELECT tessera_private.sponsor_client_ids())) > 0);

-- Definer functions need the version in force (to price a request, or to close it when
-- publishing); a closed-in-the-past row is never what they should price with.
CREATE POLICY pricing_catalog_select_definer_current ON tessera.pricing_catalog
    FOR SELECT TO tessera_owner
    USING (effective_to IS NULL OR effective_to >= now());

CREATE POLICY pricing_catalog_insert_definer_open ON tessera.pricing_catalog
    FOR INSERT TO tessera_owner
    WITH CHECK (effective_to IS NULL);

-- The rows it may read; the guard trigger then allows only the one close, and this
-- WITH CHECK keeps that close at now or later (never re-describing the past).
CREATE POLICY pricing_catalog_update_definer_close ON tessera.pricing_catalog
    FOR UPDATE TO tessera_owner
    USING (effective_to IS NULL OR effective_to >= now())
    WITH CHECK (effective_to >= now());

-- The second line of defence, for every role (RLS does not bind superusers, and owners
-- hold every privilege). ENABLE ALWAYS: session_replication_role = replica skips
-- ordinary triggers. Function: functions/tessera_private.guard_pricing_catalog_update.sql.
CREATE TRIGGER pricing_catalog_guard_update
    BEFORE UPDATE ON tessera.pricing_catalog
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_pricing_catalog_update();
ALTER TABLE tessera.pricing_catalog ENABLE ALWAYS TRIGGER pricing_catalog_guard_update;

-- Every column except effective_to: a statement SETting one is refused even if it
-- matches no row.
CREATE TRIGGER pricing_catalog_guard_update_statement
    BEFORE UPDATE OF pricing_snapshot_id, provider, model, input_usd_per_token, output_usd_per_token,
        cache_read_usd_per_token, cache_write_5m_usd_per_token, cache_write_1h_usd_per_token,
        batch_input_usd_per_token, batch_output_usd_per_token, tier_threshold_tokens,
        above_tier_input_usd_per_token, above_tier_output_usd_per_token,
        above_tier_cache_read_usd_per_token, effective_from, published_at
    ON tessera.pricing_catalog
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_private.guard_pricing_catalog_update();
ALTER TABLE tessera.pricing_catalog ENABLE ALWAYS TRIGGER pricing_catalog_guard_update_statement;

CREATE TRIGGER pricing_catalog_refuse_delete_truncate
    BEFORE DELETE OR TRUNCATE ON tessera.pricing_catalog
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_private.guard_pricing_catalog_update();
ALTER TABLE tessera.pricing_catalog ENABLE ALWAYS TRIGGER pricing_catalog_refuse_delete_truncate;

-- Privileges for authenticated: rows narrowed by the policy above. No writes.
GRANT SELECT ON tessera.pricing_catalog TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read only; publishing goes through
-- tessera.publish_price().
GRANT SELECT ON tessera.pricing_catalog TO service_role;

-- >>> policies/price_sources.sql
-- Row-level security, policies and grants for tessera.price_sources.
--
--   operator, sponsor  read (public provenance: which file a price came from, and whose
--                      numbers it copies; tessera.price_confidence runs with the
--                      caller's rights and needs it)
--   stranger, anon     nothing
--   service_role       read (the importer)
--   tessera_proxy      nothing
--   writes             none: the rows are inserted by schema/51_price_sources.sql before
--                      RLS is enabled; a new source comes with its own migration.
--                      Append-only triggers refuse UPDATE/DELETE/TRUNCATE for everyone.
ALTER TABLE tessera.price_sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.price_sources FORCE ROW LEVEL SECURITY;

CREATE POLICY price_sources_select_operator_or_sponsor ON tessera.price_sources
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR pg_catalog.cardinality((SELECT tessera_private.sponsor_client_ids())) > 0);

-- Privileges for authenticated: rows narrowed by the policy above.
GRANT SELECT ON tessera.price_sources TO authenticated;

-- Privileges for server-side jobs.
GRANT SELECT ON tessera.price_sources TO service_role;

-- >>> policies/price_import_runs.sql
-- Row-level security, policies and grants for tessera.price_import_runs.
--
--   operator       read (file names, hashes and who imported: internal operations data)
--   sponsor, anon  nothing (observations carry the run id; the run itself is internal)
--   service_role   read; writes only through tessera.record_price_observations()
--   tessera_proxy  nothing
--   owner          (record_price_observations) insert runs whose prices were observed
--                  no later than the import itself
ALTER TABLE tessera.price_import_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.price_import_runs FORCE ROW LEVEL SECURITY;

CREATE POLICY price_import_runs_select_operator ON tessera.price_import_runs
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator()));

CREATE POLICY price_import_runs_insert_definer ON tessera.price_import_runs
    FOR INSERT TO tessera_owner
    WITH CHECK (observed_at <= imported_at);

-- Privileges for authenticated: rows narrowed by the policy above.
GRANT SELECT ON tessera.price_import_runs TO authenticated;

-- Privileges for server-side jobs.
GRANT SELECT ON tessera.price_import_runs TO service_role;

-- >>> policies/price_observations.sql
-- Row-level security, policies and grants for tessera.price_observations.
--
--   operator, sponsor  read: copies of public price files, and what
--                      tessera.price_confidence (SECURITY INVOKER) re-derives a
--                      sponsor's confidence figures from
--   stranger, anon     nothing
--   service_role       read; writes only through tessera.record_price_observations()
--   tessera_proxy      nothing
--   owner              (record_price_observations) insert observations not from the future
ALTER TABLE tessera.price_observations ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.price_observations FORCE ROW LEVEL SECURITY;

CREATE POLICY price_observations_select_operator_or_sponsor ON tessera.price_observations
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR pg_catalog.cardinality((SELECT tessera_private.sponsor_client_ids())) > 0);

CREATE POLICY price_observations_insert_definer ON tessera.price_observations
    FOR INSERT TO tessera_owner
    WITH CHECK (observed_at <= now());

-- Privileges for authenticated: rows narrowed by the policy above.
GRANT SELECT ON tessera.price_observations TO authenticated;

-- Privileges for server-side jobs.
GRANT SELECT ON tessera.price_observations TO service_role;

-- >>> functions/tessera_private.mechanics_are_valid.sql
-- tessera_private.mechanics_are_valid(mechanics): is this a well-formed mechanics stack?
--
-- True when every element is one of the known mechanics (the mechanic_* columns of
-- tessera.workloads, without the prefix) and the array is sorted and distinct, so that
-- one stack has exactly one spelling and monthly readings can group by it. An empty
-- array (no mechanic fired) is valid; NULL is not (the column is NOT NULL).
-- IMMUTABLE: used in the CHECK constraint optimize_savings_mechanics_known.
CREATE FUNCTION tessera_private.mechanics_are_valid(p_mechanics text[])
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT p_mechanics IS NOT NULL
       AND COALESCE(pg_catalog.array_ndims(p_mechanics), 1) = 1
       AND p_mechanics <@ ARRAY['auto_route', 'prompt_cache_header', 'history_pruning',
                                'json_schema_enforcement', 'batch_routing', 'exact_cache',
                                'semantic_cache']::text[]
       AND p_mechanics = ARRAY(SELECT DISTINCT m COLLATE "C" FROM pg_catalog.unnest(p_mechanics) AS u (m)
                                ORDER BY 1)
$function$;

COMMENT ON FUNCTION tessera_private.mechanics_are_valid(text[]) IS
    'True when the array holds only known mechanics, sorted (C collation) and distinct. Used by a CHECK on tessera.optimize_savings.';

REVOKE ALL ON FUNCTION tessera_private.mechanics_are_valid(text[]) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.tag_pii_kind.sql
-- tessera_private.tag_pii_kind(tag): does a free-text tag look like end-user personal
-- data? Returns 'email', 'phone' or 'card', or NULL when it looks like none of them.
--
-- We never store end-user personal data, and feature_tag / customer_tag are chosen by
-- the client's developers, so this is a tripwire for the obvious mistakes, not a DLP:
--   email  anything@anything.tld
--   card   13 to 19 digits, optionally grouped by single spaces or dashes
--   phone  7 to 15 digits, optionally led by + and separated by spaces, dots, dashes
--          or parentheses (so "2026-11-23" is phone-like too: use "2026_11_23")
-- IMMUTABLE: used in CHECK constraints and by tessera.record_request for its message.
CREATE FUNCTION tessera_private.tag_pii_kind(p_tag text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT CASE
        WHEN p_tag IS NULL THEN NULL
        WHEN p_tag ~* '[^@[:space:]]+@[^@[:space:]]+\.[a-z]{2,}' THEN 'email'
        WHEN p_tag ~ '(^|[^0-9])[0-9]([ -]?[0-9]){12,18}([^0-9]|$)' THEN 'card'
        WHEN p_tag ~ '(^|[^0-9])\+?\(?[0-9]([ ().-]{0,2}[0-9]){6,14}([^0-9]|$)' THEN 'phone'
    END
$function$;

COMMENT ON FUNCTION tessera_private.tag_pii_kind(text) IS
    'Classifies a tag that looks like personal data: email, card or phone; NULL otherwise. Used by CHECKs on tessera.optimize_savings.';

REVOKE ALL ON FUNCTION tessera_private.tag_pii_kind(text) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.create_savings_partitions.sql
-- tessera_private.create_savings_partitions(from_month, months): make sure the monthly
-- partitions of tessera.optimize_savings exist for `months` UTC months starting at the
-- month of p_from, plus the DEFAULT partition. Returns how many partitions it created.
--
-- Each partition is named optimize_savings_pYYYY_MM and covers
-- [first instant of the UTC month, first instant of the next). Every partition (the
-- DEFAULT one included) gets row-level security ENABLED and FORCED with no policy and
-- no grant: a statement aimed at a partition directly applies the partition's own RLS,
-- not the parent's, so it must see nothing; reads go through the parent. Each also gets
-- the append-only statement trigger (tessera_private.make_append_only; the row trigger
-- is cloned from the parent).
--
-- Existing partitions are skipped, so this is re-runnable (a monthly job calls it a few
-- months ahead). Rows that landed in the DEFAULT partition for a month that has no
-- partition yet make creating that month's partition fail (PostgreSQL checks the DEFAULT
-- partition); move them deliberately, never here.
--
-- Not SECURITY DEFINER and granted to nobody: DDL is the owner's, so only migrations and
-- the maintenance job (SET ROLE tessera_owner) run it.
CREATE FUNCTION tessera_private.create_savings_partitions(p_from date, p_months integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    first_month date := pg_catalog.date_trunc('month', p_from)::date;
    month date;
    part_name text;
    created integer := 0;
BEGIN
    IF p_from IS NULL OR p_months IS NULL OR p_months < 0 OR p_months > 120 THEN
        RAISE EXCEPTION 'create_savings_partitions needs a month and 0..120 months, got %, %', p_from, p_months
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.to_regclass('tessera.optimize_savings_default') IS NULL THEN
        EXECUTE 'CREATE TABLE tessera.optimize_savings_default PARTITION OF tessera.optimize_savings DEFAULT';
        EXECUTE 'ALTER TABLE tessera.optimize_savings_default ENABLE ROW LEVEL SECURITY';
        EXECUTE 'ALTER TABLE tessera.optimize_savings_default FORCE ROW LEVEL SECURITY';
        PERFORM tessera_private.make_append_only('tessera.optimize_savings_default'::regclass);
        created := created + 1;
    END IF;
    FOR i IN 0 .. p_months - 1 LOOP
        month := (first_month + pg_catalog.make_interval(months => i))::date;
        part_name := pg_catalog.format('optimize_savings_p%s', pg_catalog.to_char(month, 'YYYY_MM'));
        CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('tessera.%I', part_name)) IS NOT NULL;
        EXECUTE pg_catalog.format(
            'CREATE TABLE tessera.%I PARTITION OF tessera.optimize_savings FOR VALUES FROM (%L) TO (%L)',
            part_name,
            (month::timestamp AT TIME ZONE 'UTC'),
            ((month + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
        EXECUTE pg_catalog.format('ALTER TABLE tessera.%I ENABLE ROW LEVEL SECURITY', part_name);
        EXECUTE pg_catalog.format('ALTER TABLE tessera.%I FORCE ROW LEVEL SECURITY', part_name);
        PERFORM tessera_private.make_append_only(pg_catalog.format('tessera.%I', part_name)::regclass);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$function$;

COMMENT ON FUNCTION tessera_private.create_savings_partitions(date, integer) IS
    'Creates the missing monthly (UTC) partitions of tessera.optimize_savings and its DEFAULT partition, each with RLS enabled+forced and the append-only triggers. Re-runnable.';

REVOKE ALL ON FUNCTION tessera_private.create_savings_partitions(date, integer) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.stamp_balance_transaction.sql
-- tessera_private.stamp_balance_transaction(): BEFORE INSERT trigger on
-- tessera.balance_transactions that sets who and when, whatever the INSERT supplied:
--   actor       the JWT email (lower-cased) or, failing that, the JWT sub (service jobs
--               name themselves there: Database.as_service("nightly-job")); for a
--               maintenance session without claims, 'db:' || session_user
--   db_role     the database role that ran the INSERT (current_user)
--   created_at  now()
-- An API role (anon, authenticated, service_role) without an email or sub in its claims
-- is refused (42501): every money movement names someone. A maintenance session with no
-- claims (superuser or owner in psql) is named 'db:<login>'. Not SECURITY DEFINER: it
-- reads only the caller's own setting, so current_user is the caller's role.
CREATE FUNCTION tessera_private.stamp_balance_transaction()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    raw text := pg_catalog.current_setting('request.jwt.claims', true);
    claims jsonb;
    who text;
BEGIN
    BEGIN
        claims := NULLIF(pg_catalog.btrim(raw), '')::jsonb;
    EXCEPTION WHEN data_exception THEN
        claims := NULL;
    END;
    IF pg_catalog.jsonb_typeof(claims) = 'object' THEN
        IF pg_catalog.jsonb_typeof(claims -> 'email') = 'string' AND claims ->> 'email' ~ '[^[:space:]]' THEN
            who := pg_catalog.lower(claims ->> 'email');
        ELSIF pg_catalog.jsonb_typeof(claims -> 'sub') = 'string' AND claims ->> 'sub' ~ '[^[:space:]]' THEN
            who := claims ->> 'sub';
        END IF;
    END IF;
    -- Maintenance sessions (a superuser or the owner in psql, no API claims) are named
    -- by their login; the API roles must say who they are.
    IF who IS NULL AND current_user::text NOT IN ('anon', 'authenticated', 'service_role') THEN
        who := 'db:' || session_user::text;
    END IF;
    IF who IS NULL THEN
        RAISE EXCEPTION 'a balance transaction needs an actor: request.jwt.claims must carry an email or sub'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.actor := pg_catalog.left(who, 320);
    NEW.db_role := current_user::text;
    NEW.created_at := pg_catalog.now();
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.stamp_balance_transaction() IS
    'BEFORE INSERT trigger on tessera.balance_transactions: stamps actor (JWT email or sub), db_role and created_at; refuses a write without an actor.';

REVOKE ALL ON FUNCTION tessera_private.stamp_balance_transaction() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> schema/60_optimize_savings.sql
-- tessera.optimize_savings: one row per proxied request, append-only, partitioned by
-- month of occurred_at from day one.
--
-- Written only through tessera.record_request() (SECURITY DEFINER, EXECUTE for the
-- proxy login): it picks the price snapshots in force at occurred_at and computes both
-- costs here, in the database; a caller never supplies a cost. Rows are never updated
-- when prices change later (they point at immutable pricing snapshots), and UPDATE,
-- DELETE and TRUNCATE are refused for every role (no privilege, plus the
-- make_append_only triggers, ENABLE ALWAYS, on the parent and every partition).
--
-- Idempotency and the partition key. PostgreSQL requires every unique key of a
-- partitioned table to contain the partition key, so (client_id, request_id) cannot be
-- unique here: the primary key below is (client_id, request_id, occurred_at), which
-- would let a replay with a different occurred_at in. The per-client uniqueness of
-- request_id therefore lives in the small, NON-partitioned table
-- tessera.savings_request_keys (schema/61_savings_request_keys.sql): PRIMARY KEY
-- (client_id, request_id) -> occurred_at. record_request() claims the key first
-- (INSERT ... ON CONFLICT DO NOTHING, which waits for a concurrent claimer to commit);
-- if the key exists it returns the original row, found via its occurred_at, which also
-- prunes the lookup to one partition.
--
-- Token buckets are non-overlapping: uncached input + cache reads + 5-minute cache
-- writes + 1-hour cache writes = the whole prompt; output excludes reasoning. When the
-- provider reported totals (reported_input_tokens, reported_output_tokens) they must
-- equal the sums of the buckets, so a cached token cannot be counted twice (see
-- docs/usage-buckets.md for how OpenAI- and Anthropic-style usage objects map here).
CREATE TABLE tessera.optimize_savings (
    client_id                    uuid        NOT NULL,
    workload_id                  uuid        NOT NULL,
    request_id                   text        NOT NULL,
    occurred_at                  timestamptz NOT NULL,
    recorded_at                  timestamptz NOT NULL DEFAULT now(),
    requested_provider           text        NOT NULL,
    requested_model              text        NOT NULL,
    routed_provider              text        NOT NULL,
    routed_model                 text        NOT NULL,
    requested_snapshot_id        uuid        NOT NULL,
    routed_snapshot_id           uuid        NOT NULL,
    uncached_input_tokens        bigint      NOT NULL DEFAULT 0,
    cache_read_input_tokens      bigint      NOT NULL DEFAULT 0,
    cache_write_5m_input_tokens  bigint      NOT NULL DEFAULT 0,
    cache_write_1h_input_tokens  bigint      NOT NULL DEFAULT 0,
    output_tokens                bigint      NOT NULL DEFAULT 0,
    reasoning_tokens             bigint,
    reported_input_tokens        bigint,
    reported_output_tokens       bigint,
    batch                        boolean     NOT NULL DEFAULT false,
    original_cost_usd            numeric     NOT NULL,
    actual_cost_usd              numeric     NOT NULL,
    savings_usd                  numeric     GENERATED ALWAYS AS (original_cost_usd - actual_cost_usd) STORED,
    mechanics                    text[]      NOT NULL DEFAULT '{}',
    finish_reason                text,
    feature_tag                  text,
    customer_tag                 text,
    -- Contains the partition key (required); per-client uniqueness of request_id is in
    -- tessera.savings_request_keys (see above).
    CONSTRAINT optimize_savings_pkey PRIMARY KEY (client_id, request_id, occurred_at),
    CONSTRAINT optimize_savings_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON DELETE RESTRICT,
    CONSTRAINT optimize_savings_requested_snapshot_fkey FOREIGN KEY (requested_snapshot_id)
        REFERENCES tessera.pricing_catalog (pricing_snapshot_id) ON DELETE RESTRICT,
    CONSTRAINT optimize_savings_routed_snapshot_fkey FOREIGN KEY (routed_snapshot_id)
        REFERENCES tessera.pricing_catalog (pricing_snapshot_id) ON DELETE RESTRICT,
    CONSTRAINT optimize_savings_request_id_length CHECK (char_length(request_id) BETWEEN 1 AND 200),
    CONSTRAINT optimize_savings_models_length CHECK (
        char_length(requested_provider) BETWEEN 1 AND 100 AND char_length(requested_model) BETWEEN 1 AND 200
        AND char_length(routed_provider) BETWEEN 1 AND 100 AND char_length(routed_model) BETWEEN 1 AND 200),
    CONSTRAINT optimize_savings_tokens_non_negative CHECK (
        uncached_input_tokens >= 0 AND cache_read_input_tokens >= 0
        AND cache_write_5m_input_tokens >= 0 AND cache_write_1h_input_tokens >= 0
        AND output_tokens >= 0 AND COALESCE(reasoning_tokens, 0) >= 0),
    -- Cached tokens are counted once: a reported prompt total is exactly the sum of the
    -- four input buckets, a reported completion total exactly output + reasoning.
    CONSTRAINT optimize_savings_input_total_matches CHECK (
        reported_input_tokens IS NULL
        OR reported_input_tokens = uncached_input_tokens + cache_read_input_tokens
                                   + cache_write_5m_input_tokens + cache_write_1h_input_tokens),
    CONSTRAINT optimize_savings_output_total_matches CHECK (
        reported_output_tokens IS NULL
        OR reported_output_tokens = output_tokens + COALESCE(reasoning_tokens, 0)),
    CONSTRAINT optimize_savings_costs_non_negative CHECK (original_cost_usd >= 0 AND actual_cost_usd >= 0),
    CONSTRAINT optimize_savings_mechanics_known CHECK (tessera_private.mechanics_are_valid(mechanics)),
    CONSTRAINT optimize_savings_finish_reason_length CHECK (char_length(finish_reason) BETWEEN 1 AND 64),
    CONSTRAINT optimize_savings_feature_tag_length CHECK (char_length(feature_tag) BETWEEN 1 AND 100),
    CONSTRAINT optimize_savings_customer_tag_length CHECK (char_length(customer_tag) BETWEEN 1 AND 100),
    -- We never store end-user personal data (tessera_private.tag_pii_kind).
    CONSTRAINT optimize_savings_feature_tag_not_pii CHECK (tessera_private.tag_pii_kind(feature_tag) IS NULL),
    CONSTRAINT optimize_savings_customer_tag_not_pii CHECK (tessera_private.tag_pii_kind(customer_tag) IS NULL)
) PARTITION BY RANGE (occurred_at);

-- Month-to-date and monthly-reading queries: one client, a time range.
CREATE INDEX optimize_savings_client_occurred_idx ON tessera.optimize_savings (client_id, occurred_at);

COMMENT ON TABLE tessera.optimize_savings IS
    'Append-only, one row per proxied request, partitioned by UTC month of occurred_at. Written only by tessera.record_request(); costs computed in the database from pricing snapshots; request_id is unique per client through tessera.savings_request_keys.';
COMMENT ON COLUMN tessera.optimize_savings.client_id IS 'Owning client; leads every key.';
COMMENT ON COLUMN tessera.optimize_savings.workload_id IS 'Workload of the client that sent the request.';
COMMENT ON COLUMN tessera.optimize_savings.request_id IS 'Proxy request id, unique per client (tessera.savings_request_keys); 1..200 characters.';
COMMENT ON COLUMN tessera.optimize_savings.occurred_at IS 'When the request happened; the partition key and the instant prices are taken at.';
COMMENT ON COLUMN tessera.optimize_savings.recorded_at IS 'When the row was written.';
COMMENT ON COLUMN tessera.optimize_savings.requested_provider IS 'Provider the client asked for.';
COMMENT ON COLUMN tessera.optimize_savings.requested_model IS 'Model the client asked for (priced as original_cost_usd).';
COMMENT ON COLUMN tessera.optimize_savings.routed_provider IS 'Provider the request actually went to.';
COMMENT ON COLUMN tessera.optimize_savings.routed_model IS 'Model the request actually went to (priced as actual_cost_usd).';
COMMENT ON COLUMN tessera.optimize_savings.requested_snapshot_id IS 'pricing_catalog version in force for the requested model at occurred_at.';
COMMENT ON COLUMN tessera.optimize_savings.routed_snapshot_id IS 'pricing_catalog version in force for the routed model at occurred_at.';
COMMENT ON COLUMN tessera.optimize_savings.uncached_input_tokens IS 'Prompt tokens neither read from nor written to the provider cache.';
COMMENT ON COLUMN tessera.optimize_savings.cache_read_input_tokens IS 'Prompt tokens read from the provider cache.';
COMMENT ON COLUMN tessera.optimize_savings.cache_write_5m_input_tokens IS 'Prompt tokens written to a 5-minute provider cache.';
COMMENT ON COLUMN tessera.optimize_savings.cache_write_1h_input_tokens IS 'Prompt tokens written to a 1-hour provider cache.';
COMMENT ON COLUMN tessera.optimize_savings.output_tokens IS 'Completion tokens excluding reasoning tokens.';
COMMENT ON COLUMN tessera.optimize_savings.reasoning_tokens IS 'Reasoning tokens where the provider reports them (NULL: not reported); billed at the output price.';
COMMENT ON COLUMN tessera.optimize_savings.reported_input_tokens IS 'Prompt total as the provider reported it, if it did; must equal the sum of the four input buckets.';
COMMENT ON COLUMN tessera.optimize_savings.reported_output_tokens IS 'Completion total as the provider reported it, if it did; must equal output + reasoning.';
COMMENT ON COLUMN tessera.optimize_savings.batch IS 'Sent through the provider batch API (batch prices).';
COMMENT ON COLUMN tessera.optimize_savings.original_cost_usd IS 'Cost at the requested model''s snapshot, computed by record_request.';
COMMENT ON COLUMN tessera.optimize_savings.actual_cost_usd IS 'Cost at the routed model''s snapshot (0 for a Tessera cache hit), computed by record_request.';
COMMENT ON COLUMN tessera.optimize_savings.savings_usd IS 'original_cost_usd - actual_cost_usd (generated).';
COMMENT ON COLUMN tessera.optimize_savings.mechanics IS 'Mechanics that fired, sorted and distinct, from the known set (mechanic_* flags of workloads).';
COMMENT ON COLUMN tessera.optimize_savings.finish_reason IS 'Provider finish reason, as reported.';
COMMENT ON COLUMN tessera.optimize_savings.feature_tag IS 'Optional client-chosen feature label; never personal data (email/phone/card refused).';
COMMENT ON COLUMN tessera.optimize_savings.customer_tag IS 'Optional client-chosen customer segment label; never personal data (email/phone/card refused).';

SELECT tessera_private.make_append_only('tessera.optimize_savings');

-- Partitions for the previous, current and next UTC month plus DEFAULT, so the declared
-- SQL and the migration that runs it agree; a scheduled job keeps creating months ahead.
SELECT tessera_private.create_savings_partitions(
    (pg_catalog.date_trunc('month', pg_catalog.now() AT TIME ZONE 'UTC') - interval '1 month')::date, 3);

-- >>> schema/61_savings_request_keys.sql
-- tessera.savings_request_keys: the idempotency key of tessera.optimize_savings.
--
-- optimize_savings is partitioned by occurred_at, and a unique key on a partitioned
-- table must contain the partition key, so "request_id is unique per client" cannot be
-- declared there. This small non-partitioned table holds that key: PRIMARY KEY
-- (client_id, request_id), with the occurred_at of the one row it names (which also
-- tells a replay which partition holds the original). tessera.record_request() inserts
-- here first, in the same transaction as the savings row; a replay finds the key and
-- returns the original row instead of writing a duplicate. Append-only like the ledger.
CREATE TABLE tessera.savings_request_keys (
    client_id    uuid        NOT NULL,
    request_id   text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT savings_request_keys_pkey PRIMARY KEY (client_id, request_id),
    CONSTRAINT savings_request_keys_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE RESTRICT,
    CONSTRAINT savings_request_keys_request_id_length CHECK (char_length(request_id) BETWEEN 1 AND 200)
);

COMMENT ON TABLE tessera.savings_request_keys IS
    'Per-client uniqueness of optimize_savings.request_id (a partitioned table cannot hold it): (client_id, request_id) -> occurred_at of the original row. Append-only.';
COMMENT ON COLUMN tessera.savings_request_keys.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.savings_request_keys.request_id IS 'Proxy request id, unique per client.';
COMMENT ON COLUMN tessera.savings_request_keys.occurred_at IS 'occurred_at of the original optimize_savings row (its partition).';
COMMENT ON COLUMN tessera.savings_request_keys.recorded_at IS 'When the key was claimed.';

SELECT tessera_private.make_append_only('tessera.savings_request_keys');

-- >>> schema/70_balance_transactions.sql
-- tessera.balance_transactions: the append-only balance ledger of each client.
--
-- Top-ups, usage charges, service credits and adjustments, each signed by its kind
-- (CHECK balance_transactions_amount_sign), with a required reason and a stamped actor
-- (trigger balance_transactions_stamp: JWT email or sub, database role, created_at).
-- The balance is never stored: tessera.client_balances sums the ledger with the
-- caller's own row-level security (security_invoker), so concurrent writers each append
-- a row and no update can be lost. Rows are never changed or removed (no UPDATE, DELETE
-- or TRUNCATE privilege, and the make_append_only triggers for every role); a mistake
-- is corrected by an adjustment row.
CREATE TABLE tessera.balance_transactions (
    client_id       uuid        NOT NULL,
    transaction_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    kind            text        NOT NULL,
    amount_usd      numeric     NOT NULL,
    reason          text        NOT NULL,
    actor           text        NOT NULL,
    db_role         text        NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT balance_transactions_pkey PRIMARY KEY (client_id, transaction_id),
    CONSTRAINT balance_transactions_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE RESTRICT,
    CONSTRAINT balance_transactions_kind_known CHECK (
        kind IN ('top_up',          -- money in from the client
                 'usage_charge',    -- money out for proxied usage
                 'service_credit',  -- money in from us (goodwill, SLA credit)
                 'adjustment')),    -- a correction, either direction
    CONSTRAINT balance_transactions_amount_sign CHECK (
        CASE kind
            WHEN 'top_up' THEN amount_usd > 0
            WHEN 'usage_charge' THEN amount_usd < 0
            WHEN 'service_credit' THEN amount_usd > 0
            WHEN 'adjustment' THEN amount_usd <> 0
        END),
    CONSTRAINT balance_transactions_amount_bounded CHECK (abs(amount_usd) < 1000000000 AND scale(amount_usd) <= 12),
    CONSTRAINT balance_transactions_reason_not_blank CHECK (reason ~ '[^[:space:]]' AND char_length(reason) <= 500),
    CONSTRAINT balance_transactions_actor_not_blank CHECK (actor ~ '[^[:space:]]' AND char_length(actor) <= 320)
);

CREATE INDEX balance_transactions_client_created_idx ON tessera.balance_transactions (client_id, created_at);

CREATE TRIGGER balance_transactions_stamp
    BEFORE INSERT ON tessera.balance_transactions
    FOR EACH ROW EXECUTE FUNCTION tessera_private.stamp_balance_transaction();
ALTER TABLE tessera.balance_transactions ENABLE ALWAYS TRIGGER balance_transactions_stamp;

COMMENT ON TABLE tessera.balance_transactions IS
    'Append-only balance ledger: top-ups, usage charges, service credits, adjustments, each with reason and stamped actor. The balance is derived (tessera.client_balances), never stored.';
COMMENT ON COLUMN tessera.balance_transactions.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.balance_transactions.transaction_id IS 'Transaction key within the client.';
COMMENT ON COLUMN tessera.balance_transactions.kind IS 'top_up (> 0), usage_charge (< 0), service_credit (> 0), adjustment (<> 0).';
COMMENT ON COLUMN tessera.balance_transactions.amount_usd IS 'Signed USD amount; its sign is fixed by kind.';
COMMENT ON COLUMN tessera.balance_transactions.reason IS 'Why: required, non-blank.';
COMMENT ON COLUMN tessera.balance_transactions.actor IS 'Who: JWT email, or JWT sub for a service job (stamped by trigger, never supplied).';
COMMENT ON COLUMN tessera.balance_transactions.db_role IS 'Database role that wrote the row (stamped by trigger).';
COMMENT ON COLUMN tessera.balance_transactions.created_at IS 'When the row was written (stamped by trigger).';

SELECT tessera_private.make_append_only('tessera.balance_transactions');

-- The derived balance. security_invoker: the caller's own row-level security applies,
-- so a sponsor sums only their own clients' rows.
CREATE VIEW tessera.client_balances WITH (security_invoker = true) AS
SELECT t.client_id,
       sum(t.amount_usd) AS balance_usd,
       count(*) AS transactions,
       max(t.created_at) AS last_transaction_at
  FROM tessera.balance_transactions AS t
 GROUP BY t.client_id;

COMMENT ON VIEW tessera.client_balances IS
    'Balance per client, derived from tessera.balance_transactions under the caller''s RLS (security_invoker).';

-- >>> functions/tessera_private.request_cost.sql
-- tessera_private.request_cost(snapshot, buckets..., batch): the USD cost of one
-- request's token buckets at one pricing_catalog version. Exact numeric, no rounding.
--
-- The rule (also documented on tessera.record_request):
--   prompt = uncached + cache_read + cache_write_5m + cache_write_1h
--   above tier  when tier_threshold_tokens is set and prompt > tier_threshold_tokens:
--               uncached input at above_tier_input, output and reasoning at
--               above_tier_output, cache reads at above_tier_cache_read; cache writes
--               keep cache_write_5m / cache_write_1h
--   batch       uncached input at batch_input, output and reasoning at batch_output;
--               batch above the tier is refused
--   otherwise   input, output, cache_read, cache_write_5m, cache_write_1h
-- A price component that is NULL in the snapshot but needed for a non-zero bucket is
-- refused (P0002, naming the component): never guessed from another component.
CREATE FUNCTION tessera_private.request_cost(
    p_price tessera.pricing_catalog,
    p_uncached bigint, p_cache_read bigint, p_cache_write_5m bigint, p_cache_write_1h bigint,
    p_output bigint, p_reasoning bigint, p_batch boolean)
RETURNS numeric
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    prompt bigint := p_uncached + p_cache_read + p_cache_write_5m + p_cache_write_1h;
    completion bigint := p_output + COALESCE(p_reasoning, 0);
    above boolean := p_price.tier_threshold_tokens IS NOT NULL AND prompt > p_price.tier_threshold_tokens;
    in_price numeric;
    out_price numeric;
    read_price numeric;
    missing text;
BEGIN
    IF p_batch AND above THEN
        RAISE EXCEPTION 'no batch price above the % token tier for %/% (snapshot %)',
            p_price.tier_threshold_tokens, p_price.provider, p_price.model, p_price.pricing_snapshot_id
            USING ERRCODE = 'no_data_found';
    END IF;
    in_price := CASE WHEN p_batch THEN p_price.batch_input_usd_per_token
                     WHEN above THEN p_price.above_tier_input_usd_per_token
                     ELSE p_price.input_usd_per_token END;
    out_price := CASE WHEN p_batch THEN p_price.batch_output_usd_per_token
                      WHEN above THEN p_price.above_tier_output_usd_per_token
                      ELSE p_price.output_usd_per_token END;
    read_price := CASE WHEN above THEN p_price.above_tier_cache_read_usd_per_token
                       ELSE p_price.cache_read_usd_per_token END;
    missing := pg_catalog.concat_ws(', ',
        CASE WHEN p_uncached > 0 AND in_price IS NULL THEN
            CASE WHEN p_batch THEN 'batch_input' ELSE 'above_tier_input' END END,
        CASE WHEN completion > 0 AND out_price IS NULL THEN
            CASE WHEN p_batch THEN 'batch_output' ELSE 'above_tier_output' END END,
        CASE WHEN p_cache_read > 0 AND read_price IS NULL THEN
            CASE WHEN above THEN 'above_tier_cache_read' ELSE 'cache_read' END END,
        CASE WHEN p_cache_write_5m > 0 AND p_price.cache_write_5m_usd_per_token IS NULL THEN 'cache_write_5m' END,
        CASE WHEN p_cache_write_1h > 0 AND p_price.cache_write_1h_usd_per_token IS NULL THEN 'cache_write_1h' END);
    IF missing <> '' THEN
        RAISE EXCEPTION 'snapshot % (%/%) has no % price; refusing to guess',
            p_price.pricing_snapshot_id, p_price.provider, p_price.model, missing
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN COALESCE(p_uncached * in_price, 0)
         + COALESCE(completion * out_price, 0)
         + COALESCE(p_cache_read * read_price, 0)
         + COALESCE(p_cache_write_5m * p_price.cache_write_5m_usd_per_token, 0)
         + COALESCE(p_cache_write_1h * p_price.cache_write_1h_usd_per_token, 0);
END
$function$;

COMMENT ON FUNCTION tessera_private.request_cost(tessera.pricing_catalog, bigint, bigint, bigint, bigint, bigint, bigint, boolean) IS
    'USD cost of one request''s token buckets at one pricing snapshot (tiers, batch, cache components; refuses a missing component). Used by tessera.record_request.';

REVOKE ALL ON FUNCTION tessera_private.request_cost(tessera.pricing_catalog, bigint, bigint, bigint, bigint, bigint, bigint, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera.record_request.sql
-- tessera.record_request(...): record one proxied request in tessera.optimize_savings,
-- pricing it in the database, and return the row's key fields and costs.
--
-- Callers: the proxy login (tessera_proxy), and service_role (spool replay; see the GRANT). SECURITY DEFINER, so the proxy holds
-- no table privilege at all and reads back nothing but what this returns. As
-- tessera_owner it is still bound by FORCE RLS: it sets the transaction-local setting
-- tessera.recording_client_id to p_client_id, which the owner-only policies on
-- optimize_savings, savings_request_keys and workloads admit (that one client's rows,
-- nothing else), and clears it before returning.
--
-- Idempotency: the key (client_id, request_id) is claimed in tessera.savings_request_keys
-- (INSERT ... ON CONFLICT DO NOTHING; a concurrent claimer is waited for). If it was
-- already claimed, NOTHING is written and the ORIGINAL row is returned with
-- replayed = true, whatever the replay's payload says.
--
-- Validation (all refusals write nothing):
--   * the workload must belong to the client (23503 foreign_key_violation);
--   * mechanics must be known, and are normalised to sorted + distinct (23514);
--   * every mechanic that fired must be opted in on the workload: REFUSED (42501), not
--     recorded. A mechanic the customer did not consent to is a proxy bug; recording it
--     would credit savings to it in the customer's reading. The proxy must fail loudly.
--   * feature_tag / customer_tag that look like an email, phone or card number (23514,
--     message names which), longer than 100 characters, or blank (23514);
--   * token buckets >= 0, and reported totals equal to the bucket sums (23514).
--
-- Pricing (each model priced at the pricing_catalog version in force at occurred_at:
-- effective_from <= occurred_at < effective_to; none => P0002 no_data_found):
--   prompt = uncached + cache_read + cache_write_5m + cache_write_1h tokens.
--   Above tier: when the snapshot has tier_threshold_tokens and prompt > threshold,
--     uncached input uses above_tier_input, output and reasoning above_tier_output,
--     cache reads above_tier_cache_read; cache writes keep their own prices (no source
--     publishes above-tier cache-write prices).
--   Batch: uncached input uses batch_input, output and reasoning batch_output; a batch
--     request above the tier is refused (no source prices that combination).
--   Cache reads use cache_read (or above_tier_cache_read); cache writes use
--     cache_write_5m / cache_write_1h.
--   A component needed for a non-zero bucket but absent from the snapshot (NULL) is
--     REFUSED with P0002 naming it: we never guess (e.g. charging cache reads at the
--     input price overstates savings from caching).
--   cost = sum(tokens x price), exact numeric, no rounding.
--   original_cost_usd prices the buckets at the requested model's snapshot;
--   actual_cost_usd at the routed model's snapshot, except that a Tessera cache hit
--   (exact_cache or semantic_cache fired) made no provider call: actual_cost_usd = 0.
-- Rows are never re-priced: they keep the snapshot ids and costs they were written with.
CREATE FUNCTION tessera.record_request(
    p_client_id                   uuid,
    p_workload_id                 uuid,
    p_request_id                  text,
    p_occurred_at                 timestamptz,
    p_requested_provider          text,
    p_requested_model             text,
    p_routed_provider             text,
    p_routed_model                text,
    p_uncached_input_tokens       bigint,
    p_cache_read_input_tokens     bigint DEFAULT 0,
    p_cache_write_5m_input_tokens bigint DEFAULT 0,
    p_cache_write_1h_input_tokens bigint DEFAULT 0,
    p_output_tokens               bigint DEFAULT 0,
    p_reasoning_tokens            bigint DEFAULT NULL,
    p_batch                       boolean DEFAULT false,
    p_mechanics                   text[] DEFAULT '{}',
    p_finish_reason               text DEFAULT NULL,
    p_feature_tag                 text DEFAULT NULL,
    p_customer_tag                text DEFAULT NULL,
    p_reported_input_tokens       bigint DEFAULT NULL,
    p_reported_output_tokens      bigint DEFAULT NULL)
RETURNS TABLE (client_id uuid, request_id text, occurred_at timestamptz, recorded_at timestamptz,
               requested_snapshot_id uuid, routed_snapshot_id uuid, original_cost_usd numeric,
               actual_cost_usd numeric, savings_usd numeric, mechanics text[], replayed boolean)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    known CONSTANT text[] := ARRAY['auto_route', 'prompt_cache_header', 'history_pruning',
                                   'json_schema_enforcement', 'batch_routing', 'exact_cache',
                                   'semantic_cache'];
    mech text[];
    wl tessera.workloads;
    req tessera.pricing_catalog;
    rte tessera.pricing_catalog;
    key_occurred timestamptz;
    orig numeric;
    act numeric;
    bad text;
    kind text;
    saved tessera.optimize_savings;
BEGIN
    IF p_client_id IS NULL OR p_workload_id IS NULL OR p_request_id IS NULL OR p_occurred_at IS NULL
       OR p_requested_provider IS NULL OR p_requested_model IS NULL
       OR p_routed_provider IS NULL OR p_routed_model IS NULL OR p_uncached_input_tokens IS NULL THEN
        RAISE EXCEPTION 'record_request: client, workload, request_id, occurred_at, both models and uncached_input_tokens are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', p_client_id::text, true);

    -- Replay? Claim the key; if someone holds it, return the original and write nothing.
    INSERT INTO tessera.savings_request_keys AS k (client_id, request_id, occurred_at)
    VALUES (p_client_id, p_request_id, p_occurred_at)
    ON CONFLICT ON CONSTRAINT savings_request_keys_pkey DO NOTHING;
    IF NOT FOUND THEN
        SELECT k.occurred_at INTO STRICT key_occurred
          FROM tessera.savings_request_keys AS k
         WHERE k.client_id = p_client_id AND k.request_id = p_request_id;
        RETURN QUERY
            SELECT s.client_id, s.request_id, s.occurred_at, s.recorded_at, s.requested_snapshot_id,
                   s.routed_snapshot_id, s.original_cost_usd, s.actual_cost_usd, s.savings_usd,
                   s.mechanics, true
              FROM tessera.optimize_savings AS s
             WHERE s.client_id = p_client_id AND s.request_id = p_request_id
               AND s.occurred_at = key_occurred;
        PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
        RETURN;
    END IF;

    -- Mechanics: known, then normalised (sorted, distinct).
    SELECT pg_catalog.string_agg(m, ', ') INTO bad
      FROM pg_catalog.unnest(COALESCE(p_mechanics, '{}')) AS u (m) WHERE m IS NULL OR m <> ALL (known);
    IF bad IS NOT NULL OR EXISTS (SELECT 1 FROM pg_catalog.unnest(COALESCE(p_mechanics, '{}')) AS u (m) WHERE m IS NULL) THEN
        RAISE EXCEPTION 'unknown mechanic(s): %; known: %', COALESCE(bad, 'NULL'), pg_catalog.array_to_string(known, ', ')
            USING ERRCODE = 'check_violation', CONSTRAINT = 'optimize_savings_mechanics_known',
                  TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END IF;
    mech := ARRAY(SELECT DISTINCT m COLLATE "C" FROM pg_catalog.unnest(COALESCE(p_mechanics, '{}')) AS u (m) ORDER BY 1);

    -- Tags: no personal data.
    FOR bad, kind IN SELECT t.col, tessera_private.tag_pii_kind(t.val)
                       FROM (VALUES ('feature_tag', p_feature_tag), ('customer_tag', p_customer_tag)) AS t (col, val)
                      WHERE tessera_private.tag_pii_kind(t.val) IS NOT NULL LOOP
        RAISE EXCEPTION '% looks like % (we never store end-user personal data)', bad,
            CASE kind WHEN 'email' THEN 'an email address' WHEN 'phone' THEN 'a phone number'
                      ELSE 'a payment card number' END
            USING ERRCODE = 'check_violation', CONSTRAINT = 'optimize_savings_' || bad || '_not_pii',
                  TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END LOOP;

    -- The workload: this client's, and opted in to every mechanic that fired.
    SELECT * INTO wl FROM tessera.workloads AS w
     WHERE w.client_id = p_client_id AND w.workload_id = p_workload_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'workload % does not belong to client %', p_workload_id, p_client_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'optimize_savings_workload_fkey',
                  TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END IF;
    SELECT pg_catalog.string_agg(m, ', ') INTO bad
      FROM pg_catalog.unnest(mech) AS u (m)
     WHERE NOT CASE m
               WHEN 'auto_route' THEN wl.mechanic_auto_route
               WHEN 'prompt_cache_header' THEN wl.mechanic_prompt_cache_header
               WHEN 'history_pruning' THEN wl.mechanic_history_pruning
               WHEN 'json_schema_enforcement' THEN wl.mechanic_json_schema_enforcement
               WHEN 'batch_routing' THEN wl.mechanic_batch_routing
               WHEN 'exact_cache' THEN wl.mechanic_exact_cache
               WHEN 'semantic_cache' THEN wl.mechanic_semantic_cache
           END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'workload % has not opted in to mechanic(s): %', p_workload_id, bad
            USING ERRCODE = 'insufficient_privilege', TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END IF;

    -- The snapshots in force at occurred_at.
    SELECT * INTO req FROM tessera.pricing_catalog AS p
     WHERE p.provider = p_requested_provider AND p.model = p_requested_model
       AND p.effective_from <= p_occurred_at AND (p.effective_to IS NULL OR p_occurred_at < p.effective_to);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no price in force for requested model %/% at %', p_requested_provider, p_requested_model, p_occurred_at
            USING ERRCODE = 'no_data_found', TABLE = 'pricing_catalog', SCHEMA = 'tessera';
    END IF;
    SELECT * INTO rte FROM tessera.pricing_catalog AS p
     WHERE p.provider = p_routed_provider AND p.model = p_routed_model
       AND p.effective_from <= p_occurred_at AND (p.effective_to IS NULL OR p_occurred_at < p.effective_to);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no price in force for routed model %/% at %', p_routed_provider, p_routed_model, p_occurred_at
            USING ERRCODE = 'no_data_found', TABLE = 'pricing_catalog', SCHEMA = 'tessera';
    END IF;

    orig := tessera_private.request_cost(req, p_uncached_input_tokens, COALESCE(p_cache_read_input_tokens, 0),
                COALESCE(p_cache_write_5m_input_tokens, 0), COALESCE(p_cache_write_1h_input_tokens, 0),
                COALESCE(p_output_tokens, 0), p_reasoning_tokens, COALESCE(p_batch, false));
    act := CASE WHEN mech && ARRAY['exact_cache', 'semantic_cache'] THEN 0 ELSE tessera_private.request_cost(rte, p_uncached_input_tokens,
               COALESCE(p_cache_read_input_tokens, 0), COALESCE(p_cache_write_5m_input_tokens, 0),
               COALESCE(p_cache_write_1h_input_tokens, 0), COALESCE(p_output_tokens, 0), p_reasoning_tokens,
               COALESCE(p_batch, false)) END;

    INSERT INTO tessera.optimize_savings AS s (
        client_id, workload_id, request_id, occurred_at, requested_provider, requested_model,
        routed_provider, routed_model, requested_snapshot_id, routed_snapshot_id,
        uncached_input_tokens, cache_read_input_tokens, cache_write_5m_input_tokens,
        cache_write_1h_input_tokens, output_tokens, reasoning_tokens, reported_input_tokens,
        reported_output_tokens, batch, original_cost_usd, actual_cost_usd, mechanics,
        finish_reason, feature_tag, customer_tag)
    VALUES (
        p_client_id, p_workload_id, p_request_id, p_occurred_at, p_requested_provider, p_requested_model,
        p_routed_provider, p_routed_model, req.pricing_snapshot_id, rte.pricing_snapshot_id,
        p_uncached_input_tokens, COALESCE(p_cache_read_input_tokens, 0), COALESCE(p_cache_write_5m_input_tokens, 0),
        COALESCE(p_cache_write_1h_input_tokens, 0), COALESCE(p_output_tokens, 0), p_reasoning_tokens,
        p_reported_input_tokens, p_reported_output_tokens, COALESCE(p_batch, false), orig, act, mech,
        p_finish_reason, p_feature_tag, p_customer_tag)
    RETURNING * INTO saved;

    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    RETURN QUERY SELECT saved.client_id, saved.request_id, saved.occurred_at, saved.recorded_at,
                        saved.requested_snapshot_id, saved.routed_snapshot_id, saved.original_cost_usd,
                        saved.actual_cost_usd, saved.savings_usd, saved.mechanics, false;
END
$function$;

COMMENT ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) IS
    'Record one proxied request in tessera.optimize_savings, priced in the database at the snapshots in force at occurred_at; a replayed (client_id, request_id) writes nothing and returns the original (replayed = true). Proxy login and service_role only.';

REVOKE ALL ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) FROM PUBLIC; -- functions are executable by PUBLIC by default
-- The proxy worker records measurements. service_role too, for the one server-side job
-- that has them: replaying the proxy's spooled measurements after an outage (and the
-- demo loader). It can forge no more than the proxy can: costs are computed here from
-- the snapshots, and a replay of a recorded request_id changes nothing.
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) TO service_role;

-- >>> functions/tessera.record_balance_transaction.sql
-- tessera.record_balance_transaction(client, kind, amount, reason): append one row to a
-- client's balance ledger and return it.
--
-- Operators (JWT email in tessera.operators) and server-side jobs (service_role) only:
-- SECURITY INVOKER, so the INSERT passes the caller's own privileges and policies
-- (authenticated may insert only as an operator; service_role bypasses RLS). The
-- stamping trigger sets actor, db_role and created_at. Concurrent calls each append a
-- row; the balance is a sum, so none can be lost.
CREATE FUNCTION tessera.record_balance_transaction(p_client_id uuid, p_kind text,
                                                   p_amount_usd numeric, p_reason text)
RETURNS tessera.balance_transactions
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    INSERT INTO tessera.balance_transactions (client_id, kind, amount_usd, reason, actor)
    VALUES (p_client_id, p_kind, p_amount_usd, p_reason, '(stamped)')
    RETURNING *
$function$;

COMMENT ON FUNCTION tessera.record_balance_transaction(uuid, text, numeric, text) IS
    'Append a top_up / usage_charge / service_credit / adjustment to a client''s balance ledger (operators and service_role; invoker rights). Returns the row.';

REVOKE ALL ON FUNCTION tessera.record_balance_transaction(uuid, text, numeric, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.record_balance_transaction(uuid, text, numeric, text) TO authenticated;
GRANT EXECUTE ON FUNCTION tessera.record_balance_transaction(uuid, text, numeric, text) TO service_role;

-- >>> policies/optimize_savings.sql
-- Row-level security, policies and grants for tessera.optimize_savings.
--
--   operator       read every client's savings
--   sponsor        read own clients' savings
--   tessera_proxy  nothing directly: writes through tessera.record_request() (SECURITY
--                  DEFINER) and sees only what it returns
--   service_role   read (BYPASSRLS): readings, exports, benchmarks
--   owner          (record_request) read and insert rows of the one client it is
--                  recording for: the transaction-local setting
--                  tessera.recording_client_id, which record_request sets before and
--                  clears after its reads. Only tessera_owner is bound by these
--                  policies, and no other definer function reads this table.
--   anon           nothing
--   nobody         UPDATE, DELETE or TRUNCATE: append-only (make_append_only triggers
--                  on the parent and every partition, ENABLE ALWAYS)
-- Partitions carry RLS enabled and forced with no policy and no grant
-- (tessera_private.create_savings_partitions): a statement naming a partition directly
-- sees nothing, except as a superuser.
ALTER TABLE tessera.optimize_savings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.optimize_savings FORCE ROW LEVEL SECURITY;

CREATE POLICY optimize_savings_select_operator_or_sponsor ON tessera.optimize_savings
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY optimize_savings_select_definer_recording ON tessera.optimize_savings
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

CREATE POLICY optimize_savings_insert_definer_recording ON tessera.optimize_savings
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- Privileges for authenticated: rows narrowed by the policy above. Read only.
GRANT SELECT ON tessera.optimize_savings TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read only; writes go through
-- record_request like the proxy's.
GRANT SELECT ON tessera.optimize_savings TO service_role;

-- >>> policies/savings_request_keys.sql
-- Row-level security, policies and grants for tessera.savings_request_keys.
--
--   owner     (tessera.record_request, SECURITY DEFINER) the keys of the one client it
--             is recording for (tessera.recording_client_id, set by record_request)
--   everyone else  nothing: an internal key table, no grant to any API or login role
--   nobody    UPDATE, DELETE or TRUNCATE: append-only (make_append_only triggers)
ALTER TABLE tessera.savings_request_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.savings_request_keys FORCE ROW LEVEL SECURITY;

CREATE POLICY savings_request_keys_select_definer_recording ON tessera.savings_request_keys
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

CREATE POLICY savings_request_keys_insert_definer_recording ON tessera.savings_request_keys
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- >>> policies/balance_transactions.sql
-- Row-level security, policies and grants for tessera.balance_transactions (and its
-- derived view tessera.client_balances).
--
--   operator       read every client's ledger; append through record_balance_transaction
--   sponsor        read own clients' ledger and balance
--   service_role   read and append (BYPASSRLS): payment webhooks, usage settlement
--   anon, proxy    nothing
--   nobody         UPDATE, DELETE or TRUNCATE: append-only (make_append_only triggers)
ALTER TABLE tessera.balance_transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.balance_transactions FORCE ROW LEVEL SECURITY;

CREATE POLICY balance_transactions_select_operator_or_sponsor ON tessera.balance_transactions
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY balance_transactions_insert_operator ON tessera.balance_transactions
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

-- Privileges for authenticated: rows narrowed by the policies above. No UPDATE/DELETE.
GRANT SELECT, INSERT ON tessera.balance_transactions TO authenticated;
GRANT SELECT ON tessera.client_balances TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS). No UPDATE/DELETE/TRUNCATE for anyone.
GRANT SELECT, INSERT ON tessera.balance_transactions TO service_role;
GRANT SELECT ON tessera.client_balances TO service_role;

-- >>> functions/tessera_private.guard_share_token_update.sql
-- tessera_private.guard_share_token_update(): BEFORE UPDATE trigger on
-- tessera.reading_share_tokens. The only change ever allowed is revocation: revoked_at
-- from NULL to a time, every other column unchanged. ENABLE ALWAYS, so it holds for every
-- role (owner included) and under session_replication_role = replica. It compares the
-- whole row minus revoked_at, so a column added later is protected too.
CREATE FUNCTION tessera_private.guard_share_token_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF OLD.revoked_at IS NOT NULL OR NEW.revoked_at IS NULL
       OR (pg_catalog.to_jsonb(NEW) - 'revoked_at') IS DISTINCT FROM (pg_catalog.to_jsonb(OLD) - 'revoked_at') THEN
        RAISE EXCEPTION 'a share token can only be revoked, once; nothing else about it changes'
            USING ERRCODE = 'insufficient_privilege',
                  SCHEMA = TG_TABLE_SCHEMA,
                  TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_share_token_update() IS
    'BEFORE UPDATE trigger on tessera.reading_share_tokens: only revoked_at NULL -> time is allowed (SQLSTATE 42501 otherwise), for every role.';

REVOKE ALL ON FUNCTION tessera_private.guard_share_token_update() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.presented_share_token_sha256.sql
-- tessera_private.presented_share_token_sha256(): SHA-256 of the share token presented in
-- this transaction, or NULL.
--
-- tessera.reading_by_share_token() runs as tessera_owner, which FORCE ROW LEVEL SECURITY
-- still confines. It puts the caller's raw token in the transaction-local setting
-- tessera.share_token; the owner's token policies on tessera.reading_share_tokens and
-- tessera.monthly_readings compare stored hashes with this function's result. So even
-- the definer function can read only the token row, and the reading, that the presented
-- token opens. Setting the GUC by hand gains nothing: it must hold the raw token, whose
-- hash is all the database knows. Not executable by any API role (owner policies only).
CREATE FUNCTION tessera_private.presented_share_token_sha256()
RETURNS bytea
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.sha256(pg_catalog.convert_to(
        NULLIF(pg_catalog.current_setting('tessera.share_token', true), ''), 'UTF8'))
$function$;

COMMENT ON FUNCTION tessera_private.presented_share_token_sha256() IS
    'SHA-256 of the raw share token in the transaction-local setting tessera.share_token (set by tessera.reading_by_share_token), else NULL. Used by tessera_owner policies only.';

REVOKE ALL ON FUNCTION tessera_private.presented_share_token_sha256() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> schema/80_monthly_readings.sql
-- tessera.monthly_readings: the issued, versioned monthly savings reading of a client.
--
-- One row per (client, month, version). tessera.issue_monthly_reading() computes the
-- figures from tessera.optimize_savings in one aggregate query and inserts the next
-- version; a correction is a new version with a correction_reason, never an edit: the
-- table is append-only (tessera_private.make_append_only: UPDATE, DELETE and TRUNCATE
-- are refused for every role, the owner included). tessera.rederive_monthly_reading()
-- recomputes the figures from the raw rows and lists where they differ from the latest
-- issued version.
--
-- The month is the UTC calendar month: rows with occurred_at in
-- [month 00:00 UTC, next month 00:00 UTC), whatever the session's TimeZone.
--
-- Breakdowns are JSONB arrays on the reading rather than a child table: a reading is
-- issued, shared and compared as one immutable document; a child table would need its
-- own append-only triggers, policies and matrix entry and a multi-row insert that must
-- stay in step with its parent, for rows nobody queries apart from their reading.
-- JSONB numbers are PostgreSQL numeric, so no cost is rounded through a float. Shape
-- (checked as far as CHECK cheaply can; fully produced by tessera.monthly_reading_figures):
--
--   by_mechanics    [{"mechanics": ["auto_route", "exact_cache"], <metrics>}, ...]
--                   one element per distinct mechanics stack (sorted text array, [] =
--                   no mechanic fired), ordered by the stack
--   by_feature_tag  [{"feature_tag": "search" | null, <metrics>}, ...]
--                   one element per feature_tag (null = untagged), nulls first
--   <metrics>       "requests", "uncached_input_tokens", "cache_read_input_tokens",
--                   "cache_write_5m_input_tokens", "cache_write_1h_input_tokens",
--                   "output_tokens", "reasoning_tokens" (integers), "original_cost_usd",
--                   "actual_cost_usd", "savings_usd" (exact decimals, USD)
CREATE TABLE tessera.monthly_readings (
    client_id                    uuid        NOT NULL,
    month                        date        NOT NULL,
    version                      integer     NOT NULL,
    requests                     bigint      NOT NULL,
    uncached_input_tokens        bigint      NOT NULL,
    cache_read_input_tokens      bigint      NOT NULL,
    cache_write_5m_input_tokens  bigint      NOT NULL,
    cache_write_1h_input_tokens  bigint      NOT NULL,
    output_tokens                bigint      NOT NULL,
    reasoning_tokens             bigint      NOT NULL,
    original_cost_usd            numeric     NOT NULL,
    actual_cost_usd              numeric     NOT NULL,
    savings_usd                  numeric     NOT NULL,
    by_mechanics                 jsonb       NOT NULL,
    by_feature_tag               jsonb       NOT NULL,
    snapshot_ids                 uuid[]      NOT NULL,
    issued_at                    timestamptz NOT NULL DEFAULT now(),
    issued_by                    text        NOT NULL,
    correction_reason            text,
    -- client_id first: the tenant (Citus distribution) column leads every key.
    CONSTRAINT monthly_readings_pkey PRIMARY KEY (client_id, month, version),
    CONSTRAINT monthly_readings_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE RESTRICT,
    CONSTRAINT monthly_readings_month_is_first_day CHECK (month = date_trunc('month', month)::date),
    CONSTRAINT monthly_readings_version_positive CHECK (version >= 1),
    CONSTRAINT monthly_readings_counts_non_negative CHECK (
        requests >= 0 AND uncached_input_tokens >= 0 AND cache_read_input_tokens >= 0
        AND cache_write_5m_input_tokens >= 0 AND cache_write_1h_input_tokens >= 0
        AND output_tokens >= 0 AND reasoning_tokens >= 0),
    CONSTRAINT monthly_readings_breakdowns_are_arrays CHECK (
        jsonb_typeof(by_mechanics) = 'array' AND jsonb_typeof(by_feature_tag) = 'array'),
    CONSTRAINT monthly_readings_issued_by_not_blank CHECK (issued_by ~ '[^[:space:]]' AND char_length(issued_by) <= 400),
    -- A correction says why; the first version has nothing to correct.
    CONSTRAINT monthly_readings_correction_has_reason CHECK (
        (version = 1 AND correction_reason IS NULL)
        OR (version > 1 AND correction_reason ~ '[^[:space:]]' AND char_length(correction_reason) <= 1000))
);

SELECT tessera_private.make_append_only('tessera.monthly_readings');

COMMENT ON TABLE tessera.monthly_readings IS
    'Issued monthly savings readings, per client and UTC month, versioned and append-only: a correction is a new version. Issued by tessera.issue_monthly_reading(), checked by tessera.rederive_monthly_reading().';
COMMENT ON COLUMN tessera.monthly_readings.client_id IS 'The client; leads the primary key.';
COMMENT ON COLUMN tessera.monthly_readings.month IS 'First day of the UTC calendar month the reading covers.';
COMMENT ON COLUMN tessera.monthly_readings.version IS '1 for the first issue; each correction adds the next version. The latest version is the reading in force.';
COMMENT ON COLUMN tessera.monthly_readings.requests IS 'Proxied requests (optimize_savings rows) in the month.';
COMMENT ON COLUMN tessera.monthly_readings.uncached_input_tokens IS 'Sum of uncached input tokens.';
COMMENT ON COLUMN tessera.monthly_readings.cache_read_input_tokens IS 'Sum of input tokens served from the provider prompt cache.';
COMMENT ON COLUMN tessera.monthly_readings.cache_write_5m_input_tokens IS 'Sum of input tokens written to a 5-minute prompt cache.';
COMMENT ON COLUMN tessera.monthly_readings.cache_write_1h_input_tokens IS 'Sum of input tokens written to a 1-hour prompt cache.';
COMMENT ON COLUMN tessera.monthly_readings.output_tokens IS 'Sum of output tokens.';
COMMENT ON COLUMN tessera.monthly_readings.reasoning_tokens IS 'Sum of reasoning tokens where reported (unreported counts as 0).';
COMMENT ON COLUMN tessera.monthly_readings.original_cost_usd IS 'Sum of original_cost_usd: what the requested models would have cost (USD, exact).';
COMMENT ON COLUMN tessera.monthly_readings.actual_cost_usd IS 'Sum of actual_cost_usd: what the routed models cost (USD, exact).';
COMMENT ON COLUMN tessera.monthly_readings.savings_usd IS 'Sum of the rows'' savings_usd (USD, exact).';
COMMENT ON COLUMN tessera.monthly_readings.by_mechanics IS 'Breakdown by mechanics stack: [{"mechanics": [...], requests, token buckets, costs, savings}], ordered by stack. See the table file for the shape.';
COMMENT ON COLUMN tessera.monthly_readings.by_feature_tag IS 'Breakdown by feature_tag: [{"feature_tag": text|null, requests, token buckets, costs, savings}], untagged (null) first.';
COMMENT ON COLUMN tessera.monthly_readings.snapshot_ids IS 'Sorted distinct pricing_catalog snapshot ids (requested and routed) the month''s costs used.';
COMMENT ON COLUMN tessera.monthly_readings.issued_at IS 'When this version was issued.';
COMMENT ON COLUMN tessera.monthly_readings.issued_by IS 'Actor that issued it: "<database role>:<JWT email or sub>", e.g. authenticated:ops@tessera.example or service_role:nightly-readings.';
COMMENT ON COLUMN tessera.monthly_readings.correction_reason IS 'Why this version corrects the previous one; NULL for version 1, required after.';

-- >>> schema/81_reading_share_tokens.sql
-- tessera.reading_share_tokens: unguessable links to one issued monthly reading.
--
-- A token is created by tessera.create_reading_share_token() (a sponsor of the client
-- or an operator) and returned once; only its SHA-256 is stored, so neither a database
-- reader nor a backup can reconstruct a working link. Token format:
--
--     tsr_<client_id as 32 hex digits>_<43 base64url characters>
--
-- The secret part is 32 bytes from two gen_random_uuid() calls (PostgreSQL's strong
-- random source; 244 random bits, no extension needed). The client id in the clear lets
-- the anonymous lookup (tessera.reading_by_share_token) address the key
-- (client_id, token_sha256) directly: one index probe, and on Citus one shard instead of
-- a fan-out, while the primary and unique keys keep client_id first. The reading the
-- token opens shows its client anyway, so the prefix discloses nothing more.
--
-- A token opens exactly one (client, month, version). Expiry is mandatory; revocation
-- sets revoked_at once (tessera.revoke_reading_share_token). The only UPDATE ever
-- allowed is revoked_at from NULL to a time (trigger reading_share_tokens_guard_update,
-- every role).
CREATE TABLE tessera.reading_share_tokens (
    client_id       uuid        NOT NULL,
    share_token_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    month           date        NOT NULL,
    version         integer     NOT NULL,
    token_sha256    bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text        NOT NULL,
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    CONSTRAINT reading_share_tokens_pkey PRIMARY KEY (client_id, share_token_id),
    -- The anonymous lookup's key (client id from the token's prefix, hash of the token).
    CONSTRAINT reading_share_tokens_client_hash_key UNIQUE (client_id, token_sha256),
    CONSTRAINT reading_share_tokens_reading_fkey FOREIGN KEY (client_id, month, version)
        REFERENCES tessera.monthly_readings (client_id, month, version) ON DELETE RESTRICT,
    CONSTRAINT reading_share_tokens_hash_length CHECK (octet_length(token_sha256) = 32),
    CONSTRAINT reading_share_tokens_created_by_not_blank CHECK (created_by ~ '[^[:space:]]' AND char_length(created_by) <= 400),
    CONSTRAINT reading_share_tokens_expires_after_created CHECK (expires_at > created_at),
    CONSTRAINT reading_share_tokens_revoked_after_created CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);

CREATE TRIGGER reading_share_tokens_guard_update
    BEFORE UPDATE ON tessera.reading_share_tokens
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_share_token_update();
ALTER TABLE tessera.reading_share_tokens ENABLE ALWAYS TRIGGER reading_share_tokens_guard_update;

COMMENT ON TABLE tessera.reading_share_tokens IS
    'Share links to one issued monthly reading. Only the SHA-256 of the token is stored; the raw token is returned once by tessera.create_reading_share_token(). Anonymous access only through tessera.reading_by_share_token().';
COMMENT ON COLUMN tessera.reading_share_tokens.client_id IS 'The reading''s client; leads every key and is the token''s clear prefix.';
COMMENT ON COLUMN tessera.reading_share_tokens.share_token_id IS 'Handle for listing and revoking; not a secret and not the token.';
COMMENT ON COLUMN tessera.reading_share_tokens.month IS 'Month of the shared reading.';
COMMENT ON COLUMN tessera.reading_share_tokens.version IS 'Version of the shared reading: a token keeps showing the version it was made for.';
COMMENT ON COLUMN tessera.reading_share_tokens.token_sha256 IS 'SHA-256 of the whole token text (UTF-8). The raw token is never stored.';
COMMENT ON COLUMN tessera.reading_share_tokens.created_at IS 'When the token was created.';
COMMENT ON COLUMN tessera.reading_share_tokens.created_by IS 'Actor that created it ("<role>:<JWT email>").';
COMMENT ON COLUMN tessera.reading_share_tokens.expires_at IS 'The token stops working at this time.';
COMMENT ON COLUMN tessera.reading_share_tokens.revoked_at IS 'Set once by tessera.revoke_reading_share_token(); the token stops working.';

-- >>> functions/tessera.monthly_reading_figures.sql
-- tessera.monthly_reading_figures(client_id, month): the figures of a monthly reading,
-- computed now from the raw tessera.optimize_savings rows.
--
-- One aggregate query, one scan of the month's partition: GROUPING SETS produce the
-- totals, the per-mechanics-stack and per-feature_tag groups and the distinct snapshot
-- ids together, and the outer query folds them into the reading's columns (the same
-- names and types as tessera.monthly_readings, so issue and rederive use the same
-- definition of every figure). The month is the UTC calendar month; p_month must be its
-- first day.
--
-- SECURITY INVOKER: the caller's own row-level security applies (a sponsor gets figures
-- of their own clients only, zeros otherwise). Used by tessera.issue_monthly_reading and
-- tessera.rederive_monthly_reading; also a month-to-date view for the portal.
CREATE FUNCTION tessera.monthly_reading_figures(p_client_id uuid, p_month date)
RETURNS TABLE (
    requests                     bigint,
    uncached_input_tokens        bigint,
    cache_read_input_tokens      bigint,
    cache_write_5m_input_tokens  bigint,
    cache_write_1h_input_tokens  bigint,
    output_tokens                bigint,
    reasoning_tokens             bigint,
    original_cost_usd            numeric,
    actual_cost_usd              numeric,
    savings_usd                  numeric,
    by_mechanics                 jsonb,
    by_feature_tag               jsonb,
    snapshot_ids                 uuid[]
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
BEGIN
    IF p_client_id IS NULL OR p_month IS NULL THEN
        RAISE EXCEPTION 'client and month are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_month <> pg_catalog.date_trunc('month', p_month)::date THEN
        RAISE EXCEPTION 'month must be the first day of a month, got %', p_month
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN QUERY
    WITH grouped AS (
        -- gset: bit 3 mechanics, 2 feature_tag, 1 requested snapshot, 0 routed snapshot
        -- (a bit is 0 when the set groups by that column). 15 = the totals.
        SELECT GROUPING(s.mechanics, s.feature_tag, s.requested_snapshot_id, s.routed_snapshot_id) AS gset,
               s.mechanics, s.feature_tag, s.requested_snapshot_id, s.routed_snapshot_id,
               pg_catalog.count(*) AS requests,
               COALESCE(pg_catalog.sum(s.uncached_input_tokens), 0)::bigint AS uncached_input_tokens,
               COALESCE(pg_catalog.sum(s.cache_read_input_tokens), 0)::bigint AS cache_read_input_tokens,
               COALESCE(pg_catalog.sum(s.cache_write_5m_input_tokens), 0)::bigint AS cache_write_5m_input_tokens,
               COALESCE(pg_catalog.sum(s.cache_write_1h_input_tokens), 0)::bigint AS cache_write_1h_input_tokens,
               COALESCE(pg_catalog.sum(s.output_tokens), 0)::bigint AS output_tokens,
               COALESCE(pg_catalog.sum(s.reasoning_tokens), 0)::bigint AS reasoning_tokens,
               COALESCE(pg_catalog.sum(s.original_cost_usd), 0) AS original_cost_usd,
               COALESCE(pg_catalog.sum(s.actual_cost_usd), 0) AS actual_cost_usd,
               COALESCE(pg_catalog.sum(s.savings_usd), 0) AS savings_usd
          FROM tessera.optimize_savings AS s
         WHERE s.client_id = p_client_id
           AND s.occurred_at >= (p_month::timestamp AT TIME ZONE 'UTC')
           AND s.occurred_at < ((p_month + 1 * interval '1 month')::timestamp AT TIME ZONE 'UTC')
         GROUP BY GROUPING SETS ((), (s.mechanics), (s.feature_tag),
                                 (s.requested_snapshot_id), (s.routed_snapshot_id))
    ),
    metrics AS (
        SELECT g.*,
               pg_catalog.jsonb_build_object(
                   'requests', g.requests,
                   'uncached_input_tokens', g.uncached_input_tokens,
                   'cache_read_input_tokens', g.cache_read_input_tokens,
                   'cache_write_5m_input_tokens', g.cache_write_5m_input_tokens,
                   'cache_write_1h_input_tokens', g.cache_write_1h_input_tokens,
                   'output_tokens', g.output_tokens,
                   'reasoning_tokens', g.reasoning_tokens,
                   'original_cost_usd', g.original_cost_usd,
                   'actual_cost_usd', g.actual_cost_usd,
                   'savings_usd', g.savings_usd) AS m
          FROM grouped AS g
    )
    SELECT t.requests, t.uncached_input_tokens, t.cache_read_input_tokens,
           t.cache_write_5m_input_tokens, t.cache_write_1h_input_tokens, t.output_tokens,
           t.reasoning_tokens, t.original_cost_usd, t.actual_cost_usd, t.savings_usd,
           COALESCE((SELECT pg_catalog.jsonb_agg(
                                pg_catalog.jsonb_build_object('mechanics', pg_catalog.to_jsonb(x.mechanics)) || x.m
                                ORDER BY x.mechanics)
                       FROM metrics AS x WHERE x.gset = 7), '[]'::jsonb),
           COALESCE((SELECT pg_catalog.jsonb_agg(
                                pg_catalog.jsonb_build_object('feature_tag', x.feature_tag) || x.m
                                ORDER BY x.feature_tag NULLS FIRST)
                       FROM metrics AS x WHERE x.gset = 11), '[]'::jsonb),
           COALESCE((SELECT pg_catalog.array_agg(DISTINCT u.id ORDER BY u.id)
                       FROM metrics AS x,
                            LATERAL (VALUES (CASE x.gset WHEN 13 THEN x.requested_snapshot_id
                                                         WHEN 14 THEN x.routed_snapshot_id END)) AS u (id)
                      WHERE x.gset IN (13, 14) AND u.id IS NOT NULL), '{}'::uuid[])
      FROM metrics AS t
     WHERE t.gset = 15;
END
$function$;

COMMENT ON FUNCTION tessera.monthly_reading_figures(uuid, date) IS
    'Figures of a monthly reading (UTC month starting p_month) computed now from tessera.optimize_savings in one aggregate query; same columns as tessera.monthly_readings. Invoker rights: the caller''s RLS applies.';

REVOKE ALL ON FUNCTION tessera.monthly_reading_figures(uuid, date) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.monthly_reading_figures(uuid, date) TO authenticated;
GRANT EXECUTE ON FUNCTION tessera.monthly_reading_figures(uuid, date) TO service_role;

-- >>> functions/tessera.issue_monthly_reading.sql
-- tessera.issue_monthly_reading(client_id, month, correction_reason): compute the
-- client's reading for the UTC month from the raw optimize_savings rows and insert it
-- as the next version (1 for the first issue). A later version is a correction and needs
-- a reason. Issued rows are never changed (the table is append-only).
--
-- Operators and server-side jobs (service_role) only. SECURITY INVOKER: the figures are
-- computed under the caller's own visibility (operators read every client; service_role
-- bypasses RLS) and the INSERT passes the caller's own policies. Concurrent issues of
-- the same (client, month) are serialised by a transaction advisory lock, so they get
-- consecutive versions instead of a key conflict.
CREATE FUNCTION tessera.issue_monthly_reading(p_client_id uuid, p_month date,
                                              p_correction_reason text DEFAULT NULL)
RETURNS tessera.monthly_readings
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    claims jsonb;
    next_version integer;
    issued tessera.monthly_readings;
BEGIN
    -- Separate statements: service_role may not execute tessera_private helpers, and a
    -- plpgsql statement is only prepared when it runs.
    IF current_user::text <> 'service_role' THEN
        IF NOT tessera_private.is_operator() THEN
            RAISE EXCEPTION 'only operators and server-side jobs may issue monthly readings'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    IF p_client_id IS NULL OR p_month IS NULL THEN
        RAISE EXCEPTION 'client and month are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_month <> pg_catalog.date_trunc('month', p_month)::date THEN
        RAISE EXCEPTION 'month must be the first day of a month, got %', p_month
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('tessera.monthly_readings:' || p_client_id::text || ':' || p_month::text, 0));

    SELECT COALESCE(pg_catalog.max(r.version), 0) + 1 INTO next_version
      FROM tessera.monthly_readings AS r
     WHERE r.client_id = p_client_id AND r.month = p_month;

    IF next_version > 1 AND (p_correction_reason IS NULL OR pg_catalog.btrim(p_correction_reason) = '') THEN
        RAISE EXCEPTION 'a reading for client % and month % is already issued (version %); a correction needs a reason',
                        p_client_id, pg_catalog.to_char(p_month, 'YYYY-MM'), next_version - 1
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF next_version = 1 AND p_correction_reason IS NOT NULL THEN
        RAISE EXCEPTION 'nothing to correct: no reading is issued yet for client % and month %',
                        p_client_id, pg_catalog.to_char(p_month, 'YYYY-MM')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    BEGIN
        claims := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('request.jwt.claims', true)), '')::jsonb;
    EXCEPTION WHEN invalid_text_representation THEN
        claims := NULL;
    END;

    INSERT INTO tessera.monthly_readings AS r (
        client_id, month, version, requests, uncached_input_tokens, cache_read_input_tokens,
        cache_write_5m_input_tokens, cache_write_1h_input_tokens, output_tokens, reasoning_tokens,
        original_cost_usd, actual_cost_usd, savings_usd, by_mechanics, by_feature_tag,
        snapshot_ids, issued_by, correction_reason)
    SELECT p_client_id, p_month, next_version, f.requests, f.uncached_input_tokens,
           f.cache_read_input_tokens, f.cache_write_5m_input_tokens, f.cache_write_1h_input_tokens,
           f.output_tokens, f.reasoning_tokens, f.original_cost_usd, f.actual_cost_usd,
           f.savings_usd, f.by_mechanics, f.by_feature_tag, f.snapshot_ids,
           pg_catalog.format('%s:%s', current_user,
                             COALESCE(pg_catalog.lower(claims ->> 'email'), claims ->> 'sub', session_user::text)),
           p_correction_reason
      FROM tessera.monthly_reading_figures(p_client_id, p_month) AS f
    RETURNING r.* INTO issued;

    RETURN issued;
END
$function$;

COMMENT ON FUNCTION tessera.issue_monthly_reading(uuid, date, text) IS
    'Issue the next version of a client''s monthly reading from the raw optimize_savings rows (operators and service_role). A correction (version > 1) needs a reason.';

REVOKE ALL ON FUNCTION tessera.issue_monthly_reading(uuid, date, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.issue_monthly_reading(uuid, date, text) TO authenticated;
GRANT EXECUTE ON FUNCTION tessera.issue_monthly_reading(uuid, date, text) TO service_role;

-- >>> functions/tessera.rederive_monthly_reading.sql
-- tessera.rederive_monthly_reading(client_id, month): recompute the reading's figures
-- from the raw optimize_savings rows (tessera.monthly_reading_figures, the same
-- definition the issue used) and compare them with the latest issued version.
--
-- Returns one row per figure that differs, none when they agree:
--   figure     the column, or for a breakdown the element and metric, e.g.
--              by_mechanics[["auto_route"]].actual_cost_usd, by_feature_tag[null].requests;
--              an element present on one side only is one row named by the element
--              alone (by_feature_tag["search"]) carrying its whole metrics object
--   issued     the issued value (JSON; SQL NULL when the element is missing there)
--   rederived  the recomputed value (JSON; SQL NULL when the element is missing there)
-- Numbers compare as numeric (1.50 equals 1.5). Raises no_data_found when no reading
-- is issued (or visible to the caller). SECURITY INVOKER: the caller's RLS applies to
-- both the reading and the raw rows, so a sponsor can check their own clients.
CREATE FUNCTION tessera.rederive_monthly_reading(p_client_id uuid, p_month date)
RETURNS TABLE (figure text, issued jsonb, rederived jsonb)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    issued_doc jsonb;
    fresh_doc jsonb;
BEGIN
    SELECT pg_catalog.to_jsonb(r) - ARRAY['client_id', 'month', 'version', 'issued_at',
                                          'issued_by', 'correction_reason']
      INTO issued_doc
      FROM tessera.monthly_readings AS r
     WHERE r.client_id = p_client_id AND r.month = p_month
     ORDER BY r.version DESC
     LIMIT 1;
    IF issued_doc IS NULL THEN
        RAISE EXCEPTION 'no issued reading for client % and month %',
                        p_client_id, pg_catalog.to_char(p_month, 'YYYY-MM')
            USING ERRCODE = 'no_data_found';
    END IF;

    SELECT pg_catalog.to_jsonb(f) INTO fresh_doc
      FROM tessera.monthly_reading_figures(p_client_id, p_month) AS f;

    RETURN QUERY
    -- Plain figures.
    SELECT k.key, i.value, f.value
      FROM (SELECT e.key FROM pg_catalog.jsonb_each(issued_doc) AS e
            UNION SELECT e.key FROM pg_catalog.jsonb_each(fresh_doc) AS e) AS k
      LEFT JOIN pg_catalog.jsonb_each(issued_doc) AS i ON i.key = k.key
      LEFT JOIN pg_catalog.jsonb_each(fresh_doc) AS f ON f.key = k.key
     WHERE k.key NOT IN ('by_mechanics', 'by_feature_tag')
       AND i.value IS DISTINCT FROM f.value
    UNION ALL
    -- Breakdowns: match elements by their key field; an element on one side only is one
    -- row (its whole metrics object), otherwise compare metric by metric.
    SELECT CASE WHEN e.issued_metrics IS NULL OR e.fresh_metrics IS NULL
                THEN pg_catalog.format('%s[%s]', e.name, e.elem_key::text)
                ELSE pg_catalog.format('%s[%s].%s', e.name, e.elem_key::text, m.metric) END,
           m.issued_value, m.fresh_value
      FROM (SELECT COALESCE(ie.name, fe.name) AS name, COALESCE(ie.elem_key, fe.elem_key) AS elem_key,
                   ie.metrics AS issued_metrics, fe.metrics AS fresh_metrics
              FROM (SELECT b.name, x -> b.key_field AS elem_key, x - b.key_field AS metrics
                      FROM (VALUES ('by_mechanics', 'mechanics'), ('by_feature_tag', 'feature_tag')) AS b (name, key_field),
                           pg_catalog.jsonb_array_elements(issued_doc -> b.name) AS x) AS ie
              FULL JOIN (SELECT b.name, x -> b.key_field AS elem_key, x - b.key_field AS metrics
                           FROM (VALUES ('by_mechanics', 'mechanics'), ('by_feature_tag', 'feature_tag')) AS b (name, key_field),
                                pg_catalog.jsonb_array_elements(fresh_doc -> b.name) AS x) AS fe
                ON fe.name = ie.name AND fe.elem_key = ie.elem_key
           ) AS e
     CROSS JOIN LATERAL (
            SELECT NULL::text AS metric, e.issued_metrics AS issued_value, e.fresh_metrics AS fresh_value
             WHERE e.issued_metrics IS NULL OR e.fresh_metrics IS NULL
            UNION ALL
            SELECT mk.metric, e.issued_metrics -> mk.metric, e.fresh_metrics -> mk.metric
              FROM (SELECT jk AS metric FROM pg_catalog.jsonb_object_keys(e.issued_metrics) AS jk
                    UNION SELECT jk FROM pg_catalog.jsonb_object_keys(e.fresh_metrics) AS jk) AS mk
             WHERE e.issued_metrics IS NOT NULL AND e.fresh_metrics IS NOT NULL
           ) AS m
     WHERE m.issued_value IS DISTINCT FROM m.fresh_value
     ORDER BY 1;
END
$function$;

COMMENT ON FUNCTION tessera.rederive_monthly_reading(uuid, date) IS
    'Recompute a monthly reading from the raw optimize_savings rows and list each figure that differs from the latest issued version (no rows = agrees). Invoker rights.';

REVOKE ALL ON FUNCTION tessera.rederive_monthly_reading(uuid, date) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.rederive_monthly_reading(uuid, date) TO authenticated;
GRANT EXECUTE ON FUNCTION tessera.rederive_monthly_reading(uuid, date) TO service_role;

-- >>> functions/tessera.create_reading_share_token.sql
-- tessera.create_reading_share_token(client_id, month, version, valid_for): make an
-- unguessable link to one issued monthly reading and return the raw token, once.
--
-- Sponsors of the client and operators only. Only the token's SHA-256 is stored (see
-- schema/81_reading_share_tokens.sql for the format). version NULL = the latest issued
-- version, which the token then keeps showing even after a correction. valid_for is
-- 1 minute to 366 days (default 30 days).
--
-- SECURITY DEFINER because API roles hold no INSERT on the token table: a token must be
-- generated here, never chosen by the caller. It runs as tessera_owner under FORCE RLS,
-- whose policies admit only readings and token rows of clients the JWT caller may
-- manage. "No such reading" and "not yours" give the same answer.
CREATE FUNCTION tessera.create_reading_share_token(p_client_id uuid, p_month date,
                                                   p_version integer DEFAULT NULL,
                                                   p_valid_for interval DEFAULT interval '30 days')
RETURNS TABLE (share_token_id uuid, token text, version integer, expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    reading_version integer;
    raw_token text;
    new_id uuid;
    new_expiry timestamptz;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to share readings of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_valid_for IS NULL OR p_valid_for < interval '1 minute' OR p_valid_for > interval '366 days' THEN
        RAISE EXCEPTION 'a share token must be valid for between 1 minute and 366 days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT r.version INTO reading_version
      FROM tessera.monthly_readings AS r
     WHERE r.client_id = p_client_id AND r.month = p_month
       AND (p_version IS NULL OR r.version = p_version)
     ORDER BY r.version DESC
     LIMIT 1;
    IF reading_version IS NULL THEN
        RAISE EXCEPTION '%', pg_catalog.format('no issued reading for client %s, month %s%s', p_client_id,
                        pg_catalog.to_char(p_month, 'YYYY-MM'),
                        CASE WHEN p_version IS NULL THEN '' ELSE ', version ' || p_version END)
            USING ERRCODE = 'no_data_found';
    END IF;

    -- 32 bytes from the server's strong random source, base64url without padding.
    raw_token := 'tsr_' || pg_catalog.replace(p_client_id::text, '-', '') || '_'
        || pg_catalog.rtrim(pg_catalog.translate(pg_catalog.encode(
               pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
               || pg_catalog.uuid_send(pg_catalog.gen_random_uuid()), 'base64'), '+/', '-_'), '=');
    new_expiry := pg_catalog.now() + p_valid_for;

    INSERT INTO tessera.reading_share_tokens AS t
           (client_id, month, version, token_sha256, created_by, expires_at)
    VALUES (p_client_id, p_month, reading_version,
            pg_catalog.sha256(pg_catalog.convert_to(raw_token, 'UTF8')),
            pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                              COALESCE(tessera_private.jwt_email(), session_user::text)),
            new_expiry)
    RETURNING t.share_token_id INTO new_id;

    RETURN QUERY SELECT new_id, raw_token, reading_version, new_expiry;
END
$function$;

COMMENT ON FUNCTION tessera.create_reading_share_token(uuid, date, integer, interval) IS
    'Create a share link to one issued monthly reading (sponsor of the client or operator); returns the raw token once, stores only its SHA-256. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.create_reading_share_token(uuid, date, integer, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.create_reading_share_token(uuid, date, integer, interval) TO authenticated;

-- >>> functions/tessera.revoke_reading_share_token.sql
-- tessera.revoke_reading_share_token(client_id, share_token_id): stop a share link
-- working. Sponsors of the client and operators. Returns true when this call revoked it,
-- false when it was already revoked; no_data_found when there is no such token for a
-- client the caller may manage (the same answer as "not yours").
--
-- SECURITY DEFINER because API roles hold no UPDATE on the token table; as
-- tessera_owner under FORCE RLS it reaches only token rows of clients the caller may
-- manage, and the trigger reading_share_tokens_guard_update lets it set revoked_at only.
CREATE FUNCTION tessera.revoke_reading_share_token(p_client_id uuid, p_share_token_id uuid)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    was_revoked timestamptz;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'share token % not found', p_share_token_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT t.revoked_at INTO was_revoked
      FROM tessera.reading_share_tokens AS t
     WHERE t.client_id = p_client_id AND t.share_token_id = p_share_token_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'share token % not found', p_share_token_id USING ERRCODE = 'no_data_found';
    END IF;
    IF was_revoked IS NOT NULL THEN
        RETURN false;
    END IF;
    UPDATE tessera.reading_share_tokens AS t
       SET revoked_at = pg_catalog.now()
     WHERE t.client_id = p_client_id AND t.share_token_id = p_share_token_id AND t.revoked_at IS NULL;
    RETURN FOUND;
END
$function$;

COMMENT ON FUNCTION tessera.revoke_reading_share_token(uuid, uuid) IS
    'Revoke a reading share link (sponsor of the client or operator). SECURITY DEFINER, pinned search_path; sets revoked_at only.';

REVOKE ALL ON FUNCTION tessera.revoke_reading_share_token(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.revoke_reading_share_token(uuid, uuid) TO authenticated;

-- >>> functions/tessera.reading_by_share_token.sql
-- tessera.reading_by_share_token(token): the one anonymous surface of the readings: the
-- issued reading a share token opens, or no row.
--
-- Returns exactly that reading's figures (no row for a wrong, malformed, expired or
-- revoked token; never an error, so nothing is learnt by probing). issued_by (a staff
-- identity) and correction_reason (internal note) are not returned.
--
-- SECURITY DEFINER, executable by anon and authenticated. It runs as tessera_owner,
-- still under FORCE RLS: it puts the raw token in the transaction-local setting
-- tessera.share_token, and the owner's token policies on tessera.reading_share_tokens
-- and tessera.monthly_readings admit only the token row whose stored SHA-256 matches it
-- (unrevoked, unexpired) and the one reading that row names. The client id is read from
-- the token's prefix so the lookup is one probe of (client_id, token_sha256).
CREATE FUNCTION tessera.reading_by_share_token(p_token text)
RETURNS TABLE (
    month                        date,
    version                      integer,
    requests                     bigint,
    uncached_input_tokens        bigint,
    cache_read_input_tokens      bigint,
    cache_write_5m_input_tokens  bigint,
    cache_write_1h_input_tokens  bigint,
    output_tokens                bigint,
    reasoning_tokens             bigint,
    original_cost_usd            numeric,
    actual_cost_usd              numeric,
    savings_usd                  numeric,
    by_mechanics                 jsonb,
    by_feature_tag               jsonb,
    snapshot_ids                 uuid[],
    issued_at                    timestamptz
)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    token_client uuid;
BEGIN
    IF p_token IS NULL OR p_token !~ '^tsr_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$' THEN
        RETURN;
    END IF;
    token_client := pg_catalog.substr(p_token, 5, 32)::uuid;

    PERFORM pg_catalog.set_config('tessera.share_token', p_token, true);
    RETURN QUERY
    SELECT r.month, r.version, r.requests, r.uncached_input_tokens, r.cache_read_input_tokens,
           r.cache_write_5m_input_tokens, r.cache_write_1h_input_tokens, r.output_tokens,
           r.reasoning_tokens, r.original_cost_usd, r.actual_cost_usd, r.savings_usd,
           r.by_mechanics, r.by_feature_tag, r.snapshot_ids, r.issued_at
      FROM tessera.reading_share_tokens AS t
      JOIN tessera.monthly_readings AS r
        ON r.client_id = t.client_id AND r.month = t.month AND r.version = t.version
     WHERE t.client_id = token_client
       AND t.token_sha256 = pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8'))
       AND t.revoked_at IS NULL
       AND t.expires_at > pg_catalog.now();
    PERFORM pg_catalog.set_config('tessera.share_token', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.reading_by_share_token(text) IS
    'The issued monthly reading a share token opens (anon and authenticated), or no row. SECURITY DEFINER confined by the owner''s token policies; pinned search_path.';

REVOKE ALL ON FUNCTION tessera.reading_by_share_token(text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.reading_by_share_token(text) TO anon;
GRANT EXECUTE ON FUNCTION tessera.reading_by_share_token(text) TO authenticated;

-- >>> policies/monthly_readings.sql
-- Row-level security, policies and grants for tessera.monthly_readings.
--
--   operator  read every reading; issue through tessera.issue_monthly_reading()
--   sponsor   read own clients' readings
--   anon      nothing; a shared reading only through tessera.reading_by_share_token()
--   owner     (SECURITY DEFINER functions) the caller's own clients' readings, and the
--             one reading a presented share token opens
--   nobody    UPDATE, DELETE or TRUNCATE: append-only (triggers from make_append_only)
ALTER TABLE tessera.monthly_readings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.monthly_readings FORCE ROW LEVEL SECURITY;

CREATE POLICY monthly_readings_select_operator_or_sponsor ON tessera.monthly_readings
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- Operators issue readings (tessera.issue_monthly_reading runs with the caller's rights).
CREATE POLICY monthly_readings_insert_operator ON tessera.monthly_readings
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

-- tessera.create_reading_share_token runs as the owner: the caller's own clients only.
CREATE POLICY monthly_readings_select_definer_for_caller ON tessera.monthly_readings
    FOR SELECT TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- tessera.reading_by_share_token runs as the owner: the one reading named by the token
-- row the presented token opens (that row is itself filtered by the owner's token policy).
CREATE POLICY monthly_readings_select_definer_by_share_token ON tessera.monthly_readings
    FOR SELECT TO tessera_owner
    USING ((client_id, month, version) IN (
               SELECT t.client_id, t.month, t.version
                 FROM tessera.reading_share_tokens AS t
                WHERE t.token_sha256 = (SELECT tessera_private.presented_share_token_sha256())));

-- Privileges for authenticated: rows are narrowed by the policies above. No UPDATE or
-- DELETE: issued readings are immutable (a correction is a new version).
GRANT SELECT, INSERT ON tessera.monthly_readings TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): the nightly issue job.
GRANT SELECT, INSERT ON tessera.monthly_readings TO service_role;

-- >>> policies/reading_share_tokens.sql
-- Row-level security, policies and grants for tessera.reading_share_tokens.
--
--   operator  read every token row (hash and metadata, never a raw token)
--   sponsor   read own clients' token rows
--   anon      nothing; a token is presented only to tessera.reading_by_share_token()
--   create / revoke only through tessera.create_reading_share_token() and
--   tessera.revoke_reading_share_token() (no INSERT/UPDATE for API roles: a token must
--   be generated by the database, never chosen by a caller)
--   owner     (SECURITY DEFINER functions) rows of clients the caller may manage, and the
--             one unrevoked, unexpired row whose hash matches the presented token
ALTER TABLE tessera.reading_share_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.reading_share_tokens FORCE ROW LEVEL SECURITY;

CREATE POLICY reading_share_tokens_select_operator_or_sponsor ON tessera.reading_share_tokens
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY reading_share_tokens_select_definer_for_caller ON tessera.reading_share_tokens
    FOR SELECT TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY reading_share_tokens_insert_definer_for_caller ON tessera.reading_share_tokens
    FOR INSERT TO tessera_owner
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY reading_share_tokens_update_definer_for_caller ON tessera.reading_share_tokens
    FOR UPDATE TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- tessera.reading_by_share_token: only the row the presented token opens.
CREATE POLICY reading_share_tokens_select_definer_by_token ON tessera.reading_share_tokens
    FOR SELECT TO tessera_owner
    USING (token_sha256 = (SELECT tessera_private.presented_share_token_sha256())
           AND revoked_at IS NULL
           AND expires_at > now());

-- Privileges for authenticated: read only; rows narrowed by the policies above.
GRANT SELECT ON tessera.reading_share_tokens TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): list, revoke (guarded to revoked_at),
-- purge expired rows, and load the demo data. No TRUNCATE for anyone but the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.reading_share_tokens TO service_role;
