-- 0006_function_search_path_mutable: a function whose search_path is not pinned, or a
-- SECURITY DEFINER function whose pinned search_path does not end in pg_temp (or lists
-- a schema ordinary roles could create objects in: "$user", public).
-- Zero rows when healthy. Doc: tests/lints/README.md#0006_function_search_path_mutable
WITH project AS (
    SELECT ARRAY['tessera', 'tessera_private']::name[] AS schemas
),
functions AS (
    SELECT p.oid, n.nspname, p.proname, p.prosecdef,
           pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
           (SELECT pg_catalog.substr(cfg, pg_catalog.length('search_path=') + 1)
              FROM pg_catalog.unnest(p.proconfig) AS cfg
             WHERE cfg LIKE 'search\_path=%') AS search_path
      FROM pg_catalog.pg_proc AS p
      JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
      CROSS JOIN project
     WHERE n.nspname = ANY (project.schemas)
       AND p.prokind IN ('f', 'p')
       AND NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_depend AS d
            WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
),
parsed AS (
    SELECT f.*,
           (SELECT pg_catalog.array_agg(pg_catalog.btrim(e, ' "') ORDER BY o)
              FROM pg_catalog.unnest(pg_catalog.string_to_array(f.search_path, ',')) WITH ORDINALITY AS s(e, o)
           ) AS entries
      FROM functions AS f
),
findings AS (
    SELECT p.*,
           CASE
               WHEN p.search_path IS NULL THEN
                   'has no search_path setting, so it resolves names through the caller''s search_path'
               WHEN p.prosecdef AND p.entries[pg_catalog.array_length(p.entries, 1)] IS DISTINCT FROM 'pg_temp' THEN
                   pg_catalog.format('is SECURITY DEFINER with search_path %s, which does not end in pg_temp: the caller''s temporary schema is then searched first', p.search_path)
               WHEN p.prosecdef AND p.entries && ARRAY['$user', 'public'] THEN
                   pg_catalog.format('is SECURITY DEFINER with search_path %s, which lists a schema other roles may create objects in', p.search_path)
           END AS problem
      FROM parsed AS p
)
SELECT
    'function_search_path_mutable'::text AS name,
    'Function search_path mutable'::text AS title,
    'WARN'::text AS level,
    ARRAY['SECURITY']::text[] AS categories,
    'Detects functions in the project schemas without a pinned search_path, and SECURITY DEFINER functions whose pinned search_path does not end in pg_temp or includes "$user" or public.'::text AS description,
    pg_catalog.format('Function %I.%I(%s) %s.', f.nspname, f.proname, f.args, f.problem) AS detail,
    'tests/lints/README.md#0006_function_search_path_mutable'::text AS remediation,
    pg_catalog.jsonb_build_object('schema', f.nspname, 'name', f.proname, 'type', 'function',
                                  'arguments', f.args, 'security_definer', f.prosecdef,
                                  'search_path', f.search_path) AS metadata,
    pg_catalog.format('function_search_path_mutable_%s_%s_%s', f.nspname, f.proname, pg_catalog.md5(f.args)) AS cache_key
FROM findings AS f
WHERE f.problem IS NOT NULL
ORDER BY f.nspname, f.proname, f.args
