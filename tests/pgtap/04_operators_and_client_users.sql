-- 04_operators_and_client_users: the two identity tables.
--
-- tessera.operators decides who is an operator and tessera.client_users who sponsors
-- which client, so a write by anyone but an operator (or service_role) would be a
-- privilege escalation: a sponsor adding themselves as operator, or as a sponsor of the
-- negative-control client B. Every actor against every operation, plus tessera_owner
-- (what is_operator() / sponsor_client_ids() run as), which FORCE RLS must confine to
-- the rows carrying the caller's own email.
BEGIN;
\ir helpers/act_as.sql
SELECT plan(84);
SELECT tests.create_fixtures();
-- A second operator and a colleague of sponsor A, so "sees only own email" is visible.
INSERT INTO tessera.operators (email, display_name) VALUES ('ops2@tessera.example', 'Operator 2');
INSERT INTO tessera.client_users (client_id, email, display_name)
    VALUES (tests.client_a(), 'colleague-a@tenant-a.example', 'Colleague A');

------------------------------------------------------------------------------------------
-- tessera.operators
------------------------------------------------------------------------------------------

--- Acting as anon ----------------------------------------------------------------------
SELECT tests.act_as('anon');

SELECT throws_ok($$ SELECT email FROM tessera.operators $$,
    '42501', 'permission denied for table operators', 'anon: SELECT on tessera.operators is refused');
SELECT throws_ok($$ INSERT INTO tessera.operators (email) VALUES ('anon@evil.example') $$,
    '42501', 'permission denied for table operators', 'anon: INSERT into tessera.operators is refused');
SELECT throws_ok($$ UPDATE tessera.operators SET email = 'anon@evil.example' $$,
    '42501', 'permission denied for table operators', 'anon: UPDATE of tessera.operators is refused');
SELECT throws_ok($$ DELETE FROM tessera.operators $$,
    '42501', 'permission denied for table operators', 'anon: DELETE from tessera.operators is refused');
SELECT throws_ok($$ TRUNCATE tessera.operators $$,
    '42501', 'permission denied for table operators', 'anon: TRUNCATE of tessera.operators is refused');

--- Acting as the sponsor of A ----------------------------------------------------------
SELECT tests.act_as('sponsor_a');

SELECT is_empty($$ SELECT email FROM tessera.operators $$,
    'sponsor of A: SELECT sees no operator');
SELECT throws_ok(
    $$ INSERT INTO tessera.operators (email) VALUES ('sponsor-a@tenant-a.example') $$,
    '42501', 'new row violates row-level security policy for table "operators"',
    'sponsor of A: adding themselves as operator is refused by RLS');
SELECT is_empty(
    $$ UPDATE tessera.operators SET email = 'sponsor-a@tenant-a.example' RETURNING operator_id $$,
    'sponsor of A: taking over an operator''s email changes no row');
SELECT is_empty($$ DELETE FROM tessera.operators RETURNING operator_id $$,
    'sponsor of A: DELETE deletes no operator');
-- Without WHERE or RETURNING only the UPDATE / DELETE policies apply.
SELECT lives_ok($$ UPDATE tessera.operators SET display_name = 'pwned' $$,
    'sponsor of A: bare UPDATE of tessera.operators runs and changes nothing (checked below)');
SELECT lives_ok($$ DELETE FROM tessera.operators $$,
    'sponsor of A: bare DELETE of tessera.operators runs and deletes nothing (checked below)');
SELECT throws_ok($$ TRUNCATE tessera.operators $$,
    '42501', 'permission denied for table operators', 'sponsor of A: TRUNCATE of tessera.operators is refused');
SELECT is(tessera_private.is_operator(), false,
    'sponsor of A: is_operator() is still false after the attempts');

--- Acting as an authenticated stranger -------------------------------------------------
SELECT tests.act_as('stranger');

SELECT is_empty($$ SELECT email FROM tessera.operators $$,
    'stranger: SELECT sees no operator');
SELECT throws_ok(
    $$ INSERT INTO tessera.operators (email) VALUES ('stranger@nowhere.example') $$,
    '42501', 'new row violates row-level security policy for table "operators"',
    'stranger: adding themselves as operator is refused by RLS');

--- Acting as tessera_owner, as is_operator() does -------------------------------------
SELECT tests.act_as('tessera_owner', 'ops@tessera.example');

SELECT results_eq($$ SELECT email FROM tessera.operators ORDER BY email $$,
    $$ VALUES ('ops@tessera.example'::text) $$,
    'tessera_owner for operator ops@: FORCE RLS shows only the caller''s own operator row');
SELECT is_empty(
    $$ UPDATE tessera.operators SET display_name = 'x' RETURNING operator_id $$,
    'tessera_owner for operator ops@: UPDATE changes no row (no owner UPDATE policy)');
SELECT throws_ok(
    $$ INSERT INTO tessera.operators (email) VALUES ('owner-made@tessera.example') $$,
    '42501', 'new row violates row-level security policy for table "operators"',
    'tessera_owner for operator ops@: INSERT is refused by RLS (no owner INSERT policy)');

SELECT tests.act_as('tessera_owner', 'sponsor-a@tenant-a.example');
SELECT is_empty($$ SELECT email FROM tessera.operators $$,
    'tessera_owner for the sponsor of A: FORCE RLS shows no operator');

--- Acting as the operator --------------------------------------------------------------
SELECT tests.act_as('operator');

SELECT results_eq($$ SELECT email FROM tessera.operators ORDER BY email $$,
    $$ VALUES ('ops2@tessera.example'::text), ('ops@tessera.example'::text) $$,
    'operator: SELECT sees the whole staff list');
SELECT results_eq(
    $$ INSERT INTO tessera.operators (email) VALUES ('ops3@tessera.example') RETURNING email $$,
    $$ VALUES ('ops3@tessera.example'::text) $$,
    'operator: INSERT of an operator works');
SELECT results_eq(
    $$ UPDATE tessera.operators SET display_name = 'Operator 3' WHERE email = 'ops3@tessera.example'
       RETURNING email, display_name $$,
    $$ VALUES ('ops3@tessera.example'::text, 'Operator 3'::text) $$,
    'operator: UPDATE of an operator works');
SELECT results_eq(
    $$ DELETE FROM tessera.operators WHERE email = 'ops3@tessera.example' RETURNING email $$,
    $$ VALUES ('ops3@tessera.example'::text) $$,
    'operator: DELETE of an operator works');
SELECT throws_ok($$ TRUNCATE tessera.operators $$,
    '42501', 'permission denied for table operators', 'operator: TRUNCATE of tessera.operators is refused');

--- Acting as service_role --------------------------------------------------------------
SELECT tests.act_as('service_role');

SELECT results_eq($$ SELECT email FROM tessera.operators ORDER BY email $$,
    $$ VALUES ('ops2@tessera.example'::text), ('ops@tessera.example'::text) $$,
    'service_role: SELECT sees the whole staff list');
SELECT results_eq(
    $$ INSERT INTO tessera.operators (email) VALUES ('ops4@tessera.example') RETURNING email $$,
    $$ VALUES ('ops4@tessera.example'::text) $$,
    'service_role: INSERT of an operator works');
SELECT results_eq(
    $$ UPDATE tessera.operators SET display_name = 'Operator 4' WHERE email = 'ops4@tessera.example'
       RETURNING email, display_name $$,
    $$ VALUES ('ops4@tessera.example'::text, 'Operator 4'::text) $$,
    'service_role: UPDATE of an operator works');
SELECT results_eq(
    $$ DELETE FROM tessera.operators WHERE email = 'ops4@tessera.example' RETURNING email $$,
    $$ VALUES ('ops4@tessera.example'::text) $$,
    'service_role: DELETE of an operator works');
SELECT throws_ok($$ TRUNCATE tessera.operators $$,
    '42501', 'permission denied for table operators', 'service_role: TRUNCATE of tessera.operators is refused');

--- Acting as tessera_proxy and tessera_settlement --------------------------------------
SELECT tests.act_as('tessera_proxy');

SELECT throws_ok($$ SELECT email FROM tessera.operators $$,
    '42501', 'permission denied for table operators', 'tessera_proxy: SELECT on tessera.operators is refused');
SELECT throws_ok($$ INSERT INTO tessera.operators (email) VALUES ('proxy@evil.example') $$,
    '42501', 'permission denied for table operators', 'tessera_proxy: INSERT into tessera.operators is refused');
SELECT throws_ok($$ UPDATE tessera.operators SET display_name = 'x' $$,
    '42501', 'permission denied for table operators', 'tessera_proxy: UPDATE of tessera.operators is refused');
SELECT throws_ok($$ DELETE FROM tessera.operators $$,
    '42501', 'permission denied for table operators', 'tessera_proxy: DELETE from tessera.operators is refused');
SELECT throws_ok($$ TRUNCATE tessera.operators $$,
    '42501', 'permission denied for table operators', 'tessera_proxy: TRUNCATE of tessera.operators is refused');

SELECT tests.act_as('tessera_settlement');

SELECT throws_ok($$ SELECT email FROM tessera.operators $$,
    '42501', 'permission denied for table operators', 'tessera_settlement: SELECT on tessera.operators is refused');
SELECT throws_ok($$ INSERT INTO tessera.operators (email) VALUES ('settle@evil.example') $$,
    '42501', 'permission denied for table operators', 'tessera_settlement: INSERT into tessera.operators is refused');
SELECT throws_ok($$ UPDATE tessera.operators SET display_name = 'x' $$,
    '42501', 'permission denied for table operators', 'tessera_settlement: UPDATE of tessera.operators is refused');
SELECT throws_ok($$ DELETE FROM tessera.operators $$,
    '42501', 'permission denied for table operators', 'tessera_settlement: DELETE from tessera.operators is refused');
SELECT throws_ok($$ TRUNCATE tessera.operators $$,
    '42501', 'permission denied for table operators', 'tessera_settlement: TRUNCATE of tessera.operators is refused');

------------------------------------------------------------------------------------------
-- tessera.client_users
------------------------------------------------------------------------------------------

--- Acting as anon ----------------------------------------------------------------------
SELECT tests.act_as('anon');

SELECT throws_ok($$ SELECT email FROM tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'anon: SELECT on tessera.client_users is refused');
SELECT throws_ok($$ INSERT INTO tessera.client_users (client_id, email) VALUES (tests.client_a(), 'anon@evil.example') $$,
    '42501', 'permission denied for table client_users', 'anon: INSERT into tessera.client_users is refused');
SELECT throws_ok($$ UPDATE tessera.client_users SET email = 'anon@evil.example' $$,
    '42501', 'permission denied for table client_users', 'anon: UPDATE of tessera.client_users is refused');
SELECT throws_ok($$ DELETE FROM tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'anon: DELETE from tessera.client_users is refused');
SELECT throws_ok($$ TRUNCATE tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'anon: TRUNCATE of tessera.client_users is refused');

--- Acting as the sponsor of A ----------------------------------------------------------
SELECT tests.act_as('sponsor_a');

SELECT results_eq(
    $$ SELECT client_id, email FROM tessera.client_users ORDER BY email $$,
    $$ VALUES (tests.client_a(), 'colleague-a@tenant-a.example'::text),
              (tests.client_a(), 'sponsor-a@tenant-a.example'::text) $$,
    'sponsor of A: SELECT sees the contacts of A only (own row and colleague)');
SELECT is_empty(
    $$ SELECT email FROM tessera.client_users WHERE client_id = tests.client_b() $$,
    'sponsor of A: SELECT of B''s contacts finds nothing');
SELECT throws_ok(
    $$ INSERT INTO tessera.client_users (client_id, email) VALUES (tests.client_b(), 'sponsor-a@tenant-a.example') $$,
    '42501', 'new row violates row-level security policy for table "client_users"',
    'sponsor of A: adding themselves as sponsor of B (forged client_id) is refused by RLS');
SELECT throws_ok(
    $$ INSERT INTO tessera.client_users (client_id, email) VALUES (tests.client_a(), 'friend@tenant-a.example') $$,
    '42501', 'new row violates row-level security policy for table "client_users"',
    'sponsor of A: adding a contact to own client A is refused by RLS (operators only)');
SELECT is_empty(
    $$ UPDATE tessera.client_users SET client_id = tests.client_b()
        WHERE email = 'sponsor-a@tenant-a.example' RETURNING client_user_id $$,
    'sponsor of A: moving own contact row to client B changes no row');
SELECT is_empty(
    $$ UPDATE tessera.client_users SET email = 'sponsor-a@tenant-a.example'
        WHERE client_id = tests.client_b() RETURNING client_user_id $$,
    'sponsor of A: taking over B''s sponsor row changes no row');
SELECT is_empty(
    $$ DELETE FROM tessera.client_users RETURNING client_user_id $$,
    'sponsor of A: DELETE deletes no contact (own colleague included)');
SELECT lives_ok($$ UPDATE tessera.client_users SET display_name = 'pwned' $$,
    'sponsor of A: bare UPDATE of tessera.client_users runs and changes nothing (checked below)');
SELECT lives_ok($$ DELETE FROM tessera.client_users $$,
    'sponsor of A: bare DELETE of tessera.client_users runs and deletes nothing (checked below)');
SELECT throws_ok($$ TRUNCATE tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'sponsor of A: TRUNCATE of tessera.client_users is refused');
SELECT is(tessera_private.sponsor_client_ids(), ARRAY[tests.client_a()],
    'sponsor of A: sponsor_client_ids() is still exactly {A} after the attempts');

--- Acting as the sponsor of B ----------------------------------------------------------
SELECT tests.act_as('sponsor_b');

SELECT results_eq(
    $$ SELECT client_id, email FROM tessera.client_users ORDER BY email $$,
    $$ VALUES (tests.client_b(), 'sponsor-b@tenant-b.example'::text) $$,
    'sponsor of B: SELECT sees the contacts of B only');
SELECT throws_ok(
    $$ INSERT INTO tessera.client_users (client_id, email) VALUES (tests.client_a(), 'sponsor-b@tenant-b.example') $$,
    '42501', 'new row violates row-level security policy for table "client_users"',
    'sponsor of B: adding themselves as sponsor of A (forged client_id) is refused by RLS');
SELECT is_empty(
    $$ DELETE FROM tessera.client_users WHERE client_id = tests.client_a() RETURNING client_user_id $$,
    'sponsor of B: DELETE of A''s contacts deletes no row');

--- Acting as an authenticated stranger -------------------------------------------------
SELECT tests.act_as('stranger');

SELECT is_empty($$ SELECT email FROM tessera.client_users $$,
    'stranger: SELECT sees no contact');
SELECT throws_ok(
    $$ INSERT INTO tessera.client_users (client_id, email) VALUES (tests.client_a(), 'stranger@nowhere.example') $$,
    '42501', 'new row violates row-level security policy for table "client_users"',
    'stranger: adding themselves as sponsor of A is refused by RLS');

--- Acting as tessera_owner, as sponsor_client_ids() does -------------------------------
SELECT tests.act_as('tessera_owner', 'sponsor-a@tenant-a.example');

SELECT results_eq(
    $$ SELECT client_id, email FROM tessera.client_users ORDER BY email $$,
    $$ VALUES (tests.client_a(), 'sponsor-a@tenant-a.example'::text) $$,
    'tessera_owner for the sponsor of A: FORCE RLS shows only rows of the caller''s own email (not the colleague)');

SELECT tests.act_as('tessera_owner');
SELECT is_empty($$ SELECT email FROM tessera.client_users $$,
    'tessera_owner without claims: FORCE RLS shows no contact');

--- Nothing above changed the identity tables -------------------------------------------
SELECT tests.clear_identity();

SELECT results_eq(
    $$ SELECT email, display_name FROM tessera.operators ORDER BY email $$,
    $$ VALUES ('ops2@tessera.example'::text, 'Operator 2'::text), ('ops@tessera.example'::text, 'Operator'::text) $$,
    'superuser: the staff list is exactly as created');
SELECT results_eq(
    $$ SELECT client_id, email, display_name FROM tessera.client_users ORDER BY email $$,
    $$ VALUES (tests.client_a(), 'colleague-a@tenant-a.example'::text, 'Colleague A'::text),
              (tests.client_a(), 'sponsor-a@tenant-a.example'::text, 'Sponsor A'::text),
              (tests.client_b(), 'sponsor-b@tenant-b.example'::text, 'Sponsor B'::text) $$,
    'superuser: the sponsor contacts are exactly as created');

--- Acting as the operator --------------------------------------------------------------
SELECT tests.act_as('operator');

SELECT results_eq(
    $$ SELECT client_id, email FROM tessera.client_users ORDER BY email $$,
    $$ VALUES (tests.client_a(), 'colleague-a@tenant-a.example'::text),
              (tests.client_a(), 'sponsor-a@tenant-a.example'::text),
              (tests.client_b(), 'sponsor-b@tenant-b.example'::text) $$,
    'operator: SELECT sees the contacts of A and B');
SELECT results_eq(
    $$ INSERT INTO tessera.client_users (client_id, email) VALUES (tests.client_b(), 'new-b@tenant-b.example')
       RETURNING client_id, email $$,
    $$ VALUES (tests.client_b(), 'new-b@tenant-b.example'::text) $$,
    'operator: INSERT of a sponsor contact for B works');
SELECT results_eq(
    $$ UPDATE tessera.client_users SET display_name = 'New B' WHERE email = 'new-b@tenant-b.example'
       RETURNING email, display_name $$,
    $$ VALUES ('new-b@tenant-b.example'::text, 'New B'::text) $$,
    'operator: UPDATE of a sponsor contact works');
SELECT results_eq(
    $$ DELETE FROM tessera.client_users WHERE email = 'new-b@tenant-b.example' RETURNING client_id $$,
    $$ VALUES (tests.client_b()) $$,
    'operator: DELETE of a sponsor contact works');
SELECT throws_ok($$ TRUNCATE tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'operator: TRUNCATE of tessera.client_users is refused');

--- Acting as service_role --------------------------------------------------------------
SELECT tests.act_as('service_role');

SELECT results_eq(
    $$ SELECT count(*) FROM tessera.client_users $$,
    $$ VALUES (3::bigint) $$,
    'service_role: SELECT sees every contact');
SELECT results_eq(
    $$ INSERT INTO tessera.client_users (client_id, email) VALUES (tests.client_a(), 'svc-a@tenant-a.example')
       RETURNING client_id, email $$,
    $$ VALUES (tests.client_a(), 'svc-a@tenant-a.example'::text) $$,
    'service_role: INSERT of a sponsor contact works');
SELECT results_eq(
    $$ UPDATE tessera.client_users SET display_name = 'Svc A' WHERE email = 'svc-a@tenant-a.example'
       RETURNING email, display_name $$,
    $$ VALUES ('svc-a@tenant-a.example'::text, 'Svc A'::text) $$,
    'service_role: UPDATE of a sponsor contact works');
SELECT results_eq(
    $$ DELETE FROM tessera.client_users WHERE email = 'svc-a@tenant-a.example' RETURNING client_id $$,
    $$ VALUES (tests.client_a()) $$,
    'service_role: DELETE of a sponsor contact works');
SELECT throws_ok($$ TRUNCATE tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'service_role: TRUNCATE of tessera.client_users is refused');

--- Acting as tessera_proxy and tessera_settlement --------------------------------------
SELECT tests.act_as('tessera_proxy');

SELECT throws_ok($$ SELECT email FROM tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'tessera_proxy: SELECT on tessera.client_users is refused');
SELECT throws_ok($$ INSERT INTO tessera.client_users (client_id, email) VALUES (tests.client_a(), 'proxy@evil.example') $$,
    '42501', 'permission denied for table client_users', 'tessera_proxy: INSERT into tessera.client_users is refused');
SELECT throws_ok($$ UPDATE tessera.client_users SET display_name = 'x' $$,
    '42501', 'permission denied for table client_users', 'tessera_proxy: UPDATE of tessera.client_users is refused');
SELECT throws_ok($$ DELETE FROM tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'tessera_proxy: DELETE from tessera.client_users is refused');
SELECT throws_ok($$ TRUNCATE tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'tessera_proxy: TRUNCATE of tessera.client_users is refused');

SELECT tests.act_as('tessera_settlement');

SELECT throws_ok($$ SELECT email FROM tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'tessera_settlement: SELECT on tessera.client_users is refused');
SELECT throws_ok($$ INSERT INTO tessera.client_users (client_id, email) VALUES (tests.client_a(), 'settle@evil.example') $$,
    '42501', 'permission denied for table client_users', 'tessera_settlement: INSERT into tessera.client_users is refused');
SELECT throws_ok($$ UPDATE tessera.client_users SET display_name = 'x' $$,
    '42501', 'permission denied for table client_users', 'tessera_settlement: UPDATE of tessera.client_users is refused');
SELECT throws_ok($$ DELETE FROM tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'tessera_settlement: DELETE from tessera.client_users is refused');
SELECT throws_ok($$ TRUNCATE tessera.client_users $$,
    '42501', 'permission denied for table client_users', 'tessera_settlement: TRUNCATE of tessera.client_users is refused');

SELECT tests.clear_identity();
SELECT * FROM finish();
ROLLBACK;
