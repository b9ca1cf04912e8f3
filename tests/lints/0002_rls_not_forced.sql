-- 0002_rls_not_forced: a project table whose row-level security does not apply to its owner.
-- Zero rows when healthy. Doc: tests/lints/README.md#0002_rls_not_forced
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
)
SELECT
    'rls_not_forced'::text AS name,
    'RLS not forced'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects tables in the project schemas without FORCE ROW LEVEL SECURITY, whose owner (and so every SECURITY DEFINER function it owns) bypasses the policies.'::text AS description,
    pg_catalog.format('Table %I.%I is not FORCE ROW LEVEL SECURITY; its owner %I and every SECURITY DEFINER function owned by it bypass its policies.',
                      n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner)) AS detail,
    'tests/lints/README.md#0002_rls_not_forced'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table',
                                  'rls_enabled', c.relrowsecurity) AS metadata,
    pg_catalog.format('rls_not_forced_%s_%s', n.nspname, c.relname) AS cache_key
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN project
WHERE n.nspname = ANY (project.schemas)
  AND c.relkind IN ('r', 'p')
  AND NOT c.relforcerowsecurity
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend AS d
       WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
