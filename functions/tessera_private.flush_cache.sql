-- The SECURITY DEFINER body behind tessera.flush_cache. The exposed schema holds only a
-- SECURITY INVOKER wrapper (functions/tessera.flush_cache.sql) that calls this, so no
-- definer body is reachable as an RPC of PostgREST's schema (Supabase Security Advisor
-- lints 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly the wrapper's
-- roles.
--
-- tessera_private.flush_cache(client_id, workload_id): delete every exact-cache entry of a
-- workload (all of the client's workloads when workload_id is NULL); returns how many.
--
-- Sponsors of the client and operators (the seed: "Sponsor can flush on demand via
-- portal"). SECURITY DEFINER because API roles hold no DELETE on the cache; as
-- tessera_owner under FORCE RLS the owner's flush policy admits only the entries of
-- clients the JWT caller may manage, so another client's workload id deletes nothing.
-- Each flush writes one audit event (entity cache_entries, action delete, the count).
CREATE FUNCTION tessera_private.flush_cache(p_client_id uuid, p_workload_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    flushed bigint;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to flush the cache of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM tessera.cache_entries AS e
     WHERE e.client_id = p_client_id
       AND (p_workload_id IS NULL OR e.workload_id = p_workload_id);
    GET DIAGNOSTICS flushed = ROW_COUNT;
    -- cache_entries carries no row audit trigger (UNLOGGED, request-path churn); the
    -- flush is a sponsor's decision, so it is audited here as one event.
    PERFORM tessera_private.write_audit_event(
        p_client_id, 'cache_entries', p_workload_id::text, 'delete', NULL,
        pg_catalog.jsonb_build_object('flushed', flushed, 'workload_id', p_workload_id));
    RETURN flushed;
END
$function$;

COMMENT ON FUNCTION tessera_private.flush_cache(uuid, uuid) IS
    'Flush the exact cache of a workload (or of every workload of the client): sponsor of the client or operator. Returns the number of entries deleted. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.flush_cache(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.flush_cache(uuid, uuid) TO authenticated;
