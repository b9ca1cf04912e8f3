-- 0003_rls_enabled_no_policy: row-level security enabled but not a single policy.
-- Zero rows when healthy. Doc: tests/lints/README.md#0003_rls_enabled_no_policy
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
)
SELECT
    'rls_enabled_no_policy'::text AS name,
    'RLS enabled, no policy'::text AS title,
    'WARN'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects tables in the project schemas with row-level security enabled but no policy: every non-bypassing role sees no row, which is either dead or an unreviewed table.'::text AS description,
    pg_catalog.format('Table %I.%I has row-level security enabled but no policy.', n.nspname, c.relname) AS detail,
    'tests/lints/README.md#0003_rls_enabled_no_policy'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table') AS metadata,
    pg_catalog.format('rls_enabled_no_policy_%s_%s', n.nspname, c.relname) AS cache_key
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN project
WHERE n.nspname = ANY (project.schemas)
  AND c.relkind IN ('r', 'p')
  -- Partitions are deliberately policy-less: with RLS forced they are deny-all when
  -- queried directly, and every read goes through the parent's policies. 0001/0002
  -- still check that they have RLS enabled and forced.
  AND NOT c.relispartition
  AND c.relrowsecurity
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy AS pol WHERE pol.polrelid = c.oid)
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend AS d
       WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
