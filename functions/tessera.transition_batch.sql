-- tessera.transition_batch(client_id, batch_id, state, provider_batch_id, reason): move a
-- batch along its state machine (schema/94_batches.sql) and return the time of the
-- change.
--
-- Callers: the proxy (dispatch, fail) and the settlement job (complete, fail, expire).
-- The legality of the move is the trigger's (55000 for an illegal or post-terminal
-- move, for every role); this function only finds the batch of that client (P0002
-- otherwise: another client's batch id is "not found"). Entering a terminal state
-- destroys the batch's settlement secret in the same transaction (trigger). SECURITY
-- DEFINER: callers hold no UPDATE privilege; as tessera_owner under FORCE RLS it reaches
-- only the client named by tessera.recording_client_id (set here, cleared after).
CREATE FUNCTION tessera.transition_batch(p_client_id uuid, p_batch_id uuid, p_state text,
                                         p_provider_batch_id text DEFAULT NULL,
                                         p_reason text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed timestamptz;
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    UPDATE tessera.batches AS b
       SET state = p_state,
           provider_batch_id = COALESCE(p_provider_batch_id, b.provider_batch_id),
           state_reason = NULLIF(pg_catalog.btrim(p_reason), '')
     WHERE b.client_id = p_client_id AND b.batch_id = p_batch_id
    RETURNING b.state_changed_at INTO changed;
    IF changed IS NULL THEN
        RAISE EXCEPTION 'batch % of client % not found', p_batch_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    RETURN changed;
END
$function$;

COMMENT ON FUNCTION tessera.transition_batch(uuid, uuid, text, text, text) IS
    'Move a batch along pending -> dispatched -> completed | failed | expired (tessera_proxy, tessera_settlement); terminal states destroy its secret. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.transition_batch(uuid, uuid, text, text, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.transition_batch(uuid, uuid, text, text, text) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.transition_batch(uuid, uuid, text, text, text) TO tessera_settlement;
