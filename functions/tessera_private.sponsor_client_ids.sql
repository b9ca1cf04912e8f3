-- tessera_private.sponsor_client_ids(): the clients whose client_users list the caller's
-- JWT email, as an array (empty, never NULL).
--
-- Policies write
--     client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids())))
-- which PostgreSQL evaluates once per statement (an InitPlan) and can serve from the
-- client_id-leading primary key. Why ARRAY(SELECT unnest(...)) and not the shorter
-- (SELECT tessera_private.sponsor_client_ids()): that scalar subquery's result comes back
-- through a tuple, with the 1-byte varlena header of a short value, and ANY then copies
-- ("detoasts") the array again for every row it tests -- about 50 ns a row, against about
-- 10 ns for the array an ARRAY() subquery builds (migration 0005; docs/benchmarks.md;
-- lint 0015).
-- SECURITY DEFINER for the same reason as is_operator(); as tessera_owner it sees only
-- the client_users rows carrying the caller's own email.
-- PARALLEL SAFE (migration 0005): it only reads, and jwt_claims no longer opens a
-- subtransaction, so a query whose policies call it may run in parallel workers: a
-- sponsor's large read can use the same parallel plan as service_role's (lint 0014).
CREATE FUNCTION tessera_private.sponsor_client_ids()
RETURNS uuid[]
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT COALESCE(pg_catalog.array_agg(DISTINCT cu.client_id), '{}'::uuid[])
      FROM tessera.client_users AS cu
     WHERE cu.email = tessera_private.jwt_email()
$function$;

COMMENT ON FUNCTION tessera_private.sponsor_client_ids() IS
    'Client ids the caller sponsors (JWT email in tessera.client_users); empty for missing or malformed claims. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.sponsor_client_ids() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.sponsor_client_ids() TO authenticated;
