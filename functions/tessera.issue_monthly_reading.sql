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
--
-- The cut-off (docs/readings.md "Cut-off"). A reading covers the client-month's rows
-- recorded up to its issuance and keeps that cut-off (recorded_cutoff = the greatest
-- recorded_seq it covers), so it can be recomputed exactly forever, whatever is recorded
-- later. The same advisory lock makes the cut-off exact under concurrency: every writer
-- (tessera_private.ingest_requests) takes it in SHARE mode for each client-month it
-- writes, before its INSERT assigns recorded_seq, and holds it to its commit; taken here
-- EXCLUSIVELY it waits for the writers in flight for this client-month to commit and
-- holds back new ones until this transaction commits. So, once it is granted, every row
-- of the client-month with a recorded_seq already assigned is committed, and each of the
-- following statements (READ COMMITTED: a new snapshot per statement) sees all of them;
-- every row written after gets a greater recorded_seq. A writer that began before the
-- issuance and commits after it is therefore never silently on the wrong side: it is
-- either waited for (and covered) or held back (and late, listed by rederive). Why a lock
-- rather than a timestamp: recorded_at is the writer's transaction start, which can be
-- earlier than an issuance it commits after. Why a per-(client, month) advisory lock
-- rather than LOCK TABLE optimize_savings IN SHARE MODE: the latter would stop every
-- client's ingestion while one reading is computed. REPEATABLE READ and SERIALIZABLE are
-- refused: their snapshot may predate the lock, missing rows committed while it waited.
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
    cutoff bigint;
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

    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'monthly readings are issued in a READ COMMITTED transaction (this one is %)',
                        pg_catalog.current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state';
    END IF;

    -- The key is the one tessera_private.ingest_requests takes in SHARE mode (the month as
    -- to_char, never date::text, which follows the session's DateStyle; no table name in
    -- it, so the policy matrix's reading of function bodies sees no table here).
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
        'reading-cutoff:' || p_client_id::text || ':' || pg_catalog.to_char(p_month, 'YYYY-MM-DD'), 0));

    -- A new statement, so a new snapshot: every row of the client-month with a
    -- recorded_seq is committed by now and visible.
    SELECT COALESCE(pg_catalog.max(s.recorded_seq), 0) INTO cutoff
      FROM tessera.optimize_savings AS s
     WHERE s.client_id = p_client_id
       AND s.occurred_at >= (p_month::timestamp AT TIME ZONE 'UTC')
       AND s.occurred_at < ((p_month + 1 * interval '1 month')::timestamp AT TIME ZONE 'UTC');

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
        snapshot_ids, issued_by, correction_reason, recorded_cutoff)
    SELECT p_client_id, p_month, next_version, f.requests, f.uncached_input_tokens,
           f.cache_read_input_tokens, f.cache_write_5m_input_tokens, f.cache_write_1h_input_tokens,
           f.output_tokens, f.reasoning_tokens, f.original_cost_usd, f.actual_cost_usd,
           f.savings_usd, f.by_mechanics, f.by_feature_tag, f.snapshot_ids,
           pg_catalog.format('%s:%s', current_user,
                             COALESCE(pg_catalog.lower(claims ->> 'email'), claims ->> 'sub', session_user::text)),
           p_correction_reason, cutoff
      FROM tessera.monthly_reading_figures_upto(p_client_id, p_month, cutoff) AS f
    RETURNING r.* INTO issued;

    RETURN issued;
END
$function$;

COMMENT ON FUNCTION tessera.issue_monthly_reading(uuid, date, text) IS
    'Issue the next version of a client''s monthly reading from the raw optimize_savings rows recorded up to now, keeping that cut-off (operators and service_role; READ COMMITTED). A correction (version > 1) needs a reason.';

REVOKE ALL ON FUNCTION tessera.issue_monthly_reading(uuid, date, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.issue_monthly_reading(uuid, date, text) TO authenticated;
GRANT EXECUTE ON FUNCTION tessera.issue_monthly_reading(uuid, date, text) TO service_role;
