-- tessera.replay_dead_letters(client_id, max_requests): retry the open dead letters
-- (tessera-db savings replay-rejected), e.g. after the missing price was published.
--
-- Open = a request (client_id, request_id) with a 'rejected' row and no 'resolved' row.
-- Each is retried once, with the fields of its LATEST rejected row, through
-- tessera.record_requests (the same rules as the proxy's calls; at most 1000 per
-- statement), oldest first, at most max_requests per call (NULL client = every client).
--   recorded / replayed  a 'resolved' row is appended (recorded: written now, exactly
--                        once: the request_id is the idempotency key; replayed: it had
--                        been recorded meanwhile, e.g. the proxy sent it again)
--   rejected again       record_requests appended another 'rejected' row (the last
--                        attempt), with today's reason; it stays open
-- Not retried (they stay visible in tessera.savings_dead_letter_status):
--   * rows without a request_id: they can never be recorded;
--   * requests last refused with 42501, a mechanic the workload had not opted in to
--     (turned off while the request was in flight): recording one later, after the
--     sponsor turned the mechanic back on, would credit a saving the customer had not
--     consented to when the request happened. The operations issue records them with
--     no saving credited instead.
-- Returns one row per request tried: client_id, request_id, outcome, sqlstate, message.
--
-- SECURITY DEFINER, EXECUTE for service_role only (a server-side job). As tessera_owner
-- under FORCE RLS it reads dead letters only while the transaction-local
-- tessera.replaying_dead_letters is 'on' (set here, cleared before returning), and
-- appends 'resolved' rows for the clients it replayed (tessera.ingest_client_ids).
CREATE FUNCTION tessera.replay_dead_letters(p_client_id uuid DEFAULT NULL, p_max_requests integer DEFAULT 1000)
RETURNS TABLE (client_id uuid, request_id text, outcome text, sqlstate text, message text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    chunk_size CONSTANT integer := 1000;
    todo jsonb;
    chunk jsonb;
    done jsonb;
    caller text := COALESCE(NULLIF(pg_catalog.current_setting('role'), 'none'), session_user::text);
BEGIN
    IF p_max_requests IS NULL OR p_max_requests < 1 THEN
        RAISE EXCEPTION 'max_requests must be a positive number' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM pg_catalog.set_config('tessera.replaying_dead_letters', 'on', true);
    SELECT COALESCE(pg_catalog.jsonb_agg(o.payload ORDER BY o.first_id), '[]'::jsonb) INTO todo
      FROM (SELECT l.payload, l.first_id
              FROM (SELECT DISTINCT ON (d.client_id, d.request_id)
                           d.payload, d.sqlstate,
                           pg_catalog.min(d.dead_letter_id) OVER (PARTITION BY d.client_id, d.request_id) AS first_id
                      FROM tessera.savings_dead_letters AS d
                     WHERE d.entry = 'rejected' AND d.request_id IS NOT NULL
                       AND (p_client_id IS NULL OR d.client_id = p_client_id)
                       AND NOT EXISTS (SELECT 1 FROM tessera.savings_dead_letters AS r
                                        WHERE r.client_id = d.client_id AND r.request_id = d.request_id
                                          AND r.entry = 'resolved')
                     ORDER BY d.client_id, d.request_id, d.dead_letter_id DESC) AS l
             WHERE l.sqlstate <> '42501'
             ORDER BY l.first_id
             LIMIT p_max_requests) AS o;
    PERFORM pg_catalog.set_config('tessera.replaying_dead_letters', '', true);

    FOR chunk IN
        SELECT pg_catalog.jsonb_agg(t.item ORDER BY t.ord)
          FROM pg_catalog.jsonb_array_elements(todo) WITH ORDINALITY AS t(item, ord)
         GROUP BY (t.ord - 1) / chunk_size
         ORDER BY (t.ord - 1) / chunk_size
    LOOP
        SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(o) ORDER BY o.ordinality) INTO done
          FROM tessera.record_requests(chunk) AS o;

        -- Resolved rows for what is in the ledger now (their clients admitted by the
        -- insert policy through tessera.ingest_client_ids).
        PERFORM pg_catalog.set_config('tessera.ingest_client_ids',
            COALESCE((SELECT '{' || pg_catalog.string_agg(DISTINCT o.client_id::text, ',') || '}'
                        FROM pg_catalog.jsonb_to_recordset(done) AS o(client_id uuid, outcome text)
                       WHERE o.outcome IN ('recorded', 'replayed')), ''), true);
        INSERT INTO tessera.savings_dead_letters AS d (client_id, request_id, entry, resolution, db_role)
        SELECT o.client_id, o.request_id, 'resolved', o.outcome, caller
          FROM pg_catalog.jsonb_to_recordset(done) AS o(ordinality integer, client_id uuid, request_id text, outcome text)
         WHERE o.outcome IN ('recorded', 'replayed')
         ORDER BY o.ordinality;
        PERFORM pg_catalog.set_config('tessera.ingest_client_ids', '', true);

        RETURN QUERY
            SELECT o.client_id, o.request_id, o.outcome, o.sqlstate, o.message
              FROM pg_catalog.jsonb_to_recordset(done)
                   AS o(ordinality integer, client_id uuid, request_id text, outcome text, sqlstate text, message text)
             ORDER BY o.ordinality;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION tessera.replay_dead_letters(uuid, integer) IS
    'Retry open dead letters of tessera.record_requests (oldest first, one client or all): recorded or already-recorded ones get an appended resolved row, the rest another rejected row. service_role only (tessera-db savings replay-rejected).';

REVOKE ALL ON FUNCTION tessera.replay_dead_letters(uuid, integer) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.replay_dead_letters(uuid, integer) TO service_role;
