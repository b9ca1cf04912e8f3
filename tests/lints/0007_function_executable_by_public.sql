-- 0007_function_executable_by_public: a project function PUBLIC may execute (the
-- PostgreSQL default for a function nobody revoked it from).
-- Zero rows when healthy. Doc: tests/lints/README.md#0007_function_executable_by_public
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
)
SELECT
    'function_executable_by_public'::text AS name,
    'Function executable by PUBLIC'::text AS title,
    CASE WHEN p.prosecdef THEN 'ERROR' ELSE 'WARN' END::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects functions in the project schemas that PUBLIC (every role, including anon) may execute, either through an explicit grant or because the default grant was never revoked.'::text AS description,
    pg_catalog.format('Function %I.%I(%s)%s is executable by PUBLIC%s.',
                      n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid),
                      CASE WHEN p.prosecdef THEN ' (SECURITY DEFINER)' ELSE '' END,
                      CASE WHEN p.proacl IS NULL THEN ' by default (no REVOKE ... FROM PUBLIC)' ELSE '' END) AS detail,
    'tests/lints/README.md#0007_function_executable_by_public'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', n.nspname, 'name', p.proname, 'type', 'function',
                                  'arguments', pg_catalog.pg_get_function_identity_arguments(p.oid),
                                  'security_definer', p.prosecdef) AS metadata,
    pg_catalog.format('function_executable_by_public_%s_%s_%s', n.nspname, p.proname,
                      pg_catalog.md5(pg_catalog.pg_get_function_identity_arguments(p.oid))) AS cache_key
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
CROSS JOIN project
WHERE n.nspname = ANY (project.schemas)
  AND EXISTS (
      SELECT 1 FROM pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS a
       WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend AS d
       WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)
