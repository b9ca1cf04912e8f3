-- 0004_policy_to_public: a policy that applies to PUBLIC (every role, present and future).
-- Zero rows when healthy. Doc: tests/lints/README.md#0004_policy_to_public
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
)
SELECT
    'policy_to_public'::text AS name,
    'Policy applies to PUBLIC'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects row-level security policies whose roles include PUBLIC (CREATE POLICY without TO, or TO PUBLIC): they grant rows to every role, including anon and roles created later.'::text AS description,
    pg_catalog.format('Policy %I on table %I.%I applies to PUBLIC.', pol.polname, n.nspname, c.relname) AS detail,
    'tests/lints/README.md#0004_policy_to_public'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'policy',
                                  'policy', pol.polname) AS metadata,
    pg_catalog.format('policy_to_public_%s_%s_%s', n.nspname, c.relname, pol.polname) AS cache_key
FROM pg_catalog.pg_policy AS pol
JOIN pg_catalog.pg_class AS c ON c.oid = pol.polrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN project
WHERE n.nspname = ANY (project.schemas)
  AND 0::oid = ANY (pol.polroles)
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend AS d
       WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname, pol.polname
