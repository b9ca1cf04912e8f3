-- 05_portal_settings: tessera.set_kill_switch and tessera.set_cross_customer_intelligence.
--
--   * a sponsor sets both switches of their own client, both ways, whatever the plan
--     (hobby, free, invoiced): the kill switch is never gated on plan;
--   * on another client, or a client that does not exist, a sponsor gets the same
--     42501 (nothing about other tenants leaks);
--   * an operator sets them for any client; an unknown client is P0002 for an operator;
--   * a null setting is 22004 (raised by tessera_private.set_client_setting), a null
--     client 42501;
--   * anon, service_role, tessera_proxy, tessera_settlement cannot execute the RPCs, and
--     sponsors cannot reach the private body (set_client_setting) directly.
BEGIN;
\ir helpers/act_as.sql
SELECT plan(45);
SELECT tests.create_fixtures();

--- Acting as the sponsor of A (client A on plan free) ----------------------------------
SELECT tests.act_as('sponsor_a');

SELECT is(tessera.set_kill_switch(tests.client_a(), true), true,
    'sponsor of A: engaging the kill switch of own client A returns true');
SELECT is((SELECT optimisation_kill_switch FROM tessera.clients WHERE client_id = tests.client_a()), true,
    'sponsor of A: client A now shows the kill switch engaged');
SELECT is(tessera.set_kill_switch(tests.client_a(), false), false,
    'sponsor of A: releasing the kill switch of own client A returns false');
SELECT is((SELECT optimisation_kill_switch FROM tessera.clients WHERE client_id = tests.client_a()), false,
    'sponsor of A: client A now shows the kill switch released');
SELECT is(tessera.set_cross_customer_intelligence(tests.client_a(), true), true,
    'sponsor of A: opting own client A in to cross-customer intelligence returns true');
SELECT is((SELECT contributes_to_cross_customer_intelligence FROM tessera.clients WHERE client_id = tests.client_a()), true,
    'sponsor of A: client A now shows the opt-in');
SELECT is(tessera.set_cross_customer_intelligence(tests.client_a(), false), false,
    'sponsor of A: opting own client A out again returns false');
SELECT is((SELECT contributes_to_cross_customer_intelligence FROM tessera.clients WHERE client_id = tests.client_a()), false,
    'sponsor of A: client A now shows the opt-out');

-- Another client, an unknown client, a null client: one and the same refusal.
SELECT throws_ok($$ SELECT tessera.set_kill_switch(tests.client_b(), true) $$,
    '42501', 'not permitted to change settings of client b0000000-0000-4000-8000-00000000000b',
    'sponsor of A: engaging the kill switch of client B is refused');
SELECT throws_ok($$ SELECT tessera.set_cross_customer_intelligence(tests.client_b(), true) $$,
    '42501', 'not permitted to change settings of client b0000000-0000-4000-8000-00000000000b',
    'sponsor of A: opting client B in to cross-customer intelligence is refused');
SELECT throws_ok($$ SELECT tessera.set_kill_switch('e0000000-0000-4000-8000-00000000000e', true) $$,
    '42501', 'not permitted to change settings of client e0000000-0000-4000-8000-00000000000e',
    'sponsor of A: an unknown client gets the same 42501 as another tenant''s (no existence leak)');
SELECT throws_ok($$ SELECT tessera.set_kill_switch(NULL, true) $$,
    '42501', 'not permitted to change settings of client <NULL>',
    'sponsor of A: a null client is refused');

-- A null setting: refused before anything else is looked at.
SELECT throws_ok($$ SELECT tessera.set_kill_switch(tests.client_a(), NULL) $$,
    '22004', 'optimisation_kill_switch must be true or false, not null',
    'sponsor of A: a null kill switch value is refused with 22004');
SELECT throws_ok($$ SELECT tessera.set_cross_customer_intelligence(tests.client_a(), NULL) $$,
    '22004', 'contributes_to_cross_customer_intelligence must be true or false, not null',
    'sponsor of A: a null cross-customer value is refused with 22004');

-- The private body and the permission check are not reachable directly.
SELECT throws_ok(
    $$ SELECT tessera_private.set_client_setting(tests.client_b(), 'optimisation_kill_switch', true) $$,
    '42501', 'permission denied for function set_client_setting',
    'sponsor of A: calling tessera_private.set_client_setting directly is refused');
SELECT throws_ok($$ SELECT tessera_private.can_manage_client(tests.client_b()) $$,
    '42501', 'permission denied for function can_manage_client',
    'sponsor of A: calling tessera_private.can_manage_client directly is refused');

SELECT tests.clear_identity();
SELECT results_eq(
    $$ SELECT optimisation_kill_switch, contributes_to_cross_customer_intelligence
         FROM tessera.clients WHERE client_id = tests.client_b() $$,
    $$ VALUES (false, false) $$,
    'superuser: client B is untouched by the refused calls of A''s sponsor');

--- Client A on the hobby plan: the switches still work both ways ----------------------
UPDATE tessera.clients SET plan_tier = 'hobby' WHERE client_id = tests.client_a();
SELECT tests.act_as('sponsor_a');

SELECT is(tessera.set_kill_switch(tests.client_a(), true), true,
    'sponsor of A on plan hobby: engaging the kill switch works');
SELECT is(tessera.set_kill_switch(tests.client_a(), false), false,
    'sponsor of A on plan hobby: releasing the kill switch works');
SELECT is(tessera.set_cross_customer_intelligence(tests.client_a(), true), true,
    'sponsor of A on plan hobby: opting in to cross-customer intelligence works');
SELECT is(tessera.set_cross_customer_intelligence(tests.client_a(), false), false,
    'sponsor of A on plan hobby: opting out again works');
SELECT is((SELECT plan_tier FROM tessera.clients WHERE client_id = tests.client_a()), 'hobby',
    'sponsor of A on plan hobby: the plan is unchanged by the switches');

--- Acting as the sponsor of B (client B on plan invoiced) ------------------------------
SELECT tests.act_as('sponsor_b');

SELECT is(tessera.set_kill_switch(tests.client_b(), true), true,
    'sponsor of B (plan invoiced): engaging the kill switch of own client B works');
SELECT throws_ok($$ SELECT tessera.set_kill_switch(tests.client_a(), true) $$,
    '42501', 'not permitted to change settings of client a0000000-0000-4000-8000-00000000000a',
    'sponsor of B: engaging the kill switch of client A is refused');
SELECT throws_ok($$ SELECT tessera.set_cross_customer_intelligence(tests.client_a(), true) $$,
    '42501', 'not permitted to change settings of client a0000000-0000-4000-8000-00000000000a',
    'sponsor of B: opting client A in to cross-customer intelligence is refused');

--- Acting as an authenticated stranger -------------------------------------------------
SELECT tests.act_as('stranger');

SELECT throws_ok($$ SELECT tessera.set_kill_switch(tests.client_a(), true) $$,
    '42501', 'not permitted to change settings of client a0000000-0000-4000-8000-00000000000a',
    'stranger: engaging the kill switch of client A is refused');
SELECT throws_ok($$ SELECT tessera.set_cross_customer_intelligence(tests.client_a(), true) $$,
    '42501', 'not permitted to change settings of client a0000000-0000-4000-8000-00000000000a',
    'stranger: opting client A in to cross-customer intelligence is refused');

--- Acting as the operator --------------------------------------------------------------
SELECT tests.act_as('operator');

SELECT is(tessera.set_kill_switch(tests.client_b(), false), false,
    'operator: releasing the kill switch of client B works');
SELECT is(tessera.set_kill_switch(tests.client_a(), true), true,
    'operator: engaging the kill switch of client A works');
SELECT is(tessera.set_cross_customer_intelligence(tests.client_b(), true), true,
    'operator: opting client B in to cross-customer intelligence works');
SELECT is(tessera.set_cross_customer_intelligence(tests.client_b(), false), false,
    'operator: opting client B out again works');
SELECT throws_ok($$ SELECT tessera.set_kill_switch('e0000000-0000-4000-8000-00000000000e', true) $$,
    'P0002', 'client e0000000-0000-4000-8000-00000000000e not found',
    'operator: the kill switch of an unknown client is P0002 (no_data_found)');
SELECT throws_ok($$ SELECT tessera.set_cross_customer_intelligence('e0000000-0000-4000-8000-00000000000e', true) $$,
    'P0002', 'client e0000000-0000-4000-8000-00000000000e not found',
    'operator: the cross-customer opt-in of an unknown client is P0002 (no_data_found)');
SELECT throws_ok($$ SELECT tessera.set_kill_switch(NULL, true) $$,
    '42501', 'not permitted to change settings of client <NULL>',
    'operator: a null client is refused');
SELECT throws_ok($$ SELECT tessera.set_kill_switch(tests.client_b(), NULL) $$,
    '22004', 'optimisation_kill_switch must be true or false, not null',
    'operator: a null kill switch value is refused with 22004');
SELECT throws_ok(
    $$ SELECT tessera_private.set_client_setting(tests.client_b(), 'plan_tier', true) $$,
    '42501', 'permission denied for function set_client_setting',
    'operator: calling tessera_private.set_client_setting directly is refused too');

--- Roles without EXECUTE on the RPCs ---------------------------------------------------
SELECT tests.act_as('anon');
SELECT throws_ok($$ SELECT tessera.set_kill_switch(tests.client_a(), false) $$,
    '42501', 'permission denied for function set_kill_switch',
    'anon: tessera.set_kill_switch is not executable');
SELECT throws_ok($$ SELECT tessera.set_cross_customer_intelligence(tests.client_a(), true) $$,
    '42501', 'permission denied for function set_cross_customer_intelligence',
    'anon: tessera.set_cross_customer_intelligence is not executable');

SELECT tests.act_as('service_role');
SELECT throws_ok($$ SELECT tessera.set_kill_switch(tests.client_a(), false) $$,
    '42501', 'permission denied for function set_kill_switch',
    'service_role: tessera.set_kill_switch is not executable');
SELECT throws_ok($$ SELECT tessera.set_cross_customer_intelligence(tests.client_a(), true) $$,
    '42501', 'permission denied for function set_cross_customer_intelligence',
    'service_role: tessera.set_cross_customer_intelligence is not executable');

SELECT tests.act_as('tessera_proxy');
SELECT throws_ok($$ SELECT tessera.set_kill_switch(tests.client_a(), false) $$,
    '42501', 'permission denied for function set_kill_switch',
    'tessera_proxy: tessera.set_kill_switch is not executable');
SELECT throws_ok($$ SELECT tessera.set_cross_customer_intelligence(tests.client_a(), true) $$,
    '42501', 'permission denied for function set_cross_customer_intelligence',
    'tessera_proxy: tessera.set_cross_customer_intelligence is not executable');

SELECT tests.act_as('tessera_settlement');
SELECT throws_ok($$ SELECT tessera.set_kill_switch(tests.client_a(), false) $$,
    '42501', 'permission denied for function set_kill_switch',
    'tessera_settlement: tessera.set_kill_switch is not executable');
SELECT throws_ok($$ SELECT tessera.set_cross_customer_intelligence(tests.client_a(), true) $$,
    '42501', 'permission denied for function set_cross_customer_intelligence',
    'tessera_settlement: tessera.set_cross_customer_intelligence is not executable');

--- Final state -------------------------------------------------------------------------
SELECT tests.clear_identity();

SELECT results_eq(
    $$ SELECT client_id, plan_tier, optimisation_kill_switch, contributes_to_cross_customer_intelligence
         FROM tessera.clients ORDER BY client_id $$,
    $$ VALUES (tests.client_a(), 'hobby'::text, true, false),
              (tests.client_b(), 'invoiced'::text, false, false) $$,
    'superuser: the switches hold exactly what the permitted calls set last');

SELECT tests.clear_identity();
SELECT * FROM finish();
ROLLBACK;
