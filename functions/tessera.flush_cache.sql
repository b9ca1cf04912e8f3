-- tessera.flush_cache: the API entry point. The rules, checks and their reasons live in
-- its SECURITY DEFINER body, tessera_private.flush_cache
-- (functions/tessera_private.flush_cache.sql). This wrapper is SECURITY INVOKER so that
-- no definer body sits in the exposed schema (Supabase Security Advisor lints 0028/0029;
-- tests/lints/0018 and 0019); EXECUTE on both goes to exactly the same roles, so every
-- guarantee is unchanged.
CREATE FUNCTION tessera.flush_cache(p_client_id uuid, p_workload_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.flush_cache(p_client_id, p_workload_id)
$function$;

COMMENT ON FUNCTION tessera.flush_cache(uuid, uuid) IS
    'Flush the exact cache of a workload (or of every workload of the client): sponsor of the client or operator. Returns the number of entries deleted. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.flush_cache(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.flush_cache(uuid, uuid) TO authenticated;
