-- tessera.worker_config(client_id, workload_id): the effective configuration of one
-- workload for the edge worker, and its config version.
--
--   kill_switch       the client's optimisation kill switch
--   pass_through      = kill_switch: forward the request untouched, no mechanic acts
--   mechanics         the mechanics that may act (sorted names without the mechanic_
--                     prefix): the workload's opt-ins, or '{}' under the kill switch
--   opted_in          the workload's opt-ins as configured (shown to explain a pause)
--   exact_cache_ttl   lifetime of exact-cache entries (default 7 days)
--   config_version    monotonically increasing (tessera.workload_settings; 0 = never
--                     changed since the workload existed before versioning)
--   disabled_stacks   the stacks the quality SLA disabled for this workload (issue 15):
--                     a JSON array of sorted mechanic arrays, e.g. [["auto_route",
--                     "prompt_cache_header"]]. The worker must not fire exactly such a
--                     stack; its parts alone, and other stacks, stay live (surgical
--                     rollback). Each disable and re-enable moves config_version.
--
-- The proxy passes the config_version it acted on with every recorded request
-- (record_request / record_requests, config_version); consent is judged against what
-- that version said (tessera.worker_config_versions).
--
-- A worker keeps the version it last read and LISTENs on channel tessera_worker_config:
-- every change of a mechanic flag, the kill switch or a workload setting NOTIFYs there
-- (schema/97_workload_settings.sql), so it refreshes at once. No row when the workload is
-- not the client's. Nothing here looks at balance, plan or seats: the kill switch takes
-- effect whatever they are.
--
-- The proxy reads this on every request (unless it caches the config by version), so
-- the mechanics are listed column by column, in name order, rather than found by
-- their mechanic_ prefix in to_jsonb(workload): the generic form (a jsonb of the row,
-- jsonb_each, a sorted array_agg) was more than half of the call. A mechanic column
-- added later must be added here too: tests/test_worker_config.py fails until it is
-- (every mechanic_ column of tessera.workloads, switched on, must be reported).
--
-- tessera_proxy only (and service_role, for tooling). SECURITY DEFINER; as tessera_owner
-- under FORCE RLS it reads only the client named by tessera.recording_client_id (set
-- here, cleared after).
CREATE FUNCTION tessera.worker_config(p_client_id uuid, p_workload_id uuid)
RETURNS TABLE (client_id uuid, workload_id uuid, kill_switch boolean, pass_through boolean,
               mechanics text[], opted_in text[], exact_cache_ttl interval, config_version bigint,
               disabled_stacks jsonb)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    RETURN QUERY
        SELECT w.client_id, w.workload_id, c.optimisation_kill_switch, c.optimisation_kill_switch,
               CASE WHEN c.optimisation_kill_switch THEN '{}'::text[] ELSE opt.names END,
               opt.names,
               COALESCE(s.exact_cache_ttl, interval '7 days'),
               COALESCE(s.config_version, 0),
               COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(a.mechanics) ORDER BY a.mechanics)
                           FROM tessera.anomalies AS a
                          WHERE a.client_id = w.client_id AND a.workload_id = w.workload_id AND a.stack_disabled),
                        '[]'::jsonb)
          FROM tessera.workloads AS w
          JOIN tessera.clients AS c ON c.client_id = w.client_id
          LEFT JOIN tessera.workload_settings AS s
            ON s.client_id = w.client_id AND s.workload_id = w.workload_id
          CROSS JOIN LATERAL (
              SELECT pg_catalog.array_remove(ARRAY[
                         CASE WHEN w.mechanic_auto_route THEN 'auto_route' END,
                         CASE WHEN w.mechanic_batch_routing THEN 'batch_routing' END,
                         CASE WHEN w.mechanic_exact_cache THEN 'exact_cache' END,
                         CASE WHEN w.mechanic_history_pruning THEN 'history_pruning' END,
                         CASE WHEN w.mechanic_json_schema_enforcement THEN 'json_schema_enforcement' END,
                         CASE WHEN w.mechanic_prompt_cache_header THEN 'prompt_cache_header' END,
                         CASE WHEN w.mechanic_semantic_cache THEN 'semantic_cache' END]::text[], NULL) AS names) AS opt
         WHERE w.client_id = p_client_id AND w.workload_id = p_workload_id;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.worker_config(uuid, uuid) IS
    'Effective edge-worker config of a workload: mechanics (none under the kill switch = pure pass-through), exact-cache TTL, a monotonically increasing config version and the stacks the quality SLA disabled; changes NOTIFY tessera_worker_config. tessera_proxy and service_role. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.worker_config(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.worker_config(uuid, uuid) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.worker_config(uuid, uuid) TO service_role;
