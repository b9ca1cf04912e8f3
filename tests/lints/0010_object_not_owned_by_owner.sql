-- 0010_object_not_owned_by_owner: a project schema, relation, function or type not owned
-- by tessera_owner.
-- Zero rows when healthy. Doc: tests/lints/README.md#0010_object_not_owned_by_owner
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas,
           'tessera_owner'::name AS owner_role
),
objects AS (
    -- The schemas themselves.
    SELECT 'schema'::text AS type, n.nspname AS schema, n.nspname AS name, n.nspowner AS owner,
           'pg_catalog.pg_namespace'::regclass AS classid, n.oid AS objid
      FROM pg_catalog.pg_namespace AS n CROSS JOIN project
     WHERE n.nspname = ANY (project.schemas)
    UNION ALL
    -- Relations (indexes and TOAST tables always follow their table's owner).
    SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                          WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'table' END,
           n.nspname, c.relname, c.relowner, 'pg_catalog.pg_class'::regclass, c.oid
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace CROSS JOIN project
     WHERE n.nspname = ANY (project.schemas) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    UNION ALL
    SELECT 'function', n.nspname,
           pg_catalog.format('%s(%s)', p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)),
           p.proowner, 'pg_catalog.pg_proc'::regclass, p.oid
      FROM pg_catalog.pg_proc AS p
      JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace CROSS JOIN project
     WHERE n.nspname = ANY (project.schemas)
    UNION ALL
    -- Types created on their own: not a table's row type, not an implicit array type.
    SELECT 'type', n.nspname, t.typname, t.typowner, 'pg_catalog.pg_type'::regclass, t.oid
      FROM pg_catalog.pg_type AS t
      JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace CROSS JOIN project
     WHERE n.nspname = ANY (project.schemas)
       AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = t.typrelid) = 'c')
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type AS e WHERE e.typarray = t.oid)
       -- multirange types are created with, and owned like, their range type
       AND t.typtype <> 'm'
)
SELECT
    'object_not_owned_by_owner'::text AS name,
    'Object not owned by tessera_owner'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects schemas, relations, functions and types in the project schemas not owned by tessera_owner: another owner escapes FORCE ROW LEVEL SECURITY reasoning, may hold undeclared privileges, and changes what SECURITY DEFINER functions run as.'::text AS description,
    pg_catalog.format('The %s %s is owned by %I, not %I.', o.type,
                      CASE WHEN o.type = 'schema' THEN pg_catalog.quote_ident(o.name)
                           WHEN o.type = 'function' THEN pg_catalog.quote_ident(o.schema) || '.' || o.name
                           ELSE pg_catalog.quote_ident(o.schema) || '.' || pg_catalog.quote_ident(o.name) END,
                      pg_catalog.pg_get_userbyid(o.owner), project.owner_role) AS detail,
    'tests/lints/README.md#0010_object_not_owned_by_owner'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', o.schema, 'name', o.name, 'type', o.type,
                                  'owner', pg_catalog.pg_get_userbyid(o.owner)) AS metadata,
    pg_catalog.format('object_not_owned_by_owner_%s_%s_%s', o.type, o.schema, pg_catalog.md5(o.name)) AS cache_key
FROM objects AS o
CROSS JOIN project
WHERE pg_catalog.pg_get_userbyid(o.owner) <> project.owner_role
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend AS d
       WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype = 'e')
ORDER BY o.schema, o.type, o.name
