-- tessera.record_requests(requests): record a batch of proxied requests; the proxy's hot
-- path (tessera_db.usage.record_many splits and sends them).
--
-- requests: a JSON array of 1 to 1000 objects whose keys are tessera.record_request's
-- parameter names without the p_ prefix (client_id, workload_id, request_id,
-- occurred_at, requested_provider, ... reported_output_tokens; occurred_at as an ISO
-- 8601 string with a UTC offset). Elements may belong to different clients.
--
-- Returns one row per element, in input order: its ordinality (1-based), client_id and
-- request_id as sent, outcome recorded | replayed | rejected, and for a rejection the
-- SQLSTATE and message tessera.record_request would have raised; for the others the
-- costs of the row in the ledger (a replay returns the ORIGINAL row's costs).
--
-- Loss-free: one bad element never fails, blocks or loses the others. A rejected
-- element writes nothing to the ledger and is appended to tessera.savings_dead_letters
-- (its reason and the fields to replay it: tessera.replay_dead_letters). A request_id
-- repeated inside the batch is recorded once; its later occurrences are 'replayed'.
--
-- One implementation: tessera_private.ingest_requests (the same one record_request
-- uses) does the work in one set-based statement. What that statement cannot test
-- element by element before writing (request_cost refusing a snapshot without the
-- price component a bucket needs, an impossible calendar date, anything the table
-- refuses that the core does not mirror) makes the statement fail; the batch is then
-- run again one element at a time, each in its own subtransaction, so the failing
-- element is rejected with the database's own SQLSTATE, constraint and message and the
-- others are recorded. Transient failures (serialization, deadlock, lock timeout,
-- cancellation) are not rejections: they are raised, nothing of the batch is kept, and
-- the caller retries it (replays make a retry safe).
--
-- Errors of the call itself: not a JSON array, or 0 or more than 1000 elements: 22023,
-- nothing written.
--
-- SECURITY DEFINER: the proxy holds no table privilege. EXECUTE for tessera_proxy and
-- service_role (replaying the proxy's spool and the dead letters) only.
CREATE FUNCTION tessera.record_requests(p_requests jsonb)
RETURNS TABLE (ordinality integer, client_id uuid, request_id text, outcome text, sqlstate text,
               message text, original_cost_usd numeric, actual_cost_usd numeric, savings_usd numeric)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    max_elements CONSTANT integer := 1000;
    n integer;
    elem jsonb;
    pos integer;
    err_state text;
    err_message text;
    err_constraint text;
BEGIN
    IF p_requests IS NULL OR pg_catalog.jsonb_typeof(p_requests) <> 'array' THEN
        RAISE EXCEPTION 'record_requests takes a JSON array of request objects'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    n := pg_catalog.jsonb_array_length(p_requests);
    IF n < 1 OR n > max_elements THEN
        RAISE EXCEPTION 'record_requests takes 1 to % requests per call, got %', max_elements, n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    BEGIN
        RETURN QUERY
            SELECT o.ordinality, o.client_id, o.request_id, o.outcome, o.sqlstate, o.message,
                   o.original_cost_usd, o.actual_cost_usd, o.savings_usd
              FROM tessera_private.ingest_requests(p_requests, true) AS o;
        RETURN;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE;
        IF err_state LIKE '40%' OR err_state IN ('55P03', '57014') THEN
            RAISE;
        END IF;
    END;

    -- Isolate the element(s) the set-based statement could not take.
    FOR elem, pos IN
        SELECT e.j, e.ord::integer FROM pg_catalog.jsonb_array_elements(p_requests) WITH ORDINALITY AS e(j, ord)
    LOOP
        BEGIN
            RETURN QUERY
                SELECT pos, o.client_id, o.request_id, o.outcome, o.sqlstate, o.message,
                       o.original_cost_usd, o.actual_cost_usd, o.savings_usd
                  FROM tessera_private.ingest_requests(pg_catalog.jsonb_build_array(elem), true) AS o;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                                    err_constraint = CONSTRAINT_NAME;
            IF err_state LIKE '40%' OR err_state IN ('55P03', '57014') THEN
                RAISE;
            END IF;
            RETURN QUERY
                SELECT pos, NULLIF(w.client_id, '00000000-0000-0000-0000-000000000000'::uuid), w.request_id,
                       'rejected'::text, err_state, err_message, NULL::numeric, NULL::numeric, NULL::numeric
                  FROM tessera_private.write_dead_letters(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                           'element', elem, 'sqlstate', err_state, 'constraint', err_constraint,
                           'reason', err_message))) AS w;
        END;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION tessera.record_requests(jsonb) IS
    'Record a batch (1..1000, JSON array of record_request fields) of proxied requests, possibly of several clients; one outcome row per element in input order: recorded, replayed (original costs) or rejected (SQLSTATE, message; kept in savings_dead_letters). One bad element never fails the others. tessera_proxy and service_role only.';

REVOKE ALL ON FUNCTION tessera.record_requests(jsonb) FROM PUBLIC; -- functions are executable by PUBLIC by default
-- The proxy worker records measurements; service_role replays the proxy's spool and the
-- dead letters (it can forge no more than the proxy: costs are computed here).
GRANT EXECUTE ON FUNCTION tessera.record_requests(jsonb) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.record_requests(jsonb) TO service_role;
