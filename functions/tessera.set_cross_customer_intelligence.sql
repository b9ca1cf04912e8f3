-- tessera.set_cross_customer_intelligence: the API entry point. The rules, checks and
-- their reasons live in its SECURITY DEFINER body,
-- tessera_private.set_cross_customer_intelligence
-- (functions/tessera_private.set_cross_customer_intelligence.sql). This wrapper is
-- SECURITY INVOKER so that no definer body sits in the exposed schema (Supabase Security
-- Advisor lints 0028/0029; tests/lints/0018 and 0019); EXECUTE on both goes to exactly
-- the same roles, so every guarantee is unchanged.
CREATE FUNCTION tessera.set_cross_customer_intelligence(p_client_id uuid, p_opt_in boolean)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.set_cross_customer_intelligence(p_client_id, p_opt_in)
$function$;

COMMENT ON FUNCTION tessera.set_cross_customer_intelligence(uuid, boolean) IS
    'Opt the client in (true) or out (false) of cross-customer intelligence; sponsors of the client and operators only. Returns the new state.';

REVOKE ALL ON FUNCTION tessera.set_cross_customer_intelligence(uuid, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.set_cross_customer_intelligence(uuid, boolean) TO authenticated;
