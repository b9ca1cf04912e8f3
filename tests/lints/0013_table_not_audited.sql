-- 0013_table_not_audited: a table in schema tessera that the audit coverage list
-- (tessera_private.audit_coverage(), functions/tessera_private.audit_coverage.sql)
-- neither audits nor exempts with a reason, or whose audit triggers do not match the
-- list: missing, not ENABLE ALWAYS (session_replication_role = replica would skip
-- them), calling another function, or carrying other secret columns; or a listed table
-- that no longer exists.
-- Zero rows when healthy. Doc: tests/lints/README.md#0013_table_not_audited
WITH coverage AS (
    SELECT c.table_name, c.audited, COALESCE(c.secret_columns, '{}') AS secret_columns, c.exempt_reason
      FROM tessera_private.audit_coverage() AS c
),
tables AS (
    SELECT c.oid, c.relname
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
     WHERE n.nspname = 'tessera'
       AND c.relkind IN ('r', 'p')
       AND NOT c.relispartition
       AND NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_depend AS d
            WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
),
audit_triggers AS (
    SELECT t.tgrelid, t.tgname, t.tgenabled, t.tgfoid,
           pg_catalog.split_part(pg_catalog.encode(t.tgargs, 'escape'), '\000', 2) AS secret_arg
      FROM pg_catalog.pg_trigger AS t
     WHERE NOT t.tgisinternal
),
problems AS (
    SELECT t.relname::text AS relname, 'not listed in tessera_private.audit_coverage() (audit it, or exempt it with a reason)' AS problem
      FROM tables AS t
     WHERE NOT EXISTS (SELECT 1 FROM coverage AS c WHERE c.table_name = t.relname)
    UNION ALL
    SELECT c.table_name::text, 'listed in tessera_private.audit_coverage() but does not exist'
      FROM coverage AS c
     WHERE NOT EXISTS (SELECT 1 FROM tables AS t WHERE t.relname = c.table_name)
    UNION ALL
    SELECT c.table_name::text, 'exempt without a reason'
      FROM coverage AS c
     WHERE NOT c.audited AND (c.exempt_reason IS NULL OR c.exempt_reason !~ '[^[:space:]]')
    UNION ALL
    SELECT t.relname::text, pg_catalog.format('trigger %s is %s', w.tgname,
               CASE WHEN a.tgname IS NULL THEN 'missing'
                    WHEN a.tgfoid <> 'tessera_private.audit_row_change()'::pg_catalog.regprocedure
                        THEN 'not tessera_private.audit_row_change()'
                    WHEN a.tgenabled <> 'A' THEN 'not ENABLE ALWAYS'
                    ELSE 'not excluding exactly the secret columns ' || c.secret_columns::text END)
      FROM tables AS t
      JOIN coverage AS c ON c.table_name = t.relname AND c.audited
     CROSS JOIN LATERAL (VALUES (t.relname || '_audit'), (t.relname || '_audit_truncate')) AS w (tgname)
      LEFT JOIN audit_triggers AS a ON a.tgrelid = t.oid AND a.tgname = w.tgname
     WHERE a.tgname IS NULL
        OR a.tgfoid <> 'tessera_private.audit_row_change()'::pg_catalog.regprocedure
        OR a.tgenabled <> 'A'
        OR a.secret_arg IS DISTINCT FROM c.secret_columns::text
    UNION ALL
    SELECT t.relname::text, pg_catalog.format('exempt, but trigger %s is attached', a.tgname)
      FROM tables AS t
      JOIN coverage AS c ON c.table_name = t.relname AND NOT c.audited
      JOIN audit_triggers AS a ON a.tgrelid = t.oid
                              AND a.tgfoid = 'tessera_private.audit_row_change()'::pg_catalog.regprocedure
)
SELECT
    'table_not_audited'::text AS name,
    'Table not audited'::text AS title,
    'ERROR'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects tables in schema tessera whose state transitions may escape tessera.audit_events: not in the audit coverage list, exempt without a reason, or with audit triggers that are missing, switchable by session_replication_role, or copying other columns than the list allows.'::text AS description,
    pg_catalog.format('Table tessera.%I: %s.', p.relname,
                      pg_catalog.string_agg(p.problem, '; ' ORDER BY p.problem)) AS detail,
    'tests/lints/README.md#0013_table_not_audited'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', 'tessera', 'name', p.relname, 'type', 'table') AS metadata,
    pg_catalog.format('table_not_audited_tessera_%s', p.relname) AS cache_key
FROM problems AS p
GROUP BY p.relname
ORDER BY p.relname
