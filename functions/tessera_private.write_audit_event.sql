-- tessera_private.write_audit_event(...): the one writer of tessera.audit_events.
--
-- Called by the generic row trigger (tessera_private.audit_row_change) and by SECURITY
-- DEFINER functions (tessera.break_glass, tessera.record_auth_failure, the keys and
-- secrets functions), all of which run as tessera_owner. Not SECURITY DEFINER itself,
-- and EXECUTE for nobody but the owner: an API role can reach it only through those.
--
-- The caller gives what happened; who, when, in which request and the content hash are
-- stamped by the BEFORE INSERT trigger (tessera_private.stamp_audit_event) from the
-- session: request.jwt.claims, role/session_user, tessera.request_id,
-- tessera.job_name, tessera.prompt_fingerprint_v1.
--
-- The transaction-local setting tessera.audit_writer is 'write_audit_event' only around
-- its INSERT (set before, cleared after; an error rolls the setting back with the
-- statement); the owner's INSERT policy on tessera.audit_events admits rows only then
-- (policies/audit_events.sql), so no other code running as the owner inserts audit rows
-- by accident. (A SET clause would be tidier, but PostgreSQL 15 lets only superusers
-- put a custom setting in a function's SET clause.) The new event_id comes from currval
-- (session-local): RETURNING would need an owner SELECT policy over every row.
CREATE FUNCTION tessera_private.write_audit_event(
    p_client_id uuid,
    p_entity    text,
    p_entity_id text,
    p_action    text,
    p_before    jsonb DEFAULT NULL,
    p_after     jsonb DEFAULT NULL,
    p_reason    text  DEFAULT NULL,
    p_source_ip inet  DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM pg_catalog.set_config('tessera.audit_writer', 'write_audit_event', true);
    INSERT INTO tessera.audit_events (client_id, entity, entity_id, action, before, after, reason, source_ip)
    VALUES (p_client_id, p_entity, p_entity_id, p_action, p_before, p_after, p_reason, p_source_ip);
    PERFORM pg_catalog.set_config('tessera.audit_writer', '', true);
    RETURN pg_catalog.currval('tessera.audit_events_event_id_seq'::regclass);
END
$function$;

COMMENT ON FUNCTION tessera_private.write_audit_event(uuid, text, text, text, jsonb, jsonb, text, inet) IS
    'Appends one audit event (what happened); the insert trigger stamps actor, request id, fingerprint and content hash. Owner only: reached through triggers and definer functions.';

REVOKE ALL ON FUNCTION tessera_private.write_audit_event(uuid, text, text, text, jsonb, jsonb, text, inet) FROM PUBLIC; -- functions are executable by PUBLIC by default
