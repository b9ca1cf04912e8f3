-- 01_structure: the catalog-level guarantees every other file relies on.
--
--   * the foundation schemas and tables exist;
--   * row-level security is enabled AND forced on every table of schema tessera
--     (one assertion per table, found in the catalog, so a new table is covered);
--   * every policy names its roles (none applies to PUBLIC), and each foundation table
--     carries exactly its declared policies;
--   * PUBLIC can execute no project function and holds no privilege on project tables or
--     schemas;
--   * every SECURITY DEFINER function pins search_path with pg_temp last;
--   * tessera_owner owns every project object (extension members aside);
--   * EXECUTE on the foundation helpers and RPCs, and USAGE on the schemas, go exactly
--     to the intended API roles; API roles execute exactly the declared tessera_private
--     functions (identity helpers, RPC bodies behind their invoker wrappers).
BEGIN;
\ir helpers/act_as.sql

-- The sets the catalog loops walk (views in schema tests: rolled back with the test).
CREATE VIEW tests.project_tables AS
    SELECT c.oid, c.oid::regclass AS tbl, c.relname, c.relrowsecurity, c.relforcerowsecurity
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'tessera'::regnamespace
       AND c.relkind IN ('r', 'p');

CREATE VIEW tests.project_policies AS
    SELECT p.polname, p.polrelid::regclass AS tbl, p.polroles
      FROM pg_catalog.pg_policy p
      JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
     WHERE c.relnamespace::regnamespace::text IN ('tessera', 'tessera_private');

-- Functions of the project schemas that are not members of an extension.
CREATE VIEW tests.project_functions AS
    SELECT p.oid, p.oid::regprocedure AS fn, p.pronamespace::regnamespace::text AS nspname,
           p.proowner, p.proacl, p.prosecdef, p.proconfig
      FROM pg_catalog.pg_proc p
     WHERE p.pronamespace::regnamespace::text IN ('tessera', 'tessera_private')
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                          AND d.deptype = 'e');

-- The schemas of a function's pinned search_path, in order; NULL when not pinned.
CREATE FUNCTION tests.search_path_of(proconfig text[]) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT pg_catalog.array_agg(pg_catalog.btrim(e.entry, ' "') ORDER BY e.n)
      FROM pg_catalog.unnest(proconfig) AS s(setting),
           pg_catalog.unnest(pg_catalog.string_to_array(
               pg_catalog.substr(s.setting, pg_catalog.length('search_path=') + 1), ','))
               WITH ORDINALITY AS e(entry, n)
     WHERE s.setting LIKE 'search\_path=%'
$$;

SELECT plan(
      5                                                        -- schemas and tables
    + 1 + (SELECT count(*)::int FROM tests.project_tables)    -- RLS loop
    + 1 + (SELECT count(*)::int FROM tests.project_policies)  -- policy roles loop
    + 4                                                        -- policies_are
    + 1 + (SELECT count(*)::int FROM tests.project_functions) -- PUBLIC EXECUTE loop
    + 2                                                        -- PUBLIC on tables, schemas
    + 1 + (SELECT count(*)::int FROM tests.project_functions WHERE prosecdef)  -- search_path loop
    + 11                                                       -- definer / invoker
    + 5                                                        -- owners
    + 60                                                       -- EXECUTE matrix
    + 1                                                        -- no other tessera_private grant
    + 15                                                       -- schema USAGE matrix
    + 2                                                        -- table privileges
);

--- Schemas and tables ------------------------------------------------------------------

SELECT has_schema('tessera', 'schema tessera exists');
SELECT has_table('tessera', 'clients', 'table tessera.clients exists');
SELECT has_table('tessera', 'workloads', 'table tessera.workloads exists');
SELECT has_table('tessera', 'operators', 'table tessera.operators exists');
SELECT has_table('tessera', 'client_users', 'table tessera.client_users exists');

--- Row-level security: enabled and forced on every table of schema tessera ------------

SELECT cmp_ok((SELECT count(*)::int FROM tests.project_tables), '>=', 4,
              'the RLS loop sees at least the four foundation tables of schema tessera');

SELECT ok(t.relrowsecurity AND t.relforcerowsecurity,
          pg_catalog.format('%s: row-level security enabled (%s) and forced (%s)',
                            t.tbl, t.relrowsecurity, t.relforcerowsecurity))
  FROM tests.project_tables t
 ORDER BY t.relname;

--- Policies ----------------------------------------------------------------------------

SELECT cmp_ok((SELECT count(*)::int FROM tests.project_policies), '>=', 18,
              'the policy loop sees at least the 18 foundation policies');

-- polroles = {0} means the policy applies TO PUBLIC (every role).
SELECT ok(NOT (0::oid = ANY (p.polroles)),
          pg_catalog.format('policy %s on %s names its roles (%s), not PUBLIC',
                            p.polname, p.tbl,
                            (SELECT pg_catalog.string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END, ', ')
                               FROM pg_catalog.unnest(p.polroles) AS r)))
  FROM tests.project_policies p
 ORDER BY p.tbl::text, p.polname;

SELECT policies_are('tessera', 'clients', ARRAY[
    'clients_select_operator_or_sponsor', 'clients_insert_operator', 'clients_update_operator',
    'clients_delete_operator', 'clients_select_definer_for_caller', 'clients_update_definer_for_caller',
    'clients_select_definer_recording',
    -- issue 14: tessera.erase_client reaches only the client it is erasing
    'clients_select_definer_removal', 'clients_delete_definer_removal', 'clients_update_definer_erasure'],
    'tessera.clients carries exactly its declared policies');
SELECT policies_are('tessera', 'workloads', ARRAY[
    'workloads_select_operator_or_sponsor', 'workloads_insert_operator',
    'workloads_update_operator_or_sponsor', 'workloads_delete_operator',
    'workloads_select_definer_recording',   -- functions acting for one client read its workloads
    'workloads_select_definer_ingest',      -- issue 12: record_request(s) read the batch's opt-ins
    'workloads_select_definer_removal', 'workloads_delete_definer_removal',  -- issue 14: erasure
    'workloads_update_definer_erasure'],
    'tessera.workloads carries exactly its declared policies');
SELECT policies_are('tessera', 'operators', ARRAY[
    'operators_select_operator', 'operators_insert_operator', 'operators_update_operator',
    'operators_delete_operator', 'operators_select_definer_own_email'],
    'tessera.operators carries exactly its declared policies');
SELECT policies_are('tessera', 'client_users', ARRAY[
    'client_users_select_operator_or_sponsor', 'client_users_insert_operator',
    'client_users_update_operator', 'client_users_delete_operator',
    'client_users_select_definer_own_email',
    'client_users_select_definer_removal', 'client_users_delete_definer_removal'],  -- issue 14: erasure
    'tessera.client_users carries exactly its declared policies');

--- PUBLIC ------------------------------------------------------------------------------

SELECT cmp_ok((SELECT count(*)::int FROM tests.project_functions), '>=', 10,
              'the function loop sees at least the ten foundation functions');

-- A NULL proacl means the built-in default, which lets PUBLIC execute.
SELECT ok(NOT EXISTS (SELECT 1
                        FROM pg_catalog.aclexplode(COALESCE(f.proacl, pg_catalog.acldefault('f', f.proowner))) a
                       WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'),
          pg_catalog.format('%s is not executable by PUBLIC', f.fn))
  FROM tests.project_functions f
 ORDER BY f.fn::text;

SELECT is_empty($$
    SELECT c.oid::regclass, a.privilege_type
      FROM pg_catalog.pg_class c,
           pg_catalog.aclexplode(COALESCE(c.relacl, pg_catalog.acldefault('r', c.relowner))) a
     WHERE c.relnamespace::regnamespace::text IN ('tessera', 'tessera_private', 'tessera_ext')
       AND a.grantee = 0
$$, 'PUBLIC holds no privilege on any table, view or sequence of the project schemas');

SELECT is_empty($$
    SELECT n.nspname, a.privilege_type
      FROM pg_catalog.pg_namespace n,
           pg_catalog.aclexplode(COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
     WHERE n.nspname IN ('tessera', 'tessera_private', 'tessera_ext')
       AND a.grantee = 0
$$, 'PUBLIC holds neither USAGE nor CREATE on tessera, tessera_private, tessera_ext');

--- SECURITY DEFINER: search_path pinned, pg_temp last ---------------------------------

SELECT cmp_ok((SELECT count(*)::int FROM tests.project_functions WHERE prosecdef), '>=', 4,
              'the definer loop sees at least the four foundation SECURITY DEFINER functions');

SELECT ok(p.sp IS NOT NULL
          AND p.sp[pg_catalog.cardinality(p.sp)] = 'pg_temp'
          AND p.sp <@ ARRAY['pg_catalog', 'tessera', 'tessera_private', 'tessera_ext', 'pg_temp'],
          pg_catalog.format('SECURITY DEFINER %s pins search_path to owner-controlled schemas, pg_temp last (proconfig %s)',
                            f.fn, COALESCE(f.proconfig::text, 'NULL')))
  FROM tests.project_functions f
 CROSS JOIN LATERAL (SELECT tests.search_path_of(f.proconfig) AS sp) p
 WHERE f.prosecdef
 ORDER BY f.fn::text;

SELECT is_definer('tessera_private', 'is_operator', ARRAY[]::name[],
                  'tessera_private.is_operator() is SECURITY DEFINER (no policy recursion)');
SELECT is_definer('tessera_private', 'sponsor_client_ids', ARRAY[]::name[],
                  'tessera_private.sponsor_client_ids() is SECURITY DEFINER (no policy recursion)');
-- The portal RPCs: a SECURITY DEFINER body in tessera_private behind a SECURITY INVOKER
-- wrapper in the exposed schema (Supabase Security Advisor lints 0028/0029).
SELECT is_definer('tessera_private', 'set_kill_switch', ARRAY['uuid', 'boolean'],
                  'tessera_private.set_kill_switch(uuid, boolean) is SECURITY DEFINER');
SELECT is_definer('tessera_private', 'set_cross_customer_intelligence', ARRAY['uuid', 'boolean'],
                  'tessera_private.set_cross_customer_intelligence(uuid, boolean) is SECURITY DEFINER');
SELECT isnt_definer('tessera', 'set_kill_switch', ARRAY['uuid', 'boolean'],
                    'tessera.set_kill_switch(uuid, boolean) is an invoker wrapper');
SELECT isnt_definer('tessera', 'set_cross_customer_intelligence', ARRAY['uuid', 'boolean'],
                    'tessera.set_cross_customer_intelligence(uuid, boolean) is an invoker wrapper');
SELECT isnt_definer('tessera_private', 'jwt_claims', ARRAY[]::name[],
                    'tessera_private.jwt_claims() runs as the caller');
SELECT isnt_definer('tessera_private', 'jwt_email', ARRAY[]::name[],
                    'tessera_private.jwt_email() runs as the caller');
SELECT isnt_definer('tessera_private', 'can_manage_client', ARRAY['uuid'],
                    'tessera_private.can_manage_client(uuid) runs as the caller');
SELECT isnt_definer('tessera_private', 'set_client_setting', ARRAY['uuid', 'text', 'boolean'],
                    'tessera_private.set_client_setting(uuid, text, boolean) runs as the caller (reached only through the definer RPCs)');
SELECT isnt_definer('tessera_private', 'guard_workload_sponsor_update', ARRAY[]::name[],
                    'tessera_private.guard_workload_sponsor_update() runs as the caller (it decides on current_user)');

--- Owners ------------------------------------------------------------------------------

SELECT is_empty($$
    SELECT n.nspname, n.nspowner::regrole
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname IN ('tessera', 'tessera_private', 'tessera_ext')
       AND n.nspowner <> 'tessera_owner'::regrole
$$, 'tessera_owner owns the schemas tessera, tessera_private and tessera_ext');

SELECT is_empty($$
    SELECT c.oid::regclass, c.relkind, c.relowner::regrole
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace::regnamespace::text IN ('tessera', 'tessera_private', 'tessera_ext')
       AND c.relowner <> 'tessera_owner'::regrole
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                          AND d.deptype = 'e')
$$, 'tessera_owner owns every table, index, sequence and view of the project schemas');

SELECT is_empty($$
    SELECT f.fn, f.proowner::regrole FROM tests.project_functions f
     WHERE f.proowner <> 'tessera_owner'::regrole
$$, 'tessera_owner owns every function of tessera and tessera_private');

SELECT is_empty($$
    SELECT t.oid::regtype, t.typowner::regrole
      FROM pg_catalog.pg_type t
     WHERE t.typnamespace::regnamespace::text IN ('tessera', 'tessera_private', 'tessera_ext')
       AND t.typowner <> 'tessera_owner'::regrole
       -- extension members, and the implicit array types of extension members
       AND NOT EXISTS (SELECT 1
                         FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_type'::regclass
                          AND d.deptype = 'e'
                          AND (d.objid = t.oid
                               OR d.objid = (SELECT e.oid FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)))
$$, 'tessera_owner owns every type of the project schemas');

SELECT is_empty($$
    SELECT e.extname, e.extowner::regrole
      FROM pg_catalog.pg_extension e
     WHERE e.extnamespace::regnamespace::text IN ('tessera', 'tessera_private', 'tessera_ext')
       AND e.extowner <> 'tessera_owner'::regrole
$$, 'tessera_owner owns the extensions installed in the project schemas');

--- EXECUTE: exactly the intended API roles ---------------------------------------------

SELECT is(pg_catalog.has_function_privilege(r.rolname, f.fn, 'EXECUTE'),
          r.rolname = ANY (f.grantees),
          pg_catalog.format('%s: EXECUTE %s for %s', f.fn,
                            CASE WHEN r.rolname = ANY (f.grantees) THEN 'granted' ELSE 'refused' END,
                            r.rolname))
  FROM (VALUES
        -- Identity helpers: called by the authenticated policies.
        ('tessera_private.jwt_claims()',                              ARRAY['authenticated']),
        ('tessera_private.jwt_email()',                               ARRAY['authenticated']),
        ('tessera_private.is_operator()',                             ARRAY['authenticated']),
        ('tessera_private.sponsor_client_ids()',                      ARRAY['authenticated']),
        -- Reached only from inside definer functions, triggers or migrations.
        ('tessera_private.can_manage_client(uuid)',                   ARRAY[]::text[]),
        ('tessera_private.set_client_setting(uuid,text,boolean)',     ARRAY[]::text[]),
        ('tessera_private.guard_workload_sponsor_update()',           ARRAY[]::text[]),
        ('tessera_private.touch_updated_at()',                        ARRAY[]::text[]),
        -- Portal RPCs: sponsors and operators.
        ('tessera.set_kill_switch(uuid,boolean)',                     ARRAY['authenticated']),
        ('tessera.set_cross_customer_intelligence(uuid,boolean)',     ARRAY['authenticated']),
        -- ... and their definer bodies: exactly the wrappers' roles.
        ('tessera_private.set_kill_switch(uuid,boolean)',             ARRAY['authenticated']),
        ('tessera_private.set_cross_customer_intelligence(uuid,boolean)', ARRAY['authenticated'])
       ) AS f(fn, grantees)
 CROSS JOIN (VALUES (1, 'anon'), (2, 'authenticated'), (3, 'service_role'), (4, 'tessera_proxy'),
                    (5, 'tessera_settlement')) AS r(ord, rolname)
 ORDER BY f.fn, r.ord;

-- Every function of tessera_private, later ones included: the helper schema is never
-- exposed, and an API role may execute only what this list declares -- the four
-- identity helpers the authenticated policies call, and the SECURITY DEFINER bodies of
-- the RPCs, each for exactly the roles of its invoker wrapper in tessera. (The wrappers
-- themselves are granted function by function; each feature's own tests pin those.)
CREATE TABLE tests.private_grants (fn text, rolname name);
INSERT INTO tests.private_grants VALUES
    ('tessera_private.jwt_claims()',                                 'authenticated'),
    ('tessera_private.jwt_email()',                                  'authenticated'),
    ('tessera_private.is_operator()',                                'authenticated'),
    ('tessera_private.sponsor_client_ids()',                         'authenticated'),
    ('tessera_private.set_kill_switch(uuid,boolean)',                'authenticated'),
    ('tessera_private.set_cross_customer_intelligence(uuid,boolean)', 'authenticated'),
    ('tessera_private.set_exact_cache_ttl(uuid,uuid,interval)',      'authenticated'),
    ('tessera_private.flush_cache(uuid,uuid)',                       'authenticated'),
    ('tessera_private.create_api_key(uuid,text,text,text[],text,uuid,interval)', 'authenticated'),
    ('tessera_private.rotate_api_key(uuid,uuid,text,text,interval)', 'authenticated'),
    ('tessera_private.revoke_api_key(uuid,uuid,text)',               'authenticated'),
    ('tessera_private.create_reading_share_token(uuid,date,integer,interval)', 'authenticated'),
    ('tessera_private.revoke_reading_share_token(uuid,uuid)',        'authenticated'),
    ('tessera_private.reading_by_share_token(text)',                 'anon'),
    ('tessera_private.reading_by_share_token(text)',                 'authenticated'),
    ('tessera_private.erase_client(uuid,text)',                      'authenticated'),
    ('tessera_private.break_glass(text,text,uuid)',                  'authenticated'),
    ('tessera_private.break_glass_publish_price(text,text,numeric,numeric,numeric,numeric,numeric,numeric,numeric,integer,numeric,numeric,numeric,timestamp with time zone)', 'authenticated'),
    ('tessera_private.respond_to_anomaly(uuid,uuid,text)',           'authenticated');

SELECT set_eq($$
    SELECT f.fn::text, r.rolname::name
      FROM tests.project_functions f
     CROSS JOIN (VALUES ('anon'), ('authenticated'), ('service_role'), ('tessera_proxy'),
                        ('tessera_settlement'), ('tessera_sealer'), ('authenticator')) AS r(rolname)
     WHERE f.nspname = 'tessera_private'
       AND pg_catalog.has_function_privilege(r.rolname, f.oid, 'EXECUTE')
$$, 'SELECT fn, rolname FROM tests.private_grants',
'API roles execute exactly the declared tessera_private functions: the identity helpers and the RPC bodies behind their wrappers');

--- Schema USAGE ------------------------------------------------------------------------

SELECT is(pg_catalog.has_schema_privilege(r.rolname, s.nspname, 'USAGE'),
          r.rolname = ANY (s.grantees),
          pg_catalog.format('schema %s: USAGE %s for %s', s.nspname,
                            CASE WHEN r.rolname = ANY (s.grantees) THEN 'granted' ELSE 'refused' END,
                            r.rolname))
  FROM (VALUES
        ('tessera',         ARRAY['anon', 'authenticated', 'service_role', 'tessera_proxy', 'tessera_settlement']),
        ('tessera_private', ARRAY['anon', 'authenticated']),
        ('tessera_ext',     ARRAY[]::text[])
       ) AS s(nspname, grantees)
 CROSS JOIN (VALUES (1, 'anon'), (2, 'authenticated'), (3, 'service_role'), (4, 'tessera_proxy'),
                    (5, 'tessera_settlement')) AS r(ord, rolname)
 ORDER BY s.nspname, r.ord;

--- Table privileges --------------------------------------------------------------------

SELECT is_empty($$
    SELECT c.oid::regclass, a.grantee::regrole, a.privilege_type
      FROM tests.project_tables c
      JOIN pg_catalog.pg_class pc ON pc.oid = c.oid,
           pg_catalog.aclexplode(COALESCE(pc.relacl, pg_catalog.acldefault('r', pc.relowner))) a
     WHERE a.grantee <> pc.relowner
       AND a.privilege_type IN ('TRUNCATE', 'REFERENCES', 'TRIGGER')
$$, 'only the owner holds TRUNCATE, REFERENCES or TRIGGER on the tables of schema tessera');

SELECT is_empty($$
    SELECT c.oid::regclass, r.rolname
      FROM tests.project_tables c
     CROSS JOIN (VALUES ('anon'), ('tessera_proxy'), ('tessera_settlement'), ('tessera_sealer'),
                        ('authenticator')) AS r(rolname)
     WHERE pg_catalog.has_table_privilege(r.rolname, c.oid,
                                          'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
$$, 'anon, tessera_proxy, tessera_settlement, tessera_sealer and authenticator hold no privilege on any table of schema tessera');

SELECT * FROM finish();
ROLLBACK;
