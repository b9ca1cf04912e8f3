-- 0014_policy_function_parallel_unsafe: a function called by a SELECT (or ALL) policy
-- in the project schemas that is marked PARALLEL UNSAFE (the default of CREATE
-- FUNCTION). One such function anywhere in a table's read policies and no query of an
-- authenticated caller on that table gets a parallel plan, while service_role's (which
-- bypasses RLS) does: the policy overhead of a large read then doubles on a 2-CPU box.
-- One row per function, naming the policies that call it. Functions that only
-- INSERT/UPDATE/DELETE policies call are not reported: writes never run in parallel.
-- Zero rows when healthy. Doc: tests/lints/README.md#0014_policy_function_parallel_unsafe
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
),
read_policies AS (
    SELECT pol.oid, pol.polname, tn.nspname AS table_schema, t.relname AS table_name
      FROM pg_catalog.pg_policy AS pol
      JOIN pg_catalog.pg_class AS t ON t.oid = pol.polrelid
      JOIN pg_catalog.pg_namespace AS tn ON tn.oid = t.relnamespace
      CROSS JOIN project
     WHERE tn.nspname = ANY (project.schemas)
       AND pol.polcmd IN ('r', '*')
),
calls AS (
    -- CREATE POLICY records a normal dependency on every function its expressions call.
    SELECT DISTINCT p.oid AS function_oid, rp.table_schema, rp.table_name, rp.polname
      FROM read_policies AS rp
      JOIN pg_catalog.pg_depend AS d
        ON d.classid = 'pg_catalog.pg_policy'::regclass AND d.objid = rp.oid
       AND d.refclassid = 'pg_catalog.pg_proc'::regclass
      JOIN pg_catalog.pg_proc AS p ON p.oid = d.refobjid
     WHERE p.proparallel = 'u'
),
findings AS (
    SELECT n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
           pg_catalog.array_agg(pg_catalog.format('%I.%I.%I', c.table_schema, c.table_name, c.polname)
                                ORDER BY c.table_schema, c.table_name, c.polname) AS policies
      FROM calls AS c
      JOIN pg_catalog.pg_proc AS p ON p.oid = c.function_oid
      JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
     GROUP BY n.nspname, p.proname, p.oid
)
SELECT
    'policy_function_parallel_unsafe'::text AS name,
    'Policy function parallel unsafe'::text AS title,
    'WARN'::text AS level,
    ARRAY['PERFORMANCE']::text[] AS categories,
    'Detects PARALLEL UNSAFE functions called by SELECT or ALL policies: they keep every authenticated query on the table out of parallel plans.'::text AS description,
    pg_catalog.format('Function %I.%I(%s) is PARALLEL UNSAFE and is called by %s read polic%s: %s.',
                      f.nspname, f.proname, f.args, pg_catalog.cardinality(f.policies),
                      CASE WHEN pg_catalog.cardinality(f.policies) = 1 THEN 'y' ELSE 'ies' END,
                      pg_catalog.array_to_string(f.policies, ', ')) AS detail,
    'tests/lints/README.md#0014_policy_function_parallel_unsafe'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', f.nspname, 'name', f.proname, 'type', 'function',
                                  'arguments', f.args, 'policies', f.policies) AS metadata,
    pg_catalog.format('policy_function_parallel_unsafe_%s_%s_%s', f.nspname, f.proname, pg_catalog.md5(f.args)) AS cache_key
FROM findings AS f
ORDER BY f.nspname, f.proname, f.args
