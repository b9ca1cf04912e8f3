-- Frozen downgrade of 0003_record_request_speed: restores the 0002 definitions.
DROP POLICY pricing_catalog_select_definer_recording ON tessera.pricing_catalog;

CREATE OR REPLACE FUNCTION tessera_private.mechanics_are_valid(p_mechanics text[])
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

CREATE OR REPLACE FUNCTION tessera_private.tag_pii_kind(p_tag text)
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

CREATE OR REPLACE FUNCTION tessera.record_request(
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
