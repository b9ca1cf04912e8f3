-- 0008_table_granted_to_public: a table, view, sequence or column with a privilege
-- granted to PUBLIC.
-- Zero rows when healthy. Doc: tests/lints/README.md#0008_table_granted_to_public
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
),
relations AS (
    SELECT c.oid, n.nspname, c.relname, c.relkind, c.relacl, c.relowner
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
      CROSS JOIN project
     WHERE n.nspname = ANY (project.schemas)
       AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
       AND NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_depend AS d
            WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
),
public_grants AS (
    SELECT r.oid, a.privilege_type AS privilege
      FROM relations AS r,
           pg_catalog.aclexplode(COALESCE(r.relacl,
               pg_catalog.acldefault(CASE WHEN r.relkind = 'S' THEN 's' ELSE 'r' END::"char", r.relowner))) AS a
     WHERE a.grantee = 0
    UNION ALL
    SELECT r.oid, pg_catalog.format('%s (%I)', a.privilege_type, att.attname)
      FROM relations AS r
      JOIN pg_catalog.pg_attribute AS att ON att.attrelid = r.oid AND att.attnum > 0 AND NOT att.attisdropped,
           pg_catalog.aclexplode(att.attacl) AS a
     WHERE a.grantee = 0
)
SELECT
    'table_granted_to_public'::text AS name,
    'Table privilege granted to PUBLIC'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects tables, views, sequences and columns in the project schemas with a privilege granted to PUBLIC (every role, including anon and roles created later).'::text AS description,
    pg_catalog.format('%s %I.%I grants %s to PUBLIC.',
                      CASE r.relkind WHEN 'v' THEN 'View' WHEN 'm' THEN 'Materialized view'
                                     WHEN 'S' THEN 'Sequence' WHEN 'f' THEN 'Foreign table' ELSE 'Table' END,
                      r.nspname, r.relname,
                      pg_catalog.string_agg(g.privilege, ', ' ORDER BY g.privilege)) AS detail,
    'tests/lints/README.md#0008_table_granted_to_public'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', r.nspname, 'name', r.relname, 'type', 'relation',
                                  'privileges', pg_catalog.array_agg(g.privilege ORDER BY g.privilege)) AS metadata,
    pg_catalog.format('table_granted_to_public_%s_%s', r.nspname, r.relname) AS cache_key
FROM public_grants AS g
JOIN relations AS r ON r.oid = g.oid
GROUP BY r.oid, r.nspname, r.relname, r.relkind
ORDER BY r.nspname, r.relname
