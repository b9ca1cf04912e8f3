-- tessera.audit_sealable_leaves(prev_horizon, horizon): the (event_id, content_hash) of
-- every audit row with prev_horizon <= txid < horizon, in seal order (event_id): the
-- leaves the next checkpoint appends.
--
-- horizon must not be above pg_snapshot_xmin of the calling statement's snapshot
-- (22023 otherwise): below it every writer has ended, so the set is complete and final,
-- and a late-committing writer (txid >= horizon) waits for the next checkpoint instead of
-- being skipped. The sealer reads its horizon with
-- pg_snapshot_xmin(pg_current_snapshot()) first; xmin never moves backwards.
--
-- Only the three columns the log needs leave the function: no client_id, actor or
-- before/after values. SECURITY DEFINER, EXECUTE for tessera_sealer only; it reads as
-- tessera_owner through the policy audit_events_select_definer_sealer, which admits rows
-- only in a session whose login is tessera_sealer. Reads take ACCESS SHARE only, so
-- writers never wait for the sealer.
CREATE FUNCTION tessera.audit_sealable_leaves(p_prev_horizon xid8, p_horizon xid8)
RETURNS TABLE (event_id bigint, content_hash bytea)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_prev_horizon IS NULL OR p_horizon IS NULL OR p_horizon < p_prev_horizon THEN
        RAISE EXCEPTION 'audit_sealable_leaves needs prev_horizon <= horizon (got % and %)', p_prev_horizon, p_horizon
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_horizon > pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) THEN
        RAISE EXCEPTION 'horizon % is above this snapshot''s xmin %: a writer below it may still be running',
                        p_horizon, pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT e.event_id, e.content_hash
      FROM tessera.audit_events AS e
     WHERE e.txid >= p_prev_horizon
       AND e.txid < p_horizon
     ORDER BY e.event_id;
END
$function$;

COMMENT ON FUNCTION tessera.audit_sealable_leaves(xid8, xid8) IS
    'Leaves (event_id, content_hash) of the audit rows with prev_horizon <= txid < horizon, by event_id; horizon must be <= pg_snapshot_xmin. tessera_sealer only (definer).';

REVOKE ALL ON FUNCTION tessera.audit_sealable_leaves(xid8, xid8) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.audit_sealable_leaves(xid8, xid8) TO tessera_sealer;
