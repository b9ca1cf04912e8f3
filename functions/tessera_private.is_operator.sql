-- tessera_private.is_operator(): is the caller's JWT email listed in tessera.operators?
--
-- SECURITY DEFINER so that the operator policies on tessera.operators do not recurse
-- into themselves. It runs as tessera_owner, which FORCE ROW LEVEL SECURITY still
-- confines: the owner's only policy on tessera.operators shows the row whose email is
-- the caller's own claim, so even this definer cannot read the staff list.
-- search_path is pinned (pg_temp last) and every reference is schema-qualified, so a
-- caller's temporary or same-named objects cannot stand in for the table or helpers.
-- PARALLEL SAFE (migration 0005): it only reads, and jwt_claims no longer opens a
-- subtransaction, so a query whose policies call it may run in parallel workers: a
-- sponsor's large read can use the same parallel plan as service_role's (lint 0014).
CREATE FUNCTION tessera_private.is_operator()
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT EXISTS (
        SELECT 1
          FROM tessera.operators AS o
         WHERE o.email = tessera_private.jwt_email()
    )
$function$;

COMMENT ON FUNCTION tessera_private.is_operator() IS
    'True when the caller''s JWT email is in tessera.operators. SECURITY DEFINER, pinned search_path; false for missing or malformed claims.';

REVOKE ALL ON FUNCTION tessera_private.is_operator() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.is_operator() TO authenticated;
