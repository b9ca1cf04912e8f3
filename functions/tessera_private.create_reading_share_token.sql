-- The SECURITY DEFINER body behind tessera.create_reading_share_token. The exposed
-- schema holds only a SECURITY INVOKER wrapper
-- (functions/tessera.create_reading_share_token.sql) that calls this, so no definer body
-- is reachable as an RPC of PostgREST's schema (Supabase Security Advisor lints
-- 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly the wrapper's roles.
--
-- tessera_private.create_reading_share_token(client_id, month, version, valid_for): make an
-- unguessable link to one issued monthly reading and return the raw token, once.
--
-- Sponsors of the client and operators only. Only the token's SHA-256 is stored (see
-- schema/81_reading_share_tokens.sql for the format). version NULL = the latest issued
-- version, which the token then keeps showing even after a correction. valid_for is
-- 1 minute to 366 days (default 30 days).
--
-- SECURITY DEFINER because API roles hold no INSERT on the token table: a token must be
-- generated here, never chosen by the caller. It runs as tessera_owner under FORCE RLS,
-- whose policies admit only readings and token rows of clients the JWT caller may
-- manage. "No such reading" and "not yours" give the same answer.
CREATE FUNCTION tessera_private.create_reading_share_token(p_client_id uuid, p_month date,
                                                   p_version integer DEFAULT NULL,
                                                   p_valid_for interval DEFAULT interval '30 days')
RETURNS TABLE (share_token_id uuid, token text, version integer, expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    reading_version integer;
    raw_token text;
    new_id uuid;
    new_expiry timestamptz;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to share readings of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_valid_for IS NULL OR p_valid_for < interval '1 minute' OR p_valid_for > interval '366 days' THEN
        RAISE EXCEPTION 'a share token must be valid for between 1 minute and 366 days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT r.version INTO reading_version
      FROM tessera.monthly_readings AS r
     WHERE r.client_id = p_client_id AND r.month = p_month
       AND (p_version IS NULL OR r.version = p_version)
     ORDER BY r.version DESC
     LIMIT 1;
    IF reading_version IS NULL THEN
        RAISE EXCEPTION '%', pg_catalog.format('no issued reading for client %s, month %s%s', p_client_id,
                        pg_catalog.to_char(p_month, 'YYYY-MM'),
                        CASE WHEN p_version IS NULL THEN '' ELSE ', version ' || p_version END)
            USING ERRCODE = 'no_data_found';
    END IF;

    -- 32 bytes from the server's strong random source, base64url without padding.
    raw_token := 'tsr_' || pg_catalog.replace(p_client_id::text, '-', '') || '_'
        || pg_catalog.rtrim(pg_catalog.translate(pg_catalog.encode(
               pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
               || pg_catalog.uuid_send(pg_catalog.gen_random_uuid()), 'base64'), '+/', '-_'), '=');
    new_expiry := pg_catalog.now() + p_valid_for;

    INSERT INTO tessera.reading_share_tokens AS t
           (client_id, month, version, token_sha256, created_by, expires_at)
    VALUES (p_client_id, p_month, reading_version,
            pg_catalog.sha256(pg_catalog.convert_to(raw_token, 'UTF8')),
            pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                              COALESCE(tessera_private.jwt_email(), session_user::text)),
            new_expiry)
    RETURNING t.share_token_id INTO new_id;

    RETURN QUERY SELECT new_id, raw_token, reading_version, new_expiry;
END
$function$;

COMMENT ON FUNCTION tessera_private.create_reading_share_token(uuid, date, integer, interval) IS
    'Create a share link to one issued monthly reading (sponsor of the client or operator); returns the raw token once, stores only its SHA-256. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.create_reading_share_token(uuid, date, integer, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.create_reading_share_token(uuid, date, integer, interval) TO authenticated;
