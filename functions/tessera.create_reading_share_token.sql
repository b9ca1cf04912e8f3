-- tessera.create_reading_share_token: the API entry point. The rules, checks and their
-- reasons live in its SECURITY DEFINER body, tessera_private.create_reading_share_token
-- (functions/tessera_private.create_reading_share_token.sql). This wrapper is SECURITY
-- INVOKER so that no definer body sits in the exposed schema (Supabase Security Advisor
-- lints 0028/0029; tests/lints/0018 and 0019); EXECUTE on both goes to exactly the same
-- roles, so every guarantee is unchanged.
CREATE FUNCTION tessera.create_reading_share_token(p_client_id uuid, p_month date,
                                                   p_version integer DEFAULT NULL,
                                                   p_valid_for interval DEFAULT interval '30 days')
RETURNS TABLE (share_token_id uuid, token text, version integer, expires_at timestamptz)
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT * FROM tessera_private.create_reading_share_token(p_client_id, p_month, p_version, p_valid_for)
$function$;

COMMENT ON FUNCTION tessera.create_reading_share_token(uuid, date, integer, interval) IS
    'Create a share link to one issued monthly reading (sponsor of the client or operator); returns the raw token once, stores only its SHA-256. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.create_reading_share_token(uuid, date, integer, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.create_reading_share_token(uuid, date, integer, interval) TO authenticated;
