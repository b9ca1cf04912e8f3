-- The SECURITY DEFINER body behind tessera.create_api_key. The exposed schema holds only
-- a SECURITY INVOKER wrapper (functions/tessera.create_api_key.sql) that calls this, so
-- no definer body is reachable as an RPC of PostgREST's schema (Supabase Security
-- Advisor lints 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly the
-- wrapper's roles.
--
-- tessera_private.create_api_key(client_id, hashed_key, display_hint, capabilities, name,
-- workload_id, valid_for): register a proxy API key that the caller generated.
--
-- The raw key never reaches the database: the client generates it (Python `secrets`,
-- tessera_db.keys.generate_key: tk_<client hex>_<43 base64url characters>, 256 random
-- bits), shows it once, and sends only its hashed form tkh_<client hex>_<SHA-256 hex>
-- and its display hint tk_…<last 4 characters>. (Until migration 0007 this function
-- generated the key here and returned it over the connection, where a driver, pooler or
-- logged result could keep it.) The database checks what it can check without the key:
-- the hashed form's shape (a 32-byte hash), that its client part is p_client_id (a key
-- naming another client could never verify), the hint's format (CHECK
-- api_keys_display_hint_format), and that the hash is new for the client (UNIQUE
-- api_keys_client_hash_key). It cannot check the hint against the key nor the key's
-- randomness: a caller who registers a guessable key weakens only the keys of a client
-- they manage, and the throttle bounds online guessing.
--
-- Sponsors of the client and operators only (same answer for "no such client" and "not
-- yours"). capabilities are checked against the vocabulary (23514, constraint
-- api_keys_capabilities_known) and normalised to sorted + distinct; workload_id NULL =
-- every workload of the client, else a workload of that client (23503 otherwise);
-- valid_for NULL = no expiry, else 1 minute .. 2 years. Nothing is written on any error.
--
-- SECURITY DEFINER because API roles hold no INSERT on tessera.api_keys. It runs as
-- tessera_owner under FORCE RLS, whose key-management policies admit, only while the
-- setting tessera.managing_client_id names the client (set here after the caller check,
-- restored before returning), key rows of that client if the JWT caller may manage it.
-- The insert is audited by the table's audit trigger (key_sha256 excluded).
CREATE FUNCTION tessera_private.create_api_key(p_client_id uuid, p_hashed_key text, p_display_hint text,
                                       p_capabilities text[], p_name text,
                                       p_workload_id uuid DEFAULT NULL,
                                       p_valid_for interval DEFAULT NULL)
RETURNS TABLE (api_key_id uuid, display_hint text, capabilities text[], workload_id uuid,
               expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    previous text := pg_catalog.current_setting('tessera.managing_client_id', true);
    caps text[];
    new_id uuid;
    new_expiry timestamptz;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to create API keys for client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_hashed_key IS NULL OR p_hashed_key !~ '^tkh_[0-9a-f]{32}_[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'the key must be sent in its hashed form tkh_<client hex>_<sha256 hex>, never raw'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'generate and hash the key in the client (tessera_db.keys.generate_key)';
    END IF;
    IF pg_catalog.substr(p_hashed_key, 5, 32)::uuid <> p_client_id THEN
        RAISE EXCEPTION 'the key names client %, not client %', pg_catalog.substr(p_hashed_key, 5, 32)::uuid, p_client_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_valid_for IS NOT NULL AND (p_valid_for < interval '1 minute' OR p_valid_for > interval '2 years') THEN
        RAISE EXCEPTION 'an API key must be valid for between 1 minute and 2 years (or without expiry)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT pg_catalog.array_agg(DISTINCT c ORDER BY c) INTO caps
      FROM pg_catalog.unnest(p_capabilities) AS c;
    new_expiry := pg_catalog.now() + p_valid_for;

    PERFORM pg_catalog.set_config('tessera.managing_client_id', p_client_id::text, true);
    INSERT INTO tessera.api_keys AS k
           (client_id, key_sha256, display_hint, name, workload_id, capabilities, created_by, expires_at)
    VALUES (p_client_id, pg_catalog.decode(pg_catalog.substr(p_hashed_key, 38), 'hex'), p_display_hint, p_name,
            p_workload_id, COALESCE(caps, '{}'),
            pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                              COALESCE(tessera_private.jwt_email(), session_user::text)),
            new_expiry)
    RETURNING k.api_key_id INTO new_id;
    PERFORM pg_catalog.set_config('tessera.managing_client_id', COALESCE(previous, ''), true);

    RETURN QUERY SELECT new_id, p_display_hint, COALESCE(caps, '{}'::text[]), p_workload_id, new_expiry;
END
$function$;

COMMENT ON FUNCTION tessera_private.create_api_key(uuid, text, text, text[], text, uuid, interval) IS
    'Register a proxy API key generated by the caller (sponsor of the client or operator): only its tkh_ hashed form and display hint are sent and its SHA-256 stored; the raw key never reaches the database. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.create_api_key(uuid, text, text, text[], text, uuid, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.create_api_key(uuid, text, text, text[], text, uuid, interval) TO authenticated;
