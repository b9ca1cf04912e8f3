-- tessera.retention_remove(now): the removal half of tessera.retention_run, the one
-- path by which rows leave a ledger or the audit log on schedule (the other is a
-- client's erasure, tessera.erase_client).
--
-- For every table that tessera.retention_classes() gives to
-- tessera.retention_run, with cutoff = least(now, the database clock) - its window:
--   * whole monthly partitions (<table>_pYYYY_MM) that end at or before the cutoff are
--     detached and dropped, never deleted row by row. An audit_events month is dropped
--     only when a signed checkpoint seals all of it (every row's txid below the
--     checkpoint's horizon); the first such checkpoint becomes the verifier's starting
--     point (tessera-db audit verify starts from its stored frontier and says so), and
--     is recorded in this run's audit event;
--   * other rows past the cutoff (a DEFAULT partition, a table that is not partitioned)
--     are deleted under the append-only guard, which re-checks every row's time against
--     the database clock (tessera_private.refuse_append_only_change): a wrong clock or
--     a bug here can remove less, never a row inside its window. Audit rows are never
--     deleted one by one (a row missing from the middle of the log is what tampering
--     looks like).
-- Then one audit event (action retention, entity retention_run) with the cutoffs and
-- the counts, in this transaction. Idempotent: a second run finds nothing to remove and
-- records a run that removed nothing.
--
-- now may not be later than the database clock (22023): tests move time by writing old
-- rows, and a preview of a later date is tessera.retention_run(..., dry_run => true).
--
-- SECURITY DEFINER (partitions are the owner's to drop; the owner's *_definer_removal
-- policies admit only rows past their window while tessera.removal = 'retention').
-- EXECUTE for service_role only (tessera.retention_run, pg_cron); everyone else 42501.
CREATE FUNCTION tessera.retention_remove(p_now timestamptz)
RETURNS TABLE (table_name name, partitions_dropped integer, rows_removed bigint, cutoff timestamptz, detail text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_variable
DECLARE
    clock timestamptz;
    lifecycle record;
    part record;
    part_rows bigint;
    part_max_txid xid8;
    part_max_event bigint;
    seal record;
    deleted bigint;
    dropped integer;
    kept_unsealed integer;
    summary jsonb := '{}'::jsonb;
    prune jsonb;
BEGIN
    IF p_now IS NULL OR p_now > pg_catalog.now() THEN
        RAISE EXCEPTION 'retention: the clock (%) may not be later than the database''s (%)', p_now, pg_catalog.now()
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Preview a later date with a dry run (tessera-db retention run --dry-run --now ...).';
    END IF;
    clock := LEAST(p_now, pg_catalog.now());
    PERFORM pg_catalog.set_config('tessera.removal', 'retention', true);

    FOR lifecycle IN
        SELECT r.table_name, r.time_column, r.retention_window
          FROM tessera.retention_classes() AS r
         WHERE r.removed_by = 'tessera.retention_run'
         ORDER BY r.table_name = 'monthly_readings', r.table_name  -- share links before the readings they name
    LOOP
        cutoff := clock - lifecycle.retention_window;
        dropped := 0;
        kept_unsealed := 0;
        deleted := 0;
        detail := NULL;
        FOR part IN
            SELECT c.oid::regclass AS partition,
                   (pg_catalog.to_date(pg_catalog.right(c.relname, 7), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC') AS lower_bound,
                   ((pg_catalog.to_date(pg_catalog.right(c.relname, 7), 'YYYY_MM') + interval '1 month')::timestamp
                        AT TIME ZONE 'UTC') AS upper_bound
              FROM pg_catalog.pg_inherits AS i
              JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
             WHERE i.inhparent = pg_catalog.format('tessera.%I', lifecycle.table_name)::regclass
               AND c.relname ~ '_p[0-9]{4}_[0-9]{2}$'
             ORDER BY c.relname
        LOOP
            CONTINUE WHEN part.upper_bound > cutoff;
            IF lifecycle.table_name = 'audit_events' THEN
                SELECT pg_catalog.count(*), pg_catalog.max(a.txid), pg_catalog.max(a.event_id)
                  INTO part_rows, part_max_txid, part_max_event
                  FROM tessera.audit_events AS a
                 WHERE a.occurred_at >= part.lower_bound AND a.occurred_at < part.upper_bound;
                seal := NULL;
                SELECT k.checkpoint_id, k.tree_size, k.horizon INTO seal
                  FROM tessera.audit_checkpoints AS k
                 WHERE k.horizon > COALESCE(part_max_txid, '0'::xid8)
                 ORDER BY k.checkpoint_id
                 LIMIT 1;
                IF seal.checkpoint_id IS NULL THEN
                    kept_unsealed := kept_unsealed + 1;  -- not sealed yet: kept until it is
                    CONTINUE;
                END IF;
                IF part_rows > 0 AND (prune IS NULL OR (prune ->> 'checkpoint_id')::bigint < seal.checkpoint_id) THEN
                    prune := pg_catalog.jsonb_build_object(
                        'checkpoint_id', seal.checkpoint_id, 'tree_size', seal.tree_size,
                        'horizon', seal.horizon::text, 'last_dropped_event_id', part_max_event);
                END IF;
            ELSE
                EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM tessera.%I WHERE %I >= $1 AND %I < $2',
                                          lifecycle.table_name, lifecycle.time_column, lifecycle.time_column)
                   INTO part_rows USING part.lower_bound, part.upper_bound;
            END IF;
            EXECUTE pg_catalog.format('ALTER TABLE tessera.%I DETACH PARTITION %s', lifecycle.table_name, part.partition);
            EXECUTE pg_catalog.format('DROP TABLE %s', part.partition);
            dropped := dropped + 1;
            deleted := deleted + part_rows;
        END LOOP;
        IF lifecycle.table_name <> 'audit_events' THEN
            EXECUTE pg_catalog.format('DELETE FROM tessera.%I WHERE %I < $1', lifecycle.table_name, lifecycle.time_column)
              USING cutoff;
            GET DIAGNOSTICS part_rows = ROW_COUNT;
            deleted := deleted + part_rows;
        END IF;
        IF kept_unsealed > 0 THEN
            detail := pg_catalog.format('%s month(s) past the window kept: not sealed by a checkpoint yet', kept_unsealed);
        END IF;
        table_name := lifecycle.table_name;
        partitions_dropped := dropped;
        rows_removed := deleted;
        summary := summary || pg_catalog.jsonb_build_object(lifecycle.table_name::text, pg_catalog.jsonb_build_object(
            'cutoff', cutoff, 'partitions_dropped', dropped, 'rows_removed', deleted));
        RETURN NEXT;
    END LOOP;

    PERFORM tessera_private.write_audit_event(
        NULL, 'retention_run', NULL, 'retention', NULL,
        pg_catalog.jsonb_build_object('now', p_now, 'tables', summary, 'audit_prune', prune));
    PERFORM pg_catalog.set_config('tessera.removal', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.retention_remove(timestamptz) IS
    'Retention (service_role, through tessera.retention_run): drops whole monthly partitions past their window (audit months only once sealed), deletes other expired rows under the guard, writes one retention audit event.';

REVOKE ALL ON FUNCTION tessera.retention_remove(timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.retention_remove(timestamptz) TO service_role;
