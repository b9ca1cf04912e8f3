-- tessera_private.create_monthly_partitions(parent, from_month, months): make sure the
-- monthly partitions of a table PARTITIONED BY RANGE (<timestamptz>) exist for `months`
-- UTC months starting at the month of p_from, plus its DEFAULT partition. Returns how
-- many partitions it created.
--
-- The one implementation of monthly partitions; tessera_private.create_savings_partitions
-- calls it for tessera.optimize_savings. Each partition is named <parent>_pYYYY_MM and covers
-- [first instant of the UTC month, first instant of the next); the DEFAULT partition is
-- <parent>_default. Every partition gets row-level security ENABLED and FORCED with no
-- policy and no grant (a statement naming a partition directly applies the partition's
-- own RLS, so it must see nothing; reads go through the parent), and, when the parent is
-- append-only (it carries <parent>_append_only_statement), the append-only statement
-- trigger too (tessera_private.make_append_only; the row trigger is cloned from the
-- parent).
--
-- Existing partitions are skipped, so this is re-runnable (a monthly job calls it a few
-- months ahead). Rows that landed in the DEFAULT partition for a month that has no
-- partition yet make creating that month's partition fail (PostgreSQL checks the
-- DEFAULT partition); move them deliberately, never here.
--
-- Retention (the operations issue): a month leaves as a whole partition
-- (ALTER TABLE ... DETACH PARTITION, then DROP TABLE), never by DELETE, which the
-- append-only triggers refuse.
--
-- Not SECURITY DEFINER and granted to nobody: DDL is the owner's, so only migrations and
-- the maintenance job (SET ROLE tessera_owner) run it.
CREATE FUNCTION tessera_private.create_monthly_partitions(p_parent regclass, p_from date, p_months integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    first_month date := pg_catalog.date_trunc('month', p_from)::date;
    parent_schema name;
    parent_name name;
    append_only boolean;
    month date;
    part_name text;
    bound text;
    part regclass;
    created integer := 0;
BEGIN
    IF p_parent IS NULL OR p_from IS NULL OR p_months IS NULL OR p_months < 0 OR p_months > 120 THEN
        RAISE EXCEPTION 'create_monthly_partitions needs a table, a month and 0..120 months, got %, %, %',
            p_parent, p_from, p_months
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT n.nspname, c.relname INTO parent_schema, parent_name
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
     WHERE c.oid = p_parent AND c.relkind = 'p';
    IF parent_name IS NULL THEN
        RAISE EXCEPTION '% is not a partitioned table', p_parent
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    append_only := EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS t
                            WHERE t.tgrelid = p_parent AND t.tgname = parent_name || '_append_only_statement');

    -- The DEFAULT partition first, then each month: one partition spec per element.
    FOR i IN -1 .. p_months - 1 LOOP
        IF i < 0 THEN
            part_name := parent_name || '_default';
            bound := 'DEFAULT';
        ELSE
            month := (first_month + pg_catalog.make_interval(months => i))::date;
            part_name := pg_catalog.format('%s_p%s', parent_name, pg_catalog.to_char(month, 'YYYY_MM'));
            bound := pg_catalog.format('FOR VALUES FROM (%L) TO (%L)',
                                       (month::timestamp AT TIME ZONE 'UTC'),
                                       ((month + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
        END IF;
        CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('%I.%I', parent_schema, part_name)) IS NOT NULL;
        EXECUTE pg_catalog.format('CREATE TABLE %I.%I PARTITION OF %s %s', parent_schema, part_name, p_parent, bound);
        part := pg_catalog.format('%I.%I', parent_schema, part_name)::regclass;
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part);
        EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', part);
        IF append_only THEN
            PERFORM tessera_private.make_append_only(part);
        END IF;
        created := created + 1;
    END LOOP;
    RETURN created;
END
$function$;

COMMENT ON FUNCTION tessera_private.create_monthly_partitions(regclass, date, integer) IS
    'Creates the missing monthly (UTC) partitions <parent>_pYYYY_MM and <parent>_default of a range-partitioned table, each with RLS enabled+forced and, for append-only parents, the append-only triggers. Re-runnable.';

REVOKE ALL ON FUNCTION tessera_private.create_monthly_partitions(regclass, date, integer) FROM PUBLIC; -- functions are executable by PUBLIC by default
