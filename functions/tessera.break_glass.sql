-- tessera.break_glass: the API entry point. The rules, checks and their reasons live in
-- its SECURITY DEFINER body, tessera_private.break_glass
-- (functions/tessera_private.break_glass.sql). This wrapper is SECURITY INVOKER so that
-- no definer body sits in the exposed schema (Supabase Security Advisor lints 0028/0029;
-- tests/lints/0018 and 0019); EXECUTE on both goes to exactly the same roles, so every
-- guarantee is unchanged.
CREATE FUNCTION tessera.break_glass(p_reason text, p_action text, p_client_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.break_glass(p_reason, p_action, p_client_id)
$function$;

COMMENT ON FUNCTION tessera.break_glass(text, text, uuid) IS
    'Operators only: writes a break_glass audit row (reason, permitted action, client) and opens a window for that action until the transaction ends. Returns the event id.';

REVOKE ALL ON FUNCTION tessera.break_glass(text, text, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.break_glass(text, text, uuid) TO authenticated;
