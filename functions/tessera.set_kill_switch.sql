-- tessera.set_kill_switch: the API entry point. The rules, checks and their reasons live
-- in its SECURITY DEFINER body, tessera_private.set_kill_switch
-- (functions/tessera_private.set_kill_switch.sql). This wrapper is SECURITY INVOKER so
-- that no definer body sits in the exposed schema (Supabase Security Advisor lints
-- 0028/0029; tests/lints/0018 and 0019); EXECUTE on both goes to exactly the same roles,
-- so every guarantee is unchanged.
CREATE FUNCTION tessera.set_kill_switch(p_client_id uuid, p_engaged boolean)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.set_kill_switch(p_client_id, p_engaged)
$function$;

COMMENT ON FUNCTION tessera.set_kill_switch(uuid, boolean) IS
    'Engage (true) or release (false) the client''s optimisation kill switch; sponsors of the client and operators only; never gated on balance, plan or seats. Returns the new state.';

REVOKE ALL ON FUNCTION tessera.set_kill_switch(uuid, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.set_kill_switch(uuid, boolean) TO authenticated;
