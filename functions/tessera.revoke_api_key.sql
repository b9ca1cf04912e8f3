-- tessera.revoke_api_key: the API entry point. The rules, checks and their reasons live
-- in its SECURITY DEFINER body, tessera_private.revoke_api_key
-- (functions/tessera_private.revoke_api_key.sql). This wrapper is SECURITY INVOKER so
-- that no definer body sits in the exposed schema (Supabase Security Advisor lints
-- 0028/0029; tests/lints/0018 and 0019); EXECUTE on both goes to exactly the same roles,
-- so every guarantee is unchanged.
CREATE FUNCTION tessera.revoke_api_key(p_client_id uuid, p_api_key_id uuid, p_reason text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.revoke_api_key(p_client_id, p_api_key_id, p_reason)
$function$;

COMMENT ON FUNCTION tessera.revoke_api_key(uuid, uuid, text) IS
    'Revoke a proxy API key (sponsor of the client or operator); the next verify fails. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.revoke_api_key(uuid, uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.revoke_api_key(uuid, uuid, text) TO authenticated;
