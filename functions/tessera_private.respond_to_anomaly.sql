-- tessera_private.respond_to_anomaly(client, anomaly, action): the one guarded way a
-- person answers an anomaly (issue 15; portal /portal/anomalies), behind the SECURITY
-- INVOKER wrapper tessera.respond_to_anomaly:
--
--   acknowledge     open -> acknowledged                 sponsor of the client, operator
--   reenable_stack  an sla_breach whose stack is disabled: re-enable it (the worker
--                   config version moves, NOTIFY), and acknowledge the anomaly if it
--                   was open; the anomaly row and its history stay
--                                                        sponsor of the client, operator
--   resolve         acknowledged -> resolved             operator only
--
-- Refused: a caller who is neither an operator nor a sponsor of the client, and an
-- anomaly that is not the caller's to see: 42501, the same answer for "no such anomaly"
-- and "not yours"; a sponsor resolving: 42501; an unknown action: 22023; an illegal
-- transition (acknowledging twice, resolving an open one, re-enabling a stack that is
-- not disabled): 23514 from the guard trigger or here. Each change is audited, with
-- its actor, by the audit trigger on tessera.anomalies; the guard trigger stamps who
-- and when.
--
-- SECURITY DEFINER: sponsors hold no UPDATE privilege on tessera.anomalies. As
-- tessera_owner under FORCE RLS it sees only the anomalies of the clients the caller
-- may manage (policy anomalies_definer_manage: operator, or sponsor of the client).
CREATE FUNCTION tessera_private.respond_to_anomaly(p_client_id uuid, p_anomaly_id uuid, p_action text)
RETURNS tessera.anomalies
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    acting_role text := pg_catalog.current_setting('role');
    row_before tessera.anomalies;
    row_after tessera.anomalies;
BEGIN
    IF p_action IS NULL OR p_action NOT IN ('acknowledge', 'reenable_stack', 'resolve') THEN
        RAISE EXCEPTION 'unknown anomaly action %: acknowledge, reenable_stack or resolve',
            pg_catalog.quote_nullable(p_action)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF acting_role IS DISTINCT FROM 'authenticated' OR NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to act on anomaly % of client %', p_anomaly_id, p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT a.* INTO row_before FROM tessera.anomalies AS a
     WHERE a.client_id = p_client_id AND a.anomaly_id = p_anomaly_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'not permitted to act on anomaly % of client %', p_anomaly_id, p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    IF p_action = 'acknowledge' THEN
        IF row_before.state <> 'open' THEN
            RAISE EXCEPTION 'anomaly %: illegal transition % -> acknowledged (open -> acknowledged -> resolved)',
                p_anomaly_id, row_before.state
                USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_state_transition';
        END IF;
        UPDATE tessera.anomalies AS a SET state = 'acknowledged'
         WHERE a.client_id = p_client_id AND a.anomaly_id = p_anomaly_id
        RETURNING a.* INTO row_after;
    ELSIF p_action = 'resolve' THEN
        IF NOT tessera_private.is_operator() THEN
            RAISE EXCEPTION 'only an operator may resolve an anomaly'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF row_before.state <> 'acknowledged' THEN
            RAISE EXCEPTION 'anomaly %: illegal transition % -> resolved (open -> acknowledged -> resolved)',
                p_anomaly_id, row_before.state
                USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_state_transition';
        END IF;
        UPDATE tessera.anomalies AS a SET state = 'resolved'
         WHERE a.client_id = p_client_id AND a.anomaly_id = p_anomaly_id
        RETURNING a.* INTO row_after;
    ELSE
        IF NOT row_before.stack_disabled THEN
            RAISE EXCEPTION 'anomaly % has no disabled stack to re-enable', p_anomaly_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_state_transition';
        END IF;
        UPDATE tessera.anomalies AS a
           SET stack_disabled = false,
               state = CASE WHEN a.state = 'open' THEN 'acknowledged' ELSE a.state END
         WHERE a.client_id = p_client_id AND a.anomaly_id = p_anomaly_id
        RETURNING a.* INTO row_after;
    END IF;
    RETURN row_after;
END
$function$;

COMMENT ON FUNCTION tessera_private.respond_to_anomaly(uuid, uuid, text) IS
    'Acknowledge an anomaly, re-enable an SLA-disabled stack (sponsor of the client or operator) or resolve it (operator); every change audited. Behind tessera.respond_to_anomaly. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.respond_to_anomaly(uuid, uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.respond_to_anomaly(uuid, uuid, text) TO authenticated;
