-- 0012_append_only_table_writable: an append-only table (one carrying the triggers of
-- tessera_private.make_append_only) that a role could still rewrite: a non-owner holds
-- UPDATE, DELETE or TRUNCATE, or a guard trigger is missing or not ENABLE ALWAYS (so
-- session_replication_role = replica would switch it off).
-- Zero rows when healthy. Doc: tests/lints/README.md#0012_append_only_table_writable
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
),
append_only AS (
    SELECT c.oid, n.nspname, c.relname, c.relowner, c.relacl, c.relispartition
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
     CROSS JOIN project
     WHERE n.nspname = ANY (project.schemas)
       AND c.relkind IN ('r', 'p')
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS t
                    WHERE t.tgrelid = c.oid AND t.tgname = c.relname || '_append_only_statement')
),
problems AS (
    SELECT a.oid, pg_catalog.format('%s holds %s',
                                    CASE WHEN g.grantee = 0 THEN 'PUBLIC'
                                         ELSE pg_catalog.pg_get_userbyid(g.grantee)::text END,
                                    g.privilege_type) AS problem
      FROM append_only AS a,
           pg_catalog.aclexplode(COALESCE(a.relacl, pg_catalog.acldefault('r', a.relowner))) AS g
     WHERE g.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
       AND g.grantee <> a.relowner
    UNION ALL
    SELECT a.oid, pg_catalog.format('trigger %s is not ENABLE ALWAYS', t.tgname)
      FROM append_only AS a
      JOIN pg_catalog.pg_trigger AS t ON t.tgrelid = a.oid
     WHERE t.tgname LIKE '%\_append\_only\_%' AND t.tgenabled <> 'A'
    UNION ALL
    -- The row trigger lives on the parent and is cloned to partitions.
    SELECT a.oid, 'row trigger missing'
      FROM append_only AS a
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS t
                        WHERE t.tgrelid = a.oid AND t.tgname LIKE '%\_append\_only\_row')
)
SELECT
    'append_only_table_writable'::text AS name,
    'Append-only table can be rewritten'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects append-only tables (ledger, audit) that some role could still UPDATE, DELETE or TRUNCATE, or whose guard triggers could be switched off with session_replication_role = replica.'::text AS description,
    pg_catalog.format('Append-only table %I.%I: %s.', a.nspname, a.relname,
                      pg_catalog.string_agg(p.problem, '; ' ORDER BY p.problem)) AS detail,
    'tests/lints/README.md#0012_append_only_table_writable'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', a.nspname, 'name', a.relname, 'type', 'table') AS metadata,
    pg_catalog.format('append_only_table_writable_%s_%s', a.nspname, a.relname) AS cache_key
FROM append_only AS a
JOIN problems AS p ON p.oid = a.oid
GROUP BY a.nspname, a.relname
ORDER BY a.nspname, a.relname
