-- tessera_private.retention_cutoff(table): the instant before which the table's rows are
-- past their retention window, by the database's own clock: now() minus the table's
-- window in tessera.retention_classes(); NULL for a table kept indefinitely.
--
-- The database clock, never a caller's: tessera.retention_run takes an injectable clock
-- (p_now) for tests and dry runs, but every removal is re-checked against this cutoff
-- (the removal policies and the append-only guard), so a wrong p_now can remove less,
-- never a row still inside its window.
CREATE FUNCTION tessera_private.retention_cutoff(p_table name)
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.now() - r.retention_window
      FROM tessera.retention_classes() AS r
     WHERE r.table_name = p_table
$function$;

COMMENT ON FUNCTION tessera_private.retention_cutoff(name) IS
    'now() minus the table''s retention window (tessera.retention_classes()); NULL when the table has none. The database clock, never the caller''s.';

REVOKE ALL ON FUNCTION tessera_private.retention_cutoff(name) FROM PUBLIC; -- functions are executable by PUBLIC by default
