-- tessera_private.refuse_append_only_change(): trigger body that refuses UPDATE, DELETE
-- and TRUNCATE on an append-only table, for every role, the owner included -- except on
-- the two guarded paths by which anything ever leaves a ledger or the audit log
-- (tessera.retention_classes(), docs/erasure.md):
--
--   retention  (tessera.retention_run sets tessera.removal = 'retention'): a DELETE of a
--              row whose time column is before the table's cutoff by the database's own
--              clock (tessera_private.retention_cutoff). Checked here, row by row, so a
--              caller's wrong clock or a bug in the job cannot remove a row that is
--              still inside its window.
--   erasure    (tessera.erase_client sets tessera.removal = 'erasure'): a DELETE of a
--              row of the client this transaction is erasing
--              (tessera_private.erasing_client_id(), verified once per statement by the
--              statement-level trigger, which records the verified client for the row
--              triggers of the same statement), or an UPDATE of such a row that changes
--              only the table's personal columns (the invoiced "strip"); for
--              audit_events, an UPDATE that turns the row into a tombstone or stripped
--              row of this erasure: its event_id, occurred_at, txid and content_hash
--              unchanged and erasure_event_id set to this erasure's event.
--
-- Per statement, per row. Every UPDATE or DELETE aimed at an append-only table or
-- partition fires its statement trigger before any row trigger; that is where the
-- lifecycle lookups happen, once (the client being erased, the table's time column and
-- cutoff, its personal and generated columns), and their results are recorded in
-- transaction-local settings (tessera.removal_*) that the row triggers of the same
-- statement read. A value a caller set beforehand is always overwritten first, so it
-- cannot widen what a row trigger admits. (Looking the list up per row cost 0.1 ms a
-- row: 100 s for a 1M-row erasure; bench/erasure_bench.py.)
--
-- Attached by tessera_private.make_append_only() as statement-level triggers (so even
-- an UPDATE that matches or changes nothing is refused) and row-level triggers (cloned
-- to every partition, so a statement aimed at a partition is refused too), all ENABLE
-- ALWAYS so session_replication_role = replica cannot switch them off. Privileges are
-- the first line (no UPDATE/DELETE/TRUNCATE is granted; only the owner's guarded
-- policies admit rows); this is the second. TRUNCATE is never allowed.
CREATE FUNCTION tessera_private.refuse_append_only_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    removal text := pg_catalog.current_setting('tessera.removal', true);
    base_table name;
    erasing uuid;
    lifecycle record;
    verified text;
    old_row jsonb;
    new_row jsonb;
BEGIN
    IF removal IN ('retention', 'erasure') AND TG_OP IN ('DELETE', 'UPDATE') THEN
        IF TG_LEVEL = 'STATEMENT' THEN
            -- Partitions are named <parent>_pYYYY_MM or <parent>_default.
            base_table := pg_catalog.regexp_replace(TG_TABLE_NAME, '_(p[0-9]{4}_[0-9]{2}|default)$', '');
            SELECT r.time_column, r.retention_window, r.personal_columns
              INTO lifecycle
              FROM tessera.retention_classes() AS r
             WHERE r.table_name = base_table;
            -- Overwrite whatever a caller may have set, before any row is looked at.
            PERFORM pg_catalog.set_config('tessera.removal_time_column', '', true),
                    pg_catalog.set_config('tessera.removal_cutoff', '', true),
                    pg_catalog.set_config('tessera.erasure_verified', '', true),
                    pg_catalog.set_config('tessera.erasure_ignored_columns', '{}', true);
            IF removal = 'retention' AND TG_OP = 'DELETE' AND lifecycle.retention_window IS NOT NULL THEN
                PERFORM pg_catalog.set_config('tessera.removal_time_column', lifecycle.time_column, true),
                        pg_catalog.set_config('tessera.removal_cutoff',
                            tessera_private.retention_cutoff(base_table)::text, true);
                RETURN NULL;  -- each row is checked below, against this cutoff
            END IF;
            IF removal = 'erasure' THEN
                erasing := tessera_private.erasing_client_id();
                -- Only a table with a client_id column can hold the erased client's rows;
                -- for any other the row triggers below see no verified client.
                IF erasing IS NOT NULL AND EXISTS (
                       SELECT 1 FROM pg_catalog.pg_attribute AS a
                        WHERE a.attrelid = TG_RELID AND a.attname = 'client_id' AND NOT a.attisdropped) THEN
                    -- Generated columns are not computed yet in a BEFORE trigger (NULL in
                    -- NEW): left out of the strip comparison with the personal columns;
                    -- they follow from the columns compared.
                    PERFORM pg_catalog.set_config('tessera.erasure_verified', erasing::text, true),
                            pg_catalog.set_config('tessera.erasure_ignored_columns',
                                (COALESCE(lifecycle.personal_columns::text[], '{}') || ARRAY(
                                    SELECT a.attname::text FROM pg_catalog.pg_attribute AS a
                                     WHERE a.attrelid = TG_RELID AND a.attgenerated <> '' AND NOT a.attisdropped))::text,
                                true);
                    RETURN NULL;
                END IF;
            END IF;
        ELSIF removal = 'retention' AND TG_OP = 'DELETE' THEN
            IF NULLIF(pg_catalog.current_setting('tessera.removal_cutoff', true), '') IS NOT NULL
               AND (pg_catalog.to_jsonb(OLD) ->> pg_catalog.current_setting('tessera.removal_time_column', true))::timestamptz
                   < pg_catalog.current_setting('tessera.removal_cutoff', true)::timestamptz THEN
                RETURN OLD;
            END IF;
        ELSIF removal = 'erasure' THEN
            verified := NULLIF(pg_catalog.current_setting('tessera.erasure_verified', true), '');
            IF verified IS NOT NULL THEN
                old_row := pg_catalog.to_jsonb(OLD);
                IF old_row ->> 'client_id' = verified THEN
                    IF TG_OP = 'DELETE' THEN
                        RETURN OLD;
                    END IF;
                    new_row := pg_catalog.to_jsonb(NEW);
                    IF TG_TABLE_NAME ~ '^audit_events(_p[0-9]{4}_[0-9]{2}|_default)?$' THEN
                        IF old_row -> 'erasure_event_id' = 'null'::jsonb
                           AND new_row ->> 'erasure_event_id' = pg_catalog.current_setting('tessera.erasure_event_id', true)
                           AND (new_row -> 'event_id', new_row -> 'occurred_at', new_row -> 'txid', new_row -> 'content_hash')
                               = (old_row -> 'event_id', old_row -> 'occurred_at', old_row -> 'txid', old_row -> 'content_hash') THEN
                            RETURN NEW;
                        END IF;
                    ELSIF new_row - pg_catalog.current_setting('tessera.erasure_ignored_columns', true)::text[]
                          = old_row - pg_catalog.current_setting('tessera.erasure_ignored_columns', true)::text[] THEN
                        RETURN NEW;
                    END IF;
                END IF;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION '% on %.% is refused: the table is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              SCHEMA = TG_TABLE_SCHEMA,
              TABLE = TG_TABLE_NAME,
              HINT = 'Append a correcting row instead of changing history; rows leave only through tessera.retention_run and tessera.erase_client.';
END
$function$;

COMMENT ON FUNCTION tessera_private.refuse_append_only_change() IS
    'Trigger body: refuses UPDATE/DELETE/TRUNCATE on append-only tables (SQLSTATE 42501), for every role, except retention past the window (database clock) and the erasure of the client this transaction is erasing.';

REVOKE ALL ON FUNCTION tessera_private.refuse_append_only_change() FROM PUBLIC; -- functions are executable by PUBLIC by default
