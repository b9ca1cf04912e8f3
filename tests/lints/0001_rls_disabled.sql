-- 0001_rls_disabled: a project table without row-level security enabled.
-- Zero rows when healthy. Doc: tests/lints/README.md#0001_rls_disabled
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
)
SELECT
    'rls_disabled'::text AS name,
    'RLS disabled'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects tables in the project schemas that do not have row-level security enabled.'::text AS description,
    pg_catalog.format('Table %I.%I does not have row-level security enabled; every role with a table privilege sees and changes every row.',
                      n.nspname, c.relname) AS detail,
    'tests/lints/README.md#0001_rls_disabled'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table') AS metadata,
    pg_catalog.format('rls_disabled_%s_%s', n.nspname, c.relname) AS cache_key
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN project
WHERE n.nspname = ANY (project.schemas)
  AND c.relkind IN ('r', 'p')
  AND NOT c.relrowsecurity
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend AS d
       WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
