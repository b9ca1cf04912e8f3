-- Frozen migration 0011_operations: hand-written delta; never edit once merged.
--
-- Issue 15, operations: quality-SLA auto-rollback with service credits, anomalies,
-- kill-switch and consent compliance (README "Operations", docs/operations.md).
--
-- 1. optimize_savings: worker_config_version (NULL = unknown) and unconsented_mechanics.
-- 2. tessera.worker_config gains disabled_stacks (dropped and re-created: its result
--    type changes); worker_config_changed also reacts to SLA disables / re-enables and
--    keeps the kill-switch engagement history.
-- 3. record_request gains p_config_version (dropped and re-created); request_fields and
--    ingest_requests take config_version and record (no longer refuse) an unconsented
--    mechanic, crediting it no saving and opening anomalies.
-- 4. New: kill_switch_engagements, worker_config_versions, canary_scores, anomalies (with
--    policies), record_canary_scores, sla_run, sla_credit_amount, sla_credit_rederive,
--    respond_to_anomaly (private body + invoker wrapper), kill_switch_report.
-- 5. retention_classes, erase_client (its body, tessera_private.erase_client) and
--    audit_coverage name the new tables.

-- >>> schema/60_optimize_savings.sql (new columns)
ALTER TABLE tessera.optimize_savings
    ADD COLUMN worker_config_version bigint,
    ADD COLUMN unconsented_mechanics text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT optimize_savings_unconsented_fired CHECK (unconsented_mechanics <@ mechanics);
COMMENT ON COLUMN tessera.optimize_savings.worker_config_version IS 'The worker config version the proxy acted on (tessera.worker_config_versions); NULL = unknown (recorded without one).';
COMMENT ON COLUMN tessera.optimize_savings.unconsented_mechanics IS 'Mechanics that fired without consent (not allowed at that config version, or under the kill switch): no saving credited to them (docs/operations.md).';

-- >>> functions/tessera_private.worker_config_changed.sql (replaced)
-- tessera_private.worker_config_changed(): AFTER trigger on tessera.workloads (INSERT, and
-- UPDATE changing a mechanic_* flag) and tessera.clients (UPDATE of the kill switch):
-- (and UPDATE moving a workload to another client, whose kill switch then applies;
-- and INSERT of a client with the switch already on, issue 15),
-- and tessera.anomalies (an sla_breach inserted or its stack_disabled changed: a stack
-- disabled or re-enabled, issue 15):
-- draw a new config version for the workload(s) whose effective worker config changed
-- and NOTIFY channel tessera_worker_config (payload documented in
-- schema/97_workload_settings.sql). For the kill switch it also keeps the engagement
-- history, tessera.kill_switch_engagements: engaging opens a row, releasing closes it.
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
    disabled boolean;
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
    ELSIF TG_TABLE_NAME = 'anomalies' THEN
        -- Table-specific columns are read through to_jsonb (NEW's shape depends on the
        -- table; plpgsql_check then has nothing to report for the other tables).
        disabled := (pg_catalog.to_jsonb(NEW) ->> 'stack_disabled')::boolean;
        IF TG_OP = 'UPDATE' AND disabled IS NOT DISTINCT FROM (pg_catalog.to_jsonb(OLD) ->> 'stack_disabled')::boolean THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'INSERT' AND NOT disabled THEN
            RETURN NULL;
        END IF;
        target_workload := NEW.workload_id;
        why := CASE WHEN disabled THEN 'stack_disabled' ELSE 'stack_reenabled' END;
    ELSE
        RAISE EXCEPTION 'worker_config_changed() is not a trigger for %.%', TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'feature_not_supported';
    END IF;

    PERFORM pg_catalog.set_config('tessera.recording_client_id', NEW.client_id::text, true);
    IF TG_TABLE_NAME = 'clients' THEN
        IF (pg_catalog.to_jsonb(NEW) ->> 'optimisation_kill_switch')::boolean THEN
            INSERT INTO tessera.kill_switch_engagements (client_id, engaged_by)
            VALUES (NEW.client_id, tessera_private.actor_label())
            ON CONFLICT (client_id) WHERE released_at IS NULL DO NOTHING;
        ELSE
            UPDATE tessera.kill_switch_engagements AS e
               SET released_at = GREATEST(pg_catalog.now(), e.engaged_at), released_by = tessera_private.actor_label()
             WHERE e.client_id = NEW.client_id AND e.released_at IS NULL;
        END IF;
    END IF;
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
    'AFTER trigger on tessera.workloads (insert, mechanic change), tessera.clients (kill switch; keeps tessera.kill_switch_engagements) and tessera.anomalies (stack disabled / re-enabled): bump the config version of the affected workloads and NOTIFY tessera_worker_config. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.worker_config_changed() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera.worker_config.sql (result type changed: dropped, re-created)
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
--   disabled_stacks   the stacks the quality SLA disabled for this workload (issue 15):
--                     a JSON array of sorted mechanic arrays, e.g. [["auto_route",
--                     "prompt_cache_header"]]. The worker must not fire exactly such a
--                     stack; its parts alone, and other stacks, stay live (surgical
--                     rollback). Each disable and re-enable moves config_version.
--
-- The proxy passes the config_version it acted on with every recorded request
-- (record_request / record_requests, config_version); consent is judged against what
-- that version said (tessera.worker_config_versions).
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
               mechanics text[], opted_in text[], exact_cache_ttl interval, config_version bigint,
               disabled_stacks jsonb)
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
               COALESCE(s.config_version, 0),
               COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(a.mechanics) ORDER BY a.mechanics)
                           FROM tessera.anomalies AS a
                          WHERE a.client_id = w.client_id AND a.workload_id = w.workload_id AND a.stack_disabled),
                        '[]'::jsonb)
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
    'Effective edge-worker config of a workload: mechanics (none under the kill switch = pure pass-through), exact-cache TTL, a monotonically increasing config version and the stacks the quality SLA disabled; changes NOTIFY tessera_worker_config. tessera_proxy and service_role. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.worker_config(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.worker_config(uuid, uuid) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.worker_config(uuid, uuid) TO service_role;

-- >>> functions/tessera_private.request_fields.sql (replaced)
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
--   config_version          (issue 15) the worker config version the proxy acted on, a
--                           JSON integer; absent or null = unknown
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
          ('finish_reason', 'a string'), ('feature_tag', 'a string'), ('customer_tag', 'a string'),
          ('config_version', 'an integer')
      ) AS f(field, described)
$function$;

COMMENT ON FUNCTION tessera_private.request_fields() IS
    'The fields a request element of tessera.record_requests may carry, the shape each must have (in words) and the pattern of its text where the JSON type is not enough; the one list ingest_requests, write_dead_letters and request_field_problems read.';

REVOKE ALL ON FUNCTION tessera_private.request_fields() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.ingest_requests.sql (replaced)
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
--   8. (issue 15: no longer a refusal) consent: a mechanic that fired but was not
--      allowed by the config version the proxy acted on (config_version, looked up in
--      tessera.worker_config_versions; absent, or a version never issued = unknown:
--      judged by the workload's opt-ins and disabled stacks now), or that fired while
--      the client's kill switch was engaged (tessera.kill_switch_engagements at
--      occurred_at), or whose exact stack was disabled by the quality SLA, is RECORDED
--      (a true measurement is never lost) with it in unconsented_mechanics, credits no
--      saving (below), and opens an unconsented_mechanic anomaly; a mechanic that
--      fired more than 60 s after the kill switch was engaged also opens
--      kill_switch_late (docs/operations.md)
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
-- No saving for an unconsented mechanic (rule 8): its part of the original equals its
-- part of the actual -- auto_route unconsented => the original is priced at the routed
-- model's snapshot; prompt_cache_header => the cache buckets as sent; batch_routing =>
-- batch prices; exact_cache / semantic_cache => the original is 0, like the actual.
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
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'customer_tag') = 'string' THEN x.j->>'customer_tag' END AS ctag,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'config_version') = 'number' AND x.j->>'config_version' ~ count_re
                        THEN (x.j->>'config_version')::bigint END AS cfg_v
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
                         ORDER BY p.effective_from DESC LIMIT 1) AS rte,
                   -- Consent (rule 8): the config version the proxy acted on, the kill
                   -- switch engagement covering occurred_at, the stacks disabled now.
                   (SELECT v FROM tessera.worker_config_versions AS v
                         WHERE v.client_id = t.cid AND v.workload_id = t.wid AND v.config_version = t.cfg_v) AS ver,
                   (SELECT e FROM tessera.kill_switch_engagements AS e
                         WHERE e.client_id = t.cid AND e.engaged_at <= t.at
                           AND (e.released_at IS NULL OR t.at < e.released_at)
                         ORDER BY e.engaged_at DESC LIMIT 1) AS eng,
                   (SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(a.mechanics))
                          FROM tessera.anomalies AS a
                         WHERE a.client_id = t.cid AND a.workload_id = t.wid AND a.stack_disabled) AS cur_disabled
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
                       CASE WHEN t.ctag IS NULL AND t.j->'customer_tag' <> 'null'::jsonb THEN 'customer_tag' END,
                       CASE WHEN t.cfg_v IS NULL AND t.j->'config_version' <> 'null'::jsonb THEN 'config_version' END], NULL) AS bad_fields) AS b
        ),
        -- Rules 4-11.
        checked AS MATERIALIZED (
            SELECT l.*, (l.req).pricing_snapshot_id AS req_sid, (l.rte).pricing_snapshot_id AS rte_sid,
                   -- Rule 8: the mechanics that fired without consent.
                   CASE WHEN pg_catalog.cardinality(l.mech) = 0 THEN '{}'::text[]
                        -- (exact stack equality: jsonb @> would match a sub-stack too)
                        WHEN (l.eng).engagement_id IS NOT NULL
                             OR pg_catalog.to_jsonb(l.mech) IN (
                                    SELECT ds FROM pg_catalog.jsonb_array_elements(
                                        COALESCE((l.ver).disabled_stacks, l.cur_disabled, '[]'::jsonb)) AS ds) THEN l.mech
                        ELSE ARRAY(SELECT m FROM pg_catalog.unnest(l.mech) AS m
                                    WHERE m <> ALL (COALESCE((l.ver).mechanics, l.opted_in, '{}'::text[])))
                   END AS unconsented,
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
        credited AS (
            SELECT f.*,
                   'prompt_cache_header' = ANY (f.mech) AND NOT 'prompt_cache_header' = ANY (f.unconsented) AS cache_credit,
                   'batch_routing' = ANY (f.mech) AND NOT 'batch_routing' = ANY (f.unconsented) AS batch_credit
              FROM firsts AS f
              JOIN claimed AS cl ON cl.client_id = f.cid AND cl.request_id = f.rid
        ),
        priced AS (
            SELECT f.*,
                   CASE WHEN f.unconsented && ARRAY['exact_cache', 'semantic_cache'] THEN 0
                        ELSE tessera_private.request_cost(
                           CASE WHEN 'auto_route' = ANY (f.unconsented) THEN f.rte ELSE f.req END,
                           CASE WHEN f.cache_credit
                                THEN f.uncached + f.cache_read + f.cache_5m + f.cache_1h ELSE f.uncached END,
                           CASE WHEN f.cache_credit THEN 0 ELSE f.cache_read END,
                           CASE WHEN f.cache_credit THEN 0 ELSE f.cache_5m END,
                           CASE WHEN f.cache_credit THEN 0 ELSE f.cache_1h END,
                           f.output, f.reasoning, f.batch AND NOT f.batch_credit) END AS orig
              FROM credited AS f
        ),
        -- Rule 8's anomalies: one open anomaly per key (later offences are flagged on
        -- their own rows only). Runs whether or not the final SELECT reads it.
        flagged AS (
            INSERT INTO tessera.anomalies AS a (client_id, workload_id, kind, mechanics, dedupe_key, details)
            SELECT p.cid, p.wid, k.kind, k.mechanics, k.dedupe_key,
                   pg_catalog.jsonb_build_object(
                       'request_id', p.rid, 'occurred_at', p.at, 'config_version', p.cfg_v,
                       'mechanics', p.mech, 'unconsented_mechanics', p.unconsented,
                       'engagement_id', (p.eng).engagement_id, 'engaged_at', (p.eng).engaged_at,
                       'seconds_after_engagement',
                       pg_catalog.date_part('epoch', p.at - (p.eng).engaged_at))
              FROM priced AS p
             CROSS JOIN LATERAL (VALUES
                   ('unconsented_mechanic', p.unconsented,
                    CASE WHEN (p.eng).engagement_id IS NOT NULL
                         THEN 'kill_switch:' || (p.eng).engagement_id::text || ':' || p.wid::text
                         ELSE 'consent:' || p.wid::text || ':' || COALESCE(p.cfg_v::text, 'unknown') || ':'
                              || pg_catalog.array_to_string(p.unconsented, '+') END,
                    pg_catalog.cardinality(p.unconsented) > 0),
                   ('kill_switch_late', p.mech,
                    'kill_switch_late:' || (p.eng).engagement_id::text || ':' || p.wid::text,
                    (p.eng).engagement_id IS NOT NULL AND pg_catalog.cardinality(p.mech) > 0
                    AND p.at > (p.eng).engaged_at + interval '60 seconds')
                   ) AS k(kind, mechanics, dedupe_key, applies)
             WHERE k.applies
             ORDER BY p.ord
            ON CONFLICT (client_id, kind, dedupe_key) WHERE state <> 'resolved' AND kind <> 'sla_breach' DO NOTHING
        ),
        inserted AS (
            INSERT INTO tessera.optimize_savings AS s (
                client_id, workload_id, request_id, occurred_at, requested_provider, requested_model,
                routed_provider, routed_model, requested_snapshot_id, routed_snapshot_id,
                uncached_input_tokens, cache_read_input_tokens, cache_write_5m_input_tokens,
                cache_write_1h_input_tokens, output_tokens, reasoning_tokens, reported_input_tokens,
                reported_output_tokens, batch, original_cost_usd, actual_cost_usd, mechanics,
                finish_reason, feature_tag, customer_tag, worker_config_version, unconsented_mechanics)
            SELECT p.cid, p.wid, p.rid, p.at, p.req_provider, p.req_model, p.rte_provider, p.rte_model,
                   p.req_sid, p.rte_sid, p.uncached, p.cache_read, p.cache_5m, p.cache_1h, p.output,
                   p.reasoning, p.rep_in, p.rep_out, p.batch, p.orig,
                   CASE WHEN p.mech && ARRAY['exact_cache', 'semantic_cache'] THEN 0
                        WHEN p.rte_sid = p.req_sid AND NOT (p.cache_credit OR p.batch_credit) THEN p.orig
                        ELSE tessera_private.request_cost(p.rte, p.uncached, p.cache_read, p.cache_5m,
                                                          p.cache_1h, p.output, p.reasoning, p.batch) END,
                   p.mech, p.finish, p.ftag, p.ctag, p.cfg_v, p.unconsented
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

-- >>> functions/tessera.record_request.sql (new parameter: dropped, re-created)
DROP FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint);
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
--
-- Consent (issue 15): p_config_version is the worker config version the proxy acted on
-- (tessera.worker_config().config_version); NULL = unknown, recorded as such. A mechanic
-- that version did not allow, or any mechanic fired under the client's kill switch, is
-- recorded (never refused) in unconsented_mechanics and credited no saving: its part
-- of original_cost_usd equals its part of actual_cost_usd (auto_route: the original is
-- priced at the routed snapshot; prompt_cache_header: at the cache buckets as sent;
-- batch_routing: at batch prices; a cache hit: 0). It opens an unconsented_mechanic
-- anomaly, and kill_switch_late when it fired more than 60 s after the switch was
-- engaged (tessera_private.ingest_requests rule 8, docs/operations.md).
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
    p_reported_output_tokens      bigint DEFAULT NULL,
    p_config_version              bigint DEFAULT NULL)
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
               'reported_output_tokens', p_reported_output_tokens,
               'config_version', p_config_version)), false) AS r;
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

COMMENT ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint, bigint) IS
    'Record one proxied request in tessera.optimize_savings, priced in the database at the snapshots in force at occurred_at; a replayed (client_id, request_id) writes nothing and returns the original (replayed = true). Proxy login and service_role only.';

REVOKE ALL ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint, bigint) FROM PUBLIC; -- functions are executable by PUBLIC by default
-- The proxy worker records measurements. service_role too, for the one server-side job
-- that has them: replaying the proxy's spooled measurements after an outage (and the
-- demo loader). It can forge no more than the proxy can: costs are computed here from
-- the snapshots, and a replay of a recorded request_id changes nothing.
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint, bigint) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint, bigint) TO service_role;

-- >>> functions/tessera.retention_classes.sql (replaced)
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
    -- Operations (issue 15).
        ('canary_scores',          'quality_samples', 'sampled_at',    interval '400 days', 'tessera.retention_run',  'delete',    'delete',
         '{}', 'Quality-SLA samples: the job reads 30 days; kept 400 days so a breach and its credit can be re-derived through a year''s billing disputes. Not accounting records (the credit is in balance_transactions), so an erasure removes them for every tier.'),
        ('anomalies',              'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'delete',    'delete',
         '{acknowledged_by,resolved_by,reenabled_by}', 'What went wrong and who answered (breaches, consent, the kill-switch contract): kept while the client exists, re-enabled stacks included; the credit itself is in balance_transactions and the transitions in audit_events.'),
        ('kill_switch_engagements', 'client_lifetime', NULL,           NULL,               'tessera.erase_client',    'delete',    'delete',
         '{engaged_by,released_by}', 'The evidence that the kill-switch contract was kept (tessera.kill_switch_report), while the client exists. engaged_by / released_by are emails: removed on erasure for every tier.'),
        ('worker_config_versions', 'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'keep',      'delete',
         '{}', 'What each config version allowed: the consent evidence behind the kept savings rows'' unconsented_mechanics; no personal data, so it stays with an invoiced client''s stripped workloads and goes with a hobby or free client''s (ON DELETE CASCADE).'),
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

-- >>> functions/tessera_private.erase_client.sql (replaced)
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
    -- Operations (issue 15): samples, anomalies and kill-switch history go for every tier.
    DELETE FROM tessera.canary_scores AS q WHERE q.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('canary_scores', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.anomalies AS q WHERE q.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('anomalies', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.kill_switch_engagements AS q WHERE q.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('kill_switch_engagements', pg_catalog.jsonb_build_object('erased', n));

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
        SELECT pg_catalog.count(*) INTO n FROM tessera.worker_config_versions AS w WHERE w.client_id = p_client_id;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('worker_config_versions', pg_catalog.jsonb_build_object('erased', n));
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


-- >>> functions/tessera_private.actor_label.sql
-- tessera_private.actor_label(): who is acting, as one short label for the "by" columns
-- of issue 15's tables (kill_switch_engagements.engaged_by / released_by,
-- anomalies.acknowledged_by / resolved_by / reenabled_by): the JWT email (lower-cased),
-- else the JWT sub (service jobs name themselves there), else 'role:<role>' for an
-- API role without claims, else 'db:<login>' for a maintenance session. Never NULL.
-- The audit log records the full actor of the same change (role, email, sub, job).
--
-- Called only as tessera_owner: from the kill-switch trigger and the anomaly guard, both
-- reached through SECURITY DEFINER functions (set_kill_switch, respond_to_anomaly,
-- worker_config_changed); no API role may execute it. It reads nothing but the caller's
-- own settings. The role is the session's SET ROLE (the "role" setting), which a
-- definer function does not change, so the label still names the API role.
CREATE FUNCTION tessera_private.actor_label()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT COALESCE(
        CASE WHEN pg_catalog.jsonb_typeof(c.claims -> 'email') = 'string' AND c.claims ->> 'email' ~ '[^[:space:]]'
             THEN pg_catalog.lower(c.claims ->> 'email') END,
        CASE WHEN pg_catalog.jsonb_typeof(c.claims -> 'sub') = 'string' AND c.claims ->> 'sub' ~ '[^[:space:]]'
             THEN c.claims ->> 'sub' END,
        CASE WHEN pg_catalog.current_setting('role') NOT IN ('none', '')
             THEN 'role:' || pg_catalog.current_setting('role') END,
        'db:' || session_user::text)
      FROM (SELECT tessera_private.jwt_claims() AS claims) AS c
$function$;

COMMENT ON FUNCTION tessera_private.actor_label() IS
    'The acting identity as one label: JWT email, else JWT sub, else role:<role>, else db:<login>. Called as the owner by the kill-switch trigger and the anomaly guard.';

REVOKE ALL ON FUNCTION tessera_private.actor_label() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.record_worker_config_version.sql
-- tessera_private.record_worker_config_version(): AFTER INSERT / UPDATE OF config_version
-- trigger on tessera.workload_settings: append what the new version says to
-- tessera.worker_config_versions -- the kill switch, the opt-ins, the effective
-- mechanics and the disabled stacks, read exactly as tessera.worker_config() reads them
-- (it calls it) -- so the proxy's recorded config version can be checked later.
--
-- SECURITY DEFINER: the version moves whoever changed something (a sponsor's toggle, the
-- kill switch, the SLA job, an operator), and no API role may write the history. As
-- tessera_owner under FORCE RLS it sets tessera.recording_client_id to the row's client
-- (the owner's recording policies admit that client only) and restores the previous
-- value before returning.
CREATE FUNCTION tessera_private.record_worker_config_version()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    previous text := pg_catalog.current_setting('tessera.recording_client_id', true);
    cfg record;
    found_config boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.config_version IS NOT DISTINCT FROM OLD.config_version THEN
        RETURN NULL;
    END IF;
    -- worker_config sets and clears tessera.recording_client_id itself: read first, then
    -- admit the client for the INSERT.
    SELECT c.kill_switch, c.opted_in, c.mechanics, c.disabled_stacks INTO cfg
      FROM tessera.worker_config(NEW.client_id, NEW.workload_id) AS c;
    found_config := FOUND;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', NEW.client_id::text, true);
    IF found_config THEN
        INSERT INTO tessera.worker_config_versions AS v
            (client_id, workload_id, config_version, kill_switch, opted_in, mechanics, disabled_stacks)
        VALUES (NEW.client_id, NEW.workload_id, NEW.config_version, cfg.kill_switch, cfg.opted_in, cfg.mechanics,
                cfg.disabled_stacks)
        ON CONFLICT ON CONSTRAINT worker_config_versions_pkey DO NOTHING;
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(previous, ''), true);
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.record_worker_config_version() IS
    'AFTER trigger on tessera.workload_settings: append the effective worker config of each new config version to tessera.worker_config_versions. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.record_worker_config_version() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.guard_anomaly_transition.sql
-- tessera_private.guard_anomaly_transition(): BEFORE UPDATE trigger on tessera.anomalies,
-- the state machine (issue 15), for every role, the owner included (ENABLE ALWAYS):
--
--   state            open -> acknowledged -> resolved, one step at a time; a row may also
--                    keep its state. Anything else (open -> resolved, back to open,
--                    resolved -> acknowledged, an unknown state) is refused: 23514,
--                    constraint anomalies_state_transition.
--   stack_disabled   true -> false only (a re-enable); a stack is never disabled again
--                    by an UPDATE (a new breach is a new anomaly).
--   what it says     client, id, kind, workload, mechanics, dedupe key, details and
--                    opened_at never change (23514, anomalies_immutable).
--   stamps           acknowledged_at/_by, resolved_at/_by, reenabled_at/_by are set
--                    here, from the clock and tessera_private.actor_label(), on the
--                    transition that earns them, and otherwise kept: a caller cannot
--                    forge or rewrite who did what.
-- The generic audit trigger then records the transition with its actor.
CREATE FUNCTION tessera_private.guard_anomaly_transition()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF NEW.client_id IS DISTINCT FROM OLD.client_id OR NEW.anomaly_id IS DISTINCT FROM OLD.anomaly_id
       OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.workload_id IS DISTINCT FROM OLD.workload_id
       OR NEW.mechanics IS DISTINCT FROM OLD.mechanics OR NEW.dedupe_key IS DISTINCT FROM OLD.dedupe_key
       OR NEW.details IS DISTINCT FROM OLD.details OR NEW.opened_at IS DISTINCT FROM OLD.opened_at THEN
        RAISE EXCEPTION 'anomaly %: only its state and stack_disabled may change', OLD.anomaly_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_immutable',
                  TABLE = 'anomalies', SCHEMA = 'tessera';
    END IF;
    IF NOT (NEW.state IS NOT DISTINCT FROM OLD.state
            OR (OLD.state = 'open' AND NEW.state = 'acknowledged')
            OR (OLD.state = 'acknowledged' AND NEW.state = 'resolved')) THEN
        RAISE EXCEPTION 'anomaly %: illegal transition % -> % (open -> acknowledged -> resolved)',
            OLD.anomaly_id, OLD.state, COALESCE(NEW.state, 'NULL')
            USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_state_transition',
                  TABLE = 'anomalies', SCHEMA = 'tessera';
    END IF;
    IF NEW.stack_disabled IS DISTINCT FROM OLD.stack_disabled AND NOT (OLD.stack_disabled AND NEW.stack_disabled = false) THEN
        RAISE EXCEPTION 'anomaly %: a stack is only ever re-enabled, never disabled again', OLD.anomaly_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_state_transition',
                  TABLE = 'anomalies', SCHEMA = 'tessera';
    END IF;

    NEW.acknowledged_at := OLD.acknowledged_at;
    NEW.acknowledged_by := OLD.acknowledged_by;
    NEW.resolved_at := OLD.resolved_at;
    NEW.resolved_by := OLD.resolved_by;
    NEW.reenabled_at := OLD.reenabled_at;
    NEW.reenabled_by := OLD.reenabled_by;
    IF OLD.state = 'open' AND NEW.state = 'acknowledged' THEN
        NEW.acknowledged_at := pg_catalog.now();
        NEW.acknowledged_by := tessera_private.actor_label();
    ELSIF OLD.state = 'acknowledged' AND NEW.state = 'resolved' THEN
        NEW.resolved_at := pg_catalog.now();
        NEW.resolved_by := tessera_private.actor_label();
    END IF;
    IF OLD.stack_disabled AND NOT NEW.stack_disabled THEN
        NEW.reenabled_at := pg_catalog.now();
        NEW.reenabled_by := tessera_private.actor_label();
    END IF;
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_anomaly_transition() IS
    'BEFORE UPDATE trigger on tessera.anomalies: only open -> acknowledged -> resolved and a stack re-enable; what the anomaly says never changes; stamps who and when.';

REVOKE ALL ON FUNCTION tessera_private.guard_anomaly_transition() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> schema/98_kill_switch_engagements.sql
-- tessera.kill_switch_engagements: every engagement of a client's optimisation kill
-- switch, from the moment it was engaged to the moment it was released (NULL while it
-- is still engaged). Written only by the trigger clients_worker_config_changed
-- (tessera_private.worker_config_changed), in the transaction that flips
-- tessera.clients.optimisation_kill_switch, so the history cannot disagree with the
-- switch: engaging inserts a row (engaged_at = the transaction's time), releasing
-- closes the open one.
--
-- What it is for (issue 15, "kill switch provably kept"): the seed promises the switch
-- takes effect within 60 s (the next KV refresh). tessera_private.ingest_requests reads
-- this table to decide whether a recorded request fired a mechanic while the switch was
-- on (no saving credited; an unconsented_mechanic anomaly) or more than 60 s after it
-- was engaged (a kill_switch_late anomaly), and tessera.kill_switch_report lists each
-- engagement with the last mechanic that fired after it.
CREATE TABLE tessera.kill_switch_engagements (
    client_id      uuid        NOT NULL,
    engagement_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    engaged_at     timestamptz NOT NULL DEFAULT now(),
    engaged_by     text        NOT NULL,
    released_at    timestamptz,
    released_by    text,
    CONSTRAINT kill_switch_engagements_pkey PRIMARY KEY (client_id, engagement_id),
    CONSTRAINT kill_switch_engagements_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE CASCADE,
    CONSTRAINT kill_switch_engagements_release_after_engage CHECK (released_at >= engaged_at),
    CONSTRAINT kill_switch_engagements_released_by_with_release CHECK ((released_at IS NULL) = (released_by IS NULL)),
    CONSTRAINT kill_switch_engagements_actors_length CHECK (
        char_length(engaged_by) BETWEEN 1 AND 320 AND char_length(released_by) BETWEEN 1 AND 320)
);

-- At most one open engagement per client.
CREATE UNIQUE INDEX kill_switch_engagements_one_open_idx
    ON tessera.kill_switch_engagements (client_id) WHERE released_at IS NULL;
-- "Was the switch on at occurred_at?" and the report: one client, a time range.
CREATE INDEX kill_switch_engagements_client_engaged_idx
    ON tessera.kill_switch_engagements (client_id, engaged_at);

-- A client created with the switch already on is engaged from its creation.
CREATE TRIGGER clients_kill_switch_at_creation
    AFTER INSERT ON tessera.clients
    FOR EACH ROW
    WHEN (NEW.optimisation_kill_switch)
    EXECUTE FUNCTION tessera_private.worker_config_changed();
ALTER TABLE tessera.clients ENABLE ALWAYS TRIGGER clients_kill_switch_at_creation;

COMMENT ON TABLE tessera.kill_switch_engagements IS
    'History of each client''s optimisation kill switch: one row per engagement (engaged_at, released_at NULL while on), written only by the trigger on tessera.clients. Read by ingest (consent under the switch, the 60 s contract) and tessera.kill_switch_report.';
COMMENT ON COLUMN tessera.kill_switch_engagements.client_id IS 'The client; part of the primary key.';
COMMENT ON COLUMN tessera.kill_switch_engagements.engagement_id IS 'Engagement key within the client.';
COMMENT ON COLUMN tessera.kill_switch_engagements.engaged_at IS 'When the switch was engaged (the engaging transaction''s time).';
COMMENT ON COLUMN tessera.kill_switch_engagements.engaged_by IS 'Who engaged it: JWT email, else JWT sub, else db:<login>.';
COMMENT ON COLUMN tessera.kill_switch_engagements.released_at IS 'When it was released; NULL while still engaged.';
COMMENT ON COLUMN tessera.kill_switch_engagements.released_by IS 'Who released it.';

-- >>> schema/98_worker_config_versions.sql
-- tessera.worker_config_versions: what every worker config version of a workload said.
-- One row per (workload, config_version), written by the trigger
-- workload_settings_config_version_history (tessera_private.record_worker_config_version)
-- whenever tessera.workload_settings.config_version moves -- a mechanic toggle, the kill
-- switch, an SLA disable or re-enable, a settings change -- with the effective config at
-- that moment, exactly as tessera.worker_config() reports it.
--
-- Why: the proxy records the config version it acted on with every request
-- (record_request / record_requests, config_version). Consent is judged against THAT
-- version, not against whatever the workload says when the measurement arrives: a
-- mechanic switched off while a request was in flight was consented by the version the
-- proxy held, and a mechanic the version did not allow was not
-- (tessera_private.ingest_requests, docs/operations.md).
--
-- Never updated; rows go with their workload (ON DELETE CASCADE: an erasure of a hobby
-- or free client deletes its workloads); an invoiced client's erased workloads stay, and
-- so does this history (no personal data), which explains the kept savings rows.
CREATE TABLE tessera.worker_config_versions (
    client_id        uuid        NOT NULL,
    workload_id      uuid        NOT NULL,
    config_version   bigint      NOT NULL,
    kill_switch      boolean     NOT NULL,
    opted_in         text[]      NOT NULL,
    mechanics        text[]      NOT NULL,
    disabled_stacks  jsonb       NOT NULL DEFAULT '[]'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT worker_config_versions_pkey PRIMARY KEY (client_id, workload_id, config_version),
    CONSTRAINT worker_config_versions_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT worker_config_versions_mechanics_known CHECK (
        tessera_private.mechanics_are_valid(opted_in) AND tessera_private.mechanics_are_valid(mechanics)),
    CONSTRAINT worker_config_versions_disabled_stacks_array CHECK (jsonb_typeof(disabled_stacks) = 'array')
);

CREATE TRIGGER workload_settings_config_version_history
    AFTER INSERT OR UPDATE OF config_version ON tessera.workload_settings
    FOR EACH ROW EXECUTE FUNCTION tessera_private.record_worker_config_version();
ALTER TABLE tessera.workload_settings ENABLE ALWAYS TRIGGER workload_settings_config_version_history;

COMMENT ON TABLE tessera.worker_config_versions IS
    'Every worker config version of every workload and what it allowed (kill switch, opt-ins, effective mechanics, disabled stacks); written by trigger when the version moves. Ingest judges consent against the version the proxy acted on.';
COMMENT ON COLUMN tessera.worker_config_versions.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.worker_config_versions.workload_id IS 'The workload.';
COMMENT ON COLUMN tessera.worker_config_versions.config_version IS 'The version (tessera.workload_settings.config_version when it was drawn).';
COMMENT ON COLUMN tessera.worker_config_versions.kill_switch IS 'The client''s kill switch at that version.';
COMMENT ON COLUMN tessera.worker_config_versions.opted_in IS 'The workload''s opt-ins at that version (sorted names).';
COMMENT ON COLUMN tessera.worker_config_versions.mechanics IS 'The mechanics that could act at that version: the opt-ins, or none under the kill switch.';
COMMENT ON COLUMN tessera.worker_config_versions.disabled_stacks IS 'Stacks disabled by the quality SLA at that version: an array of sorted mechanic arrays.';
COMMENT ON COLUMN tessera.worker_config_versions.created_at IS 'When the version was drawn.';

-- >>> schema/99_canary_scores.sql
-- tessera.canary_scores: the quality SLA's raw samples. The daily canary double-fires a
-- 10% sample of each workload's requests against the customer's promptfoo eval set,
-- once on the routed model (with the mechanics stack that fired) and once on the
-- baseline; both scores land here, one row per (request, eval set), through
-- tessera.record_canary_scores (proxy or service_role).
--
-- Append-only (make_append_only): a score is a measurement, never corrected in place.
-- tessera.sla_run aggregates it per (workload, stack, UTC day of sampled_at).
-- mechanics is the stack that fired, normalised to sorted, distinct known names (the
-- same order as optimize_savings.mechanics, so a stack matches its requests exactly);
-- never empty: a sample without a mechanic measures no Tessera change.
CREATE TABLE tessera.canary_scores (
    client_id       uuid        NOT NULL,
    request_id      text        NOT NULL,
    eval_set        text        NOT NULL,
    workload_id     uuid        NOT NULL,
    mechanics       text[]      NOT NULL,
    routed_score    numeric     NOT NULL,
    baseline_score  numeric     NOT NULL,
    sampled_at      timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- One score per request and eval set: a replayed element is 'replayed', not a second
    -- sample (it would weigh twice in the day's mean).
    CONSTRAINT canary_scores_pkey PRIMARY KEY (client_id, request_id, eval_set),
    CONSTRAINT canary_scores_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON DELETE RESTRICT,
    CONSTRAINT canary_scores_request_id_length CHECK (char_length(request_id) BETWEEN 1 AND 200),
    CONSTRAINT canary_scores_eval_set_length CHECK (char_length(eval_set) BETWEEN 1 AND 200),
    CONSTRAINT canary_scores_mechanics_known CHECK (
        cardinality(mechanics) > 0 AND tessera_private.mechanics_are_valid(mechanics)),
    CONSTRAINT canary_scores_scores_range CHECK (
        routed_score BETWEEN 0 AND 1 AND baseline_score BETWEEN 0 AND 1)
);

-- The SLA job: one workload, one stack, a range of days.
CREATE INDEX canary_scores_workload_sampled_idx
    ON tessera.canary_scores (client_id, workload_id, mechanics, sampled_at);

COMMENT ON TABLE tessera.canary_scores IS
    'Append-only quality-SLA samples: per sampled request and eval set, the routed and baseline scores in [0, 1] and the mechanics stack that fired. Written by tessera.record_canary_scores; aggregated daily by tessera.sla_run.';
COMMENT ON COLUMN tessera.canary_scores.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.canary_scores.request_id IS 'The sampled request (as in optimize_savings.request_id).';
COMMENT ON COLUMN tessera.canary_scores.eval_set IS 'The customer''s eval set the sample was scored against.';
COMMENT ON COLUMN tessera.canary_scores.workload_id IS 'The workload.';
COMMENT ON COLUMN tessera.canary_scores.mechanics IS 'The stack that fired: sorted, distinct, known mechanic names; never empty.';
COMMENT ON COLUMN tessera.canary_scores.routed_score IS 'Score of the routed (optimised) response, 0..1.';
COMMENT ON COLUMN tessera.canary_scores.baseline_score IS 'Score of the baseline response, 0..1.';
COMMENT ON COLUMN tessera.canary_scores.sampled_at IS 'When the request was sampled; its UTC day is the SLA day.';
COMMENT ON COLUMN tessera.canary_scores.recorded_at IS 'When the score was stored.';

SELECT tessera_private.make_append_only('tessera.canary_scores');

-- >>> schema/99_anomalies.sql
-- tessera.anomalies: things the operations side must answer for, each with a state
-- machine open -> acknowledged -> resolved (guard trigger anomalies_guard_transition:
-- any other transition is refused by the database, as are changes to what the anomaly
-- says; every transition is audited with its actor by the generic audit trigger).
--
-- Kinds:
--   sla_breach            tessera.sla_run: a workload's mechanics stack scored below
--                         0.95 on 3 consecutive qualifying days; the stack is disabled
--                         (stack_disabled) and a service credit written. details: the
--                         three days' means and counts, the credit, the reactivation
--                         path. dedupe_key 'sla:<workload>:<stack>:<last day>' is unique
--                         for ever (a rerun never opens a second breach).
--   unconsented_mechanic  ingest: a recorded request fired a mechanic the config
--                         version it acted on did not allow, or any mechanic while the
--                         client's kill switch was on (no saving credited to it).
--   kill_switch_late      ingest: a mechanic fired more than 60 s after the kill switch
--                         was engaged (the seed's contract: effect within 60 s).
-- The ingest kinds open one anomaly per dedupe_key while it is not resolved (later
-- offending requests are flagged on their own optimize_savings rows, not as new
-- anomalies); once resolved, the next offence opens a new one.
--
-- Sponsors read their own clients' anomalies and act through
-- tessera.respond_to_anomaly (acknowledge; re-enable a disabled stack); operators read
-- and act on all; anon nothing.
CREATE TABLE tessera.anomalies (
    client_id        uuid        NOT NULL,
    anomaly_id       uuid        NOT NULL DEFAULT gen_random_uuid(),
    kind             text        NOT NULL,
    workload_id      uuid        NOT NULL,
    mechanics        text[]      NOT NULL DEFAULT '{}',
    dedupe_key       text        NOT NULL,
    details          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    state            text        NOT NULL DEFAULT 'open',
    opened_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz,
    resolved_by      text,
    stack_disabled   boolean     NOT NULL DEFAULT false,
    reenabled_at     timestamptz,
    reenabled_by     text,
    CONSTRAINT anomalies_pkey PRIMARY KEY (client_id, anomaly_id),
    CONSTRAINT anomalies_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON DELETE CASCADE,
    CONSTRAINT anomalies_kind_known CHECK (kind IN ('sla_breach', 'unconsented_mechanic', 'kill_switch_late')),
    CONSTRAINT anomalies_state_known CHECK (state IN ('open', 'acknowledged', 'resolved')),
    -- The known mechanics, listed inline (not tessera_private.mechanics_are_valid): the
    -- SLA job inserts as service_role, which may execute no private helper. The writers
    -- normalise the stack (sorted, distinct) before inserting.
    CONSTRAINT anomalies_mechanics_known CHECK (mechanics <@ ARRAY['auto_route', 'batch_routing', 'exact_cache',
        'history_pruning', 'json_schema_enforcement', 'prompt_cache_header', 'semantic_cache']::text[]),
    CONSTRAINT anomalies_dedupe_key_length CHECK (char_length(dedupe_key) BETWEEN 1 AND 500),
    CONSTRAINT anomalies_details_object CHECK (jsonb_typeof(details) = 'object'),
    -- The stamps follow the state: acknowledged once past open, resolved once resolved.
    CONSTRAINT anomalies_state_stamps CHECK (
        (acknowledged_at IS NOT NULL) = (state <> 'open')
        AND (acknowledged_by IS NOT NULL) = (state <> 'open')
        AND (resolved_at IS NOT NULL) = (state = 'resolved')
        AND (resolved_by IS NOT NULL) = (state = 'resolved')),
    -- Only a breach disables a stack; a re-enabled stack stays re-enabled (a new breach
    -- is a new anomaly).
    CONSTRAINT anomalies_stack_disable_kind CHECK (NOT stack_disabled OR kind = 'sla_breach'),
    CONSTRAINT anomalies_reenable_stamps CHECK (
        (reenabled_at IS NULL) = (reenabled_by IS NULL) AND (reenabled_at IS NULL OR NOT stack_disabled))
);

-- A breach is recorded once, whatever its state: reruns of tessera.sla_run find it.
CREATE UNIQUE INDEX anomalies_breach_key
    ON tessera.anomalies (client_id, dedupe_key) WHERE kind = 'sla_breach';
-- The ingest kinds: one unresolved anomaly per key.
CREATE UNIQUE INDEX anomalies_unresolved_key
    ON tessera.anomalies (client_id, kind, dedupe_key) WHERE state <> 'resolved' AND kind <> 'sla_breach';
-- One live disable per workload and stack; tessera.worker_config reads these.
CREATE UNIQUE INDEX anomalies_disabled_stack_key
    ON tessera.anomalies (client_id, workload_id, mechanics) WHERE stack_disabled;

CREATE TRIGGER anomalies_guard_transition
    BEFORE UPDATE ON tessera.anomalies
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_anomaly_transition();
ALTER TABLE tessera.anomalies ENABLE ALWAYS TRIGGER anomalies_guard_transition;

-- A disabled or re-enabled stack changes the workload's worker config: new config
-- version and NOTIFY (tessera_private.worker_config_changed).
CREATE TRIGGER anomalies_worker_config_changed
    AFTER INSERT OR UPDATE OF stack_disabled ON tessera.anomalies
    FOR EACH ROW
    WHEN (NEW.kind = 'sla_breach')
    EXECUTE FUNCTION tessera_private.worker_config_changed();
ALTER TABLE tessera.anomalies ENABLE ALWAYS TRIGGER anomalies_worker_config_changed;

COMMENT ON TABLE tessera.anomalies IS
    'Operational anomalies (sla_breach, unconsented_mechanic, kill_switch_late) with the state machine open -> acknowledged -> resolved, enforced by trigger; an sla_breach disables its stack until re-enabled through tessera.respond_to_anomaly. Every transition is audited.';
COMMENT ON COLUMN tessera.anomalies.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.anomalies.anomaly_id IS 'Anomaly key within the client.';
COMMENT ON COLUMN tessera.anomalies.kind IS 'sla_breach | unconsented_mechanic | kill_switch_late.';
COMMENT ON COLUMN tessera.anomalies.workload_id IS 'The workload concerned.';
COMMENT ON COLUMN tessera.anomalies.mechanics IS 'The mechanics concerned: the breaching stack, or the unconsented mechanics.';
COMMENT ON COLUMN tessera.anomalies.dedupe_key IS 'What makes two occurrences the same anomaly (see the table comment).';
COMMENT ON COLUMN tessera.anomalies.details IS 'The evidence: the breach days (mean, count), the credit and reactivation path; or the first offending request, its config version and timing.';
COMMENT ON COLUMN tessera.anomalies.state IS 'open -> acknowledged -> resolved; nothing else.';
COMMENT ON COLUMN tessera.anomalies.opened_at IS 'When it was opened.';
COMMENT ON COLUMN tessera.anomalies.acknowledged_at IS 'When it was acknowledged (stamped by the guard trigger).';
COMMENT ON COLUMN tessera.anomalies.acknowledged_by IS 'Who acknowledged it (JWT email, else sub, else role).';
COMMENT ON COLUMN tessera.anomalies.resolved_at IS 'When it was resolved (stamped by the guard trigger).';
COMMENT ON COLUMN tessera.anomalies.resolved_by IS 'Who resolved it.';
COMMENT ON COLUMN tessera.anomalies.stack_disabled IS 'sla_breach: true while its stack is disabled for the workload.';
COMMENT ON COLUMN tessera.anomalies.reenabled_at IS 'When the stack was re-enabled (stamped by the guard trigger).';
COMMENT ON COLUMN tessera.anomalies.reenabled_by IS 'Who re-enabled it.';

-- >>> functions/tessera.record_canary_scores.sql
-- tessera.record_canary_scores(scores): store the quality SLA's canary samples (issue 15).
--
-- scores: a JSON array of 1 to 1000 objects, one per sampled request and eval set:
--   client_id, workload_id   uuid strings; the workload must be the client's
--   request_id               the sampled request (string, 1..200)
--   mechanics                the stack that fired: an array of mechanic names,
--                            normalised to sorted and distinct; at least one
--   eval_set                 the customer's eval set (string, 1..200)
--   routed_score,            JSON numbers in [0, 1]: the routed (optimised) response's
--   baseline_score           score and the baseline's
--   sampled_at               ISO 8601 timestamp string WITH a UTC offset
-- Elements may belong to different clients. Returns one row per element, in input order,
-- as tessera.record_requests does: recorded | replayed (this client, request and eval
-- set were already scored: nothing written; a sample never weighs twice) | rejected
-- with the SQLSTATE and message (22023 not an object / unknown key, 22004 missing field,
-- 22P02 wrong shape, 23514 score out of range / no or unknown mechanic / too long,
-- 23503 workload not the client's). A rejected element writes nothing; the others are
-- stored. Errors of the call itself (not an array, 0 or > 1000 elements): 22023.
--
-- SECURITY DEFINER: the proxy (and service_role, the canary job) hold no table
-- privilege. As tessera_owner under FORCE RLS it sets tessera.ingest_client_ids to the
-- clients named in this call (the owner's ingest policies on workloads and
-- canary_scores admit those clients' rows only) and clears it before returning.
CREATE FUNCTION tessera.record_canary_scores(p_scores jsonb)
RETURNS TABLE (ordinality integer, client_id uuid, request_id text, eval_set text, outcome text,
               sqlstate text, message text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    max_elements CONSTANT integer := 1000;
    known CONSTANT text[] := ARRAY['auto_route', 'batch_routing', 'exact_cache', 'history_pruning',
                                   'json_schema_enforcement', 'prompt_cache_header', 'semantic_cache'];
    fields CONSTANT text[] := ARRAY['client_id', 'workload_id', 'request_id', 'mechanics', 'eval_set',
                                    'routed_score', 'baseline_score', 'sampled_at'];
    uuid_re text;
    ts_re text;
    n integer;
    e jsonb;
    pos integer;
    cid uuid;
    wid uuid;
    rid text;
    evs text;
    mech text[];
    routed numeric;
    baseline numeric;
    sampled timestamptz;
    bad text[];
    missing text[];
    why text[];
BEGIN
    IF p_scores IS NULL OR pg_catalog.jsonb_typeof(p_scores) <> 'array' THEN
        RAISE EXCEPTION 'record_canary_scores takes a JSON array of score objects'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    n := pg_catalog.jsonb_array_length(p_scores);
    IF n < 1 OR n > max_elements THEN
        RAISE EXCEPTION 'record_canary_scores takes 1 to % scores per call, got %', max_elements, n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT pg_catalog.max(f.pattern) FILTER (WHERE f.field = 'client_id'),
           pg_catalog.max(f.pattern) FILTER (WHERE f.field = 'occurred_at')
      INTO uuid_re, ts_re
      FROM tessera_private.request_fields() AS f;
    PERFORM pg_catalog.set_config('tessera.ingest_client_ids',
        pg_catalog.translate(pg_catalog.jsonb_path_query_array(p_scores, pg_catalog.format(
            '$[*].client_id ? (@.type() == "string" && @ like_regex "%s")', uuid_re)::jsonpath)::text, '[]', '{}'),
        true);

    FOR e, pos IN
        SELECT x.j, x.ord::integer FROM pg_catalog.jsonb_array_elements(p_scores) WITH ORDINALITY AS x(j, ord)
    LOOP
        cid := NULL; wid := NULL; rid := NULL; evs := NULL; mech := NULL; routed := NULL; baseline := NULL;
        sampled := NULL; why := NULL;
        IF pg_catalog.jsonb_typeof(e) IS DISTINCT FROM 'object' THEN
            why := ARRAY['22023', 'each score must be a JSON object, got ' || COALESCE(pg_catalog.jsonb_typeof(e), 'nothing')];
        ELSE
            cid := CASE WHEN pg_catalog.jsonb_typeof(e->'client_id') = 'string' AND e->>'client_id' ~ uuid_re
                        THEN (e->>'client_id')::uuid END;
            wid := CASE WHEN pg_catalog.jsonb_typeof(e->'workload_id') = 'string' AND e->>'workload_id' ~ uuid_re
                        THEN (e->>'workload_id')::uuid END;
            rid := CASE WHEN pg_catalog.jsonb_typeof(e->'request_id') = 'string' THEN e->>'request_id' END;
            evs := CASE WHEN pg_catalog.jsonb_typeof(e->'eval_set') = 'string' THEN e->>'eval_set' END;
            mech := CASE WHEN pg_catalog.jsonb_typeof(e->'mechanics') = 'array'
                              AND NOT pg_catalog.jsonb_path_exists(e->'mechanics', '$[*] ? (@.type() != "string")')
                         THEN ARRAY(SELECT m FROM pg_catalog.jsonb_array_elements_text(e->'mechanics') AS m) END;
            routed := CASE WHEN pg_catalog.jsonb_typeof(e->'routed_score') = 'number' THEN (e->>'routed_score')::numeric END;
            baseline := CASE WHEN pg_catalog.jsonb_typeof(e->'baseline_score') = 'number' THEN (e->>'baseline_score')::numeric END;
            sampled := CASE WHEN pg_catalog.jsonb_typeof(e->'sampled_at') = 'string' AND e->>'sampled_at' ~ ts_re
                       THEN (e->>'sampled_at')::timestamptz END;
            bad := pg_catalog.array_remove(ARRAY[
                CASE WHEN cid IS NULL AND e ? 'client_id' AND e->'client_id' <> 'null'::jsonb THEN 'client_id must be a uuid string' END,
                CASE WHEN wid IS NULL AND e ? 'workload_id' AND e->'workload_id' <> 'null'::jsonb THEN 'workload_id must be a uuid string' END,
                CASE WHEN rid IS NULL AND e ? 'request_id' AND e->'request_id' <> 'null'::jsonb THEN 'request_id must be a string' END,
                CASE WHEN evs IS NULL AND e ? 'eval_set' AND e->'eval_set' <> 'null'::jsonb THEN 'eval_set must be a string' END,
                CASE WHEN mech IS NULL AND e ? 'mechanics' AND e->'mechanics' <> 'null'::jsonb THEN 'mechanics must be an array of mechanic names' END,
                CASE WHEN routed IS NULL AND e ? 'routed_score' AND e->'routed_score' <> 'null'::jsonb THEN 'routed_score must be a number' END,
                CASE WHEN baseline IS NULL AND e ? 'baseline_score' AND e->'baseline_score' <> 'null'::jsonb THEN 'baseline_score must be a number' END,
                CASE WHEN sampled IS NULL AND e ? 'sampled_at' AND e->'sampled_at' <> 'null'::jsonb THEN 'sampled_at must be an ISO 8601 timestamp string with a UTC offset' END],
                NULL);
            missing := pg_catalog.array_remove(ARRAY[
                CASE WHEN cid IS NULL THEN 'client_id' END, CASE WHEN wid IS NULL THEN 'workload_id' END,
                CASE WHEN rid IS NULL THEN 'request_id' END, CASE WHEN mech IS NULL THEN 'mechanics' END,
                CASE WHEN evs IS NULL THEN 'eval_set' END, CASE WHEN routed IS NULL THEN 'routed_score' END,
                CASE WHEN baseline IS NULL THEN 'baseline_score' END, CASE WHEN sampled IS NULL THEN 'sampled_at' END], NULL);
            IF (e - fields) <> '{}'::jsonb THEN
                why := ARRAY['22023', 'unknown score field(s): '
                             || (SELECT pg_catalog.string_agg(u, ', ' ORDER BY u) FROM pg_catalog.jsonb_object_keys(e - fields) AS u)];
            ELSIF pg_catalog.cardinality(bad) > 0 THEN
                why := ARRAY['22P02', 'invalid score field(s): ' || pg_catalog.array_to_string(bad, '; ')];
            ELSIF pg_catalog.cardinality(missing) > 0 THEN
                why := ARRAY['22004', 'score fields required (missing: ' || pg_catalog.array_to_string(missing, ', ') || ')'];
            ELSIF NOT (routed BETWEEN 0 AND 1 AND baseline BETWEEN 0 AND 1) THEN
                why := ARRAY['23514', 'routed_score and baseline_score must be in [0, 1] (canary_scores_scores_range)'];
            ELSIF pg_catalog.cardinality(mech) = 0 OR NOT (mech <@ known) THEN
                why := ARRAY['23514', 'mechanics must name at least one known mechanic (canary_scores_mechanics_known); known: '
                             || pg_catalog.array_to_string(known, ', ')];
            ELSIF NOT pg_catalog.char_length(rid) BETWEEN 1 AND 200 OR NOT pg_catalog.char_length(evs) BETWEEN 1 AND 200 THEN
                why := ARRAY['23514', 'request_id and eval_set must be 1 to 200 characters'];
            ELSIF NOT EXISTS (SELECT 1 FROM tessera.workloads AS w WHERE w.client_id = cid AND w.workload_id = wid) THEN
                why := ARRAY['23503', pg_catalog.format('workload %s does not belong to client %s', wid, cid)];
            END IF;
        END IF;

        ordinality := pos;
        client_id := cid;
        request_id := rid;
        eval_set := evs;
        IF why IS NOT NULL THEN
            outcome := 'rejected';
            sqlstate := why[1];
            message := why[2];
        ELSE
            -- Normalised stack: the known list filtered, so sorted and distinct.
            mech := ARRAY(SELECT k FROM pg_catalog.unnest(known) AS k WHERE k = ANY (mech));
            INSERT INTO tessera.canary_scores AS s
                (client_id, request_id, eval_set, workload_id, mechanics, routed_score, baseline_score, sampled_at)
            VALUES (cid, rid, evs, wid, mech, routed, baseline, sampled)
            ON CONFLICT ON CONSTRAINT canary_scores_pkey DO NOTHING;
            outcome := CASE WHEN FOUND THEN 'recorded' ELSE 'replayed' END;
            sqlstate := NULL;
            message := NULL;
        END IF;
        RETURN NEXT;
    END LOOP;
    PERFORM pg_catalog.set_config('tessera.ingest_client_ids', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.record_canary_scores(jsonb) IS
    'Store quality-SLA canary samples (JSON array, 1..1000; per element client, workload, request, stack, eval set, routed and baseline scores in [0, 1], sampled_at); one outcome per element: recorded, replayed or rejected with SQLSTATE and message. tessera_proxy and service_role only.';

REVOKE ALL ON FUNCTION tessera.record_canary_scores(jsonb) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.record_canary_scores(jsonb) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.record_canary_scores(jsonb) TO service_role;

-- >>> functions/tessera.sla_credit_amount.sql
-- tessera.sla_credit_amount(client, workload, stack, first_day, last_day): the quality
-- SLA's service credit for one breach, from the ledger (issue 15; docs/operations.md).
--
-- Attribution: what the client was charged for that workload's requests with exactly
-- that stack over the breach window is the sum of actual_cost_usd (the request as sent,
-- priced in the database at its snapshot: what the proxy's usage charges bill) of the
-- tessera.optimize_savings rows with this client, this workload, mechanics = the stack
-- (sorted, distinct: a request with m1+m7 is the m1+m7 stack, never m1 alone) and
-- occurred_at in [first_day 00:00 UTC, last_day + 1 00:00 UTC). The credit is 10% of
-- it, rounded to 12 decimal places (the ledger's scale), half away from zero.
--
-- tessera.sla_run writes exactly this amount; tessera.sla_credit_rederive recomputes it
-- for `tessera-db readings rederive`. SECURITY INVOKER: the caller's own RLS applies.
CREATE FUNCTION tessera.sla_credit_amount(p_client_id uuid, p_workload_id uuid, p_mechanics text[],
                                          p_first_day date, p_last_day date)
RETURNS TABLE (requests bigint, charged_usd numeric, credit_usd numeric)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.count(*),
           COALESCE(pg_catalog.sum(s.actual_cost_usd), 0),
           pg_catalog.round(COALESCE(pg_catalog.sum(s.actual_cost_usd), 0) * 0.10, 12)
      FROM tessera.optimize_savings AS s
     WHERE s.client_id = p_client_id
       AND s.workload_id = p_workload_id
       AND s.mechanics = p_mechanics
       AND s.occurred_at >= (p_first_day::timestamp AT TIME ZONE 'UTC')
       AND s.occurred_at < ((p_last_day + 1)::timestamp AT TIME ZONE 'UTC')
$function$;

COMMENT ON FUNCTION tessera.sla_credit_amount(uuid, uuid, text[], date, date) IS
    'The quality-SLA credit of one breach: 10% (rounded to 12 places) of the actual_cost_usd of the workload''s requests with exactly that stack in the breach window (UTC days). Used by tessera.sla_run and tessera.sla_credit_rederive. Invoker rights.';

REVOKE ALL ON FUNCTION tessera.sla_credit_amount(uuid, uuid, text[], date, date) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.sla_credit_amount(uuid, uuid, text[], date, date) TO authenticated, service_role;

-- >>> functions/tessera.sla_run.sql
-- tessera.sla_run(now): the daily quality-SLA job (issue 15; seed "Quality SLA --
-- auto-rollback + 10% credit"), behind `tessera-db sla run [--now]` and the job
-- registry (one line: SELECT * FROM tessera.sla_run(now())).
--
-- Per (client, workload, stack, UTC day) of tessera.canary_scores.sampled_at, over the
-- 30 complete UTC days before now's day: the sample count and the mean routed_score.
--   qualifying day   at least 30 samples. A day with fewer (or none: a gap) neither
--                    counts toward a breach nor resets one: it is skipped, so "3
--                    consecutive days" means 3 consecutive qualifying days.
--   bad day          a qualifying day whose mean is below 0.95 (0.9499 is, 0.95 is not).
--   good day         a qualifying day with mean >= 0.95: resets the run of bad days.
--   breach           3 consecutive bad days; the run restarts after it (a breach
--                    consumes its days).
-- For each breach, once (its key: workload, stack, last day; anomalies_breach_key):
--   1. the credit: 10% of what the client was charged for that workload's requests
--      with that stack over the window (tessera.sla_credit_amount, documented there) as
--      a service_credit row in tessera.balance_transactions, dated now (so on the next
--      monthly bill); no row when the charge was 0 (the ledger takes positive credits);
--   2. an sla_breach anomaly, stack_disabled = true: that exact stack, for that
--      workload (surgical: m1+m7 breaching leaves m1 alone and m7 alone live), which
--      tessera.worker_config then lists in disabled_stacks; its trigger moves the
--      config version and NOTIFYs the worker. Its details carry the three days' means
--      and counts, the credit and the reactivation path, and the audit trigger writes
--      them as the breach's one audit event (the credit row gets the ledger's own).
-- A stack already disabled for the workload is not breached again; a breach already
-- recorded is reported with status 'already_recorded' and changes nothing: rerunning
-- for the same day, or any earlier day, writes nothing.
--
-- Returns one row per breach found in the window: status 'disabled' (new now) or
-- 'already_recorded'.
--
-- SECURITY INVOKER, EXECUTE for service_role only (BYPASSRLS: it reads every client's
-- scores; it may write anomalies and balance rows). The actor of its rows is the
-- service's JWT sub (`tessera-db sla run` uses "sla-run").
CREATE FUNCTION tessera.sla_run(p_now timestamptz DEFAULT now())
RETURNS TABLE (client_id uuid, workload_id uuid, mechanics text[], first_day date, last_day date,
               days jsonb, charged_usd numeric, credit_usd numeric, anomaly_id uuid,
               credit_transaction_id uuid, status text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    min_samples CONSTANT integer := 30;
    threshold CONSTANT numeric := 0.95;
    run_days CONSTANT integer := 3;
    lookback CONSTANT integer := 30;
    today date;
    g record;
    streak_days date[];
    streak_n bigint[];
    streak_mean numeric[];
    key text;
    existing tessera.anomalies;
    amount record;
    new_anomaly uuid;
    txn uuid;
BEGIN
    IF p_now IS NULL THEN
        RAISE EXCEPTION 'sla_run needs a clock' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    today := (p_now AT TIME ZONE 'UTC')::date;
    -- One run at a time (a second waits, then finds the first one's breaches recorded);
    -- the unique key anomalies_breach_key would refuse a duplicate breach anyway, taking
    -- its credit back with it.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('tessera.sla_run'));

    FOR g IN
        SELECT d.client_id, d.workload_id, d.mechanics,
               pg_catalog.array_agg(d.day ORDER BY d.day) AS day_list,
               pg_catalog.array_agg(d.n ORDER BY d.day) AS n_list,
               pg_catalog.array_agg(d.mean ORDER BY d.day) AS mean_list
          FROM (SELECT c.client_id, c.workload_id, c.mechanics, (c.sampled_at AT TIME ZONE 'UTC')::date AS day,
                       pg_catalog.count(*) AS n, pg_catalog.avg(c.routed_score) AS mean
                  FROM tessera.canary_scores AS c
                 WHERE c.sampled_at >= ((today - lookback)::timestamp AT TIME ZONE 'UTC')
                   AND c.sampled_at < (today::timestamp AT TIME ZONE 'UTC')
                 GROUP BY 1, 2, 3, 4) AS d
         GROUP BY d.client_id, d.workload_id, d.mechanics
         ORDER BY d.client_id, d.workload_id, d.mechanics
    LOOP
        streak_days := '{}';
        streak_n := '{}';
        streak_mean := '{}';
        FOR i IN 1 .. pg_catalog.cardinality(g.day_list) LOOP
            CONTINUE WHEN g.n_list[i] < min_samples;           -- thin or gap day: skipped
            IF g.mean_list[i] >= threshold THEN                -- good day: resets
                streak_days := '{}'; streak_n := '{}'; streak_mean := '{}';
                CONTINUE;
            END IF;
            streak_days := streak_days || g.day_list[i];
            streak_n := streak_n || g.n_list[i];
            streak_mean := streak_mean || g.mean_list[i];
            CONTINUE WHEN pg_catalog.cardinality(streak_days) < run_days;

            key := 'sla:' || g.workload_id::text || ':' || pg_catalog.array_to_string(g.mechanics, '+')
                   || ':' || streak_days[run_days]::text;
            client_id := g.client_id;
            workload_id := g.workload_id;
            mechanics := g.mechanics;
            first_day := streak_days[1];
            last_day := streak_days[run_days];
            days := (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                'day', streak_days[k], 'samples', streak_n[k], 'mean_routed_score', streak_mean[k])
                            ORDER BY k)
                       FROM pg_catalog.generate_series(1, run_days) AS k);
            streak_days := '{}'; streak_n := '{}'; streak_mean := '{}';

            SELECT a.* INTO existing FROM tessera.anomalies AS a
             WHERE a.client_id = g.client_id AND a.kind = 'sla_breach' AND a.dedupe_key = key;
            IF FOUND THEN
                charged_usd := (existing.details ->> 'charged_usd')::numeric;
                credit_usd := (existing.details ->> 'credit_usd')::numeric;
                anomaly_id := existing.anomaly_id;
                credit_transaction_id := (existing.details ->> 'credit_transaction_id')::uuid;
                status := 'already_recorded';
                RETURN NEXT;
                CONTINUE;
            END IF;
            IF EXISTS (SELECT 1 FROM tessera.anomalies AS a
                        WHERE a.client_id = g.client_id AND a.workload_id = g.workload_id
                          AND a.mechanics = g.mechanics AND a.stack_disabled) THEN
                CONTINUE;  -- the stack is already off (late scores of an earlier breach)
            END IF;

            SELECT * INTO amount FROM tessera.sla_credit_amount(g.client_id, g.workload_id, g.mechanics,
                                                                first_day, last_day);
            new_anomaly := gen_random_uuid();
            txn := NULL;
            IF amount.credit_usd > 0 THEN
                INSERT INTO tessera.balance_transactions AS t (client_id, kind, amount_usd, reason, actor)
                VALUES (g.client_id, 'service_credit', amount.credit_usd,
                        pg_catalog.format('quality SLA breach %s: workload %s, stack %s, %s..%s: 10%% of %s USD charged',
                                          new_anomaly, g.workload_id, pg_catalog.array_to_string(g.mechanics, '+'),
                                          first_day, last_day, amount.charged_usd),
                        '(stamped)')
                RETURNING t.transaction_id INTO txn;
            END IF;
            INSERT INTO tessera.anomalies AS a (client_id, anomaly_id, kind, workload_id, mechanics, dedupe_key,
                                                details, stack_disabled)
            VALUES (g.client_id, new_anomaly, 'sla_breach', g.workload_id, g.mechanics, key,
                    pg_catalog.jsonb_build_object(
                        'rule', 'mean routed_score < 0.95 on 3 consecutive qualifying days (>= 30 samples each)',
                        'days', days,
                        'first_day', first_day, 'last_day', last_day,
                        'requests', amount.requests,
                        'charged_usd', amount.charged_usd,
                        'credit_usd', amount.credit_usd,
                        'credit_transaction_id', txn,
                        'credit_rule', '10% of actual_cost_usd of the workload''s requests with exactly this stack in the window (tessera.sla_credit_amount)',
                        'disabled_stack', g.mechanics,
                        'reactivation', 'the client''s sponsor or an operator re-enables the stack with tessera.respond_to_anomaly(client_id, anomaly_id, ''reenable_stack'') (portal /portal/anomalies) once the eval set or prompt template is fixed'),
                    true);
            charged_usd := amount.charged_usd;
            credit_usd := amount.credit_usd;
            anomaly_id := new_anomaly;
            credit_transaction_id := txn;
            status := 'disabled';
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION tessera.sla_run(timestamptz) IS
    'The daily quality-SLA job: per workload and stack, 3 consecutive qualifying UTC days (>= 30 samples) with mean routed score < 0.95 disable that exact stack (sla_breach anomaly, new worker config version) and write a 10% service credit, once per breach. Idempotent. service_role only.';

REVOKE ALL ON FUNCTION tessera.sla_run(timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.sla_run(timestamptz) TO service_role;

-- >>> functions/tessera.sla_credit_rederive.sql
-- tessera.sla_credit_rederive(client, month): re-derive every quality-SLA service credit
-- written in a month from the raw rows (issue 15), for `tessera-db readings rederive`
-- (tessera_db/sla.py): one row per sla_breach anomaly of the client whose credit falls
-- in that UTC month (its balance row's created_at; a breach with no charge has no row
-- and is dated by opened_at), with the credit recorded in tessera.balance_transactions
-- and the credit tessera.sla_credit_amount computes now from optimize_savings for the
-- breach's window, and whether they agree.
--
-- SECURITY INVOKER: the caller's own RLS applies (sponsors their own clients).
CREATE FUNCTION tessera.sla_credit_rederive(p_client_id uuid, p_month date)
RETURNS TABLE (anomaly_id uuid, workload_id uuid, mechanics text[], first_day date, last_day date,
               credit_transaction_id uuid, recorded_usd numeric, rederived_usd numeric, agrees boolean)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT a.anomaly_id, a.workload_id, a.mechanics, (a.details ->> 'first_day')::date,
           (a.details ->> 'last_day')::date, t.transaction_id, COALESCE(t.amount_usd, 0), r.credit_usd,
           COALESCE(t.amount_usd, 0) = r.credit_usd
      FROM tessera.anomalies AS a
      LEFT JOIN tessera.balance_transactions AS t
        ON t.client_id = a.client_id AND t.transaction_id = (a.details ->> 'credit_transaction_id')::uuid
     CROSS JOIN LATERAL tessera.sla_credit_amount(a.client_id, a.workload_id, a.mechanics,
                                                  (a.details ->> 'first_day')::date,
                                                  (a.details ->> 'last_day')::date) AS r
     WHERE a.client_id = p_client_id AND a.kind = 'sla_breach'
       AND COALESCE(t.created_at, a.opened_at) >= (pg_catalog.date_trunc('month', p_month)::timestamp AT TIME ZONE 'UTC')
       AND COALESCE(t.created_at, a.opened_at)
           < ((pg_catalog.date_trunc('month', p_month) + interval '1 month')::timestamp AT TIME ZONE 'UTC')
     ORDER BY a.opened_at, a.anomaly_id
$function$;

COMMENT ON FUNCTION tessera.sla_credit_rederive(uuid, date) IS
    'Per quality-SLA breach credited in the month: the recorded service credit and the one re-derived now from optimize_savings (tessera.sla_credit_amount), and whether they agree. Invoker rights.';

REVOKE ALL ON FUNCTION tessera.sla_credit_rederive(uuid, date) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.sla_credit_rederive(uuid, date) TO authenticated, service_role;

-- >>> functions/tessera_private.respond_to_anomaly.sql
-- tessera_private.respond_to_anomaly(client, anomaly, action): the one guarded way a
-- person answers an anomaly (issue 15; portal /portal/anomalies), behind the SECURITY
-- INVOKER wrapper tessera.respond_to_anomaly:
--
--   acknowledge     open -> acknowledged                 sponsor of the client, operator
--   reenable_stack  an sla_breach whose stack is disabled: re-enable it (the worker
--                   config version moves, NOTIFY), and acknowledge the anomaly if it
--                   was open; the anomaly row and its history stay
--                                                        sponsor of the client, operator
--   resolve         acknowledged -> resolved             operator only
--
-- Refused: a caller who is neither an operator nor a sponsor of the client, and an
-- anomaly that is not the caller's to see: 42501, the same answer for "no such anomaly"
-- and "not yours"; a sponsor resolving: 42501; an unknown action: 22023; an illegal
-- transition (acknowledging twice, resolving an open one, re-enabling a stack that is
-- not disabled): 23514 from the guard trigger or here. Each change is audited, with
-- its actor, by the audit trigger on tessera.anomalies; the guard trigger stamps who
-- and when.
--
-- SECURITY DEFINER: sponsors hold no UPDATE privilege on tessera.anomalies. As
-- tessera_owner under FORCE RLS it sees only the anomalies of the clients the caller
-- may manage (policy anomalies_definer_manage: operator, or sponsor of the client).
CREATE FUNCTION tessera_private.respond_to_anomaly(p_client_id uuid, p_anomaly_id uuid, p_action text)
RETURNS tessera.anomalies
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    acting_role text := pg_catalog.current_setting('role');
    row_before tessera.anomalies;
    row_after tessera.anomalies;
BEGIN
    IF p_action IS NULL OR p_action NOT IN ('acknowledge', 'reenable_stack', 'resolve') THEN
        RAISE EXCEPTION 'unknown anomaly action %: acknowledge, reenable_stack or resolve',
            pg_catalog.quote_nullable(p_action)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF acting_role IS DISTINCT FROM 'authenticated' OR NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to act on anomaly % of client %', p_anomaly_id, p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT a.* INTO row_before FROM tessera.anomalies AS a
     WHERE a.client_id = p_client_id AND a.anomaly_id = p_anomaly_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'not permitted to act on anomaly % of client %', p_anomaly_id, p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    IF p_action = 'acknowledge' THEN
        IF row_before.state <> 'open' THEN
            RAISE EXCEPTION 'anomaly %: illegal transition % -> acknowledged (open -> acknowledged -> resolved)',
                p_anomaly_id, row_before.state
                USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_state_transition';
        END IF;
        UPDATE tessera.anomalies AS a SET state = 'acknowledged'
         WHERE a.client_id = p_client_id AND a.anomaly_id = p_anomaly_id
        RETURNING a.* INTO row_after;
    ELSIF p_action = 'resolve' THEN
        IF NOT tessera_private.is_operator() THEN
            RAISE EXCEPTION 'only an operator may resolve an anomaly'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF row_before.state <> 'acknowledged' THEN
            RAISE EXCEPTION 'anomaly %: illegal transition % -> resolved (open -> acknowledged -> resolved)',
                p_anomaly_id, row_before.state
                USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_state_transition';
        END IF;
        UPDATE tessera.anomalies AS a SET state = 'resolved'
         WHERE a.client_id = p_client_id AND a.anomaly_id = p_anomaly_id
        RETURNING a.* INTO row_after;
    ELSE
        IF NOT row_before.stack_disabled THEN
            RAISE EXCEPTION 'anomaly % has no disabled stack to re-enable', p_anomaly_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_state_transition';
        END IF;
        UPDATE tessera.anomalies AS a
           SET stack_disabled = false,
               state = CASE WHEN a.state = 'open' THEN 'acknowledged' ELSE a.state END
         WHERE a.client_id = p_client_id AND a.anomaly_id = p_anomaly_id
        RETURNING a.* INTO row_after;
    END IF;
    RETURN row_after;
END
$function$;

COMMENT ON FUNCTION tessera_private.respond_to_anomaly(uuid, uuid, text) IS
    'Acknowledge an anomaly, re-enable an SLA-disabled stack (sponsor of the client or operator) or resolve it (operator); every change audited. Behind tessera.respond_to_anomaly. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.respond_to_anomaly(uuid, uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.respond_to_anomaly(uuid, uuid, text) TO authenticated;

-- >>> functions/tessera.respond_to_anomaly.sql
-- tessera.respond_to_anomaly(client, anomaly, action): the API's door to
-- tessera_private.respond_to_anomaly (acknowledge, reenable_stack, resolve; who may do
-- what is documented and checked there). SECURITY INVOKER and LANGUAGE sql, so the
-- exposed schema holds no SECURITY DEFINER function an API role can run; the private
-- function does the checking.
CREATE FUNCTION tessera.respond_to_anomaly(p_client_id uuid, p_anomaly_id uuid, p_action text)
RETURNS tessera.anomalies
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT * FROM tessera_private.respond_to_anomaly(p_client_id, p_anomaly_id, p_action)
$function$;

COMMENT ON FUNCTION tessera.respond_to_anomaly(uuid, uuid, text) IS
    'Answer an anomaly: acknowledge, reenable_stack (sponsor of the client or operator) or resolve (operator). Invoker wrapper over tessera_private.respond_to_anomaly.';

REVOKE ALL ON FUNCTION tessera.respond_to_anomaly(uuid, uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.respond_to_anomaly(uuid, uuid, text) TO authenticated;

-- >>> functions/tessera.kill_switch_report.sql
-- tessera.kill_switch_report(client, from, to): was the kill-switch contract kept?
-- (issue 15; seed: the kill switch takes effect within the next KV refresh, <= 60 s.)
--
-- One row per engagement of the client's kill switch (tessera.kill_switch_engagements)
-- engaged in [from, to) (either bound NULL = open): when it was engaged and released
-- and by whom, how many recorded requests fired a mechanic while it was engaged, when
-- the last of them fired and how long after the engagement, and contract_held: no
-- mechanic fired more than 60 s after the engagement. (Each late request has also
-- opened a kill_switch_late anomaly; every request fired under the switch is recorded
-- with no saving credited to its mechanics, in optimize_savings.unconsented_mechanics.)
--
-- SECURITY INVOKER: the caller's own RLS applies (a sponsor reports on their own
-- clients, an operator or service_role on any; anyone else gets no rows).
CREATE FUNCTION tessera.kill_switch_report(p_client_id uuid, p_from timestamptz DEFAULT NULL,
                                           p_to timestamptz DEFAULT NULL)
RETURNS TABLE (engagement_id uuid, engaged_at timestamptz, engaged_by text, released_at timestamptz,
               released_by text, requests_with_mechanics bigint, last_mechanic_at timestamptz,
               seconds_after_engagement numeric, contract_held boolean)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT e.engagement_id, e.engaged_at, e.engaged_by, e.released_at, e.released_by,
           f.n, f.last_at,
           pg_catalog.date_part('epoch', f.last_at - e.engaged_at)::numeric,
           f.last_at IS NULL OR f.last_at <= e.engaged_at + interval '60 seconds'
      FROM tessera.kill_switch_engagements AS e
     CROSS JOIN LATERAL (
           SELECT pg_catalog.count(*) AS n, pg_catalog.max(s.occurred_at) AS last_at
             FROM tessera.optimize_savings AS s
            WHERE s.client_id = e.client_id
              AND s.occurred_at >= e.engaged_at
              AND (e.released_at IS NULL OR s.occurred_at < e.released_at)
              AND pg_catalog.cardinality(s.mechanics) > 0) AS f
     WHERE e.client_id = p_client_id
       AND (p_from IS NULL OR e.engaged_at >= p_from)
       AND (p_to IS NULL OR e.engaged_at < p_to)
     ORDER BY e.engaged_at
$function$;

COMMENT ON FUNCTION tessera.kill_switch_report(uuid, timestamptz, timestamptz) IS
    'Per kill-switch engagement of a client: engaged/released (by whom), requests that fired a mechanic while engaged, the last one and its delay, and whether the 60 s contract held. Invoker rights (RLS applies).';

REVOKE ALL ON FUNCTION tessera.kill_switch_report(uuid, timestamptz, timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.kill_switch_report(uuid, timestamptz, timestamptz) TO authenticated, service_role;

-- >>> policies/kill_switch_engagements.sql
-- Row-level security, policies and grants for tessera.kill_switch_engagements (issue 15).
--
--   operator       read every client's engagements
--   sponsor        read own clients' engagements (tessera.kill_switch_report)
--   service_role   read
--   anon, proxy, settlement  nothing
--   owner          (the kill-switch trigger) opens and closes the engagements of the
--                  client named by tessera.recording_client_id; (ingest) reads those of
--                  the clients of the batch (tessera.ingest_client_ids); deletes the
--                  erased client's (erase_client)
--   nobody         writes directly: only the trigger on tessera.clients does
ALTER TABLE tessera.kill_switch_engagements ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.kill_switch_engagements FORCE ROW LEVEL SECURITY;

CREATE POLICY kill_switch_engagements_select_operator_or_sponsor ON tessera.kill_switch_engagements
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY kill_switch_engagements_select_definer_recording ON tessera.kill_switch_engagements
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY kill_switch_engagements_insert_definer_recording ON tessera.kill_switch_engagements
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY kill_switch_engagements_update_definer_recording ON tessera.kill_switch_engagements
    FOR UPDATE TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid)
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY kill_switch_engagements_select_definer_ingest ON tessera.kill_switch_engagements
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

-- Lifecycle (tessera.retention_classes(), docs/erasure.md).
CREATE POLICY kill_switch_engagements_select_definer_removal ON tessera.kill_switch_engagements
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY kill_switch_engagements_delete_definer_removal ON tessera.kill_switch_engagements
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.kill_switch_engagements TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read.
GRANT SELECT ON tessera.kill_switch_engagements TO service_role;

-- >>> policies/worker_config_versions.sql
-- Row-level security, policies and grants for tessera.worker_config_versions (issue 15).
--
--   operator       read every workload's config history
--   sponsor        read own clients' history
--   service_role   read
--   anon, proxy, settlement  nothing directly
--   owner          (the config-version trigger) appends the history of the client named
--                  by tessera.recording_client_id; (ingest) reads the history of the
--                  clients of the batch (tessera.ingest_client_ids); counts the erased
--                  client's rows (they go by ON DELETE CASCADE with its workloads)
--   nobody         UPDATE, DELETE, TRUNCATE
ALTER TABLE tessera.worker_config_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.worker_config_versions FORCE ROW LEVEL SECURITY;

CREATE POLICY worker_config_versions_select_operator_or_sponsor ON tessera.worker_config_versions
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY worker_config_versions_select_definer_recording ON tessera.worker_config_versions
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY worker_config_versions_insert_definer_recording ON tessera.worker_config_versions
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY worker_config_versions_select_definer_ingest ON tessera.worker_config_versions
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

-- Lifecycle (tessera.retention_classes(), docs/erasure.md).
CREATE POLICY worker_config_versions_select_definer_removal ON tessera.worker_config_versions
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.worker_config_versions TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read.
GRANT SELECT ON tessera.worker_config_versions TO service_role;

-- >>> policies/canary_scores.sql
-- Row-level security, policies and grants for tessera.canary_scores (issue 15).
--
--   operator       read every client's scores
--   sponsor        read own clients' scores
--   service_role   read (tessera.sla_run); writes through tessera.record_canary_scores
--   anon, proxy, settlement  nothing directly (the proxy writes through
--                  tessera.record_canary_scores)
--   owner          (record_canary_scores) reads and appends the rows of the clients
--                  named in the call (tessera.ingest_client_ids); removes the erased
--                  client's rows and the rows past the retention window
--   nobody         UPDATE, DELETE or TRUNCATE otherwise: append-only (make_append_only)
ALTER TABLE tessera.canary_scores ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.canary_scores FORCE ROW LEVEL SECURITY;

CREATE POLICY canary_scores_select_operator_or_sponsor ON tessera.canary_scores
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY canary_scores_select_definer_ingest ON tessera.canary_scores
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

CREATE POLICY canary_scores_insert_definer_ingest ON tessera.canary_scores
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

-- Lifecycle (tessera.retention_classes(), docs/erasure.md): the owner, running
-- tessera.erase_client or tessera.retention_run, reaches only the erased client's rows
-- and the rows past their window by the database clock.
CREATE POLICY canary_scores_select_definer_removal ON tessera.canary_scores
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR sampled_at < (SELECT tessera_private.removal_cutoff('canary_scores')));

CREATE POLICY canary_scores_delete_definer_removal ON tessera.canary_scores
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR sampled_at < (SELECT tessera_private.removal_cutoff('canary_scores')));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.canary_scores TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read.
GRANT SELECT ON tessera.canary_scores TO service_role;

-- >>> policies/anomalies.sql
-- Row-level security, policies and grants for tessera.anomalies (issue 15).
--
--   operator       read every client's anomalies; act through tessera.respond_to_anomaly
--   sponsor        read own clients' anomalies; acknowledge them and re-enable their
--                  disabled stacks through tessera.respond_to_anomaly (no direct write)
--   service_role   read; open (tessera.sla_run writes sla_breach rows)
--   anon, proxy, settlement  nothing (the proxy's requests open anomalies inside
--                  tessera.record_request(s), as the owner)
--   owner          (SECURITY DEFINER functions) reads the disabled stacks of the client
--                  named by tessera.recording_client_id (worker_config); reads and opens
--                  the anomalies of the clients of the ingesting batch
--                  (tessera.ingest_client_ids); reads and updates the anomalies of the
--                  clients the caller may manage (respond_to_anomaly); deletes the
--                  erased client's (erase_client)
--   nobody         TRUNCATE; the state machine is the guard trigger's
ALTER TABLE tessera.anomalies ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.anomalies FORCE ROW LEVEL SECURITY;

CREATE POLICY anomalies_select_operator_or_sponsor ON tessera.anomalies
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY anomalies_select_definer_recording ON tessera.anomalies
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY anomalies_select_definer_ingest ON tessera.anomalies
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

CREATE POLICY anomalies_insert_definer_ingest ON tessera.anomalies
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

CREATE POLICY anomalies_select_definer_manage ON tessera.anomalies
    FOR SELECT TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY anomalies_update_definer_manage ON tessera.anomalies
    FOR UPDATE TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))))
    WITH CHECK ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- Lifecycle (tessera.retention_classes(), docs/erasure.md): tessera.erase_client, as the
-- owner, deletes the rows of the client this transaction is erasing.
CREATE POLICY anomalies_select_definer_removal ON tessera.anomalies
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY anomalies_delete_definer_removal ON tessera.anomalies
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.anomalies TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read, and open (the SLA job).
GRANT SELECT, INSERT ON tessera.anomalies TO service_role;


-- >>> functions/tessera_private.audit_coverage.sql (replaced: the new tables)
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
    -- Operations (issue 15): anomalies and every transition of their state machine
    -- (opened, acknowledged, resolved, stack disabled / re-enabled), with the actor.
        ('anomalies',              true,  '{}',            NULL),
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
        ('canary_scores',          false, NULL,
         'Append-only quality-SLA samples (thousands a day), written only by tessera.record_canary_scores: each row is itself the measurement; what the SLA job decides from them is audited as its sla_breach anomaly (the days'' means and counts).'),
        ('kill_switch_engagements', false, NULL,
         'Derived history of tessera.clients.optimisation_kill_switch, written only by the trigger that also changes the switch''s config: every engagement and release is already an audited change of tessera.clients (auditing it too would turn one flip into two events).'),
        ('worker_config_versions', false, NULL,
         'Derived, append-only history of each config version, written only by the trigger on workload_settings: every change it records is audited where it happens (workloads'' mechanic flags, the clients'' kill switch, anomalies'' stack disables, set_exact_cache_ttl).'),
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
