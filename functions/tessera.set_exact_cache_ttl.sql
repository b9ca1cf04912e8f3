-- tessera.set_exact_cache_ttl: the API entry point. The rules, checks and their reasons
-- live in its SECURITY DEFINER body, tessera_private.set_exact_cache_ttl
-- (functions/tessera_private.set_exact_cache_ttl.sql). This wrapper is SECURITY INVOKER
-- so that no definer body sits in the exposed schema (Supabase Security Advisor lints
-- 0028/0029; tests/lints/0018 and 0019); EXECUTE on both goes to exactly the same roles,
-- so every guarantee is unchanged.
CREATE FUNCTION tessera.set_exact_cache_ttl(p_client_id uuid, p_workload_id uuid, p_ttl interval)
RETURNS bigint
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.set_exact_cache_ttl(p_client_id, p_workload_id, p_ttl)
$function$;

COMMENT ON FUNCTION tessera.set_exact_cache_ttl(uuid, uuid, interval) IS
    'Set a workload''s exact-cache TTL (1 minute .. 30 days): sponsor of the client or operator; bumps the worker config version and NOTIFYs tessera_worker_config. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.set_exact_cache_ttl(uuid, uuid, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.set_exact_cache_ttl(uuid, uuid, interval) TO authenticated;
