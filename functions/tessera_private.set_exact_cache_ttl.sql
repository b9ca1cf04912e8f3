-- The SECURITY DEFINER body behind tessera.set_exact_cache_ttl. The exposed schema holds
-- only a SECURITY INVOKER wrapper (functions/tessera.set_exact_cache_ttl.sql) that calls
-- this, so no definer body is reachable as an RPC of PostgREST's schema (Supabase
-- Security Advisor lints 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly
-- the wrapper's roles.
--
-- tessera_private.set_exact_cache_ttl(client_id, workload_id, ttl): how long the workload's
-- exact-cache entries live (1 minute .. 30 days; default 7 days). Returns the new config
-- version.
--
-- Sponsors of the client and operators. A shorter TTL applies at once to existing
-- entries (cache_lookup checks stored_at + the current TTL); a longer one applies to
-- entries stored from now on. Bumps the workload's worker config version and NOTIFYs
-- tessera_worker_config. SECURITY DEFINER because no API role writes
-- tessera.workload_settings; as tessera_owner under FORCE RLS it reaches the workload
-- through tessera.recording_client_id, set only after the caller's right to manage the
-- client has been checked.
CREATE FUNCTION tessera_private.set_exact_cache_ttl(p_client_id uuid, p_workload_id uuid, p_ttl interval)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    new_version bigint;
    old_ttl interval;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to change settings of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_ttl IS NULL THEN
        RAISE EXCEPTION 'the exact-cache TTL must be given (1 minute .. 30 days)'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', p_client_id::text, true);
    SELECT s.exact_cache_ttl INTO old_ttl FROM tessera.workload_settings AS s
     WHERE s.client_id = p_client_id AND s.workload_id = p_workload_id;
    INSERT INTO tessera.workload_settings AS s (client_id, workload_id, exact_cache_ttl, config_version)
    SELECT w.client_id, w.workload_id, p_ttl, pg_catalog.nextval('tessera.worker_config_version_seq')
      FROM tessera.workloads AS w
     WHERE w.client_id = p_client_id AND w.workload_id = p_workload_id
    ON CONFLICT ON CONSTRAINT workload_settings_pkey
    DO UPDATE SET exact_cache_ttl = EXCLUDED.exact_cache_ttl, config_version = EXCLUDED.config_version,
                  updated_at = pg_catalog.now()
    RETURNING s.config_version INTO new_version;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    IF new_version IS NULL THEN
        RAISE EXCEPTION 'workload % of client % not found', p_workload_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    -- tessera.workload_settings is exempt from row auditing (its config_version is a
    -- derived counter, see tessera_private.audit_coverage): the TTL change is audited here.
    IF old_ttl IS DISTINCT FROM p_ttl THEN
        PERFORM tessera_private.write_audit_event(p_client_id, 'workload_settings', p_workload_id::text,
            CASE WHEN old_ttl IS NULL THEN 'insert' ELSE 'update' END,
            CASE WHEN old_ttl IS NOT NULL THEN pg_catalog.jsonb_build_object('exact_cache_ttl', old_ttl) END,
            pg_catalog.jsonb_build_object('exact_cache_ttl', p_ttl));
    END IF;
    PERFORM pg_catalog.pg_notify('tessera_worker_config', pg_catalog.jsonb_build_object(
        'client_id', p_client_id, 'workload_id', p_workload_id,
        'config_version', new_version, 'reason', 'settings')::text);
    RETURN new_version;
END
$function$;

COMMENT ON FUNCTION tessera_private.set_exact_cache_ttl(uuid, uuid, interval) IS
    'Set a workload''s exact-cache TTL (1 minute .. 30 days): sponsor of the client or operator; bumps the worker config version and NOTIFYs tessera_worker_config. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.set_exact_cache_ttl(uuid, uuid, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.set_exact_cache_ttl(uuid, uuid, interval) TO authenticated;
