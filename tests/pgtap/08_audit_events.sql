-- 08_audit_events: tessera.audit_events, each actor against each operation.
--
--   * a sponsor toggling a mechanic writes exactly one workloads event with the sponsor as
--     actor and the request id of the transaction; sponsors read only their own clients'
--     events (client B is the negative control), strangers and the owner nothing, anon
--     nothing at all;
--   * operators read every event (platform events included) and open break-glass windows
--     only with a reason; the window's row comes first and the catalog change it permits
--     carries its reason;
--   * nobody inserts directly, and nobody updates, deletes or truncates: not the API
--     roles (privilege), not the owner (append-only triggers, RLS), not a superuser
--     under session_replication_role = replica (ENABLE ALWAYS);
--   * the proxy records auth failures and never a full key; the settlement job cannot.
BEGIN;
\ir helpers/act_as.sql
SELECT plan(39);
SELECT tests.create_fixtures();

--- Acting as the sponsor of A ------------------------------------------------------------
SELECT tests.act_as('sponsor_a');
SELECT set_config('tessera.request_id', 'pgtap-sponsor-toggle', true);
UPDATE tessera.workloads SET mechanic_exact_cache = true WHERE workload_id = tests.workload_a();

SELECT results_eq(
    $$ SELECT entity, action, actor_email, actor_role, after -> 'mechanic_exact_cache'
         FROM tessera.audit_events WHERE request_id = 'pgtap-sponsor-toggle' AND entity = 'workloads' $$,
    $$ VALUES ('workloads', 'update', 'sponsor-a@tenant-a.example', 'authenticated', 'true'::jsonb) $$,
    'sponsor of A: toggling a mechanic writes exactly one workloads event, the sponsor as actor');
SELECT results_eq(
    $$ SELECT DISTINCT client_id FROM tessera.audit_events $$,
    $$ VALUES (tests.client_a()) $$,
    'sponsor of A: reads the events of client A only');
SELECT is_empty(
    $$ SELECT 1 FROM tessera.audit_events WHERE client_id = tests.client_b() OR client_id IS NULL $$,
    'sponsor of A: nothing of client B and no platform event, even asked by id');
SELECT throws_ok($$ INSERT INTO tessera.audit_events (entity, action) VALUES ('forged', 'insert') $$,
    '42501', 'permission denied for table audit_events',
    'sponsor of A: cannot insert an audit event');
SELECT throws_ok($$ UPDATE tessera.audit_events SET reason = 'edited' $$,
    '42501', 'permission denied for table audit_events',
    'sponsor of A: cannot update own events');
SELECT throws_ok($$ DELETE FROM tessera.audit_events $$,
    '42501', 'permission denied for table audit_events',
    'sponsor of A: cannot delete own events');
SELECT throws_ok($$ SELECT tessera.break_glass('let me in', 'publish_price') $$,
    '42501', 'break-glass is for operators only',
    'sponsor of A: break-glass is refused');
SELECT throws_ok($$ SELECT tessera_private.write_audit_event(NULL, 'forged', NULL, 'insert') $$,
    '42501', 'permission denied for function write_audit_event',
    'sponsor of A: the private writer is not reachable');

--- Acting as the sponsor of B (negative control) --------------------------------------
SELECT tests.act_as('sponsor_b');
SELECT is_empty(
    $$ SELECT 1 FROM tessera.audit_events WHERE request_id = 'pgtap-sponsor-toggle' $$,
    'sponsor of B: the toggle on client A is invisible');
SELECT results_eq(
    $$ SELECT DISTINCT client_id FROM tessera.audit_events $$,
    $$ VALUES (tests.client_b()) $$,
    'sponsor of B: reads the events of client B only');
SELECT is_empty(
    $$ SELECT 1 FROM tessera.break_glass_events $$,
    'sponsor of B: no break-glass window of its own client');

--- Acting as a stranger ---------------------------------------------------------------
SELECT tests.act_as('stranger');
SELECT is_empty($$ SELECT 1 FROM tessera.audit_events $$,
    'stranger: reads no event');

--- Acting as the operator --------------------------------------------------------------
SELECT tests.act_as('operator');
SELECT ok((SELECT count(DISTINCT client_id) = 2 AND bool_or(client_id IS NULL) FROM tessera.audit_events),
    'operator: reads the events of A, B and the platform');
SELECT throws_ok($$ SELECT tessera.break_glass(NULL, 'publish_price') $$,
    '22023', 'break-glass needs a reason: say why, in words a reviewer will read',
    'operator: break-glass without a reason is refused');
SELECT throws_ok($$ SELECT tessera.break_glass('   ', 'publish_price') $$,
    '22023', 'break-glass needs a reason: say why, in words a reviewer will read',
    'operator: break-glass with a blank reason is refused');
SELECT throws_ok($$ SELECT tessera.break_glass('because', 'drop_everything') $$,
    '22023', 'unknown break-glass action ''drop_everything''; known: publish_price',
    'operator: break-glass for an unknown action is refused');
SELECT throws_ok($$ SELECT * FROM tessera.break_glass_publish_price('openai', 'pgtap-model', 0.000001, 0.000002) $$,
    '42501', 'hand-publishing a price needs a break-glass window: SELECT tessera.break_glass(<reason>, ''publish_price'') first, in the same transaction',
    'operator: hand-publishing a price without a window is refused');
SELECT isnt(tessera.break_glass('provider cut prices; importer down (INC-7)', 'publish_price'), NULL,
    'operator: break-glass with a reason opens a window');
SELECT results_eq(
    $$ SELECT outcome FROM tessera.break_glass_publish_price('openai', 'pgtap-model', 0.000001, 0.000002) $$,
    $$ VALUES ('created') $$,
    'operator: inside the window, the price is published');
SELECT results_eq(
    $$ SELECT permitted_action, reason, actor_email FROM tessera.break_glass_events $$,
    $$ VALUES ('publish_price', 'provider cut prices; importer down (INC-7)', 'ops@tessera.example') $$,
    'operator: the window is in the break-glass slice');
SELECT results_eq(
    $$ SELECT e.action, e.entity, e.reason FROM tessera.audit_events AS e
        WHERE e.txid = pg_current_xact_id() AND e.entity IN ('break_glass', 'pricing_catalog')
        ORDER BY e.event_id $$,
    $$ VALUES ('break_glass', 'break_glass', 'provider cut prices; importer down (INC-7)'),
              ('insert', 'pricing_catalog', 'provider cut prices; importer down (INC-7)') $$,
    'operator: the break_glass row comes first, and the change it permits carries its reason');
SELECT throws_ok($$ UPDATE tessera.audit_events SET reason = 'edited' $$,
    '42501', 'permission denied for table audit_events',
    'operator: cannot update an event');
SELECT throws_ok($$ TRUNCATE tessera.audit_events $$,
    '42501', 'permission denied for table audit_events',
    'operator: cannot truncate the log');

--- Acting as anon -----------------------------------------------------------------------
SELECT tests.act_as('anon');
SELECT throws_ok($$ SELECT 1 FROM tessera.audit_events $$,
    '42501', 'permission denied for table audit_events',
    'anon: cannot read the log');
SELECT throws_ok($$ SELECT tessera.break_glass('x', 'publish_price') $$,
    '42501', 'permission denied for function break_glass',
    'anon: break-glass is not executable');
SELECT throws_ok($$ SELECT tessera.record_auth_failure('auth_failure', NULL, NULL, NULL) $$,
    '42501', 'permission denied for function record_auth_failure',
    'anon: cannot write auth failures');

--- Acting as service_role --------------------------------------------------------------
SELECT tests.act_as('service_role');
SELECT ok((SELECT count(DISTINCT client_id) = 2 AND bool_or(client_id IS NULL) FROM tessera.audit_events),
    'service_role: reads every client''s events (A, B and the platform)');
SELECT throws_ok($$ DELETE FROM tessera.audit_events $$,
    '42501', 'permission denied for table audit_events',
    'service_role: cannot delete events, BYPASSRLS notwithstanding');

--- Acting as the proxy login -----------------------------------------------------------
SELECT tests.act_as('tessera_proxy');
SELECT isnt(tessera.record_auth_failure('auth_failure', 'tk_…ab12', '203.0.113.9', 'revoked key'), NULL,
    'tessera_proxy: records an auth failure');
SELECT throws_ok($$ SELECT tessera.record_auth_failure('auth_failure', 'tk_0123456789abcdefghij', NULL, NULL) $$,
    '22023', 'that looks like a full API key; record only its display prefix',
    'tessera_proxy: a full key is refused');
SELECT throws_ok($$ SELECT 1 FROM tessera.audit_events $$,
    '42501', 'permission denied for table audit_events',
    'tessera_proxy: cannot read the log');

--- Acting as the settlement login -------------------------------------------------------
SELECT tests.act_as('tessera_settlement');
SELECT throws_ok($$ SELECT tessera.record_auth_failure('auth_failure', NULL, NULL, NULL) $$,
    '42501', 'permission denied for function record_auth_failure',
    'tessera_settlement: cannot write auth failures');

--- Acting as the owner (what a definer function could do) --------------------------------
SELECT tests.act_as('tessera_owner');
SELECT results_eq($$ SELECT action, reason FROM tessera.audit_events $$,
    $$ VALUES ('break_glass', 'provider cut prices; importer down (INC-7)') $$,
    'owner: reads only its own transaction''s break_glass row (the window lookup), no other event');
SELECT throws_ok($$ INSERT INTO tessera.audit_events (entity, action) VALUES ('forged', 'insert') $$,
    '42501', 'new row violates row-level security policy for table "audit_events"',
    'owner: a direct insert (outside write_audit_event) is refused');
SELECT throws_ok($$ UPDATE tessera.audit_events SET reason = 'edited' $$,
    '42501', 'UPDATE on tessera.audit_events is refused: the table is append-only',
    'owner: UPDATE is refused by the append-only trigger');
SELECT throws_ok($$ DELETE FROM tessera.audit_events $$,
    '42501', 'DELETE on tessera.audit_events is refused: the table is append-only',
    'owner: DELETE is refused by the append-only trigger');
SELECT throws_ok($$ TRUNCATE tessera.audit_events $$,
    '42501', 'TRUNCATE on tessera.audit_events is refused: the table is append-only',
    'owner: TRUNCATE is refused by the append-only trigger');

--- The superuser, with replication triggers switched off --------------------------------
SELECT tests.clear_identity();
SET LOCAL session_replication_role = replica;
SELECT throws_ok($$ DELETE FROM tessera.audit_events $$,
    '42501', 'DELETE on tessera.audit_events is refused: the table is append-only',
    'superuser, session_replication_role = replica: DELETE is still refused (ENABLE ALWAYS)');
SELECT throws_ok($$ INSERT INTO tessera.audit_events (entity, action, content_hash) VALUES ('forged', 'insert', '\x00') $$,
    '42501', 'audit_events.content_hash is computed by the database, never supplied',
    'superuser, session_replication_role = replica: a supplied hash is still refused');
SET LOCAL session_replication_role = origin;

SELECT * FROM finish();
ROLLBACK;
