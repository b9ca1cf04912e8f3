-- 02_clients_isolation: who can do what to tessera.clients.
--
-- Every actor against every operation (SELECT / INSERT / UPDATE / DELETE / TRUNCATE),
-- with client B as the negative control for A's sponsor and the other way round.
--   refused write      throws_ok(..., '42501', <message>, ...)
--   filtered by RLS    is_empty(UPDATE/DELETE ... RETURNING): no error, no row; and once
--                      per sponsor without WHERE or RETURNING (lives_ok), because a WHERE
--                      or RETURNING adds the SELECT policies and would hide an UPDATE or
--                      DELETE policy wider than the SELECT one. The superuser check after
--                      the sponsors' sections proves those changed nothing.
--   allowed            results_eq on what was read or RETURNING
-- Sponsors never write tessera.clients directly (kill switch and opt-in go through the
-- RPCs of 05_portal_settings). tessera_owner is tested with a caller's claims: it is what
-- the SECURITY DEFINER functions run as, and FORCE RLS must confine it to that caller.
BEGIN;
\ir helpers/act_as.sql
SELECT plan(58);
SELECT tests.create_fixtures();

--- Acting as anon ----------------------------------------------------------------------
SELECT tests.act_as('anon');

SELECT throws_ok($$ SELECT client_id FROM tessera.clients $$,
    '42501', 'permission denied for table clients', 'anon: SELECT on tessera.clients is refused');
SELECT throws_ok($$ INSERT INTO tessera.clients (name) VALUES ('anon inc') $$,
    '42501', 'permission denied for table clients', 'anon: INSERT into tessera.clients is refused');
SELECT throws_ok($$ UPDATE tessera.clients SET name = 'pwned' WHERE client_id = tests.client_a() $$,
    '42501', 'permission denied for table clients', 'anon: UPDATE of tessera.clients is refused');
SELECT throws_ok($$ DELETE FROM tessera.clients WHERE client_id = tests.client_a() $$,
    '42501', 'permission denied for table clients', 'anon: DELETE from tessera.clients is refused');
SELECT throws_ok($$ TRUNCATE tessera.clients CASCADE $$,
    '42501', 'permission denied for table clients', 'anon: TRUNCATE of tessera.clients is refused');

--- Acting as the sponsor of A ----------------------------------------------------------
SELECT tests.act_as('sponsor_a');

SELECT results_eq(
    $$ SELECT client_id, name FROM tessera.clients ORDER BY client_id $$,
    $$ VALUES (tests.client_a(), 'Tenant A'::text) $$,
    'sponsor of A: SELECT sees client A only');
SELECT is_empty(
    $$ SELECT client_id FROM tessera.clients WHERE client_id = tests.client_b() $$,
    'sponsor of A: SELECT of client B by its id finds nothing');
SELECT throws_ok(
    $$ INSERT INTO tessera.clients (client_id, name) VALUES ('c0000000-0000-4000-8000-00000000000c', 'Sponsor-made') $$,
    '42501', 'new row violates row-level security policy for table "clients"',
    'sponsor of A: INSERT of a new client is refused by RLS');
SELECT throws_ok(
    $$ INSERT INTO tessera.clients (client_id, name) VALUES (tests.client_b(), 'Forged B') $$,
    '42501', 'new row violates row-level security policy for table "clients"',
    'sponsor of A: INSERT with the forged client_id of B is refused by RLS');
SELECT is_empty(
    $$ UPDATE tessera.clients SET optimisation_kill_switch = true, plan_tier = 'invoiced'
        WHERE client_id = tests.client_a() RETURNING client_id $$,
    'sponsor of A: direct UPDATE of own client A changes no row (settings only through the RPCs)');
SELECT is_empty(
    $$ UPDATE tessera.clients SET name = 'pwned' WHERE client_id = tests.client_b() RETURNING client_id $$,
    'sponsor of A: UPDATE of client B changes no row');
SELECT is_empty(
    $$ UPDATE tessera.clients SET name = 'pwned' RETURNING client_id $$,
    'sponsor of A: UPDATE without WHERE changes no row');
SELECT is_empty(
    $$ DELETE FROM tessera.clients WHERE client_id = tests.client_a() RETURNING client_id $$,
    'sponsor of A: DELETE of own client A deletes no row');
SELECT is_empty(
    $$ DELETE FROM tessera.clients RETURNING client_id $$,
    'sponsor of A: DELETE without WHERE deletes no row (B untouched)');
SELECT lives_ok($$ UPDATE tessera.clients SET optimisation_kill_switch = true $$,
    'sponsor of A: bare UPDATE (no WHERE, no RETURNING: UPDATE policies only) runs and changes nothing (checked below)');
SELECT lives_ok($$ DELETE FROM tessera.clients $$,
    'sponsor of A: bare DELETE (no WHERE, no RETURNING: DELETE policies only) runs and deletes nothing (checked below)');
SELECT throws_ok($$ TRUNCATE tessera.clients CASCADE $$,
    '42501', 'permission denied for table clients', 'sponsor of A: TRUNCATE of tessera.clients is refused');

--- Acting as the sponsor of B (negative control the other way round) ------------------
SELECT tests.act_as('sponsor_b');

SELECT results_eq(
    $$ SELECT client_id, name FROM tessera.clients ORDER BY client_id $$,
    $$ VALUES (tests.client_b(), 'Tenant B'::text) $$,
    'sponsor of B: SELECT sees client B only');
SELECT is_empty(
    $$ SELECT client_id FROM tessera.clients WHERE client_id = tests.client_a() $$,
    'sponsor of B: SELECT of client A by its id finds nothing');
SELECT throws_ok(
    $$ INSERT INTO tessera.clients (client_id, name) VALUES (tests.client_a(), 'Forged A') $$,
    '42501', 'new row violates row-level security policy for table "clients"',
    'sponsor of B: INSERT with the forged client_id of A is refused by RLS');
SELECT is_empty(
    $$ UPDATE tessera.clients SET optimisation_kill_switch = true WHERE client_id = tests.client_a() RETURNING client_id $$,
    'sponsor of B: UPDATE of client A changes no row');
SELECT is_empty(
    $$ UPDATE tessera.clients SET optimisation_kill_switch = true WHERE client_id = tests.client_b() RETURNING client_id $$,
    'sponsor of B: direct UPDATE of own client B changes no row');
SELECT is_empty(
    $$ DELETE FROM tessera.clients WHERE client_id = tests.client_a() RETURNING client_id $$,
    'sponsor of B: DELETE of client A deletes no row');
SELECT is_empty(
    $$ DELETE FROM tessera.clients WHERE client_id = tests.client_b() RETURNING client_id $$,
    'sponsor of B: DELETE of own client B deletes no row');
SELECT lives_ok($$ UPDATE tessera.clients SET contributes_to_cross_customer_intelligence = true $$,
    'sponsor of B: bare UPDATE (UPDATE policies only) runs and changes nothing (checked below)');
SELECT throws_ok($$ TRUNCATE tessera.clients CASCADE $$,
    '42501', 'permission denied for table clients', 'sponsor of B: TRUNCATE of tessera.clients is refused');

--- Acting as an authenticated stranger (JWT email listed nowhere) ----------------------
SELECT tests.act_as('stranger');

SELECT is_empty($$ SELECT client_id FROM tessera.clients $$,
    'stranger: SELECT sees no client');
SELECT throws_ok(
    $$ INSERT INTO tessera.clients (name) VALUES ('Stranger Ltd') $$,
    '42501', 'new row violates row-level security policy for table "clients"',
    'stranger: INSERT is refused by RLS');
SELECT is_empty($$ UPDATE tessera.clients SET name = 'pwned' RETURNING client_id $$,
    'stranger: UPDATE changes no row');
SELECT is_empty($$ DELETE FROM tessera.clients RETURNING client_id $$,
    'stranger: DELETE deletes no row');
SELECT throws_ok($$ TRUNCATE tessera.clients CASCADE $$,
    '42501', 'permission denied for table clients', 'stranger: TRUNCATE of tessera.clients is refused');

--- Acting as tessera_owner, as the SECURITY DEFINER functions do -----------------------
SELECT tests.act_as('tessera_owner', 'sponsor-a@tenant-a.example');

SELECT results_eq(
    $$ SELECT client_id FROM tessera.clients ORDER BY client_id $$,
    $$ VALUES (tests.client_a()) $$,
    'tessera_owner for the sponsor of A: FORCE RLS shows client A only');
SELECT is_empty(
    $$ UPDATE tessera.clients SET optimisation_kill_switch = true WHERE client_id = tests.client_b() RETURNING client_id $$,
    'tessera_owner for the sponsor of A: UPDATE of client B changes no row');
SELECT results_eq(
    $$ UPDATE tessera.clients SET plan_tier = plan_tier WHERE client_id IN (tests.client_a(), tests.client_b())
       RETURNING client_id $$,
    $$ VALUES (tests.client_a()) $$,
    'tessera_owner for the sponsor of A: UPDATE reaches client A only (the portal-setting path)');
SELECT is_empty(
    $$ DELETE FROM tessera.clients RETURNING client_id $$,
    'tessera_owner for the sponsor of A: DELETE deletes no row (no owner DELETE policy)');
SELECT throws_ok(
    $$ INSERT INTO tessera.clients (name) VALUES ('Owner-made') $$,
    '42501', 'new row violates row-level security policy for table "clients"',
    'tessera_owner for the sponsor of A: INSERT is refused by RLS (no owner INSERT policy)');

SELECT tests.act_as('tessera_owner');
SELECT is_empty($$ SELECT client_id FROM tessera.clients $$,
    'tessera_owner without claims: FORCE RLS shows no client');

--- Nothing above changed a client ------------------------------------------------------
SELECT tests.clear_identity();

SELECT results_eq(
    $$ SELECT client_id, name, plan_tier, optimisation_kill_switch, contributes_to_cross_customer_intelligence
         FROM tessera.clients ORDER BY client_id $$,
    $$ VALUES (tests.client_a(), 'Tenant A'::text, 'free'::text, false, false),
              (tests.client_b(), 'Tenant B'::text, 'invoiced'::text, false, false) $$,
    'superuser: clients A and B are exactly as created after the refused and filtered writes');

--- Acting as the operator --------------------------------------------------------------
SELECT tests.act_as('operator');

SELECT results_eq(
    $$ SELECT client_id FROM tessera.clients ORDER BY client_id $$,
    $$ VALUES (tests.client_a()), (tests.client_b()) $$,
    'operator: SELECT sees clients A and B');
SELECT results_eq(
    $$ INSERT INTO tessera.clients (client_id, name) VALUES ('c0000000-0000-4000-8000-00000000000c', 'Tenant C')
       RETURNING client_id, name $$,
    $$ VALUES ('c0000000-0000-4000-8000-00000000000c'::uuid, 'Tenant C'::text) $$,
    'operator: INSERT of a new client works');
SELECT results_eq(
    $$ UPDATE tessera.clients SET plan_tier = 'hobby' WHERE client_id = tests.client_b() RETURNING client_id, plan_tier $$,
    $$ VALUES (tests.client_b(), 'hobby'::text) $$,
    'operator: UPDATE of client B works');
SELECT results_eq(
    $$ DELETE FROM tessera.clients WHERE client_id = 'c0000000-0000-4000-8000-00000000000c' RETURNING client_id $$,
    $$ VALUES ('c0000000-0000-4000-8000-00000000000c'::uuid) $$,
    'operator: DELETE of a client works');
SELECT throws_ok($$ TRUNCATE tessera.clients CASCADE $$,
    '42501', 'permission denied for table clients', 'operator: TRUNCATE of tessera.clients is refused');

--- Acting as service_role (BYPASSRLS) --------------------------------------------------
SELECT tests.act_as('service_role');

SELECT results_eq(
    $$ SELECT client_id FROM tessera.clients ORDER BY client_id $$,
    $$ VALUES (tests.client_a()), (tests.client_b()) $$,
    'service_role: SELECT sees clients A and B');
SELECT results_eq(
    $$ INSERT INTO tessera.clients (client_id, name) VALUES ('d0000000-0000-4000-8000-00000000000d', 'Tenant D')
       RETURNING client_id, name $$,
    $$ VALUES ('d0000000-0000-4000-8000-00000000000d'::uuid, 'Tenant D'::text) $$,
    'service_role: INSERT of a new client works');
SELECT results_eq(
    $$ UPDATE tessera.clients SET plan_tier = 'invoiced' WHERE client_id = tests.client_a() RETURNING client_id, plan_tier $$,
    $$ VALUES (tests.client_a(), 'invoiced'::text) $$,
    'service_role: UPDATE of client A works');
SELECT results_eq(
    $$ DELETE FROM tessera.clients WHERE client_id = 'd0000000-0000-4000-8000-00000000000d' RETURNING client_id $$,
    $$ VALUES ('d0000000-0000-4000-8000-00000000000d'::uuid) $$,
    'service_role: DELETE of a client works');
SELECT throws_ok($$ TRUNCATE tessera.clients CASCADE $$,
    '42501', 'permission denied for table clients', 'service_role: TRUNCATE of tessera.clients is refused');

--- Acting as tessera_proxy -------------------------------------------------------------
SELECT tests.act_as('tessera_proxy');

SELECT throws_ok($$ SELECT client_id FROM tessera.clients $$,
    '42501', 'permission denied for table clients', 'tessera_proxy: SELECT on tessera.clients is refused');
SELECT throws_ok($$ INSERT INTO tessera.clients (name) VALUES ('proxy inc') $$,
    '42501', 'permission denied for table clients', 'tessera_proxy: INSERT into tessera.clients is refused');
SELECT throws_ok($$ UPDATE tessera.clients SET optimisation_kill_switch = true $$,
    '42501', 'permission denied for table clients', 'tessera_proxy: UPDATE of tessera.clients is refused');
SELECT throws_ok($$ DELETE FROM tessera.clients $$,
    '42501', 'permission denied for table clients', 'tessera_proxy: DELETE from tessera.clients is refused');
SELECT throws_ok($$ TRUNCATE tessera.clients CASCADE $$,
    '42501', 'permission denied for table clients', 'tessera_proxy: TRUNCATE of tessera.clients is refused');

--- Acting as tessera_settlement --------------------------------------------------------
SELECT tests.act_as('tessera_settlement');

SELECT throws_ok($$ SELECT client_id FROM tessera.clients $$,
    '42501', 'permission denied for table clients', 'tessera_settlement: SELECT on tessera.clients is refused');
SELECT throws_ok($$ INSERT INTO tessera.clients (name) VALUES ('settlement inc') $$,
    '42501', 'permission denied for table clients', 'tessera_settlement: INSERT into tessera.clients is refused');
SELECT throws_ok($$ UPDATE tessera.clients SET optimisation_kill_switch = true $$,
    '42501', 'permission denied for table clients', 'tessera_settlement: UPDATE of tessera.clients is refused');
SELECT throws_ok($$ DELETE FROM tessera.clients $$,
    '42501', 'permission denied for table clients', 'tessera_settlement: DELETE from tessera.clients is refused');
SELECT throws_ok($$ TRUNCATE tessera.clients CASCADE $$,
    '42501', 'permission denied for table clients', 'tessera_settlement: TRUNCATE of tessera.clients is refused');

SELECT tests.clear_identity();
SELECT * FROM finish();
ROLLBACK;
