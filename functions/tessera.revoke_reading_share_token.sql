-- tessera.revoke_reading_share_token: the API entry point. The rules, checks and their
-- reasons live in its SECURITY DEFINER body, tessera_private.revoke_reading_share_token
-- (functions/tessera_private.revoke_reading_share_token.sql). This wrapper is SECURITY
-- INVOKER so that no definer body sits in the exposed schema (Supabase Security Advisor
-- lints 0028/0029; tests/lints/0018 and 0019); EXECUTE on both goes to exactly the same
-- roles, so every guarantee is unchanged.
CREATE FUNCTION tessera.revoke_reading_share_token(p_client_id uuid, p_share_token_id uuid)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.revoke_reading_share_token(p_client_id, p_share_token_id)
$function$;

COMMENT ON FUNCTION tessera.revoke_reading_share_token(uuid, uuid) IS
    'Revoke a reading share link (sponsor of the client or operator). SECURITY DEFINER, pinned search_path; sets revoked_at only.';

REVOKE ALL ON FUNCTION tessera.revoke_reading_share_token(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.revoke_reading_share_token(uuid, uuid) TO authenticated;
