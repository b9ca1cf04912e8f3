-- tessera.rotate_api_key: the API entry point. The rules, checks and their reasons live
-- in its SECURITY DEFINER body, tessera_private.rotate_api_key
-- (functions/tessera_private.rotate_api_key.sql). This wrapper is SECURITY INVOKER so
-- that no definer body sits in the exposed schema (Supabase Security Advisor lints
-- 0028/0029; tests/lints/0018 and 0019); EXECUTE on both goes to exactly the same roles,
-- so every guarantee is unchanged.
CREATE FUNCTION tessera.rotate_api_key(p_client_id uuid, p_api_key_id uuid, p_hashed_key text,
                                       p_display_hint text, p_valid_for interval DEFAULT NULL)
RETURNS TABLE (api_key_id uuid, display_hint text, capabilities text[], workload_id uuid,
               expires_at timestamptz)
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT * FROM tessera_private.rotate_api_key(p_client_id, p_api_key_id, p_hashed_key, p_display_hint, p_valid_for)
$function$;

COMMENT ON FUNCTION tessera.rotate_api_key(uuid, uuid, text, text, interval) IS
    'Rotate a proxy API key: register the caller-generated new key (tkh_ hashed form and hint only) with the same name, scope and capabilities and revoke the old one (replaced_by), in one transaction. Sponsor of the client or operator. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.rotate_api_key(uuid, uuid, text, text, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.rotate_api_key(uuid, uuid, text, text, interval) TO authenticated;
