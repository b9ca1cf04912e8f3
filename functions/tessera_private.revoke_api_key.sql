-- The SECURITY DEFINER body behind tessera.revoke_api_key. The exposed schema holds only
-- a SECURITY INVOKER wrapper (functions/tessera.revoke_api_key.sql) that calls this, so
-- no definer body is reachable as an RPC of PostgREST's schema (Supabase Security
-- Advisor lints 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly the
-- wrapper's roles.
--
-- tessera_private.revoke_api_key(client_id, api_key_id, reason): stop a key, at once and for good.
--
-- Sponsors of the client and operators only. The next tessera.verify_api_key() call
-- with that key fails (reason revoked). Revoking an already revoked key is refused
-- (55000) so a caller learns it was not the one who stopped it. SECURITY DEFINER (API
-- roles hold no UPDATE on tessera.api_keys), confined like create_api_key by the owner's
-- key-management policies, which apply only while tessera.managing_client_id names the
-- client (set here after the caller check, cleared before returning). The update is
-- audited by the table's audit trigger, the guard trigger lets it touch only the
-- revocation columns, and trigger api_keys_notify_change NOTIFYs tessera_api_keys with
-- the key's hash prefix so a worker drops a cached copy at once.
CREATE FUNCTION tessera_private.revoke_api_key(p_client_id uuid, p_api_key_id uuid, p_reason text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    was_revoked timestamptz;
    found_key boolean;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to revoke API keys of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM pg_catalog.set_config('tessera.managing_client_id', p_client_id::text, true);
    SELECT true, k.revoked_at INTO found_key, was_revoked
      FROM tessera.api_keys AS k
     WHERE k.client_id = p_client_id AND k.api_key_id = p_api_key_id
       FOR UPDATE;
    IF found_key IS NULL THEN
        RAISE EXCEPTION 'API key % of client % not found', p_api_key_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF was_revoked IS NOT NULL THEN
        RAISE EXCEPTION 'API key % was already revoked at %', p_api_key_id, was_revoked
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    UPDATE tessera.api_keys AS k
       SET revoked_at = pg_catalog.now(),
           revoked_by = pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                                          COALESCE(tessera_private.jwt_email(), session_user::text)),
           revoke_reason = NULLIF(pg_catalog.btrim(p_reason), '')
     WHERE k.client_id = p_client_id AND k.api_key_id = p_api_key_id;
    PERFORM pg_catalog.set_config('tessera.managing_client_id', '', true);
    RETURN pg_catalog.now();
END
$function$;

COMMENT ON FUNCTION tessera_private.revoke_api_key(uuid, uuid, text) IS
    'Revoke a proxy API key (sponsor of the client or operator); the next verify fails. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.revoke_api_key(uuid, uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.revoke_api_key(uuid, uuid, text) TO authenticated;
