-- tessera.erase_client: the API entry point. The rules, checks and their reasons live in
-- its SECURITY DEFINER body, tessera_private.erase_client
-- (functions/tessera_private.erase_client.sql). This wrapper is SECURITY INVOKER so that
-- no definer body sits in the exposed schema (Supabase Security Advisor lints 0028/0029;
-- tests/lints/0018 and 0019); EXECUTE on both goes to exactly the same roles, so every
-- guarantee is unchanged.
CREATE FUNCTION tessera.erase_client(p_client_id uuid, p_reason text)
RETURNS tessera.client_erasures
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT * FROM tessera_private.erase_client(p_client_id, p_reason)
$function$;

COMMENT ON FUNCTION tessera.erase_client(uuid, text) IS
    'Erase a client (operators only): hobby/free lose every row, invoiced keep their accounting rows stripped of personal data for the legal window; the client''s audit events become tombstones (or stripped) authorised by one erasure event. Idempotent; returns the delete-log row.';

REVOKE ALL ON FUNCTION tessera.erase_client(uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.erase_client(uuid, text) TO authenticated;
