-- tessera.cache_put(client_id, workload_id, entry_id, response_body, content_type): store
-- (or refresh) the calling workload's exact-cache entry for a normalised request body;
-- returns its expiry.
--
-- Only the hash of the request (entry_id, 32 bytes) and the response body are stored,
-- never the prompt. expires_at = now() + the workload's exact_cache_ttl (default 7
-- days). Refused (42501) when the workload has not opted in to exact_cache or the
-- client's kill switch is engaged; 23503 when the workload is not the client's.
-- tessera_proxy only; SECURITY DEFINER, confined to the (client, workload) pair by the
-- owner policy (settings tessera.recording_client_id / recording_workload_id).
CREATE FUNCTION tessera.cache_put(p_client_id uuid, p_workload_id uuid, p_entry_id bytea,
                                  p_response_body bytea, p_content_type text DEFAULT 'application/json')
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    opted_in boolean;
    killed boolean;
    ttl interval;
    expiry timestamptz;
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    PERFORM pg_catalog.set_config('tessera.recording_workload_id', COALESCE(p_workload_id::text, ''), true);
    SELECT w.mechanic_exact_cache, c.optimisation_kill_switch, COALESCE(s.exact_cache_ttl, interval '7 days')
      INTO opted_in, killed, ttl
      FROM tessera.workloads AS w
      JOIN tessera.clients AS c ON c.client_id = w.client_id
      LEFT JOIN tessera.workload_settings AS s
        ON s.client_id = w.client_id AND s.workload_id = w.workload_id
     WHERE w.client_id = p_client_id AND w.workload_id = p_workload_id;
    IF opted_in IS NULL THEN
        RAISE EXCEPTION 'workload % is not a workload of client %', p_workload_id, p_client_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF killed THEN
        RAISE EXCEPTION 'client %: the optimisation kill switch is engaged; the exact cache is off (pure pass-through)', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT opted_in THEN
        RAISE EXCEPTION 'workload % has not opted in to exact_cache', p_workload_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    expiry := pg_catalog.now() + ttl;
    INSERT INTO tessera.cache_entries AS e
           (client_id, workload_id, entry_id, response_body, content_type, stored_at, expires_at)
    VALUES (p_client_id, p_workload_id, p_entry_id, p_response_body,
            COALESCE(p_content_type, 'application/json'), pg_catalog.now(), expiry)
    ON CONFLICT ON CONSTRAINT cache_entries_pkey DO UPDATE
       SET response_body = EXCLUDED.response_body, content_type = EXCLUDED.content_type,
           stored_at = EXCLUDED.stored_at, expires_at = EXCLUDED.expires_at;

    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    PERFORM pg_catalog.set_config('tessera.recording_workload_id', '', true);
    RETURN expiry;
END
$function$;

COMMENT ON FUNCTION tessera.cache_put(uuid, uuid, bytea, bytea, text) IS
    'Store the calling workload''s exact-cache entry (hash of the normalised body + response; never the prompt), expiring after the workload''s TTL (tessera_proxy only). SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.cache_put(uuid, uuid, bytea, bytea, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.cache_put(uuid, uuid, bytea, bytea, text) TO tessera_proxy;
