-- tessera_private.make_append_only(table): the one way a table becomes append-only.
--
-- Called from the table's schema file (and for each new partition), so that every
-- append-only table carries the same three triggers, named after it:
--   <table>_append_only_statement  BEFORE UPDATE OR DELETE OR TRUNCATE, per statement
--   <table>_append_only_row        BEFORE UPDATE OR DELETE, per row (cloned to partitions)
-- both ENABLE ALWAYS. The lints and tests find append-only tables by these triggers.
CREATE FUNCTION tessera_private.make_append_only(p_table regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel_name text;
BEGIN
    SELECT c.relname INTO STRICT rel_name FROM pg_catalog.pg_class c WHERE c.oid = p_table;
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER %I BEFORE UPDATE OR DELETE OR TRUNCATE ON %s '
        'FOR EACH STATEMENT EXECUTE FUNCTION tessera_private.refuse_append_only_change()',
        rel_name || '_append_only_statement', p_table);
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I',
        p_table, rel_name || '_append_only_statement');
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = p_table) THEN
        -- Partitions inherit the parent's row trigger; only the parent creates it.
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %s '
            'FOR EACH ROW EXECUTE FUNCTION tessera_private.refuse_append_only_change()',
            rel_name || '_append_only_row', p_table);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I',
            p_table, rel_name || '_append_only_row');
    END IF;
END
$function$;

COMMENT ON FUNCTION tessera_private.make_append_only(regclass) IS
    'Attaches the append-only triggers (statement + row, ENABLE ALWAYS) to a table or partition. Migration-time only.';

REVOKE ALL ON FUNCTION tessera_private.make_append_only(regclass) FROM PUBLIC; -- functions are executable by PUBLIC by default
