-- 0005_policy_always_true: a policy whose USING or WITH CHECK is the literal true.
-- Zero rows when healthy. Doc: tests/lints/README.md#0005_policy_always_true
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
),
policies AS (
    SELECT n.nspname, c.relname, pol.polname, pol.polcmd, pol.polpermissive,
           pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) AS using_expr,
           pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid) AS check_expr
      FROM pg_catalog.pg_policy AS pol
      JOIN pg_catalog.pg_class AS c ON c.oid = pol.polrelid
      JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
      CROSS JOIN project
     WHERE n.nspname = ANY (project.schemas)
       AND NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_depend AS d
            WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
)
SELECT
    'policy_always_true'::text AS name,
    'Policy always true'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects permissive row-level security policies whose USING or WITH CHECK expression is the literal true, which admits every row to the roles it names.'::text AS description,
    pg_catalog.format('Policy %I on table %I.%I has %s (true).', p.polname, p.nspname, p.relname,
                      pg_catalog.concat_ws(' and ',
                          CASE WHEN p.using_expr = 'true' THEN 'USING' END,
                          CASE WHEN p.check_expr = 'true' THEN 'WITH CHECK' END)) AS detail,
    'tests/lints/README.md#0005_policy_always_true'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', p.nspname, 'name', p.relname, 'type', 'policy',
                                  'policy', p.polname) AS metadata,
    pg_catalog.format('policy_always_true_%s_%s_%s', p.nspname, p.relname, p.polname) AS cache_key
FROM policies AS p
WHERE p.polpermissive
  AND (p.using_expr = 'true' OR p.check_expr = 'true')
ORDER BY p.nspname, p.relname, p.polname
