-- The SECURITY DEFINER body behind tessera.set_cross_customer_intelligence. The exposed
-- schema holds only a SECURITY INVOKER wrapper
-- (functions/tessera.set_cross_customer_intelligence.sql) that calls this, so no definer
-- body is reachable as an RPC of PostgREST's schema (Supabase Security Advisor lints
-- 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly the wrapper's roles.
--
-- tessera_private.set_cross_customer_intelligence(client_id, opt_in): the client's opt-in to
-- cross-customer aggregation of anonymised prompt fingerprints (Terms §15). Callable by
-- the client's sponsors and by operators; never gated on balance, plan or seats.
CREATE FUNCTION tessera_private.set_cross_customer_intelligence(p_client_id uuid, p_opt_in boolean)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.set_client_setting(p_client_id, 'contributes_to_cross_customer_intelligence', p_opt_in)
$function$;

COMMENT ON FUNCTION tessera_private.set_cross_customer_intelligence(uuid, boolean) IS
    'Opt the client in (true) or out (false) of cross-customer intelligence; sponsors of the client and operators only. Returns the new state.';

REVOKE ALL ON FUNCTION tessera_private.set_cross_customer_intelligence(uuid, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.set_cross_customer_intelligence(uuid, boolean) TO authenticated;
