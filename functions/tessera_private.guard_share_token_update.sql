-- tessera_private.guard_share_token_update(): BEFORE UPDATE trigger on
-- tessera.reading_share_tokens. The only change ever allowed is revocation: revoked_at
-- from NULL to a time, every other column unchanged. ENABLE ALWAYS, so it holds for every
-- role (owner included) and under session_replication_role = replica. It compares the
-- whole row minus revoked_at, so a column added later is protected too.
CREATE FUNCTION tessera_private.guard_share_token_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF OLD.revoked_at IS NOT NULL OR NEW.revoked_at IS NULL
       OR (pg_catalog.to_jsonb(NEW) - 'revoked_at') IS DISTINCT FROM (pg_catalog.to_jsonb(OLD) - 'revoked_at') THEN
        RAISE EXCEPTION 'a share token can only be revoked, once; nothing else about it changes'
            USING ERRCODE = 'insufficient_privilege',
                  SCHEMA = TG_TABLE_SCHEMA,
                  TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_share_token_update() IS
    'BEFORE UPDATE trigger on tessera.reading_share_tokens: only revoked_at NULL -> time is allowed (SQLSTATE 42501 otherwise), for every role.';

REVOKE ALL ON FUNCTION tessera_private.guard_share_token_update() FROM PUBLIC; -- functions are executable by PUBLIC by default
