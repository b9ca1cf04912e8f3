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
