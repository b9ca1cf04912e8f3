-- Frozen migration 0011_operations, downgrade: hand-written delta; never edit once merged.
--
-- Issue 15, operations: removes what 0011 added and restores the functions it changed.

DROP FUNCTION tessera.kill_switch_report(uuid, timestamptz, timestamptz);
DROP FUNCTION tessera.respond_to_anomaly(uuid, uuid, text);
DROP FUNCTION tessera_private.respond_to_anomaly(uuid, uuid, text);
DROP FUNCTION tessera.sla_credit_rederive(uuid, date);
DROP FUNCTION tessera.sla_run(timestamptz);
DROP FUNCTION tessera.sla_credit_amount(uuid, uuid, text[], date, date);
DROP FUNCTION tessera.record_canary_scores(jsonb);
DROP TABLE tessera.anomalies;
DROP TABLE tessera.canary_scores;
DROP TRIGGER workload_settings_config_version_history ON tessera.workload_settings;
DROP TABLE tessera.worker_config_versions;
DROP TRIGGER clients_kill_switch_at_creation ON tessera.clients;
DROP TABLE tessera.kill_switch_engagements;
DROP FUNCTION tessera_private.guard_anomaly_transition();
DROP FUNCTION tessera_private.record_worker_config_version();

-- >>> functions/tessera_private.worker_config_changed.sql (restored)
-- tessera_private.worker_config_changed(): AFTER trigger on tessera.workloads (INSERT, and
-- UPDATE changing a mechanic_* flag) and tessera.clients (UPDATE of the kill switch):
-- (and UPDATE moving a workload to another client, whose kill switch then applies):
-- draw a new config version for the workload(s) whose effective worker config changed
-- and NOTIFY channel tessera_worker_config (payload documented in
-- schema/97_workload_settings.sql).
--
-- SECURITY DEFINER: it must work whoever changed the row (a sponsor flipping a mechanic,
-- tessera.set_kill_switch running as the owner, an operator), and no API role may write
-- tessera.workload_settings. As tessera_owner it is still bound by FORCE RLS: it sets
-- tessera.recording_client_id to the changed row's client, which the owner policies on
-- workloads and workload_settings admit (that client only), and restores the previous
-- value before returning. Mechanic columns are found by their mechanic_ prefix, so a
-- mechanic added later is covered without touching this function.
CREATE OR REPLACE FUNCTION tessera_private.worker_config_changed()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    previous text := pg_catalog.current_setting('tessera.recording_client_id', true);
    new_version bigint;
    target_workload uuid;
    why text;
BEGIN
    IF TG_TABLE_NAME = 'workloads' THEN
        IF TG_OP = 'UPDATE' AND NEW.client_id IS NOT DISTINCT FROM OLD.client_id AND NOT EXISTS (
               SELECT 1
                 FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) AS n
                 JOIN pg_catalog.jsonb_each(pg_catalog.to_jsonb(OLD)) AS o USING (key)
                WHERE n.key LIKE 'mechanic\_%' AND n.value IS DISTINCT FROM o.value) THEN
            RETURN NULL;  -- a rename or a no-op: the worker's config is unchanged
        END IF;
        target_workload := NEW.workload_id;
        why := CASE WHEN TG_OP = 'INSERT' THEN 'workload_created'
                    WHEN NEW.client_id IS DISTINCT FROM OLD.client_id THEN 'workload_moved'
                    ELSE 'mechanics' END;
    ELSIF TG_TABLE_NAME = 'clients' THEN
        target_workload := NULL;  -- every workload of the client
        why := 'kill_switch';
    ELSE
        RAISE EXCEPTION 'worker_config_changed() is not a trigger for %.%', TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'feature_not_supported';
    END IF;

    PERFORM pg_catalog.set_config('tessera.recording_client_id', NEW.client_id::text, true);
    -- One new version per workload (the sequence never goes back), creating the
    -- settings row with the defaults where the workload has none yet.
    INSERT INTO tessera.workload_settings AS s (client_id, workload_id, config_version)
    SELECT w.client_id, w.workload_id, pg_catalog.nextval('tessera.worker_config_version_seq')
      FROM tessera.workloads AS w
     WHERE w.client_id = NEW.client_id
       AND (target_workload IS NULL OR w.workload_id = target_workload)
    ON CONFLICT ON CONSTRAINT workload_settings_pkey
    DO UPDATE SET config_version = EXCLUDED.config_version, updated_at = pg_catalog.now();
    SELECT pg_catalog.max(s.config_version) INTO new_version
      FROM tessera.workload_settings AS s
     WHERE s.client_id = NEW.client_id
       AND (target_workload IS NULL OR s.workload_id = target_workload);
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(previous, ''), true);

    IF new_version IS NOT NULL THEN
        PERFORM pg_catalog.pg_notify('tessera_worker_config', pg_catalog.jsonb_build_object(
            'client_id', NEW.client_id, 'workload_id', target_workload,
            'config_version', new_version, 'reason', why)::text);
    END IF;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.worker_config_changed() IS
    'AFTER trigger on tessera.workloads (insert, mechanic change) and tessera.clients (kill switch): bump the config version of the affected workloads and NOTIFY tessera_worker_config. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.worker_config_changed() FROM PUBLIC; -- functions are executable by PUBLIC by default

DROP FUNCTION tessera_private.actor_label();

-- >>> functions/tessera.worker_config.sql (restored)
DROP FUNCTION tessera.worker_config(uuid, uuid);
-- tessera.worker_config(client_id, workload_id): the effective configuration of one
-- workload for the edge worker, and its config version.
--
--   kill_switch       the client's optimisation kill switch
--   pass_through      = kill_switch: forward the request untouched, no mechanic acts
--   mechanics         the mechanics that may act (sorted names without the mechanic_
--                     prefix): the workload's opt-ins, or '{}' under the kill switch
--   opted_in          the workload's opt-ins as configured (shown to explain a pause)
--   exact_cache_ttl   lifetime of exact-cache entries (default 7 days)
--   config_version    monotonically increasing (tessera.workload_settings; 0 = never
--                     changed since the workload existed before versioning)
--
-- A worker keeps the version it last read and LISTENs on channel tessera_worker_config:
-- every change of a mechanic flag, the kill switch or a workload setting NOTIFYs there
-- (schema/97_workload_settings.sql), so it refreshes at once. No row when the workload is
-- not the client's. Nothing here looks at balance, plan or seats: the kill switch takes
-- effect whatever they are.
--
-- The proxy reads this on every request (unless it caches the config by version), so
-- the mechanics are listed column by column, in name order, rather than found by
-- their mechanic_ prefix in to_jsonb(workload): the generic form (a jsonb of the row,
-- jsonb_each, a sorted array_agg) was more than half of the call. A mechanic column
-- added later must be added here too: tests/test_worker_config.py fails until it is
-- (every mechanic_ column of tessera.workloads, switched on, must be reported).
--
-- tessera_proxy only (and service_role, for tooling). SECURITY DEFINER; as tessera_owner
-- under FORCE RLS it reads only the client named by tessera.recording_client_id (set
-- here, cleared after).
CREATE FUNCTION tessera.worker_config(p_client_id uuid, p_workload_id uuid)
RETURNS TABLE (client_id uuid, workload_id uuid, kill_switch boolean, pass_through boolean,
               mechanics text[], opted_in text[], exact_cache_ttl interval, config_version bigint)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    RETURN QUERY
        SELECT w.client_id, w.workload_id, c.optimisation_kill_switch, c.optimisation_kill_switch,
               CASE WHEN c.optimisation_kill_switch THEN '{}'::text[] ELSE opt.names END,
               opt.names,
               COALESCE(s.exact_cache_ttl, interval '7 days'),
               COALESCE(s.config_version, 0)
          FROM tessera.workloads AS w
          JOIN tessera.clients AS c ON c.client_id = w.client_id
          LEFT JOIN tessera.workload_settings AS s
            ON s.client_id = w.client_id AND s.workload_id = w.workload_id
          CROSS JOIN LATERAL (
              SELECT pg_catalog.array_remove(ARRAY[
                         CASE WHEN w.mechanic_auto_route THEN 'auto_route' END,
                         CASE WHEN w.mechanic_batch_routing THEN 'batch_routing' END,
                         CASE WHEN w.mechanic_exact_cache THEN 'exact_cache' END,
                         CASE WHEN w.mechanic_history_pruning THEN 'history_pruning' END,
                         CASE WHEN w.mechanic_json_schema_enforcement THEN 'json_schema_enforcement' END,
                         CASE WHEN w.mechanic_prompt_cache_header THEN 'prompt_cache_header' END,
                         CASE WHEN w.mechanic_semantic_cache THEN 'semantic_cache' END]::text[], NULL) AS names) AS opt
         WHERE w.client_id = p_client_id AND w.workload_id = p_workload_id;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.worker_config(uuid, uuid) IS
    'Effective edge-worker config of a workload: mechanics (none under the kill switch = pure pass-through), exact-cache TTL and a monotonically increasing config version; changes NOTIFY tessera_worker_config. tessera_proxy and service_role. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.worker_config(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.worker_config(uuid, uuid) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.worker_config(uuid, uuid) TO service_role;

-- >>> functions/tessera.record_request.sql (restored)
DROP FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint, bigint);
-- tessera.record_request(...): record one proxied request in tessera.optimize_savings,
-- pricing it in the database, and return the row's key fields and costs.
--
-- Callers: the proxy login (tessera_proxy), and service_role (spool replay; see the
-- GRANT). SECURITY DEFINER, so the proxy holds
-- no table privilege at all and reads back nothing but what this returns. As
-- tessera_owner it is still bound by FORCE RLS: ingest_requests sets the
-- transaction-local tessera.ingest_client_ids to p_client_id, which the owner's ingest
-- policies on optimize_savings, savings_request_keys and workloads admit (that one
-- client's rows, nothing else), and clears it before returning.
--
-- Idempotency: the key (client_id, request_id) is claimed in tessera.savings_request_keys
-- (INSERT ... ON CONFLICT DO NOTHING; a concurrent claimer is waited for). If it was
-- already claimed, NOTHING is written and the ORIGINAL row is returned with
-- replayed = true, whatever the replay's payload says.
--
-- One request is a batch of one: tessera_private.ingest_requests holds the validation,
-- pricing, idempotency and replay rules for this function and tessera.record_requests
-- alike (the rules, in the order they are checked, are listed there). A refusal here
-- RAISES the SQLSTATE, constraint and message that record_requests reports for a
-- rejected element, writes nothing, and is NOT dead-lettered (the error rolls the
-- caller's transaction back; the caller holds the request). A proxy should call
-- record_requests, which keeps every refusal (docs/usage-buckets.md, README hot path).
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
--   original_cost_usd is the counterfactual: the request without Tessera. It prices the
--   buckets at the requested model's snapshot, except that when Tessera itself turned
--   on a cheaper way of paying for the same tokens, the original did not have it:
--     prompt_cache_header fired -> every prompt token at the uncached input price (no
--       cache reads, no cache-write premium);
--     batch_routing fired       -> real-time prices (and p_batch must be true, 23514).
--   actual_cost_usd prices the buckets as sent, at the routed model's snapshot, except
--   that a Tessera cache hit (exact_cache or semantic_cache fired) made no provider
--   call: actual_cost_usd = 0. history_pruning's saving is not credited: the proxy
--   does not report the pre-pruning prompt size, and we never guess it.
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
    o record;
BEGIN
    SELECT * INTO o
      FROM tessera_private.ingest_requests(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
               'client_id', p_client_id, 'workload_id', p_workload_id, 'request_id', p_request_id,
               'occurred_at', p_occurred_at, 'requested_provider', p_requested_provider,
               'requested_model', p_requested_model, 'routed_provider', p_routed_provider,
               'routed_model', p_routed_model, 'uncached_input_tokens', p_uncached_input_tokens,
               'cache_read_input_tokens', p_cache_read_input_tokens,
               'cache_write_5m_input_tokens', p_cache_write_5m_input_tokens,
               'cache_write_1h_input_tokens', p_cache_write_1h_input_tokens,
               'output_tokens', p_output_tokens, 'reasoning_tokens', p_reasoning_tokens, 'batch', p_batch,
               'mechanics', p_mechanics, 'finish_reason', p_finish_reason, 'feature_tag', p_feature_tag,
               'customer_tag', p_customer_tag, 'reported_input_tokens', p_reported_input_tokens,
               'reported_output_tokens', p_reported_output_tokens)), false) AS r;
    IF o.outcome = 'rejected' THEN
        RAISE EXCEPTION USING ERRCODE = o.sqlstate, MESSAGE = o.message,
                              CONSTRAINT = COALESCE(o.constraint_name, ''),
                              TABLE = COALESCE(o.table_name, ''), SCHEMA = 'tessera';
    END IF;
    client_id := o.client_id;
    request_id := o.request_id;
    occurred_at := o.occurred_at;
    recorded_at := o.recorded_at;
    requested_snapshot_id := o.requested_snapshot_id;
    routed_snapshot_id := o.routed_snapshot_id;
    original_cost_usd := o.original_cost_usd;
    actual_cost_usd := o.actual_cost_usd;
    savings_usd := o.savings_usd;
    mechanics := o.mechanics;
    replayed := (o.outcome = 'replayed');
    RETURN NEXT;
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

-- >>> functions/tessera_private.ingest_requests.sql (restored)
-- tessera_private.ingest_requests(requests, dead_letter): THE implementation of recording
-- proxied requests in tessera.optimize_savings. tessera.record_request (one request,
-- raises on refusal) and tessera.record_requests (a batch, rejects per element and keeps
-- each rejection in tessera.savings_dead_letters) are thin wrappers over it, so the
-- validation, pricing, idempotency and replay rules exist once.
--
-- requests: a JSON array of objects whose keys are record_request's parameter names
-- without the p_ prefix. Returns one row per element, in input order:
--   recorded  written now (costs of the new row)
--   replayed  its (client_id, request_id) was already in the ledger, from an earlier
--             call or from an earlier element of this batch: nothing written, the
--             ORIGINAL row's figures returned, whatever this element says
--   rejected  refused: sqlstate, constraint_name, table_name and message say why
--             (exactly what record_request raises), and nothing of it is written to the
--             ledger. With dead_letter = true it is appended to savings_dead_letters.
--
-- Set-based: one statement validates every element, reads every workload, key and
-- price snapshot it needs, claims the keys and inserts the rows (data-modifying CTEs);
-- no statement or function call per element except the rules' own helpers
-- (tag_pii_kind for a tag, request_cost for a price).
--
-- The rules, in the order they are checked (the first failing one is reported):
--   1. the element is a JSON object                              22023
--   2. every present field has its type: uuid strings, a string
--      timestamp WITH a UTC offset (never the session's zone),
--      integer token counts, boolean batch, an array of names   22P02
--   3. client_id, workload_id, request_id, occurred_at, both
--      providers and models and uncached_input_tokens present    22004
--   -- (client_id, request_id) already recorded => replayed --
--   4. no other keys (a misspelt "ouput_tokens" is not 0)       22023
--   5. mechanics known (normalised to sorted + distinct)          23514 optimize_savings_mechanics_known
--   6. tags not personal data (tag_pii_kind)                      23514 optimize_savings_*_tag_not_pii
--   7. the workload is the client's                               23503 optimize_savings_workload_fkey
--   8. every mechanic that fired is opted in on the workload:     42501
--      a mechanic turned off while the request was in flight is
--      refused (and so dead-lettered by record_requests; see docs/usage-buckets.md)
--   9. a price in force at occurred_at for the requested, then
--      the routed model (pricing_catalog_select_definer_recording
--      admits closed versions: late measurements)                 P0002
--  10. batch_routing fired => priced as a batch                  23514
--  11. the table's CHECKs, tested here first so a bad element
--      does not abort the statement (request_id and model
--      lengths, tokens >= 0, reported totals = bucket sums,
--      finish_reason and tag lengths); the CHECKs stay the backstop  23514 <the CHECK's name>
-- Pricing (request_cost, the one implementation of the price rules) can still refuse a
-- valid-looking element (a price component the snapshot lacks, a batch above the tier),
-- as can anything the table refuses that is not mirrored above: then this statement
-- raises, and record_requests re-runs the batch one element at a time to isolate it.
--
-- Pricing (documented on tessera.record_request): original_cost_usd is the
-- counterfactual without Tessera (prompt_cache_header fired => every prompt token at the
-- uncached price; batch_routing fired => real-time prices); actual_cost_usd prices the
-- buckets as sent at the routed snapshot, 0 for a Tessera cache hit.
--
-- Row-level security: it runs as tessera_owner (the wrappers are SECURITY DEFINER), which
-- FORCE RLS confines. It sets the transaction-local tessera.ingest_client_ids to the
-- clients named in THIS batch (computed here from the input, never taken from the
-- caller) and clears it before returning; the owner's ingest policies on workloads,
-- savings_request_keys, optimize_savings and savings_dead_letters admit those clients'
-- rows only, and every read below is also keyed on the element's own client_id, so an
-- element never reads another client's workload, key or row. Not SECURITY DEFINER
-- itself, and executable only by its owner (no grant): only the wrappers call it.
CREATE OR REPLACE FUNCTION tessera_private.ingest_requests(p_requests jsonb, p_dead_letter boolean)
RETURNS TABLE (ordinality integer, client_id uuid, request_id text, outcome text,
               sqlstate text, constraint_name text, table_name text, message text,
               occurred_at timestamptz, recorded_at timestamptz, requested_snapshot_id uuid,
               routed_snapshot_id uuid, original_cost_usd numeric, actual_cost_usd numeric,
               savings_usd numeric, mechanics text[])
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
-- One generic plan per session for the big statement below: a custom plan would be
-- planned anew on each of a session's first calls, and planning it costs more than
-- running it for a batch (the input is one jsonb parameter either way).
SET plan_cache_mode = force_generic_plan
AS $function$
#variable_conflict use_column
DECLARE
    -- The known mechanics (the mechanic_* columns of tessera.workloads), in C-collation
    -- order: filtering this list yields a stack already sorted and distinct.
    known CONSTANT text[] := ARRAY['auto_route', 'batch_routing', 'exact_cache', 'history_pruning',
                                   'json_schema_enforcement', 'prompt_cache_header', 'semantic_cache'];
    -- The element's vocabulary and the text patterns of its uuids, timestamp and counts
    -- (tessera_private.request_fields, the one list).
    fields text[];
    uuid_re text;
    ts_re text;
    count_re text;
    r record;
    late record;
    rejections jsonb := '[]'::jsonb;
BEGIN
    SELECT pg_catalog.array_agg(f.field),
           pg_catalog.max(f.pattern) FILTER (WHERE f.field = 'client_id'),
           pg_catalog.max(f.pattern) FILTER (WHERE f.field = 'occurred_at'),
           pg_catalog.max(f.pattern) FILTER (WHERE f.field = 'uncached_input_tokens')
      INTO fields, uuid_re, ts_re, count_re
      FROM tessera_private.request_fields() AS f;

    -- The batch's clients, as a uuid[] literal: a JSON array of the well-formed client_id
    -- strings (rule 2 refuses the others), its brackets turned into braces.
    PERFORM pg_catalog.set_config('tessera.ingest_client_ids',
        pg_catalog.translate(pg_catalog.jsonb_path_query_array(p_requests, pg_catalog.format(
            '$[*].client_id ? (@.type() == "string" && @ like_regex "%s")', uuid_re)::jsonpath)::text, '[]', '{}'),
        true);

    FOR r IN
        WITH elems AS (
            SELECT e.ord::integer AS ord, e.j, pg_catalog.jsonb_typeof(e.j) AS jtype
              FROM pg_catalog.jsonb_array_elements(p_requests) WITH ORDINALITY AS e(j, ord)
        ),
        -- Every field typed: NULL when absent, JSON null or of the wrong shape (a wrong
        -- shape is then reported by rule 2). The steps are MATERIALIZED: inlined, each
        -- later reference to a computed column would compute it again.
        typed AS MATERIALIZED (
            SELECT x.ord, x.j, x.jtype,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'client_id') = 'string' AND x.j->>'client_id' ~ uuid_re
                        THEN (x.j->>'client_id')::uuid END AS cid,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'workload_id') = 'string' AND x.j->>'workload_id' ~ uuid_re
                        THEN (x.j->>'workload_id')::uuid END AS wid,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'request_id') = 'string' THEN x.j->>'request_id' END AS rid,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'occurred_at') = 'string' AND x.j->>'occurred_at' ~ ts_re
                        THEN (x.j->>'occurred_at')::timestamptz END AS at,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'requested_provider') = 'string' THEN x.j->>'requested_provider' END AS req_provider,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'requested_model') = 'string' THEN x.j->>'requested_model' END AS req_model,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'routed_provider') = 'string' THEN x.j->>'routed_provider' END AS rte_provider,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'routed_model') = 'string' THEN x.j->>'routed_model' END AS rte_model,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'uncached_input_tokens') = 'number' AND x.j->>'uncached_input_tokens' ~ count_re
                        THEN (x.j->>'uncached_input_tokens')::bigint END AS uncached,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'cache_read_input_tokens') = 'number' AND x.j->>'cache_read_input_tokens' ~ count_re
                        THEN (x.j->>'cache_read_input_tokens')::bigint END AS cache_read_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'cache_write_5m_input_tokens') = 'number' AND x.j->>'cache_write_5m_input_tokens' ~ count_re
                        THEN (x.j->>'cache_write_5m_input_tokens')::bigint END AS cache_5m_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'cache_write_1h_input_tokens') = 'number' AND x.j->>'cache_write_1h_input_tokens' ~ count_re
                        THEN (x.j->>'cache_write_1h_input_tokens')::bigint END AS cache_1h_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'output_tokens') = 'number' AND x.j->>'output_tokens' ~ count_re
                        THEN (x.j->>'output_tokens')::bigint END AS output_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'reasoning_tokens') = 'number' AND x.j->>'reasoning_tokens' ~ count_re
                        THEN (x.j->>'reasoning_tokens')::bigint END AS reasoning,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'reported_input_tokens') = 'number' AND x.j->>'reported_input_tokens' ~ count_re
                        THEN (x.j->>'reported_input_tokens')::bigint END AS rep_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'reported_output_tokens') = 'number' AND x.j->>'reported_output_tokens' ~ count_re
                        THEN (x.j->>'reported_output_tokens')::bigint END AS rep_out,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'batch') = 'boolean' THEN (x.j->>'batch')::boolean END AS batch_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'mechanics') = 'array'
                             AND NOT pg_catalog.jsonb_path_exists(x.j->'mechanics', '$[*] ? (@.type() != "string" && @.type() != "null")')
                        THEN ARRAY(SELECT m FROM pg_catalog.jsonb_array_elements_text(x.j->'mechanics') AS m) END AS mech_raw,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'finish_reason') = 'string' THEN x.j->>'finish_reason' END AS finish,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'feature_tag') = 'string' THEN x.j->>'feature_tag' END AS ftag,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'customer_tag') = 'string' THEN x.j->>'customer_tag' END AS ctag
              FROM elems AS x
        ),
        -- Rules 1-3, before the replay check (without them there is no key to look up),
        -- and the lookups.
        -- The messages' details are computed only for an element that fails.
        shaped AS MATERIALIZED (
            SELECT t.*,
                   COALESCE(t.cache_read_in, 0) AS cache_read, COALESCE(t.cache_5m_in, 0) AS cache_5m,
                   COALESCE(t.cache_1h_in, 0) AS cache_1h, COALESCE(t.output_in, 0) AS output,
                   COALESCE(t.batch_in, false) AS batch,
                   CASE WHEN t.jtype IS DISTINCT FROM 'object' THEN
                            ARRAY['22023', NULL, NULL, 'each request must be a JSON object, got ' || COALESCE(t.jtype, 'nothing')]
                        WHEN pg_catalog.cardinality(b.bad_fields) > 0 THEN
                            ARRAY['22P02', NULL, NULL, 'invalid request field(s): ' || tessera_private.request_field_problems(b.bad_fields)]
                        WHEN t.cid IS NULL OR t.wid IS NULL OR t.rid IS NULL OR t.at IS NULL OR t.req_provider IS NULL
                             OR t.req_model IS NULL OR t.rte_provider IS NULL OR t.rte_model IS NULL OR t.uncached IS NULL THEN
                            ARRAY['22004', NULL, NULL,
                                  'client, workload, request_id, occurred_at, both models and uncached_input_tokens are required (missing: '
                                  || pg_catalog.concat_ws(', ',
                                         CASE WHEN t.cid IS NULL THEN 'client_id' END, CASE WHEN t.wid IS NULL THEN 'workload_id' END,
                                         CASE WHEN t.rid IS NULL THEN 'request_id' END, CASE WHEN t.at IS NULL THEN 'occurred_at' END,
                                         CASE WHEN t.req_provider IS NULL THEN 'requested_provider' END,
                                         CASE WHEN t.req_model IS NULL THEN 'requested_model' END,
                                         CASE WHEN t.rte_provider IS NULL THEN 'routed_provider' END,
                                         CASE WHEN t.rte_model IS NULL THEN 'routed_model' END,
                                         CASE WHEN t.uncached IS NULL THEN 'uncached_input_tokens' END) || ')']
                   END AS pre,
                   -- Normalised stack: the known list filtered, so sorted and distinct.
                   CASE WHEN t.mech_raw IS NULL OR pg_catalog.cardinality(t.mech_raw) = 0 THEN '{}'::text[]
                        ELSE ARRAY(SELECT k FROM pg_catalog.unnest(known) AS k WHERE k = ANY (t.mech_raw)) END AS mech,
                   CASE WHEN t.ftag IS NOT NULL THEN tessera_private.tag_pii_kind(t.ftag) END AS ftag_pii,
                   CASE WHEN t.ctag IS NOT NULL THEN tessera_private.tag_pii_kind(t.ctag) END AS ctag_pii,
                   -- What the element needs from the tables: its key (replay?), its
                   -- workload's opt-ins (NULL: no such workload of this client) and the two
                   -- snapshots in force at occurred_at. Each is one index probe per element
                   -- (a correlated subquery): a join would let the planner, which expects 100
                   -- elements from any JSON array, hash a whole table instead. An element
                   -- without the fields to look up finds nothing.
                   (SELECT k.occurred_at FROM tessera.savings_request_keys AS k
                         WHERE k.client_id = t.cid AND k.request_id = t.rid) AS key_at,
                   (SELECT pg_catalog.array_remove(ARRAY[
                                   CASE WHEN w.mechanic_auto_route THEN 'auto_route' END,
                                   CASE WHEN w.mechanic_batch_routing THEN 'batch_routing' END,
                                   CASE WHEN w.mechanic_exact_cache THEN 'exact_cache' END,
                                   CASE WHEN w.mechanic_history_pruning THEN 'history_pruning' END,
                                   CASE WHEN w.mechanic_json_schema_enforcement THEN 'json_schema_enforcement' END,
                                   CASE WHEN w.mechanic_prompt_cache_header THEN 'prompt_cache_header' END,
                                   CASE WHEN w.mechanic_semantic_cache THEN 'semantic_cache' END], NULL)
                          FROM tessera.workloads AS w
                         WHERE w.client_id = t.cid AND w.workload_id = t.wid) AS opted_in,
                   (SELECT p FROM tessera.pricing_catalog AS p
                         WHERE p.provider = t.req_provider AND p.model = t.req_model AND p.effective_from <= t.at
                           AND (p.effective_to IS NULL OR t.at < p.effective_to)
                         ORDER BY p.effective_from DESC LIMIT 1) AS req,
                   (SELECT p FROM tessera.pricing_catalog AS p
                         WHERE p.provider = t.rte_provider AND p.model = t.rte_model AND p.effective_from <= t.at
                           AND (p.effective_to IS NULL OR t.at < p.effective_to)
                         ORDER BY p.effective_from DESC LIMIT 1) AS rte
              FROM typed AS t
              -- The present, non-null fields that did not type: rule 2.
              CROSS JOIN LATERAL (SELECT pg_catalog.array_remove(ARRAY[
                       CASE WHEN t.cid IS NULL AND t.j->'client_id' <> 'null'::jsonb THEN 'client_id' END,
                       CASE WHEN t.wid IS NULL AND t.j->'workload_id' <> 'null'::jsonb THEN 'workload_id' END,
                       CASE WHEN t.rid IS NULL AND t.j->'request_id' <> 'null'::jsonb THEN 'request_id' END,
                       CASE WHEN t.at IS NULL AND t.j->'occurred_at' <> 'null'::jsonb THEN 'occurred_at' END,
                       CASE WHEN t.req_provider IS NULL AND t.j->'requested_provider' <> 'null'::jsonb THEN 'requested_provider' END,
                       CASE WHEN t.req_model IS NULL AND t.j->'requested_model' <> 'null'::jsonb THEN 'requested_model' END,
                       CASE WHEN t.rte_provider IS NULL AND t.j->'routed_provider' <> 'null'::jsonb THEN 'routed_provider' END,
                       CASE WHEN t.rte_model IS NULL AND t.j->'routed_model' <> 'null'::jsonb THEN 'routed_model' END,
                       CASE WHEN t.uncached IS NULL AND t.j->'uncached_input_tokens' <> 'null'::jsonb THEN 'uncached_input_tokens' END,
                       CASE WHEN t.cache_read_in IS NULL AND t.j->'cache_read_input_tokens' <> 'null'::jsonb THEN 'cache_read_input_tokens' END,
                       CASE WHEN t.cache_5m_in IS NULL AND t.j->'cache_write_5m_input_tokens' <> 'null'::jsonb THEN 'cache_write_5m_input_tokens' END,
                       CASE WHEN t.cache_1h_in IS NULL AND t.j->'cache_write_1h_input_tokens' <> 'null'::jsonb THEN 'cache_write_1h_input_tokens' END,
                       CASE WHEN t.output_in IS NULL AND t.j->'output_tokens' <> 'null'::jsonb THEN 'output_tokens' END,
                       CASE WHEN t.reasoning IS NULL AND t.j->'reasoning_tokens' <> 'null'::jsonb THEN 'reasoning_tokens' END,
                       CASE WHEN t.rep_in IS NULL AND t.j->'reported_input_tokens' <> 'null'::jsonb THEN 'reported_input_tokens' END,
                       CASE WHEN t.rep_out IS NULL AND t.j->'reported_output_tokens' <> 'null'::jsonb THEN 'reported_output_tokens' END,
                       CASE WHEN t.batch_in IS NULL AND t.j->'batch' <> 'null'::jsonb THEN 'batch' END,
                       CASE WHEN t.mech_raw IS NULL AND t.j->'mechanics' <> 'null'::jsonb THEN 'mechanics' END,
                       CASE WHEN t.finish IS NULL AND t.j->'finish_reason' <> 'null'::jsonb THEN 'finish_reason' END,
                       CASE WHEN t.ftag IS NULL AND t.j->'feature_tag' <> 'null'::jsonb THEN 'feature_tag' END,
                       CASE WHEN t.ctag IS NULL AND t.j->'customer_tag' <> 'null'::jsonb THEN 'customer_tag' END], NULL) AS bad_fields) AS b
        ),
        -- Rules 4-11.
        checked AS MATERIALIZED (
            SELECT l.*, (l.req).pricing_snapshot_id AS req_sid, (l.rte).pricing_snapshot_id AS rte_sid,
                   CASE WHEN l.pre IS NOT NULL OR l.key_at IS NOT NULL THEN NULL
                        WHEN (l.j - fields) <> '{}'::jsonb THEN
                            ARRAY['22023', NULL, NULL, 'unknown request field(s): '
                                  || (SELECT pg_catalog.string_agg(u, ', ' ORDER BY u)
                                        FROM pg_catalog.jsonb_object_keys(l.j - fields) AS u)]
                        WHEN NOT (l.mech_raw <@ known) THEN
                            ARRAY['23514', 'optimize_savings_mechanics_known', 'optimize_savings',
                                  'unknown mechanic(s): '
                                  || (SELECT pg_catalog.string_agg(COALESCE(m, 'NULL'), ', ' ORDER BY n)
                                        FROM pg_catalog.unnest(l.mech_raw) WITH ORDINALITY AS u(m, n)
                                       WHERE m IS NULL OR m <> ALL (known))
                                  || '; known: ' || pg_catalog.array_to_string(known, ', ')]
                        WHEN l.ftag_pii IS NOT NULL OR l.ctag_pii IS NOT NULL THEN
                            ARRAY['23514',
                                  CASE WHEN l.ftag_pii IS NOT NULL THEN 'optimize_savings_feature_tag_not_pii'
                                       ELSE 'optimize_savings_customer_tag_not_pii' END,
                                  'optimize_savings',
                                  CASE WHEN l.ftag_pii IS NOT NULL THEN 'feature_tag' ELSE 'customer_tag' END
                                  || ' looks like '
                                  || CASE COALESCE(l.ftag_pii, l.ctag_pii) WHEN 'email' THEN 'an email address'
                                          WHEN 'phone' THEN 'a phone number' ELSE 'a payment card number' END
                                  || ' (we never store end-user personal data)']
                        WHEN l.opted_in IS NULL THEN
                            ARRAY['23503', 'optimize_savings_workload_fkey', 'optimize_savings',
                                  pg_catalog.format('workload %s does not belong to client %s', l.wid, l.cid)]
                        WHEN NOT (l.mech <@ l.opted_in) THEN
                            ARRAY['42501', NULL, 'optimize_savings',
                                  pg_catalog.format('workload %s has not opted in to mechanic(s): %s', l.wid,
                                      pg_catalog.array_to_string(ARRAY(SELECT m FROM pg_catalog.unnest(l.mech) AS m
                                                                        WHERE m <> ALL (l.opted_in)), ', '))]
                        WHEN (l.req).pricing_snapshot_id IS NULL THEN
                            ARRAY['P0002', NULL, 'pricing_catalog',
                                  pg_catalog.format('no price in force for requested model %s/%s at %s',
                                                    l.req_provider, l.req_model, l.at)]
                        WHEN (l.rte).pricing_snapshot_id IS NULL THEN
                            ARRAY['P0002', NULL, 'pricing_catalog',
                                  pg_catalog.format('no price in force for routed model %s/%s at %s',
                                                    l.rte_provider, l.rte_model, l.at)]
                        WHEN 'batch_routing' = ANY (l.mech) AND NOT l.batch THEN
                            ARRAY['23514', NULL, 'optimize_savings',
                                  'batch_routing fired but the request was not priced as a batch (p_batch is false)']
                        -- The table's CHECKs, in the order they are declared (PostgreSQL's wording).
                        WHEN NOT pg_catalog.char_length(l.rid) BETWEEN 1 AND 200 THEN
                            ARRAY['23514', 'optimize_savings_request_id_length', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_request_id_length"']
                        WHEN NOT (pg_catalog.char_length(l.req_provider) BETWEEN 1 AND 100
                                  AND pg_catalog.char_length(l.req_model) BETWEEN 1 AND 200
                                  AND pg_catalog.char_length(l.rte_provider) BETWEEN 1 AND 100
                                  AND pg_catalog.char_length(l.rte_model) BETWEEN 1 AND 200) THEN
                            ARRAY['23514', 'optimize_savings_models_length', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_models_length"']
                        WHEN NOT (l.uncached >= 0 AND l.cache_read >= 0 AND l.cache_5m >= 0 AND l.cache_1h >= 0
                                  AND l.output >= 0 AND COALESCE(l.reasoning, 0) >= 0) THEN
                            ARRAY['23514', 'optimize_savings_tokens_non_negative', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_tokens_non_negative"']
                        WHEN l.rep_in IS NOT NULL AND l.rep_in <> l.uncached + l.cache_read + l.cache_5m + l.cache_1h THEN
                            ARRAY['23514', 'optimize_savings_input_total_matches', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_input_total_matches"']
                        WHEN l.rep_out IS NOT NULL AND l.rep_out <> l.output + COALESCE(l.reasoning, 0) THEN
                            ARRAY['23514', 'optimize_savings_output_total_matches', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_output_total_matches"']
                        WHEN NOT COALESCE(pg_catalog.char_length(l.finish) BETWEEN 1 AND 64, true) THEN
                            ARRAY['23514', 'optimize_savings_finish_reason_length', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_finish_reason_length"']
                        WHEN NOT COALESCE(pg_catalog.char_length(l.ftag) BETWEEN 1 AND 100, true) THEN
                            ARRAY['23514', 'optimize_savings_feature_tag_length', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_feature_tag_length"']
                        WHEN NOT COALESCE(pg_catalog.char_length(l.ctag) BETWEEN 1 AND 100, true) THEN
                            ARRAY['23514', 'optimize_savings_customer_tag_length', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_customer_tag_length"']
                   END AS post
              FROM shaped AS l
        ),
        -- The first valid occurrence of each new key claims it (a concurrent claimer is
        -- waited for; if it commits, this element is a replay).
        firsts AS (
            SELECT DISTINCT ON (c.cid, c.rid) c.*
              FROM checked AS c
             WHERE c.pre IS NULL AND c.key_at IS NULL AND c.post IS NULL
             ORDER BY c.cid, c.rid, c.ord
        ),
        claimed AS (
            INSERT INTO tessera.savings_request_keys AS k (client_id, request_id, occurred_at)
            SELECT f.cid, f.rid, f.at FROM firsts AS f ORDER BY f.ord
            ON CONFLICT ON CONSTRAINT savings_request_keys_pkey DO NOTHING
            RETURNING k.client_id, k.request_id
        ),
        priced AS (
            SELECT f.*,
                   'prompt_cache_header' = ANY (f.mech) AS cache_credit,
                   'batch_routing' = ANY (f.mech) AS batch_credit,
                   tessera_private.request_cost(f.req,
                       CASE WHEN 'prompt_cache_header' = ANY (f.mech)
                            THEN f.uncached + f.cache_read + f.cache_5m + f.cache_1h ELSE f.uncached END,
                       CASE WHEN 'prompt_cache_header' = ANY (f.mech) THEN 0 ELSE f.cache_read END,
                       CASE WHEN 'prompt_cache_header' = ANY (f.mech) THEN 0 ELSE f.cache_5m END,
                       CASE WHEN 'prompt_cache_header' = ANY (f.mech) THEN 0 ELSE f.cache_1h END,
                       f.output, f.reasoning, f.batch AND NOT 'batch_routing' = ANY (f.mech)) AS orig
              FROM firsts AS f
              JOIN claimed AS cl ON cl.client_id = f.cid AND cl.request_id = f.rid
        ),
        inserted AS (
            INSERT INTO tessera.optimize_savings AS s (
                client_id, workload_id, request_id, occurred_at, requested_provider, requested_model,
                routed_provider, routed_model, requested_snapshot_id, routed_snapshot_id,
                uncached_input_tokens, cache_read_input_tokens, cache_write_5m_input_tokens,
                cache_write_1h_input_tokens, output_tokens, reasoning_tokens, reported_input_tokens,
                reported_output_tokens, batch, original_cost_usd, actual_cost_usd, mechanics,
                finish_reason, feature_tag, customer_tag)
            SELECT p.cid, p.wid, p.rid, p.at, p.req_provider, p.req_model, p.rte_provider, p.rte_model,
                   p.req_sid, p.rte_sid, p.uncached, p.cache_read, p.cache_5m, p.cache_1h, p.output,
                   p.reasoning, p.rep_in, p.rep_out, p.batch, p.orig,
                   CASE WHEN p.mech && ARRAY['exact_cache', 'semantic_cache'] THEN 0
                        WHEN p.rte_sid = p.req_sid AND NOT (p.cache_credit OR p.batch_credit) THEN p.orig
                        ELSE tessera_private.request_cost(p.rte, p.uncached, p.cache_read, p.cache_5m,
                                                          p.cache_1h, p.output, p.reasoning, p.batch) END,
                   p.mech, p.finish, p.ftag, p.ctag
              FROM priced AS p
             ORDER BY p.ord
            RETURNING s.client_id, s.request_id, s.occurred_at, s.recorded_at, s.requested_snapshot_id,
                      s.routed_snapshot_id, s.original_cost_usd, s.actual_cost_usd, s.savings_usd, s.mechanics
        )
        SELECT c.ord, c.cid, c.rid, c.j,
               CASE WHEN c.pre IS NOT NULL THEN 'rejected'
                    WHEN c.key_at IS NOT NULL THEN 'replayed'
                    WHEN i.request_id IS NOT NULL AND c.ord = f.ord THEN 'recorded'
                    WHEN i.request_id IS NOT NULL THEN 'replayed'   -- a later occurrence in this batch
                    WHEN c.post IS NOT NULL THEN 'rejected'
                    ELSE 'replayed'                                 -- its key went to a concurrent writer
               END AS outcome,
               COALESCE(c.pre, c.post) AS why,
               COALESCE(o.occurred_at, i.occurred_at) AS occurred_at,
               COALESCE(o.recorded_at, i.recorded_at) AS recorded_at,
               COALESCE(o.requested_snapshot_id, i.requested_snapshot_id) AS requested_snapshot_id,
               COALESCE(o.routed_snapshot_id, i.routed_snapshot_id) AS routed_snapshot_id,
               COALESCE(o.original_cost_usd, i.original_cost_usd) AS original_cost_usd,
               COALESCE(o.actual_cost_usd, i.actual_cost_usd) AS actual_cost_usd,
               COALESCE(o.savings_usd, i.savings_usd) AS savings_usd,
               COALESCE(o.mechanics, i.mechanics) AS mechanics
          FROM checked AS c
          LEFT JOIN firsts AS f ON f.cid = c.cid AND f.rid = c.rid
          LEFT JOIN inserted AS i ON i.client_id = c.cid AND i.request_id = c.rid
          -- A replay's original: one probe of one partition (LIMIT keeps it a per-element
          -- lookup rather than a join over the whole ledger).
          LEFT JOIN LATERAL (
              SELECT o.occurred_at, o.recorded_at, o.requested_snapshot_id, o.routed_snapshot_id,
                     o.original_cost_usd, o.actual_cost_usd, o.savings_usd, o.mechanics
                FROM tessera.optimize_savings AS o
               WHERE c.pre IS NULL AND c.key_at IS NOT NULL AND o.client_id = c.cid AND o.request_id = c.rid
                 AND o.occurred_at = c.key_at
               LIMIT 1) AS o ON true
         ORDER BY c.ord
    LOOP
        IF r.outcome = 'replayed' AND r.recorded_at IS NULL THEN
            -- Its key was claimed by a writer that committed after this statement began:
            -- a new statement sees the original.
            SELECT s.occurred_at, s.recorded_at, s.requested_snapshot_id, s.routed_snapshot_id,
                   s.original_cost_usd, s.actual_cost_usd, s.savings_usd, s.mechanics
              INTO late
              FROM tessera.savings_request_keys AS k
              JOIN tessera.optimize_savings AS s
                ON s.client_id = k.client_id AND s.request_id = k.request_id AND s.occurred_at = k.occurred_at
             WHERE k.client_id = r.cid AND k.request_id = r.rid;
            r.occurred_at := late.occurred_at;
            r.recorded_at := late.recorded_at;
            r.requested_snapshot_id := late.requested_snapshot_id;
            r.routed_snapshot_id := late.routed_snapshot_id;
            r.original_cost_usd := late.original_cost_usd;
            r.actual_cost_usd := late.actual_cost_usd;
            r.savings_usd := late.savings_usd;
            r.mechanics := late.mechanics;
        END IF;
        IF r.outcome = 'rejected' AND p_dead_letter THEN
            rejections := rejections || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'element', r.j, 'sqlstate', r.why[1], 'constraint', r.why[2], 'reason', r.why[4]));
        END IF;
        ordinality := r.ord;
        client_id := r.cid;
        request_id := r.rid;
        outcome := r.outcome;
        sqlstate := r.why[1];
        constraint_name := r.why[2];
        table_name := r.why[3];
        message := r.why[4];
        occurred_at := r.occurred_at;
        recorded_at := r.recorded_at;
        requested_snapshot_id := r.requested_snapshot_id;
        routed_snapshot_id := r.routed_snapshot_id;
        original_cost_usd := r.original_cost_usd;
        actual_cost_usd := r.actual_cost_usd;
        savings_usd := r.savings_usd;
        mechanics := r.mechanics;
        RETURN NEXT;
    END LOOP;

    IF pg_catalog.jsonb_array_length(rejections) > 0 THEN
        PERFORM tessera_private.write_dead_letters(rejections);
    END IF;
    PERFORM pg_catalog.set_config('tessera.ingest_client_ids', '', true);
END
$function$;

COMMENT ON FUNCTION tessera_private.ingest_requests(jsonb, boolean) IS
    'The one implementation of recording proxied requests (validation, pricing, idempotency, replay), set-based over a JSON array; outcome per element: recorded, replayed or rejected (with SQLSTATE, constraint and message). Called only by tessera.record_request and tessera.record_requests.';

REVOKE ALL ON FUNCTION tessera_private.ingest_requests(jsonb, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.request_fields.sql (restored)
-- tessera_private.request_fields(): the fields a request element of tessera.record_requests
-- (and record_request, a batch of one) may carry -- record_request's parameters without
-- p_ -- with the shape each must have, in words, and the pattern its JSON string or
-- number must match where a JSON type alone does not say it:
--   client_id, workload_id  a JSON string holding a uuid (hyphens optional)
--   occurred_at             a JSON string, ISO 8601 date and time WITH a UTC offset (Z or
--                           +hh:mm): never the session's time zone
--   token counts            a JSON integer of at most 18 digits (its sign is checked by the
--                           table's CHECK, so a negative count gets that constraint's name)
--   batch                   true or false; mechanics: an array of strings (nulls are
--                           reported by the mechanic rule); the rest: JSON strings
-- The one list: tessera_private.ingest_requests takes its field names and patterns from
-- here, write_dead_letters the names it keeps, request_field_problems the words.
CREATE OR REPLACE FUNCTION tessera_private.request_fields()
RETURNS TABLE (field text, described text, pattern text)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT f.field, f.described,
           CASE f.described
               WHEN 'a uuid string' THEN '^[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}$'
               WHEN 'an ISO 8601 timestamp string with a UTC offset'
                   THEN '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?'
                        '(Z|[+-][0-9]{2}(:?[0-9]{2}(:?[0-9]{2})?)?)$'
               WHEN 'an integer' THEN '^-?[0-9]{1,18}$'
           END
      FROM (VALUES
          ('client_id', 'a uuid string'), ('workload_id', 'a uuid string'),
          ('request_id', 'a string'),
          ('occurred_at', 'an ISO 8601 timestamp string with a UTC offset'),
          ('requested_provider', 'a string'), ('requested_model', 'a string'),
          ('routed_provider', 'a string'), ('routed_model', 'a string'),
          ('uncached_input_tokens', 'an integer'), ('cache_read_input_tokens', 'an integer'),
          ('cache_write_5m_input_tokens', 'an integer'), ('cache_write_1h_input_tokens', 'an integer'),
          ('output_tokens', 'an integer'), ('reasoning_tokens', 'an integer'),
          ('reported_input_tokens', 'an integer'), ('reported_output_tokens', 'an integer'),
          ('batch', 'true or false'), ('mechanics', 'an array of mechanic names'),
          ('finish_reason', 'a string'), ('feature_tag', 'a string'), ('customer_tag', 'a string')
      ) AS f(field, described)
$function$;

COMMENT ON FUNCTION tessera_private.request_fields() IS
    'The fields a request element of tessera.record_requests may carry, the shape each must have (in words) and the pattern of its text where the JSON type is not enough; the one list ingest_requests, write_dead_letters and request_field_problems read.';

REVOKE ALL ON FUNCTION tessera_private.request_fields() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera.retention_classes.sql (restored)
-- tessera.retention_classes(): THE list of how long every tessera table keeps its
-- rows, what removes them, and what a client's erasure does to them. One line per table;
-- a reviewer reads this file to know when anything leaves, and nothing leaves a ledger or
-- the audit log but through the two paths named here:
--
--   tessera.retention_run   the scheduled job (service_role, pg_cron or crontab): removes
--                           rows whose time_column is older than retention_window; whole
--                           monthly partitions past the window are detached and dropped,
--                           other rows are deleted under the append-only guard, which
--                           re-checks the window per row against the database clock.
--   tessera.sweep           the hourly sweeper of the short-lived working sets (issue 6).
--   tessera.erase_client    a client's erasure (operators only; docs/erasure.md), with
--                           on_erasure_invoiced / on_erasure_other:
--                             delete     every row of the client goes now;
--                             strip      the row stays for its window with its personal
--                                        data removed or replaced (personal_columns);
--                             tombstone  (audit_events) the row keeps only what the
--                                        Merkle tree needs; its payload is gone;
--                             none       the table holds no client rows.
--
-- Windows and plan tiers. The seed keeps optimize_savings, balance_transactions,
-- audit_events and monthly_readings (and what they need: savings_request_keys, the
-- dead letters) 7 years for invoiced engagements (Raamatupidamise seadus § 12) and makes
-- them deletable on demand for hobby and free clients. The scheduled window is the same
-- 7 years for every tier on purpose: the ledger and the log are partitioned by month
-- across clients, and one window per table is what lets whole months be dropped instead
-- of rows picked out by tier. A hobby or free client's "on demand" is erase_client,
-- which removes their rows at once; an invoiced client's erasure strips and keeps them
-- until this window ends (GDPR Art. 17(3)(b): a legal obligation to keep them).
--
-- The lint tests/lints/0017_table_without_retention_class.sql fails while a table in
-- schema tessera is missing here (or a listed one no longer exists), and
-- tests/test_retention.py checks every line's time column, window and paths.
--
-- IMMUTABLE: a constant list, read by retention_run, the removal guard and the lint. In
-- the exposed schema and readable by authenticated and service_role: a retention policy
-- is something a customer and a reviewer are entitled to read (it holds no data).
CREATE OR REPLACE FUNCTION tessera.retention_classes()
RETURNS TABLE (table_name          name,
               retention_class     text,
               time_column         name,
               retention_window    interval,
               removed_by          text,
               on_erasure_invoiced text,
               on_erasure_other    text,
               personal_columns    name[],
               note                text)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    VALUES
    --  table                   class              time column      window             removed by                   invoiced     hobby/free   personal columns (stripped)                              note
    -- Accounting records: 7 years, then retention_run (whole months where partitioned).
        ('optimize_savings'::name, 'accounting'::text, 'occurred_at'::name, interval '7 years', 'tessera.retention_run'::text, 'strip'::text, 'delete'::text,
         '{feature_tag,customer_tag}'::name[],
         'The per-request money record. Monthly partitions past the window are dropped whole. Tags are free text the customer chose: replaced by pseudonyms on erasure (consistently with the readings'' by_feature_tag).'::text),
        ('savings_request_keys',   'accounting',      'occurred_at',   interval '7 years', 'tessera.retention_run',   'keep',      'delete',
         '{}', 'Idempotency key of an optimize_savings row: kept exactly as long as the row it guards.'),
        ('balance_transactions',   'accounting',      'created_at',    interval '7 years', 'tessera.retention_run',   'strip',     'delete',
         '{reason,actor}', 'Money in and out. reason is free text and actor an email: replaced on erasure.'),
        ('monthly_readings',       'accounting',      'issued_at',     interval '7 years', 'tessera.retention_run',   'strip',     'delete',
         '{issued_by,correction_reason,by_feature_tag}', 'Issued readings (the invoice basis), kept 7 years from their issue.'),
        ('audit_events',           'accounting',      'occurred_at',   interval '7 years', 'tessera.retention_run',   'strip',     'tombstone',
         '{actor_email,actor_sub,reason,source_ip,prompt_fingerprint_v1,before,after}',
         'The tamper-evident log. Monthly partitions past the window are dropped whole once sealed; the verifier then starts from the checkpoint covering them. Erased rows keep their place in the Merkle tree (docs/erasure.md).'),
        ('savings_dead_letters',   'accounting',      'attempted_at',  interval '7 years', 'tessera.retention_run',   'delete',    'delete',
         '{}', 'Measurements the ledger refused and their resolutions: true measurements that may matter in a billing dispute, so kept as long as the ledger. Never invoiced, so an erasure removes them for every tier.'),
    -- Kept while the client exists; an erasure removes them (an invoiced client keeps the
    -- stripped skeleton its kept accounting rows reference).
        ('clients',                'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'strip',     'delete',
         '{name}', 'The tenant. An erased invoiced client keeps its id and tier under a placeholder name while accounting rows reference it; retention_run removes it with the last of them.'),
        ('workloads',              'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'strip',     'delete',
         '{name}', 'Referenced by optimize_savings: kept stripped for an invoiced client, like clients.'),
        ('workload_settings',      'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'keep',      'delete',
         '{}', 'One row per workload (config version, cache TTL): goes with its workload.'),
        ('client_users',           'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'delete',    'delete',
         '{email,display_name}', 'Sponsor contacts: personal data, removed on erasure for every tier.'),
        ('api_keys',               'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'delete',    'delete',
         '{name,created_by,revoked_by,revoke_reason}', 'Key hashes and their history; revoked keys stay (their audit trail matters) until the client is erased.'),
        ('batches',                'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'delete',    'delete',
         '{}', 'Batch metadata and state history; no money (the ledger has that).'),
        ('reading_share_tokens',   'link',            'expires_at',    interval '90 days', 'tessera.retention_run',   'delete',    'delete',
         '{created_by}', 'Hashes of share links: removed 90 days after they expire (revoked ones expire too); the audit log keeps their creation and revocation.'),
    -- Short-lived working sets, already swept hourly (issue 6).
        ('cache_entries',          'working_set',     'expires_at',    interval '0',       'tessera.sweep',           'delete',    'delete',
         '{}', 'Exact-response cache: purged when expired (default TTL 7 days), flushable by the sponsor.'),
        ('batch_secrets',          'working_set',     'created_at',    interval '48 hours', 'tessera.sweep',          'delete',    'delete',
         '{}', 'Sealed settlement secrets: destroyed on the batch''s terminal transition, and by the sweeper 48 hours after storing at the latest.'),
        ('api_key_failures',       'working_set',     'failed_at',     interval '7 days',  'tessera.sweep',           'none',      'none',
         '{}', 'The throttle''s failed verifications (key hint, source address; no client id): purged after 7 days; the audit log keeps each failure.'),
    -- Platform records: no client rows.
        ('operators',              'staff',           NULL,            NULL,               'operator offboarding',    'none',      'none',
         '{email,display_name}', 'Staff: removed when they leave (a DELETE by the platform owner, audited).'),
        ('pricing_catalog',        'reference',       NULL,            NULL,               'never',                   'none',      'none',
         '{}', 'Public provider prices, referenced by every ledger row ever priced with them; no personal data.'),
        ('price_sources',          'reference',       NULL,            NULL,               'never',                   'none',      'none',
         '{}', 'The price files the importer reads; no personal data.'),
        ('price_import_runs',      'reference',       NULL,            NULL,               'never',                   'none',      'none',
         '{}', 'Provenance of every catalog version; no personal data.'),
        ('price_observations',     'reference',       NULL,            NULL,               'never',                   'none',      'none',
         '{}', 'Raw copies of public price files behind the catalog''s confidence scores; no personal data.'),
        ('audit_checkpoints',      'reference',       NULL,            NULL,               'never',                   'none',      'none',
         '{}', 'Signed Merkle checkpoints: a few hundred bytes each, and what lets the kept part of the log verify after old months are dropped.'),
        ('client_erasures',        'erasure_log',     'finished_at',   interval '7 years', 'tessera.retention_run',   'none',      'none',
         '{}', 'The operator-side delete log: survives the erasure it records (client id, initiator, reason, counts), kept as long as the accounting rows it explains.')
$function$;

COMMENT ON FUNCTION tessera.retention_classes() IS
    'The declarative retention list: every tessera table with its class, time column, window, the job that removes its rows, and what a client erasure does to it. Read by tessera.retention_run, tessera.erase_client, the removal guard and lint 0017_table_without_retention_class.';

REVOKE ALL ON FUNCTION tessera.retention_classes() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.retention_classes() TO authenticated, service_role;

-- >>> functions/tessera_private.erase_client.sql (restored)
-- The SECURITY DEFINER body behind tessera.erase_client. The exposed schema holds only a
-- SECURITY INVOKER wrapper (functions/tessera.erase_client.sql) that calls this, so no
-- definer body is reachable as an RPC of PostgREST's schema (Supabase Security Advisor
-- lints 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly the wrapper's
-- roles.
--
-- tessera_private.erase_client(client_id, reason): a client's erasure (GDPR Art. 17; seed "Hard-
-- delete on account closure"). Operators only; docs/erasure.md is the reference.
--
-- What goes, by tessera.retention_classes() (on_erasure_invoiced /
-- on_erasure_other):
--   hobby and free   every row of the client in every table: sponsors, keys, batches
--                    and their secrets, cache, savings and their idempotency keys, dead
--                    letters, balance, readings and their share links, workloads, the
--                    client; its audit events become tombstones.
--   invoiced         the accounting rows inside their 7-year window stay (savings,
--                    their keys, balance, readings), with their personal columns
--                    replaced: tags by pseudonyms (the same pseudonym for the same tag in
--                    the savings rows and in the readings' by_feature_tag, so a reading
--                    still re-derives), free-text reasons and emails by 'erased'; the
--                    client and workload rows they reference stay with a placeholder
--                    name; its audit events are stripped of personal data. Everything
--                    else goes now. tessera.retention_run removes the rest when the
--                    window ends (GDPR Art. 17(3)(b): kept to comply with a legal
--                    obligation, the accounting act).
--
-- The audit log stays verifiable. The client's events are listed first (event_id and
-- content_hash); then one erasure event is written (a platform event: client_id NULL,
-- entity client_erasures, entity_id the erasure id) whose `after` commits to exactly
-- that list: its count, first and last event_id, and events_sha256 =
-- SHA-256('tessera.erasure.v1' || for each, in event_id order, int8send(event_id) ||
-- content_hash). Then each listed row is emptied (tombstone: only event_id, occurred_at,
-- txid and content_hash stay) or stripped, with erasure_event_id pointing at that event.
-- content_hash is the original's, so every leaf of the Merkle tree is unchanged;
-- tessera-db audit verify accepts such a row only when a sealed erasure event's
-- commitment covers it, so a row blanked by hand is still caught.
--
-- Everything or nothing: one transaction; the append-only guard, the owner's
-- *_definer_removal policies and the audit trigger recognise the erasure only through
-- the unfinished tessera.client_erasures row this transaction writes first
-- (tessera_private.erasing_client_id). Idempotent: a client erased before returns its
-- delete-log row unchanged (with its certificate, once the CLI attached one).
--
-- SECURITY DEFINER (the tables grant nobody DELETE; the owner's guarded policies admit
-- the erased client's rows only while this runs). EXECUTE for authenticated, and inside
-- only operators: sponsors, anon, the proxy and settlement logins and service_role are
-- refused (42501) -- retention is a job's work, an erasure is a person's decision.
CREATE OR REPLACE FUNCTION tessera_private.erase_client(p_client_id uuid, p_reason text)
RETURNS tessera.client_erasures
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    acting_role text := pg_catalog.current_setting('role');
    operator_email text := tessera_private.jwt_email();
    previous tessera.client_erasures;
    erasure tessera.client_erasures;
    client tessera.clients;
    invoiced boolean;
    salt bytea := uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
    personal_keys text[];
    erased_counts jsonb := '{}'::jsonb;
    n bigint;
    kept_until_at timestamptz;
    table_kept_until timestamptz;
    events_n bigint;
    first_event bigint;
    last_event bigint;
    events_sha256 bytea;
    erasure_event bigint;
BEGIN
    IF acting_role IS DISTINCT FROM 'authenticated' OR NOT tessera_private.is_operator() THEN
        RAISE EXCEPTION 'erase_client: only an operator may erase a client'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Erasure is a person''s decision: sign in as an operator (tessera-db clients erase --as-operator EMAIL).';
    END IF;
    IF p_client_id IS NULL THEN
        RAISE EXCEPTION 'erase_client: a client id is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_reason IS NULL OR p_reason !~ '[^[:space:]]' OR pg_catalog.char_length(p_reason) > 1000 THEN
        RAISE EXCEPTION 'erase_client: a reason (1..1000 characters, not blank) is required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT e.* INTO previous FROM tessera.client_erasures AS e WHERE e.client_id = p_client_id;
    IF FOUND THEN
        RETURN previous;  -- erased before: the same delete-log row (and certificate)
    END IF;
    -- Lock the client against concurrent changes (kill switch, workloads, sponsors).
    SELECT c.* INTO client FROM tessera.clients AS c WHERE c.client_id = p_client_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'erase_client: no client %', p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    invoiced := client.plan_tier = 'invoiced';

    PERFORM pg_catalog.set_config('tessera.removal', 'erasure', true);
    INSERT INTO tessera.client_erasures (client_id, plan_tier, reason, initiated_by)
    VALUES (p_client_id, client.plan_tier, p_reason, operator_email)
    RETURNING * INTO erasure;

    -- What goes for every tier.
    DELETE FROM tessera.reading_share_tokens AS t WHERE t.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('reading_share_tokens', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.savings_dead_letters AS d WHERE d.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_dead_letters', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.cache_entries AS e WHERE e.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('cache_entries', pg_catalog.jsonb_build_object('erased', n));
    SELECT pg_catalog.count(*) INTO n FROM tessera.batch_secrets AS s WHERE s.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('batch_secrets', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.batches AS b WHERE b.client_id = p_client_id;  -- cascades to batch_secrets
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('batches', pg_catalog.jsonb_build_object('erased', n));
    -- A rotated key references its successor (replaced_by, ON DELETE RESTRICT, checked
    -- row by row): delete the keys nobody references first, until none is left.
    SELECT pg_catalog.count(*) INTO n FROM tessera.api_keys AS k WHERE k.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('api_keys', pg_catalog.jsonb_build_object('erased', n));
    LOOP
        DELETE FROM tessera.api_keys AS k
         WHERE k.client_id = p_client_id
           AND NOT EXISTS (SELECT 1 FROM tessera.api_keys AS r
                            WHERE r.client_id = k.client_id AND r.replaced_by = k.api_key_id);
        EXIT WHEN NOT FOUND;
    END LOOP;
    SELECT pg_catalog.count(*) INTO n FROM tessera.api_keys AS k WHERE k.client_id = p_client_id;
    IF n > 0 THEN
        RAISE EXCEPTION 'erase_client: % API keys of client % reference each other in a cycle', n, p_client_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    DELETE FROM tessera.client_users AS u WHERE u.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('client_users', pg_catalog.jsonb_build_object('erased', n));

    IF NOT invoiced THEN
        DELETE FROM tessera.savings_request_keys AS k WHERE k.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_request_keys', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.optimize_savings AS s WHERE s.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('optimize_savings', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.monthly_readings AS r WHERE r.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('monthly_readings', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.balance_transactions AS t WHERE t.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('balance_transactions', pg_catalog.jsonb_build_object('erased', n));
        SELECT pg_catalog.count(*) INTO n FROM tessera.workload_settings AS w WHERE w.client_id = p_client_id;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workload_settings', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.workloads AS w WHERE w.client_id = p_client_id;  -- cascades to workload_settings
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workloads', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.clients AS c WHERE c.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('clients', pg_catalog.jsonb_build_object('erased', n));
    ELSE
        -- Kept for the accounting window, personal columns replaced.
        UPDATE tessera.optimize_savings AS s
           SET feature_tag = CASE WHEN s.feature_tag IS NOT NULL THEN tessera_private.erased_tag(salt, s.feature_tag) END,
               customer_tag = CASE WHEN s.customer_tag IS NOT NULL THEN tessera_private.erased_tag(salt, s.customer_tag) END
         WHERE s.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(s.occurred_at) + interval '7 years' INTO table_kept_until
          FROM tessera.optimize_savings AS s WHERE s.client_id = p_client_id;
        kept_until_at := table_kept_until;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('optimize_savings',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        SELECT pg_catalog.count(*), pg_catalog.max(k.occurred_at) + interval '7 years' INTO n, table_kept_until
          FROM tessera.savings_request_keys AS k WHERE k.client_id = p_client_id;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_request_keys',
            pg_catalog.jsonb_build_object('kept', n, 'kept_until', table_kept_until));
        UPDATE tessera.monthly_readings AS r
           SET issued_by = 'erased',
               correction_reason = CASE WHEN r.correction_reason IS NOT NULL THEN 'erased' END,
               by_feature_tag = (SELECT COALESCE(pg_catalog.jsonb_agg(x.tagged ORDER BY x.tag NULLS FIRST), '[]'::jsonb)
                                   FROM (SELECT g.value || pg_catalog.jsonb_build_object('feature_tag', t.tag) AS tagged, t.tag
                                           FROM pg_catalog.jsonb_array_elements(r.by_feature_tag) AS g
                                          CROSS JOIN LATERAL (SELECT CASE WHEN g.value ->> 'feature_tag' IS NOT NULL
                                                                          THEN tessera_private.erased_tag(salt, g.value ->> 'feature_tag')
                                                                     END AS tag) AS t) AS x)
         WHERE r.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(r.issued_at) + interval '7 years' INTO table_kept_until
          FROM tessera.monthly_readings AS r WHERE r.client_id = p_client_id;
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('monthly_readings',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        UPDATE tessera.balance_transactions AS t SET reason = 'erased', actor = 'erased'
         WHERE t.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(t.created_at) + interval '7 years' INTO table_kept_until
          FROM tessera.balance_transactions AS t WHERE t.client_id = p_client_id;
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('balance_transactions',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        UPDATE tessera.workloads AS w SET name = 'erased workload ' || w.workload_id::text
         WHERE w.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workloads', pg_catalog.jsonb_build_object('stripped', n));
        UPDATE tessera.clients AS c SET name = 'erased client ' || c.client_id::text
         WHERE c.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('clients', pg_catalog.jsonb_build_object('stripped', n));
    END IF;

    -- The audit log: list the client's events, commit to the list in one erasure event,
    -- then empty (hobby/free) or strip (invoiced) exactly those rows.
    SELECT pg_catalog.count(*), pg_catalog.min(a.event_id), pg_catalog.max(a.event_id),
           pg_catalog.sha256(pg_catalog.convert_to('tessera.erasure.v1', 'UTF8')
                             || COALESCE(pg_catalog.string_agg(pg_catalog.int8send(a.event_id) || a.content_hash, ''::bytea
                                                               ORDER BY a.event_id), ''::bytea))
      INTO events_n, first_event, last_event, events_sha256
      FROM tessera.audit_events AS a
     WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL;
    SELECT pg_catalog.max(a.occurred_at) + interval '7 years' INTO table_kept_until
      FROM tessera.audit_events AS a WHERE a.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('audit_events',
        CASE WHEN invoiced THEN pg_catalog.jsonb_build_object('stripped', events_n, 'kept_until', table_kept_until)
             ELSE pg_catalog.jsonb_build_object('tombstoned', events_n) END);
    IF invoiced THEN
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
    END IF;

    erasure_event := tessera_private.write_audit_event(
        NULL, 'client_erasures', erasure.erasure_id::text, 'erasure', NULL,
        pg_catalog.jsonb_build_object(
            'erasure_id', erasure.erasure_id,
            'client_id', p_client_id,
            'plan_tier', client.plan_tier,
            'treatment', CASE WHEN invoiced THEN 'strip' ELSE 'tombstone' END,
            'events', events_n,
            'first_event_id', first_event,
            'last_event_id', last_event,
            'events_sha256', pg_catalog.encode(events_sha256, 'hex'),
            'counts', erased_counts),
        p_reason);
    PERFORM pg_catalog.set_config('tessera.erasure_event_id', erasure_event::text, true);

    IF invoiced THEN
        SELECT pg_catalog.array_agg(DISTINCT c.column_name)
          INTO personal_keys
          FROM tessera.retention_classes() AS r
         CROSS JOIN LATERAL pg_catalog.unnest(r.personal_columns) AS c(column_name);
        UPDATE tessera.audit_events AS a
           SET actor_email = NULL, actor_sub = NULL, reason = NULL, source_ip = NULL,
               prompt_fingerprint_v1 = NULL,
               before = a.before - personal_keys,
               after = a.after - personal_keys,
               erasure_event_id = erasure_event
         WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL AND a.event_id < erasure_event;
    ELSE
        UPDATE tessera.audit_events AS a
           SET client_id = NULL, entity = NULL, entity_id = NULL, action = NULL, before = NULL, after = NULL,
               actor_role = NULL, actor_session_role = NULL, actor_email = NULL, actor_sub = NULL,
               actor_job = NULL, request_id = NULL, reason = NULL, source_ip = NULL,
               prompt_fingerprint_v1 = NULL,
               erasure_event_id = erasure_event
         WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL AND a.event_id < erasure_event;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> events_n THEN  -- the commitment must cover exactly the rows changed
        RAISE EXCEPTION 'erase_client: % audit events listed, % changed (a concurrent writer?); nothing was erased', events_n, n
            USING ERRCODE = 'serialization_failure';
    END IF;

    UPDATE tessera.client_erasures AS e
       SET finished_at = pg_catalog.clock_timestamp(),
           counts = erased_counts,
           erasure_event_id = erasure_event,
           kept_until = CASE WHEN invoiced THEN kept_until_at END
     WHERE e.client_id = p_client_id AND e.erasure_id = erasure.erasure_id
    RETURNING * INTO erasure;
    PERFORM pg_catalog.set_config('tessera.removal', '', true);
    PERFORM pg_catalog.set_config('tessera.erasure_verified', '', true);
    PERFORM pg_catalog.set_config('tessera.erasure_event_id', '', true);
    RETURN erasure;
END
$function$;

COMMENT ON FUNCTION tessera_private.erase_client(uuid, text) IS
    'Erase a client (operators only): hobby/free lose every row, invoiced keep their accounting rows stripped of personal data for the legal window; the client''s audit events become tombstones (or stripped) authorised by one erasure event. Idempotent; returns the delete-log row.';

REVOKE ALL ON FUNCTION tessera_private.erase_client(uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.erase_client(uuid, text) TO authenticated;

-- >>> schema/60_optimize_savings.sql (columns removed)
ALTER TABLE tessera.optimize_savings
    DROP CONSTRAINT optimize_savings_unconsented_fired,
    DROP COLUMN unconsented_mechanics,
    DROP COLUMN worker_config_version;

-- >>> functions/tessera_private.audit_coverage.sql (restored)
-- tessera_private.audit_coverage(): THE list of which tessera tables are audited, which
-- of their columns are secret, and which tables are exempt and why. One line per table;
-- a reviewer reads this file and nothing else to know what the audit log covers.
--
--   audited = true   tessera_private.audit_row_change() is attached as <table>_audit
--                    and <table>_audit_truncate (ENABLE ALWAYS): every INSERT, UPDATE,
--                    DELETE and TRUNCATE writes tessera.audit_events rows with the
--                    changed columns, minus the secret columns named here (never copied
--                    into an event, not even as a before/after value).
--   audited = false  exempt: the reason is required and says why.
--
-- Adding a table is a one-line change: add its row below (and, in a migration, re-create
-- this function and run SELECT tessera_private.apply_audit_coverage()). The lint
-- tests/lints/0013_table_not_audited.sql fails while any table in schema tessera is
-- missing from this list, while a listed table lacks its triggers (or they are not
-- ENABLE ALWAYS, or carry other secret columns), or while an exemption has no reason.
--
-- IMMUTABLE: a constant list, read by apply_audit_coverage() and by the lint.
CREATE OR REPLACE FUNCTION tessera_private.audit_coverage()
RETURNS TABLE (table_name name, audited boolean, secret_columns name[], exempt_reason text)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    VALUES
    --  table                    audited  secret columns   exempt: why
    -- Tenancy (issue 3): clients incl. kill switch and cross-customer opt-in, workloads
    -- incl. mechanic toggles, staff and sponsor contacts.
        ('clients'::name,          true,  '{}'::name[],    NULL::text),
        ('workloads',              true,  '{}',            NULL),
        ('operators',              true,  '{}',            NULL),
        ('client_users',           true,  '{}',            NULL),
    -- Money ledger (issue 4): prices, their provenance, balances, issued readings.
        ('pricing_catalog',        true,  '{}',            NULL),
        ('price_sources',          true,  '{}',            NULL),
        ('price_import_runs',      true,  '{}',            NULL),
        ('balance_transactions',   true,  '{}',            NULL),
        ('monthly_readings',       true,  '{}',            NULL),
        ('reading_share_tokens',   true,  '{token_sha256}', NULL),
    -- Keys, settlement secrets and worker config (issue 6): key creation, revocation and
    -- rotation; batch transitions; a secret's storing, resealing and destruction (never
    -- the sealed value).
        ('api_keys',               true,  '{key_sha256}',  NULL),
        ('batches',                true,  '{}',            NULL),
        ('batch_secrets',          true,  '{sealed}',      NULL),
    -- Exempt.
        ('api_key_failures',       false, NULL,
         'The throttle''s short-lived working set (purged after 7 days): tessera.verify_api_key writes each failure to audit_events itself (auth_failure, and rate_limited when a source reaches the limit), with key hint and source IP.'),
        ('workload_settings',      false, NULL,
         'Its config_version is a derived counter bumped by triggers on workloads and clients, whose changes are audited there (auditing it too would turn one mechanic toggle into two events); its one setting, the exact-cache TTL, changes only through tessera.set_exact_cache_ttl, which writes that audit event itself.'),
        ('cache_entries',          false, NULL,
         'UNLOGGED exact cache, rewritten on the request path and emptied by crashes: a copy the provider can recompute, not a state transition; a sponsor''s flush is audited by tessera.flush_cache itself.'),
        ('price_observations',     false, NULL,
         'Append-only raw copies of public price files, thousands of rows per import; each import is audited as its tessera.price_import_runs row (file name, SHA-256, importer), which the observations reference.'),
        ('optimize_savings',       false, NULL,
         'One append-only row per proxied request: the per-request measurement is itself the audit-grade money record (pricing snapshot, costs, request_id), refused UPDATE/DELETE/TRUNCATE for every role; auditing it would double the proxy''s write path.'),
        ('savings_request_keys',   false, NULL,
         'Append-only idempotency key of optimize_savings (one row per proxied request), written only by tessera.record_request; it carries no state beyond the measurement row.'),
        ('savings_dead_letters',   false, NULL,
         'Append-only record of refused measurements and their resolutions, written only by tessera.record_requests / replay_dead_letters: each row is itself the event (what was refused, why, when, by which role); auditing it would double the hot path''s refusals.'),
        ('client_erasures',        false, NULL,
         'The operator-side delete log: each row is written and completed by tessera.erase_client in the transaction that writes the erasure''s own audit event (action erasure, with the counts), which is the event; a row-change event would repeat it, under the erased client''s id.'),
        ('audit_events',           false, NULL,
         'The audit log itself: append-only, hash-stamped and sealed into signed checkpoints; auditing it would recurse.'),
        ('audit_checkpoints',      false, NULL,
         'The signed seal over audit_events, append-only and checked by tessera-db audit verify; auditing it would add an event per seal, so the log would never be fully sealed.')
$function$;

COMMENT ON FUNCTION tessera_private.audit_coverage() IS
    'The declarative audit coverage list: every tessera table, audited (with its secret columns) or exempt (with a reason). Applied by tessera_private.apply_audit_coverage(); checked by lint 0013_table_not_audited.';

REVOKE ALL ON FUNCTION tessera_private.audit_coverage() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- Attach the triggers the list asks for (every table above exists by now: this file is
-- loaded after all of them, see load.sql).
SELECT tessera_private.apply_audit_coverage();
