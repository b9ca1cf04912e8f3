-- 0016_policy_setting_read_per_row: a policy on a project table whose expression calls
-- current_setting() other than as the whole of a scalar subquery, (SELECT
-- pg_catalog.current_setting(...)). Outside such a subquery the call may run once per
-- row; and even where PostgreSQL makes it an InitPlan anyway (SELECT NULLIF(
-- current_setting(...), '')), Supabase's splinter (auth_rls_initplan) cannot tell, and
-- reviewers who run it get a warning per policy. The same text test as splinter's, so
-- this suite fails first.
-- Zero rows when healthy. Doc: tests/lints/README.md#0016_policy_setting_read_per_row
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
),
expressions AS (
    SELECT p.schemaname, p.tablename, p.policyname, e.clause, e.expression
      FROM pg_catalog.pg_policies AS p
      CROSS JOIN project
      CROSS JOIN LATERAL (VALUES ('USING', p.qual), ('WITH CHECK', p.with_check)) AS e (clause, expression)
     WHERE p.schemaname = ANY (project.schemas)
       AND e.expression IS NOT NULL
),
findings AS (
    SELECT x.schemaname, x.tablename, x.policyname,
           pg_catalog.array_agg(x.clause ORDER BY x.clause) AS clauses
      FROM expressions AS x
     WHERE x.expression LIKE '%current\_setting(%'
       AND pg_catalog.lower(x.expression) NOT LIKE '%select current\_setting(%'
     GROUP BY x.schemaname, x.tablename, x.policyname
)
SELECT
    'policy_setting_read_per_row'::text AS name,
    'Policy setting read per row'::text AS title,
    'WARN'::text AS level,
    ARRAY['PERFORMANCE']::text[] AS categories,
    'Detects policies calling current_setting() other than as (SELECT pg_catalog.current_setting(...)): write NULLIF((SELECT pg_catalog.current_setting(...)), ''''), not (SELECT NULLIF(...)).'::text AS description,
    pg_catalog.format('Policy %I on %I.%I calls current_setting() outside (SELECT current_setting(...)) in its %s clause.',
                      f.policyname, f.schemaname, f.tablename, pg_catalog.array_to_string(f.clauses, ' and ')) AS detail,
    'tests/lints/README.md#0016_policy_setting_read_per_row'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', f.schemaname, 'name', f.tablename, 'type', 'table',
                                  'policy', f.policyname, 'clauses', f.clauses) AS metadata,
    pg_catalog.format('policy_setting_read_per_row_%s_%s_%s', f.schemaname, f.tablename, f.policyname) AS cache_key
FROM findings AS f
ORDER BY f.schemaname, f.tablename, f.policyname
