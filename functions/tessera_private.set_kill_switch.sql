-- The SECURITY DEFINER body behind tessera.set_kill_switch. The exposed schema holds
-- only a SECURITY INVOKER wrapper (functions/tessera.set_kill_switch.sql) that calls
-- this, so no definer body is reachable as an RPC of PostgREST's schema (Supabase
-- Security Advisor lints 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly
-- the wrapper's roles.
--
-- tessera_private.set_kill_switch(client_id, engaged): the client's global optimisation pause.
--
-- Engaged = every workload of the client runs as pure pass-through. Callable by the
-- client's sponsors and by operators. Contract-codified: it never looks at balance,
-- plan tier or seat status, and no other condition may ever be added here.
-- SECURITY DEFINER because sponsors hold no UPDATE privilege on tessera.clients.
CREATE FUNCTION tessera_private.set_kill_switch(p_client_id uuid, p_engaged boolean)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.set_client_setting(p_client_id, 'optimisation_kill_switch', p_engaged)
$function$;

COMMENT ON FUNCTION tessera_private.set_kill_switch(uuid, boolean) IS
    'Engage (true) or release (false) the client''s optimisation kill switch; sponsors of the client and operators only; never gated on balance, plan or seats. Returns the new state.';

REVOKE ALL ON FUNCTION tessera_private.set_kill_switch(uuid, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.set_kill_switch(uuid, boolean) TO authenticated;
