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
-- Not SECURITY DEFINER and granted to nobody: DDL is the owner's, so only migrations and
-- the maintenance job (SET ROLE tessera_owner) run it.
CREATE FUNCTION tessera_private.create_savings_partitions(p_from date, p_months integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    first_month date := pg_catalog.date_trunc('month', p_from)::date;
    month date;
    part_name text;
    created integer := 0;
BEGIN
    IF p_from IS NULL OR p_months IS NULL OR p_months < 0 OR p_months > 120 THEN
        RAISE EXCEPTION 'create_savings_partitions needs a month and 0..120 months, got %, %', p_from, p_months
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.to_regclass('tessera.optimize_savings_default') IS NULL THEN
        EXECUTE 'CREATE TABLE tessera.optimize_savings_default PARTITION OF tessera.optimize_savings DEFAULT';
        EXECUTE 'ALTER TABLE tessera.optimize_savings_default ENABLE ROW LEVEL SECURITY';
        EXECUTE 'ALTER TABLE tessera.optimize_savings_default FORCE ROW LEVEL SECURITY';
        PERFORM tessera_private.make_append_only('tessera.optimize_savings_default'::regclass);
        created := created + 1;
    END IF;
    FOR i IN 0 .. p_months - 1 LOOP
        month := (first_month + pg_catalog.make_interval(months => i))::date;
        part_name := pg_catalog.format('optimize_savings_p%s', pg_catalog.to_char(month, 'YYYY_MM'));
        CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('tessera.%I', part_name)) IS NOT NULL;
        EXECUTE pg_catalog.format(
            'CREATE TABLE tessera.%I PARTITION OF tessera.optimize_savings FOR VALUES FROM (%L) TO (%L)',
            part_name,
            (month::timestamp AT TIME ZONE 'UTC'),
            ((month + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
        EXECUTE pg_catalog.format('ALTER TABLE tessera.%I ENABLE ROW LEVEL SECURITY', part_name);
        EXECUTE pg_catalog.format('ALTER TABLE tessera.%I FORCE ROW LEVEL SECURITY', part_name);
        PERFORM tessera_private.make_append_only(pg_catalog.format('tessera.%I', part_name)::regclass);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$function$;

COMMENT ON FUNCTION tessera_private.create_savings_partitions(date, integer) IS
    'Creates the missing monthly (UTC) partitions of tessera.optimize_savings and its DEFAULT partition, each with RLS enabled+forced and the append-only triggers. Re-runnable.';

REVOKE ALL ON FUNCTION tessera_private.create_savings_partitions(date, integer) FROM PUBLIC; -- functions are executable by PUBLIC by default
