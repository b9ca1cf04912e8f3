-- tessera.create_api_key(client_id, capabilities, name, workload_id, valid_for): make a
-- proxy API key and return the raw key, once.
--
-- Sponsors of the client and operators only (same answer for "no such client" and "not
-- yours"). Only the key's SHA-256 is stored (format and reasoning:
-- schema/92_api_keys.sql). capabilities are checked against the vocabulary (23514,
-- constraint api_keys_capabilities_known) and normalised to sorted + distinct;
-- workload_id NULL = every workload of the client, else a workload of that client
-- (23503 otherwise); valid_for NULL = no expiry, else 1 minute .. 2 years.
--
-- SECURITY DEFINER because API roles hold no INSERT on tessera.api_keys: a key must be
-- generated here, never chosen by the caller. It runs as tessera_owner under FORCE RLS,
-- whose policies admit only key rows of clients the JWT caller may manage. The insert is
-- audited by the table's audit trigger (key_sha256 excluded).
CREATE FUNCTION tessera.create_api_key(p_client_id uuid, p_capabilities text[], p_name text,
                                       p_workload_id uuid DEFAULT NULL,
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
    raw_key text;
    caps text[];
    new_id uuid;
    new_expiry timestamptz;
    hint text;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to create API keys for client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_valid_for IS NOT NULL AND (p_valid_for < interval '1 minute' OR p_valid_for > interval '2 years') THEN
        RAISE EXCEPTION 'an API key must be valid for between 1 minute and 2 years (or without expiry)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT pg_catalog.array_agg(DISTINCT c ORDER BY c) INTO caps
      FROM pg_catalog.unnest(p_capabilities) AS c;

    -- 32 bytes from the server's strong random source, base64url without padding.
    raw_key := 'tk_' || pg_catalog.replace(p_client_id::text, '-', '') || '_'
        || pg_catalog.rtrim(pg_catalog.translate(pg_catalog.encode(
               pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
               || pg_catalog.uuid_send(pg_catalog.gen_random_uuid()), 'base64'), '+/', '-_'), '=');
    hint := 'tk_…' || pg_catalog.right(raw_key, 4);
    new_expiry := pg_catalog.now() + p_valid_for;

    INSERT INTO tessera.api_keys AS k
           (client_id, key_sha256, display_hint, name, workload_id, capabilities, created_by, expires_at)
    VALUES (p_client_id, pg_catalog.sha256(pg_catalog.convert_to(raw_key, 'UTF8')), hint, p_name,
            p_workload_id, COALESCE(caps, '{}'),
            pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                              COALESCE(tessera_private.jwt_email(), session_user::text)),
            new_expiry)
    RETURNING k.api_key_id INTO new_id;

    RETURN QUERY SELECT new_id, raw_key, hint, COALESCE(caps, '{}'::text[]), p_workload_id, new_expiry;
END
$function$;

COMMENT ON FUNCTION tessera.create_api_key(uuid, text[], text, uuid, interval) IS
    'Create a proxy API key (sponsor of the client or operator); returns the raw key once, stores only its SHA-256. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.create_api_key(uuid, text[], text, uuid, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.create_api_key(uuid, text[], text, uuid, interval) TO authenticated;
