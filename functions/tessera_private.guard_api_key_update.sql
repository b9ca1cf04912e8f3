-- tessera_private.guard_api_key_update(): BEFORE UPDATE trigger on tessera.api_keys.
--
-- The only change ever allowed is revocation, once: revoked_at from NULL to a time, with
-- revoked_by (and optionally revoke_reason and replaced_by) set in the same statement;
-- every other column unchanged. So a key can never widen its capabilities, move to
-- another client or workload, lose its expiry or be un-revoked. ENABLE ALWAYS, so it
-- holds for every role (owner included) and under session_replication_role = replica. It
-- compares the whole row minus the revocation columns, so a column added later is
-- protected too.
CREATE FUNCTION tessera_private.guard_api_key_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    revocation CONSTANT text[] := ARRAY['revoked_at', 'revoked_by', 'revoke_reason', 'replaced_by'];
BEGIN
    IF OLD.revoked_at IS NOT NULL OR NEW.revoked_at IS NULL
       OR (pg_catalog.to_jsonb(NEW) - revocation) IS DISTINCT FROM (pg_catalog.to_jsonb(OLD) - revocation) THEN
        RAISE EXCEPTION 'an API key can only be revoked, once; its client, scope, capabilities and expiry never change'
            USING ERRCODE = 'insufficient_privilege',
                  SCHEMA = TG_TABLE_SCHEMA,
                  TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_api_key_update() IS
    'BEFORE UPDATE trigger on tessera.api_keys: only revocation (revoked_at NULL -> time, with revoked_by) is allowed (SQLSTATE 42501 otherwise), for every role.';

REVOKE ALL ON FUNCTION tessera_private.guard_api_key_update() FROM PUBLIC; -- functions are executable by PUBLIC by default
