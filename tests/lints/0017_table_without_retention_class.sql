-- 0017_table_without_retention_class: a table in schema tessera that the retention list
-- (tessera.retention_classes(), functions/tessera.retention_classes.sql)
-- does not give a class; a listed table that no longer exists; a line whose window,
-- time column and removing path disagree (a window without a time column that exists
-- on the table, a retention_run or sweep table without a window); or an erasure
-- treatment that is not one of delete / strip / keep / tombstone / none.
-- Zero rows when healthy. Doc: tests/lints/README.md#0017_table_without_retention_class
WITH classes AS (
    SELECT r.* FROM tessera.retention_classes() AS r
),
tables AS (
    SELECT c.oid, c.relname
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
     WHERE n.nspname = 'tessera'
       AND c.relkind IN ('r', 'p')
       AND NOT c.relispartition
       AND NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_depend AS d
            WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
),
problems AS (
    SELECT t.relname::text AS relname,
           'not listed in tessera.retention_classes() (give it a class, a window and the path that removes its rows)' AS problem
      FROM tables AS t
     WHERE NOT EXISTS (SELECT 1 FROM classes AS c WHERE c.table_name = t.relname)
    UNION ALL
    SELECT c.table_name::text, 'listed in tessera.retention_classes() but does not exist'
      FROM classes AS c
     WHERE NOT EXISTS (SELECT 1 FROM tables AS t WHERE t.relname = c.table_name)
    UNION ALL
    SELECT c.table_name::text, pg_catalog.format('time column %s is not a column of the table', c.time_column)
      FROM classes AS c
      JOIN tables AS t ON t.relname = c.table_name
     WHERE c.time_column IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                        WHERE a.attrelid = t.oid AND a.attname = c.time_column AND a.attnum > 0 AND NOT a.attisdropped)
    UNION ALL
    SELECT c.table_name::text, pg_catalog.format('removed by %s but has no window and time column', c.removed_by)
      FROM classes AS c
     WHERE c.removed_by IN ('tessera.retention_run', 'tessera.sweep')
       AND (c.retention_window IS NULL OR c.time_column IS NULL)
    UNION ALL
    SELECT c.table_name::text, 'a window but no time column to measure it from'
      FROM classes AS c
     WHERE c.retention_window IS NOT NULL AND c.time_column IS NULL
    UNION ALL
    SELECT c.table_name::text, pg_catalog.format('unknown erasure treatment %s / %s', c.on_erasure_invoiced, c.on_erasure_other)
      FROM classes AS c
     WHERE c.on_erasure_invoiced NOT IN ('delete', 'strip', 'keep', 'none')
        OR c.on_erasure_other NOT IN ('delete', 'tombstone', 'none')
    UNION ALL
    SELECT c.table_name::text, 'no note saying why'
      FROM classes AS c
     WHERE c.note IS NULL OR c.note !~ '[^[:space:]]'
)
SELECT
    'table_without_retention_class'::text AS name,
    'Table without a retention class'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects tables in schema tessera whose rows have no declared lifetime: not in the retention list, or listed with a window, time column, removing path or erasure treatment that do not fit together.'::text AS description,
    pg_catalog.format('Table tessera.%I: %s.', p.relname,
                      pg_catalog.string_agg(p.problem, '; ' ORDER BY p.problem)) AS detail,
    'tests/lints/README.md#0017_table_without_retention_class'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', 'tessera', 'name', p.relname, 'type', 'table') AS metadata,
    pg_catalog.format('table_without_retention_class_tessera_%s', p.relname) AS cache_key
FROM problems AS p
GROUP BY p.relname
ORDER BY p.relname
