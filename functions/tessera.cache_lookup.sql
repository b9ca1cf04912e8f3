-- tessera.cache_lookup(client_id, workload_id, entry_id): the exact-cache entry of the
-- calling workload for this normalised request body, or no row.
--
-- entry_id = SHA-256 of the RFC 8785-canonical request body (tessera_db.cache.entry_id).
-- The proxy passes the (client_id, workload_id) of the verified API key. The lookup
-- walks only that workload's partition of the cache: it runs as tessera_owner under
-- FORCE RLS, and the owner's only policy on tessera.cache_entries admits rows of the
-- (client, workload) pair in the settings tessera.recording_client_id /
-- tessera.recording_workload_id, which this function sets from its arguments. So an
-- identical body cached by another workload or client is never returned.
--
-- No row when: no entry; the entry has expired (expires_at) or is older than the
-- workload's current TTL (a shortened TTL applies at once); the workload has not opted
-- in to exact_cache; or the client's kill switch is engaged (pure pass-through).
-- tessera_proxy only. STABLE would do, but the settings are written: VOLATILE.
CREATE FUNCTION tessera.cache_lookup(p_client_id uuid, p_workload_id uuid, p_entry_id bytea)
RETURNS TABLE (response_body bytea, content_type text, stored_at timestamptz, expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    PERFORM pg_catalog.set_config('tessera.recording_workload_id', COALESCE(p_workload_id::text, ''), true);
    RETURN QUERY
        SELECT e.response_body, e.content_type, e.stored_at, e.expires_at
          FROM tessera.cache_entries AS e
          JOIN tessera.workloads AS w
            ON w.client_id = e.client_id AND w.workload_id = e.workload_id
          JOIN tessera.clients AS c ON c.client_id = e.client_id
          LEFT JOIN tessera.workload_settings AS s
            ON s.client_id = e.client_id AND s.workload_id = e.workload_id
         WHERE e.client_id = p_client_id AND e.workload_id = p_workload_id AND e.entry_id = p_entry_id
           AND e.expires_at > pg_catalog.now()
           AND e.stored_at + COALESCE(s.exact_cache_ttl, interval '7 days') > pg_catalog.now()
           AND w.mechanic_exact_cache
           AND NOT c.optimisation_kill_switch;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    PERFORM pg_catalog.set_config('tessera.recording_workload_id', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.cache_lookup(uuid, uuid, bytea) IS
    'Exact-cache lookup within the calling workload''s own partition (tessera_proxy only); never an expired entry, nothing under the kill switch or without the exact_cache opt-in. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.cache_lookup(uuid, uuid, bytea) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.cache_lookup(uuid, uuid, bytea) TO tessera_proxy;
