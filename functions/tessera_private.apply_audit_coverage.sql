-- tessera_private.apply_audit_coverage(): make the catalog match the declarative list
-- tessera_private.audit_coverage() (functions/tessera_private.audit_coverage.sql).
--
-- For every audited table: attach tessera_private.audit_row_change() as
-- <table>_audit (AFTER INSERT OR UPDATE OR DELETE, FOR EACH ROW) and
-- <table>_audit_truncate (AFTER TRUNCATE, FOR EACH STATEMENT), both ENABLE ALWAYS, with
-- the key columns (from the primary key in the catalog) and the declared secret columns
-- as arguments. A trigger already attached with the same arguments is kept; one with
-- different arguments is replaced. For every exempt table: the reason must be given, and
-- any audit trigger left from an earlier listing is dropped.
--
-- Refuses (22023) a listed table that does not exist in schema tessera, a secret column
-- the table does not have, an audited table without a primary key, and an exempt entry
-- without a reason; so a typo in the list fails the load, not the audit.
-- Re-runnable: a migration that adds a line re-creates the list function and calls this.
-- Not SECURITY DEFINER and granted to nobody: DDL, run as the owner by migrations.
CREATE FUNCTION tessera_private.apply_audit_coverage()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    entry record;
    rel regclass;
    key_columns text[];
    missing text[];
    wanted_args bytea;
    changed integer := 0;
BEGIN
    FOR entry IN SELECT * FROM tessera_private.audit_coverage() ORDER BY table_name LOOP
        rel := pg_catalog.to_regclass(pg_catalog.format('tessera.%I', entry.table_name));
        IF rel IS NULL THEN
            RAISE EXCEPTION 'audit coverage lists tessera.%, which does not exist', entry.table_name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;

        IF NOT entry.audited THEN
            IF entry.exempt_reason IS NULL OR entry.exempt_reason !~ '[^[:space:]]' THEN
                RAISE EXCEPTION 'audit coverage exempts tessera.% without a reason', entry.table_name
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', entry.table_name || '_audit', rel);
            EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', entry.table_name || '_audit_truncate', rel);
            CONTINUE;
        END IF;

        SELECT pg_catalog.array_agg(s.col) INTO missing
          FROM pg_catalog.unnest(entry.secret_columns) AS s (col)
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                            WHERE a.attrelid = rel AND a.attname = s.col AND a.attnum > 0 AND NOT a.attisdropped);
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'audit coverage: tessera.% has no column(s) %', entry.table_name, missing
                USING ERRCODE = 'invalid_parameter_value';
        END IF;

        SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.n) INTO key_columns
          FROM pg_catalog.pg_index AS i
         CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, n)
          JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = rel AND i.indisprimary
           AND (a.attname <> 'client_id'
                OR pg_catalog.array_length(i.indkey::int2[], 1) = 1);
        IF key_columns IS NULL THEN
            RAISE EXCEPTION 'audit coverage: tessera.% has no primary key to name its rows by', entry.table_name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;

        -- pg_trigger.tgargs holds the arguments NUL-terminated, one after another.
        wanted_args := pg_catalog.convert_to(key_columns::text, 'UTF8') || '\x00'::bytea
                       || pg_catalog.convert_to(COALESCE(entry.secret_columns, '{}')::text, 'UTF8') || '\x00'::bytea;
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS t
                    WHERE t.tgrelid = rel AND t.tgname = entry.table_name || '_audit'
                      AND t.tgfoid = 'tessera_private.audit_row_change()'::regprocedure
                      AND t.tgargs = wanted_args AND t.tgenabled = 'A')
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS t
                        WHERE t.tgrelid = rel AND t.tgname = entry.table_name || '_audit_truncate'
                          AND t.tgfoid = 'tessera_private.audit_row_change()'::regprocedure
                          AND t.tgargs = wanted_args AND t.tgenabled = 'A') THEN
            CONTINUE;
        END IF;

        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', entry.table_name || '_audit', rel);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', entry.table_name || '_audit_truncate', rel);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW '
            'EXECUTE FUNCTION tessera_private.audit_row_change(%L, %L)',
            entry.table_name || '_audit', rel, key_columns::text, COALESCE(entry.secret_columns, '{}')::text);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', rel, entry.table_name || '_audit');
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT '
            'EXECUTE FUNCTION tessera_private.audit_row_change(%L, %L)',
            entry.table_name || '_audit_truncate', rel, key_columns::text, COALESCE(entry.secret_columns, '{}')::text);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', rel, entry.table_name || '_audit_truncate');
        changed := changed + 1;
    END LOOP;
    RETURN changed;
END
$function$;

COMMENT ON FUNCTION tessera_private.apply_audit_coverage() IS
    'Attaches (or re-attaches) the audit triggers to the tables tessera_private.audit_coverage() lists as audited and removes them from exempt ones; refuses unknown tables, unknown secret columns and exemptions without a reason. Returns how many tables it (re)attached.';

REVOKE ALL ON FUNCTION tessera_private.apply_audit_coverage() FROM PUBLIC; -- functions are executable by PUBLIC by default
