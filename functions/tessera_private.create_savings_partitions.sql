-- tessera_private.create_savings_partitions(from_month, months): make sure the monthly
-- partitions of tessera.optimize_savings exist for `months` UTC months starting at the
-- month of p_from, plus the DEFAULT partition. Returns how many partitions it created.
--
-- Each partition is named optimize_savings_pYYYY_MM and covers
-- [first instant of the UTC month, first instant of the next). Every partition (the
-- DEFAULT one included) gets row-level security ENABLED and FORCED with no policy and
-- no grant: a statement aimed at a partition directly applies the partition's own RLS,
-- not the parent's, so it must see nothing; reads go through the parent. Each also gets
-- the append-only statement trigger (tessera_private.make_append_only; the row trigger
-- is cloned from the parent).
--
-- Existing partitions are skipped, so this is re-runnable (a monthly job calls it a few
-- months ahead). Rows that landed in the DEFAULT partition for a month that has no
-- partition yet make creating that month's partition fail (PostgreSQL checks the DEFAULT
-- partition); move them deliberately, never here.
--
-- One implementation: it calls tessera_private.create_monthly_partitions (since
-- migration 0004; the same partitions, names and triggers as before).
--
-- Not SECURITY DEFINER and granted to nobody: DDL is the owner's, so only migrations and
-- the maintenance job (SET ROLE tessera_owner) run it.
CREATE FUNCTION tessera_private.create_savings_partitions(p_from date, p_months integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RETURN tessera_private.create_monthly_partitions('tessera.optimize_savings'::regclass, p_from, p_months);
END
$function$;

COMMENT ON FUNCTION tessera_private.create_savings_partitions(date, integer) IS
    'Creates the missing monthly (UTC) partitions of tessera.optimize_savings and its DEFAULT partition, each with RLS enabled+forced and the append-only triggers. Re-runnable.';

REVOKE ALL ON FUNCTION tessera_private.create_savings_partitions(date, integer) FROM PUBLIC; -- functions are executable by PUBLIC by default
