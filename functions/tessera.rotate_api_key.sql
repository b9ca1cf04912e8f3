-- tessera.rotate_api_key(client_id, api_key_id, valid_for): replace a key by a new one
-- with the same name, workload scope and capabilities, and revoke the old one, in one
-- transaction. Returns the new raw key once (as tessera.create_api_key).
--
-- Rotation can only keep or narrow (never widen) what a key may do: it copies the old
-- key's capabilities and scope, and nothing else is accepted. The old key's row records
-- replaced_by. Both steps are audited by the table's audit trigger (an insert and an
-- update). Sponsors of the client and operators only; SECURITY DEFINER for the same
-- reason as create_api_key.
CREATE FUNCTION tessera.rotate_api_key(p_client_id uuid, p_api_key_id uuid,
                                       p_valid_for interval DEFAULT NULL)
RETURNS TABLE (api_key_id uuid, api_key text, display_hint text, capabilities text[],
               workload_id uuid, expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    old tessera.api_keys;
    fresh record;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to rotate API keys of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT k.* INTO old
      FROM tessera.api_keys AS k
     WHERE k.client_id = p_client_id AND k.api_key_id = p_api_key_id
       FOR UPDATE;
    IF old.api_key_id IS NULL THEN
        RAISE EXCEPTION 'API key % of client % not found', p_api_key_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF old.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'API key % was revoked at %; create a new key instead', p_api_key_id, old.revoked_at
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    SELECT * INTO STRICT fresh
      FROM tessera.create_api_key(p_client_id, old.capabilities, old.name, old.workload_id, p_valid_for);

    UPDATE tessera.api_keys AS k
       SET revoked_at = pg_catalog.now(),
           revoked_by = pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                                          COALESCE(tessera_private.jwt_email(), session_user::text)),
           revoke_reason = 'rotated',
           replaced_by = fresh.api_key_id
     WHERE k.client_id = p_client_id AND k.api_key_id = p_api_key_id;

    RETURN QUERY SELECT fresh.api_key_id, fresh.api_key, fresh.display_hint, fresh.capabilities,
                        fresh.workload_id, fresh.expires_at;
END
$function$;

COMMENT ON FUNCTION tessera.rotate_api_key(uuid, uuid, interval) IS
    'Rotate a proxy API key: create a new key with the same name, scope and capabilities and revoke the old one (replaced_by), in one transaction; returns the new raw key once. Sponsor of the client or operator. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.rotate_api_key(uuid, uuid, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.rotate_api_key(uuid, uuid, interval) TO authenticated;
