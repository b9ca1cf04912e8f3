-- Frozen migration 0012_reading_cutoff (down): hand-written delta; never edit once merged.

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

-- >>> functions/tessera.monthly_reading_figures.sql (restored)
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
CREATE OR REPLACE FUNCTION tessera.monthly_reading_figures(p_client_id uuid, p_month date)
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

-- >>> functions/tessera.issue_monthly_reading.sql (restored)
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
CREATE OR REPLACE FUNCTION tessera.issue_monthly_reading(p_client_id uuid, p_month date,
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

-- >>> functions/tessera.rederive_monthly_reading.sql (restored)
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
CREATE OR REPLACE FUNCTION tessera.rederive_monthly_reading(p_client_id uuid, p_month date)
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

DROP FUNCTION tessera.monthly_reading_figures_upto(uuid, date, bigint);

ALTER TABLE tessera.monthly_readings DROP COLUMN recorded_cutoff;
ALTER TABLE tessera.optimize_savings DROP COLUMN recorded_seq;
