-- 03_workloads_sponsor_update: who can do what to tessera.workloads.
--
-- Every actor against every operation, client B as the negative control. The sponsor
-- rule has two halves and both are tested, together and apart:
--   rows     policy workloads_update_operator_or_sponsor: a sponsor updates only the
--            workloads of their own clients, and WITH CHECK refuses moving one to a
--            client they do not sponsor (tested with the column guard switched off);
--   columns  trigger workloads_guard_sponsor_update: a sponsor changes only mechanic_*
--            flags; name, client_id, workload_id, created_at throw 42501.
-- Operators and service_role may change every column.
BEGIN;
\ir helpers/act_as.sql
SELECT plan(60);
SELECT tests.create_fixtures();

--- Acting as service_role (BYPASSRLS) --------------------------------------------------
-- First on purpose: PL/pgSQL caches the column guard's parsed expressions per session,
-- so an UPDATE by `authenticated` earlier in the session would hide what the first
-- UPDATE of a fresh session by service_role meets.
SELECT tests.act_as('service_role');

SELECT results_eq(
    $$ SELECT client_id, workload_id FROM tessera.workloads ORDER BY client_id $$,
    $$ VALUES (tests.client_a(), tests.workload_a()), (tests.client_b(), tests.workload_b()) $$,
    'service_role: SELECT sees the workloads of A and B');
SELECT results_eq(
    $$ INSERT INTO tessera.workloads (client_id, workload_id, name)
       VALUES (tests.client_b(), 'b0000000-0000-4000-8000-0000000000b9', 'svc-made') RETURNING client_id, name $$,
    $$ VALUES (tests.client_b(), 'svc-made'::text) $$,
    'service_role: INSERT of a workload for B works');
SELECT lives_ok(
    $$ UPDATE tessera.workloads SET name = 'svc-renamed', mechanic_exact_cache = true
        WHERE workload_id = 'b0000000-0000-4000-8000-0000000000b9' $$,
    'service_role: UPDATE of a workload''s name and flags runs (first UPDATE of the session)');
SELECT results_eq(
    $$ SELECT name, mechanic_exact_cache FROM tessera.workloads WHERE workload_id = 'b0000000-0000-4000-8000-0000000000b9' $$,
    $$ VALUES ('svc-renamed'::text, true) $$,
    'service_role: the UPDATE changed name and flag');
SELECT results_eq(
    $$ DELETE FROM tessera.workloads WHERE workload_id = 'b0000000-0000-4000-8000-0000000000b9' RETURNING client_id $$,
    $$ VALUES (tests.client_b()) $$,
    'service_role: DELETE of a workload works');
SELECT throws_ok($$ TRUNCATE tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'service_role: TRUNCATE of tessera.workloads is refused');

--- Acting as anon ----------------------------------------------------------------------
SELECT tests.act_as('anon');

SELECT throws_ok($$ SELECT workload_id FROM tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'anon: SELECT on tessera.workloads is refused');
SELECT throws_ok($$ INSERT INTO tessera.workloads (client_id, name) VALUES (tests.client_a(), 'anon') $$,
    '42501', 'permission denied for table workloads', 'anon: INSERT into tessera.workloads is refused');
SELECT throws_ok($$ UPDATE tessera.workloads SET mechanic_auto_route = true $$,
    '42501', 'permission denied for table workloads', 'anon: UPDATE of tessera.workloads is refused');
SELECT throws_ok($$ DELETE FROM tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'anon: DELETE from tessera.workloads is refused');
SELECT throws_ok($$ TRUNCATE tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'anon: TRUNCATE of tessera.workloads is refused');

--- Acting as the sponsor of A ----------------------------------------------------------
SELECT tests.act_as('sponsor_a');

SELECT results_eq(
    $$ SELECT client_id, workload_id, name FROM tessera.workloads ORDER BY workload_id $$,
    $$ VALUES (tests.client_a(), tests.workload_a(), 'a-chat'::text) $$,
    'sponsor of A: SELECT sees the workloads of A only');
SELECT is_empty(
    $$ SELECT workload_id FROM tessera.workloads WHERE workload_id = tests.workload_b() $$,
    'sponsor of A: SELECT of B''s workload by its id finds nothing');

-- INSERT: operators only, whatever the client_id.
SELECT throws_ok(
    $$ INSERT INTO tessera.workloads (client_id, name) VALUES (tests.client_a(), 'sponsor-made') $$,
    '42501', 'new row violates row-level security policy for table "workloads"',
    'sponsor of A: INSERT of a workload for own client A is refused by RLS');
SELECT throws_ok(
    $$ INSERT INTO tessera.workloads (client_id, name) VALUES (tests.client_b(), 'forged') $$,
    '42501', 'new row violates row-level security policy for table "workloads"',
    'sponsor of A: INSERT with the forged client_id of B is refused by RLS');

-- UPDATE of own mechanic_* flags: allowed, both ways.
SELECT results_eq(
    $$ UPDATE tessera.workloads SET mechanic_auto_route = true
        WHERE workload_id = tests.workload_a() RETURNING workload_id, mechanic_auto_route $$,
    $$ VALUES (tests.workload_a(), true) $$,
    'sponsor of A: switching on mechanic_auto_route of own workload works');
SELECT results_eq(
    $$ UPDATE tessera.workloads SET mechanic_auto_route = false, mechanic_semantic_cache = true,
              mechanic_prompt_cache_header = true
        WHERE workload_id = tests.workload_a()
       RETURNING mechanic_auto_route, mechanic_semantic_cache, mechanic_prompt_cache_header $$,
    $$ VALUES (false, true, true) $$,
    'sponsor of A: switching mechanic flags off and on again works');

-- UPDATE of any other column of own workload: the column guard throws 42501.
SELECT throws_ok(
    $$ UPDATE tessera.workloads SET name = 'renamed-by-sponsor' WHERE workload_id = tests.workload_a() $$,
    '42501', 'sponsors may change only the mechanic_* flags of a workload (attempted: name)',
    'sponsor of A: changing the name of own workload is refused by the column guard');
SELECT throws_ok(
    $$ UPDATE tessera.workloads SET client_id = tests.client_b() WHERE workload_id = tests.workload_a() $$,
    '42501', 'sponsors may change only the mechanic_* flags of a workload (attempted: client_id)',
    'sponsor of A: moving own workload to client B (forged client_id) is refused');
SELECT throws_ok(
    $$ UPDATE tessera.workloads SET workload_id = 'a0000000-0000-4000-8000-0000000000a9' WHERE workload_id = tests.workload_a() $$,
    '42501', 'sponsors may change only the mechanic_* flags of a workload (attempted: workload_id)',
    'sponsor of A: changing the workload_id of own workload is refused');
SELECT throws_ok(
    $$ UPDATE tessera.workloads SET created_at = now() - interval '1 day' WHERE workload_id = tests.workload_a() $$,
    '42501', 'sponsors may change only the mechanic_* flags of a workload (attempted: created_at)',
    'sponsor of A: backdating created_at of own workload is refused');
SELECT throws_ok(
    $$ UPDATE tessera.workloads SET mechanic_exact_cache = true, name = 'sneaky' WHERE workload_id = tests.workload_a() $$,
    '42501', 'sponsors may change only the mechanic_* flags of a workload (attempted: name)',
    'sponsor of A: a flag change bundled with a name change is refused as a whole');

-- B's workloads: filtered by the row policy, no error, nothing changes.
SELECT is_empty(
    $$ UPDATE tessera.workloads SET mechanic_auto_route = true WHERE workload_id = tests.workload_b() RETURNING workload_id $$,
    'sponsor of A: flipping a flag of B''s workload changes no row');
SELECT is_empty(
    $$ UPDATE tessera.workloads SET name = 'pwned', client_id = tests.client_a()
        WHERE workload_id = tests.workload_b() RETURNING workload_id $$,
    'sponsor of A: pulling B''s workload over to A changes no row');

SELECT is_empty(
    $$ DELETE FROM tessera.workloads WHERE workload_id = tests.workload_a() RETURNING workload_id $$,
    'sponsor of A: DELETE of own workload deletes no row');
SELECT is_empty(
    $$ DELETE FROM tessera.workloads RETURNING workload_id $$,
    'sponsor of A: DELETE without WHERE deletes no row');
-- Without WHERE or RETURNING only the UPDATE / DELETE policies apply (a WHERE or
-- RETURNING adds the SELECT policies, which would hide a too-wide UPDATE policy).
SELECT lives_ok($$ UPDATE tessera.workloads SET mechanic_json_schema_enforcement = true $$,
    'sponsor of A: bare flag UPDATE (UPDATE policies only) runs; it may reach A''s workloads only (checked below)');
SELECT lives_ok($$ DELETE FROM tessera.workloads $$,
    'sponsor of A: bare DELETE (DELETE policies only) runs and deletes nothing (checked below)');
SELECT throws_ok($$ TRUNCATE tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'sponsor of A: TRUNCATE of tessera.workloads is refused');

-- The row half alone: with the column guard switched off (superuser, rolled back),
-- row-level security still refuses moving A's workload to client B. With a WHERE the
-- SELECT policy is checked against the new row too; the bare UPDATE leaves the UPDATE
-- policy's WITH CHECK as the only line.
SELECT tests.clear_identity();
ALTER TABLE tessera.workloads DISABLE TRIGGER workloads_guard_sponsor_update;
SELECT tests.act_as('sponsor_a');
SELECT throws_ok(
    $$ UPDATE tessera.workloads SET client_id = tests.client_b() WHERE workload_id = tests.workload_a() $$,
    '42501', 'new row violates row-level security policy for table "workloads"',
    'sponsor of A, column guard off: RLS refuses moving own workload to client B');
SELECT throws_ok(
    $$ UPDATE tessera.workloads SET client_id = tests.client_b() $$,
    '42501', 'new row violates row-level security policy for table "workloads"',
    'sponsor of A, column guard off: the UPDATE policy''s WITH CHECK alone refuses moving own workloads to client B');
SELECT tests.clear_identity();
ALTER TABLE tessera.workloads ENABLE TRIGGER workloads_guard_sponsor_update;

--- Acting as the sponsor of B (negative control the other way round) ------------------
SELECT tests.act_as('sponsor_b');

SELECT results_eq(
    $$ SELECT client_id, workload_id FROM tessera.workloads ORDER BY workload_id $$,
    $$ VALUES (tests.client_b(), tests.workload_b()) $$,
    'sponsor of B: SELECT sees the workloads of B only');
SELECT is_empty(
    $$ UPDATE tessera.workloads SET mechanic_batch_routing = true WHERE workload_id = tests.workload_a() RETURNING workload_id $$,
    'sponsor of B: flipping a flag of A''s workload changes no row');
SELECT results_eq(
    $$ UPDATE tessera.workloads SET mechanic_batch_routing = true WHERE workload_id = tests.workload_b()
       RETURNING workload_id, mechanic_batch_routing $$,
    $$ VALUES (tests.workload_b(), true) $$,
    'sponsor of B: switching on mechanic_batch_routing of own workload works');
SELECT throws_ok(
    $$ UPDATE tessera.workloads SET client_id = tests.client_a() WHERE workload_id = tests.workload_b() $$,
    '42501', 'sponsors may change only the mechanic_* flags of a workload (attempted: client_id)',
    'sponsor of B: moving own workload to client A (forged client_id) is refused');
SELECT throws_ok(
    $$ INSERT INTO tessera.workloads (client_id, name) VALUES (tests.client_a(), 'forged') $$,
    '42501', 'new row violates row-level security policy for table "workloads"',
    'sponsor of B: INSERT with the forged client_id of A is refused by RLS');
SELECT is_empty(
    $$ DELETE FROM tessera.workloads WHERE workload_id = tests.workload_a() RETURNING workload_id $$,
    'sponsor of B: DELETE of A''s workload deletes no row');

--- Acting as an authenticated stranger -------------------------------------------------
SELECT tests.act_as('stranger');

SELECT is_empty($$ SELECT workload_id FROM tessera.workloads $$,
    'stranger: SELECT sees no workload');
SELECT throws_ok(
    $$ INSERT INTO tessera.workloads (client_id, name) VALUES (tests.client_a(), 'stranger') $$,
    '42501', 'new row violates row-level security policy for table "workloads"',
    'stranger: INSERT is refused by RLS');
SELECT is_empty($$ UPDATE tessera.workloads SET mechanic_auto_route = true RETURNING workload_id $$,
    'stranger: UPDATE changes no row');
SELECT is_empty($$ DELETE FROM tessera.workloads RETURNING workload_id $$,
    'stranger: DELETE deletes no row');
SELECT throws_ok($$ TRUNCATE tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'stranger: TRUNCATE of tessera.workloads is refused');

--- What the sponsors' writes left behind -----------------------------------------------
SELECT tests.clear_identity();

SELECT results_eq(
    $$ SELECT workload_id, client_id, name, mechanic_auto_route, mechanic_semantic_cache,
              mechanic_prompt_cache_header, mechanic_exact_cache, mechanic_batch_routing,
              mechanic_json_schema_enforcement
         FROM tessera.workloads ORDER BY workload_id $$,
    $$ VALUES (tests.workload_a(), tests.client_a(), 'a-chat'::text, false, true, true, false, false, true),
              (tests.workload_b(), tests.client_b(), 'b-batch'::text, false, false, false, false, true, false) $$,
    'superuser: only the sponsors'' own flag flips took effect; names, owners and B''s flags are intact');

--- Acting as the operator --------------------------------------------------------------
SELECT tests.act_as('operator');

SELECT results_eq(
    $$ SELECT client_id, workload_id FROM tessera.workloads ORDER BY client_id $$,
    $$ VALUES (tests.client_a(), tests.workload_a()), (tests.client_b(), tests.workload_b()) $$,
    'operator: SELECT sees the workloads of A and B');
SELECT results_eq(
    $$ INSERT INTO tessera.workloads (client_id, workload_id, name)
       VALUES (tests.client_a(), 'a0000000-0000-4000-8000-0000000000a2', 'ops-made-a') RETURNING client_id, name $$,
    $$ VALUES (tests.client_a(), 'ops-made-a'::text) $$,
    'operator: INSERT of a workload for A works');
SELECT results_eq(
    $$ INSERT INTO tessera.workloads (client_id, workload_id, name)
       VALUES (tests.client_b(), 'b0000000-0000-4000-8000-0000000000b2', 'ops-made-b') RETURNING client_id, name $$,
    $$ VALUES (tests.client_b(), 'ops-made-b'::text) $$,
    'operator: INSERT of a workload for B works');
SELECT results_eq(
    $$ UPDATE tessera.workloads SET name = 'ops-renamed', mechanic_history_pruning = true
        WHERE workload_id = 'a0000000-0000-4000-8000-0000000000a2' RETURNING name, mechanic_history_pruning $$,
    $$ VALUES ('ops-renamed'::text, true) $$,
    'operator: UPDATE of name and flags works (the column guard lets operators through)');
SELECT results_eq(
    $$ UPDATE tessera.workloads SET client_id = tests.client_b()
        WHERE workload_id = 'a0000000-0000-4000-8000-0000000000a2' RETURNING client_id $$,
    $$ VALUES (tests.client_b()) $$,
    'operator: moving a workload from A to B works');
SELECT results_eq(
    $$ DELETE FROM tessera.workloads
        WHERE workload_id IN ('a0000000-0000-4000-8000-0000000000a2', 'b0000000-0000-4000-8000-0000000000b2')
       RETURNING client_id $$,
    $$ VALUES (tests.client_b()), (tests.client_b()) $$,
    'operator: DELETE of workloads works');
SELECT throws_ok($$ TRUNCATE tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'operator: TRUNCATE of tessera.workloads is refused');

--- Acting as tessera_proxy -------------------------------------------------------------
SELECT tests.act_as('tessera_proxy');

SELECT throws_ok($$ SELECT workload_id FROM tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'tessera_proxy: SELECT on tessera.workloads is refused');
SELECT throws_ok($$ INSERT INTO tessera.workloads (client_id, name) VALUES (tests.client_a(), 'proxy') $$,
    '42501', 'permission denied for table workloads', 'tessera_proxy: INSERT into tessera.workloads is refused');
SELECT throws_ok($$ UPDATE tessera.workloads SET mechanic_auto_route = true $$,
    '42501', 'permission denied for table workloads', 'tessera_proxy: UPDATE of tessera.workloads is refused');
SELECT throws_ok($$ DELETE FROM tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'tessera_proxy: DELETE from tessera.workloads is refused');
SELECT throws_ok($$ TRUNCATE tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'tessera_proxy: TRUNCATE of tessera.workloads is refused');

--- Acting as tessera_settlement --------------------------------------------------------
SELECT tests.act_as('tessera_settlement');

SELECT throws_ok($$ SELECT workload_id FROM tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'tessera_settlement: SELECT on tessera.workloads is refused');
SELECT throws_ok($$ INSERT INTO tessera.workloads (client_id, name) VALUES (tests.client_a(), 'settlement') $$,
    '42501', 'permission denied for table workloads', 'tessera_settlement: INSERT into tessera.workloads is refused');
SELECT throws_ok($$ UPDATE tessera.workloads SET mechanic_auto_route = true $$,
    '42501', 'permission denied for table workloads', 'tessera_settlement: UPDATE of tessera.workloads is refused');
SELECT throws_ok($$ DELETE FROM tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'tessera_settlement: DELETE from tessera.workloads is refused');
SELECT throws_ok($$ TRUNCATE tessera.workloads $$,
    '42501', 'permission denied for table workloads', 'tessera_settlement: TRUNCATE of tessera.workloads is refused');

SELECT tests.clear_identity();
SELECT * FROM finish();
ROLLBACK;
