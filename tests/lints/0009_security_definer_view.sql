-- 0009_security_definer_view: a view without security_invoker = true, which runs its
-- query with the view owner's privileges and policies instead of the caller's.
-- Zero rows when healthy. Doc: tests/lints/README.md#0009_security_definer_view
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
)
SELECT
    'security_definer_view'::text AS name,
    'Security definer view'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects views in the project schemas without security_invoker = true: they read the underlying tables as the view owner, so the caller''s row-level security policies are not the ones applied.'::text AS description,
    pg_catalog.format('View %I.%I is not security_invoker; it reads its tables as %I.',
                      n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner)) AS detail,
    'tests/lints/README.md#0009_security_definer_view'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'view') AS metadata,
    pg_catalog.format('security_definer_view_%s_%s', n.nspname, c.relname) AS cache_key
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN project
WHERE n.nspname = ANY (project.schemas)
  AND c.relkind = 'v'
  AND NOT COALESCE(
      (SELECT o.option_value::boolean
         FROM pg_catalog.pg_options_to_table(c.reloptions) AS o
        WHERE o.option_name = 'security_invoker'),
      false)
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend AS d
       WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
