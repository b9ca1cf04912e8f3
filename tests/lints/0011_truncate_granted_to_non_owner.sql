-- 0011_truncate_granted_to_non_owner: a role other than the table's owner holds TRUNCATE.
-- TRUNCATE ignores row-level security and empties every tenant at once.
-- Zero rows when healthy. Doc: tests/lints/README.md#0011_truncate_granted_to_non_owner
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
)
SELECT
    'truncate_granted_to_non_owner'::text AS name,
    'TRUNCATE granted to a non-owner'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects project tables on which a role other than the owner holds TRUNCATE: TRUNCATE is not subject to row-level security, so the grantee can empty every tenant''s rows at once.'::text AS description,
    pg_catalog.format('Table %I.%I grants TRUNCATE to %s.', n.nspname, c.relname,
                      CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                           ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END) AS detail,
    'tests/lints/README.md#0011_truncate_granted_to_non_owner'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table',
                                  'grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                  ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END) AS metadata,
    pg_catalog.format('truncate_granted_to_non_owner_%s_%s_%s', n.nspname, c.relname,
                      CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                           ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END) AS cache_key
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN project,
     pg_catalog.aclexplode(COALESCE(c.relacl, pg_catalog.acldefault('r', c.relowner))) AS a
WHERE n.nspname = ANY (project.schemas)
  AND c.relkind IN ('r', 'p', 'f')
  AND a.privilege_type = 'TRUNCATE'
  AND a.grantee <> c.relowner
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend AS d
       WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname, a.grantee
