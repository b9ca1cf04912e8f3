-- 0015_policy_any_over_scalar_subquery: a policy on a project table that tests a column
-- with = ANY ((SELECT ...)), an array from a scalar subquery. The subquery is an InitPlan
-- (evaluated once per statement, as intended), but its array comes back through a tuple
-- with a short varlena header, and ANY copies ("detoasts") it again for every row it
-- tests: about 50 ns a row instead of about 10 ns for = ANY (ARRAY(SELECT ...)), enough
-- to put the RLS overhead of a million-row read past its budget (docs/benchmarks.md).
-- Zero rows when healthy. Doc: tests/lints/README.md#0015_policy_any_over_scalar_subquery
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
     -- pg_get_expr renders the scalar subquery form as "= ANY (( SELECT"; the ARRAY()
     -- form as "= ANY (ARRAY( SELECT".
     WHERE x.expression ~ '= ANY \(\(\s*SELECT'
     GROUP BY x.schemaname, x.tablename, x.policyname
)
SELECT
    'policy_any_over_scalar_subquery'::text AS name,
    'Policy ANY over scalar subquery'::text AS title,
    'WARN'::text AS level,
    ARRAY['PERFORMANCE']::text[] AS categories,
    'Detects policies testing a column with = ANY ((SELECT ...)): the array is copied again for every row; write = ANY (ARRAY(SELECT pg_catalog.unnest(...))).'::text AS description,
    pg_catalog.format('Policy %I on %I.%I tests = ANY ((SELECT ...)) in its %s clause.', f.policyname, f.schemaname,
                      f.tablename, pg_catalog.array_to_string(f.clauses, ' and ')) AS detail,
    'tests/lints/README.md#0015_policy_any_over_scalar_subquery'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', f.schemaname, 'name', f.tablename, 'type', 'table',
                                  'policy', f.policyname, 'clauses', f.clauses) AS metadata,
    pg_catalog.format('policy_any_over_scalar_subquery_%s_%s_%s', f.schemaname, f.tablename, f.policyname) AS cache_key
FROM findings AS f
ORDER BY f.schemaname, f.tablename, f.policyname
