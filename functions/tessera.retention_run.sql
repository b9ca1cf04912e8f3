-- tessera.retention_run(now, dry_run): the retention job behind `tessera-db retention run`
-- and the pg_cron job (tessera-db jobs schedule). One row per table that the retention
-- list (tessera.retention_classes()) gives to this job: its cutoff (now minus
-- its window), the whole monthly partitions past it and the rows past it.
--
--   dry_run => true   counts only, for any now (the future included: "what would a
--                     7-year window let go on 2034-01-01"); writes nothing. A table
--                     the caller may not read is listed with rows_removed NULL.
--   dry_run => false  removes them through tessera.retention_remove (the guarded
--                     path; now may not be later than the database clock) and writes
--                     one audit event with the counts.
--
-- SECURITY INVOKER, EXECUTE for service_role only: it reads every client's rows to count
-- them (BYPASSRLS); the removal itself is the definer function's.
CREATE FUNCTION tessera.retention_run(p_now timestamptz DEFAULT now(), p_dry_run boolean DEFAULT false)
RETURNS TABLE (table_name name, partitions_dropped integer, rows_removed bigint, cutoff timestamptz, detail text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_variable
DECLARE
    lifecycle record;
BEGIN
    IF p_now IS NULL OR p_dry_run IS NULL THEN
        RAISE EXCEPTION 'retention_run needs a clock and a dry-run flag' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT p_dry_run THEN
        RETURN QUERY SELECT * FROM tessera.retention_remove(p_now);
        RETURN;
    END IF;
    FOR lifecycle IN
        SELECT r.table_name, r.time_column, r.retention_window
          FROM tessera.retention_classes() AS r
         WHERE r.removed_by = 'tessera.retention_run'
         ORDER BY r.table_name = 'monthly_readings', r.table_name
    LOOP
        table_name := lifecycle.table_name;
        cutoff := p_now - lifecycle.retention_window;
        SELECT pg_catalog.count(*)::integer INTO partitions_dropped
          FROM pg_catalog.pg_inherits AS i
          JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
         WHERE i.inhparent = pg_catalog.format('tessera.%I', lifecycle.table_name)::regclass
           AND c.relname ~ '_p[0-9]{4}_[0-9]{2}$'
           AND ((pg_catalog.to_date(pg_catalog.right(c.relname, 7), 'YYYY_MM') + interval '1 month')::timestamp
                    AT TIME ZONE 'UTC') <= cutoff;
        detail := CASE WHEN lifecycle.table_name = 'audit_events'
                       THEN 'whole months only, once a checkpoint seals them' END;
        IF pg_catalog.has_table_privilege(pg_catalog.format('tessera.%I', lifecycle.table_name), 'SELECT') THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM tessera.%I WHERE %I < $1',
                                      lifecycle.table_name, lifecycle.time_column)
               INTO rows_removed USING cutoff;
        ELSE
            -- An internal table no API role reads (savings_request_keys: one key per
            -- optimize_savings row, with the same occurred_at): not counted here.
            rows_removed := NULL;
            detail := 'not counted: the caller cannot read this table';
        END IF;
        RETURN NEXT;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION tessera.retention_run(timestamptz, boolean) IS
    'The retention job (service_role): per table, the cutoff and what is past it; dry_run counts only (any clock), otherwise removes through tessera.retention_remove and audits the run.';

REVOKE ALL ON FUNCTION tessera.retention_run(timestamptz, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.retention_run(timestamptz, boolean) TO service_role;
