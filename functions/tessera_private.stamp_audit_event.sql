-- tessera_private.stamp_audit_event(): BEFORE INSERT trigger of tessera.audit_events
-- (audit_events_stamp, ENABLE ALWAYS, cloned to every partition).
--
-- Everything that says who, when, in which request and what the row hashes to is
-- written here, by the database, never by the caller:
--   txid, occurred_at     must be the defaults (pg_current_xact_id(), now()); a
--                         supplied value is refused, so no row is backdated or moved
--                         out of its writer's transaction (the sealer's horizon)
--   actor_role            the role the session acts as: the SET ROLE role (the GUC
--                         `role`, which SECURITY DEFINER functions do not change), else
--                         the login. Inside a definer function current_user is always
--                         tessera_owner, which would say nothing about the caller.
--   actor_session_role    session_user (the login: authenticator, tessera_proxy, ...)
--   actor_email/sub       from request.jwt.claims (tessera_private.jwt_claims)
--   actor_job             setting tessera.job_name (self-declared by jobs; actor_role is
--                         the authoritative part)
--   request_id            setting tessera.request_id; when unset, one uuid is generated
--                         and stored back in tessera.request_id transaction-locally, so
--                         every event of the transaction shares it
--   prompt_fingerprint_v1 setting tessera.prompt_fingerprint_v1 (JSON text), validated
--                         by the column's CHECK
--   content_hash          tessera_private.audit_content_hash(NEW), computed last
-- A caller who supplies any of them is refused (42501), not silently overwritten: a
-- writer that tries is a bug or an attack, and both should be loud.
--
-- No SET clause names tessera.request_id, so the set_config(..., true) below outlives
-- this call (a function's SET clause restores only the settings it names).
CREATE FUNCTION tessera_private.stamp_audit_event()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    claims jsonb;
    setting text;
BEGIN
    IF NEW.erasure_event_id IS NOT NULL THEN
        RAISE EXCEPTION 'audit_events.erasure_event_id is set by tessera.erase_client on existing rows, never on a new one'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.content_hash IS NOT NULL THEN
        RAISE EXCEPTION 'audit_events.content_hash is computed by the database, never supplied'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.actor_role IS NOT NULL OR NEW.actor_session_role IS NOT NULL OR NEW.actor_email IS NOT NULL
       OR NEW.actor_sub IS NOT NULL OR NEW.actor_job IS NOT NULL OR NEW.request_id IS NOT NULL
       OR NEW.prompt_fingerprint_v1 IS NOT NULL THEN
        RAISE EXCEPTION 'audit_events actor, request_id and prompt_fingerprint_v1 are stamped from the session, never supplied'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Set request.jwt.claims, tessera.request_id, tessera.job_name or tessera.prompt_fingerprint_v1 instead.';
    END IF;
    IF NEW.txid IS DISTINCT FROM pg_catalog.pg_current_xact_id() OR NEW.occurred_at IS DISTINCT FROM pg_catalog.now() THEN
        RAISE EXCEPTION 'audit_events.txid and occurred_at are the writing transaction''s own, never supplied'
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    NEW.actor_role := COALESCE(NULLIF(pg_catalog.current_setting('role'), 'none'), SESSION_USER::text);
    NEW.actor_session_role := SESSION_USER;
    claims := tessera_private.jwt_claims();
    IF pg_catalog.jsonb_typeof(claims -> 'email') = 'string' AND pg_catalog.btrim(claims ->> 'email') <> '' THEN
        NEW.actor_email := pg_catalog.lower(pg_catalog.btrim(claims ->> 'email'));
    END IF;
    IF pg_catalog.jsonb_typeof(claims -> 'sub') = 'string' AND pg_catalog.btrim(claims ->> 'sub') <> '' THEN
        NEW.actor_sub := claims ->> 'sub';
    END IF;
    NEW.actor_job := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('tessera.job_name', true)), '');

    NEW.request_id := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('tessera.request_id', true)), '');
    IF NEW.request_id IS NULL THEN
        NEW.request_id := pg_catalog.gen_random_uuid()::text;
        PERFORM pg_catalog.set_config('tessera.request_id', NEW.request_id, true);
    END IF;

    setting := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('tessera.prompt_fingerprint_v1', true)), '');
    IF setting IS NOT NULL THEN
        BEGIN
            NEW.prompt_fingerprint_v1 := setting::jsonb;
        EXCEPTION WHEN data_exception THEN
            RAISE EXCEPTION 'setting tessera.prompt_fingerprint_v1 is not valid JSON'
                USING ERRCODE = 'invalid_parameter_value';
        END;
    END IF;

    NEW.content_hash := tessera_private.audit_content_hash(NEW);
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.stamp_audit_event() IS
    'BEFORE INSERT trigger of tessera.audit_events: refuses caller-supplied hash, actor, request, txid or time fields, stamps them from the session and computes content_hash (encoding v1).';

REVOKE ALL ON FUNCTION tessera_private.stamp_audit_event() FROM PUBLIC; -- functions are executable by PUBLIC by default
