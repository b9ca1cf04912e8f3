-- 09_keys_and_secrets: issue 6 (API keys, settlement batches and secrets, exact cache,
-- worker config), in the database alone:
--
--   * every SECURITY DEFINER function (and the invoker sweep) refuses, with 42501, a
--     caller whose role holds no EXECUTE grant; the trigger functions are executable by
--     no API role at all;
--   * a sponsor registers a key (hashed form and hint only) for own client only; its
--     hashed form verifies as the proxy, the raw key is refused (22023), no part of it is
--     in the table, and after revocation the very next verify is empty;
--   * the owner's key policies: in a verify's context (its hash setting) the owner sees
--     the one key with that hash, never another, even with an operator's JWT; the
--     key-management policies apply only for the client named by managing_client_id;
--   * the api_keys guard refuses any change but revocation, to the owner too;
--   * the batch state machine: illegal and post-terminal moves are 55000 for every role;
--     the terminal transition deletes the secret; open_batch_secret refuses a terminal
--     batch (55000) and another client's batch (P0002), and audits each release;
--   * the cache lookup never crosses workloads for an identical entry id;
--   * the worker config follows the kill switch (pure pass-through) with a new version.
BEGIN;
\ir helpers/act_as.sql
SELECT plan(74);
SELECT tests.create_fixtures();
UPDATE tessera.workloads SET mechanic_batch_routing = true, mechanic_exact_cache = true;
INSERT INTO tessera.workloads (client_id, workload_id, name, mechanic_exact_cache)
VALUES (tests.client_a(), 'a0000000-0000-4000-8000-0000000000a2', 'a-second', true);

-- Test keys: the raw key is made here (in a real deployment only the client ever holds
-- it); the database is sent its hashed form and hint.
CREATE TEMPORARY TABLE keys_made (api_key_id uuid, api_key text, hashed text);
CREATE TEMPORARY TABLE test_keys AS
    SELECT k.raw, 'tkh_' || pg_catalog.substr(k.raw, 4, 32) || '_'
                  || pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(k.raw, 'UTF8')), 'hex') AS hashed,
           'tk_…' || pg_catalog.right(k.raw, 4) AS hint, k.n
      FROM (VALUES (1, 'tk_a000000000004000800000000000000a_' || pg_catalog.repeat('A', 39) || 'k1k1'),
                   (2, 'tk_a000000000004000800000000000000a_' || pg_catalog.repeat('B', 39) || 'k2k2'),
                   (3, 'tk_b000000000004000800000000000000b_' || pg_catalog.repeat('C', 39) || 'k3k3')) AS k (n, raw);
GRANT ALL ON test_keys TO PUBLIC;
GRANT ALL ON keys_made TO PUBLIC;
CREATE TEMPORARY TABLE batch_made (batch_id uuid);
GRANT ALL ON batch_made TO PUBLIC;

--- EXECUTE grants: 42501 for every role without one ------------------------------------
SELECT tests.act_as('anon');
-- The key functions' own caller check raises 42501 too: the message tells the EXECUTE
-- refusal apart.
SELECT throws_ok($$ SELECT * FROM tessera.create_api_key(tests.client_a(), 'tkh_x', 'tk_…xxxx', '{proxy}', 'x') $$,
    '42501', 'permission denied for function create_api_key', 'anon: create_api_key is refused');
SELECT throws_ok($$ SELECT tessera.revoke_api_key(tests.client_a(), gen_random_uuid()) $$,
    '42501', 'permission denied for function revoke_api_key', 'anon: revoke_api_key is refused');
SELECT throws_ok($$ SELECT * FROM tessera.rotate_api_key(tests.client_a(), gen_random_uuid(), 'tkh_x', 'tk_…xxxx') $$,
    '42501', 'permission denied for function rotate_api_key', 'anon: rotate_api_key is refused');
SELECT throws_ok($$ SELECT * FROM tessera.verify_api_key('tkh_x') $$,
    '42501', NULL, 'anon: verify_api_key is refused');
SELECT throws_ok($$ SELECT tessera.flush_cache(tests.client_a()) $$,
    '42501', NULL, 'anon: flush_cache is refused');
SELECT throws_ok($$ SELECT tessera.set_exact_cache_ttl(tests.client_a(), tests.workload_a(), '1 hour') $$,
    '42501', NULL, 'anon: set_exact_cache_ttl is refused');
SELECT throws_ok($$ SELECT * FROM tessera.worker_config(tests.client_a(), tests.workload_a()) $$,
    '42501', NULL, 'anon: worker_config is refused');

SELECT tests.act_as('sponsor_a');
SELECT throws_ok($$ SELECT * FROM tessera.verify_api_key('tkh_x') $$,
    '42501', NULL, 'sponsor: verify_api_key is refused');
SELECT throws_ok($$ SELECT tessera.create_batch(tests.client_a(), tests.workload_a(), 'openai') $$,
    '42501', NULL, 'sponsor: create_batch is refused');
SELECT throws_ok($$ SELECT tessera.transition_batch(tests.client_a(), gen_random_uuid(), 'failed') $$,
    '42501', NULL, 'sponsor: transition_batch is refused');
SELECT throws_ok($$ SELECT tessera.store_batch_secret(tests.client_a(), gen_random_uuid(), gen_random_uuid(), 'k1', '\x00'::bytea) $$,
    '42501', NULL, 'sponsor: store_batch_secret is refused');
SELECT throws_ok($$ SELECT * FROM tessera.cache_lookup(tests.client_a(), tests.workload_a(), '\x00'::bytea) $$,
    '42501', NULL, 'sponsor: cache_lookup is refused');
SELECT throws_ok($$ SELECT tessera.cache_put(tests.client_a(), tests.workload_a(), '\x00'::bytea, '\x00'::bytea) $$,
    '42501', NULL, 'sponsor: cache_put is refused');
SELECT throws_ok($$ SELECT * FROM tessera.worker_config(tests.client_a(), tests.workload_a()) $$,
    '42501', NULL, 'sponsor: worker_config is refused');
SELECT throws_ok($$ SELECT * FROM tessera.sweep() $$,
    '42501', NULL, 'sponsor: sweep is refused');

SELECT tests.act_as('operator');
SELECT throws_ok($$ SELECT * FROM tessera.open_batch_secret(tests.client_a(), gen_random_uuid()) $$,
    '42501', NULL, 'operator: open_batch_secret is refused');

SELECT tests.act_as('service_role');
SELECT throws_ok($$ SELECT * FROM tessera.open_batch_secret(tests.client_a(), gen_random_uuid()) $$,
    '42501', NULL, 'service_role: open_batch_secret is refused');

SELECT tests.act_as('tessera_proxy');
SELECT throws_ok($$ SELECT * FROM tessera.open_batch_secret(tests.client_a(), gen_random_uuid()) $$,
    '42501', NULL, 'proxy: open_batch_secret is refused');
SELECT throws_ok($$ SELECT * FROM tessera.batch_secrets_to_reseal('k2') $$,
    '42501', NULL, 'proxy: batch_secrets_to_reseal is refused');
SELECT throws_ok($$ SELECT tessera.reseal_batch_secret(tests.client_a(), gen_random_uuid(), gen_random_uuid(), 'k1', 'k2', '\x00'::bytea) $$,
    '42501', NULL, 'proxy: reseal_batch_secret is refused');
SELECT throws_ok($$ SELECT * FROM tessera.create_api_key(tests.client_a(), 'tkh_x', 'tk_…xxxx', '{proxy}', 'x') $$,
    '42501', 'permission denied for function create_api_key', 'proxy: create_api_key is refused');
SELECT throws_ok($$ SELECT * FROM tessera.rotate_api_key(tests.client_a(), gen_random_uuid(), 'tkh_x', 'tk_…xxxx') $$,
    '42501', 'permission denied for function rotate_api_key', 'proxy: rotate_api_key is refused');
SELECT throws_ok($$ SELECT tessera.flush_cache(tests.client_a()) $$,
    '42501', NULL, 'proxy: flush_cache is refused');
SELECT throws_ok($$ SELECT * FROM tessera.sweep() $$,
    '42501', NULL, 'proxy: sweep is refused');

SELECT tests.act_as('tessera_settlement');
SELECT throws_ok($$ SELECT * FROM tessera.verify_api_key('tkh_x') $$,
    '42501', NULL, 'settlement: verify_api_key is refused');
SELECT throws_ok($$ SELECT tessera.store_batch_secret(tests.client_a(), gen_random_uuid(), gen_random_uuid(), 'k1', '\x00'::bytea) $$,
    '42501', NULL, 'settlement: store_batch_secret is refused');
SELECT throws_ok($$ SELECT tessera.create_batch(tests.client_a(), tests.workload_a(), 'openai') $$,
    '42501', NULL, 'settlement: create_batch is refused');
SELECT throws_ok($$ SELECT * FROM tessera.cache_lookup(tests.client_a(), tests.workload_a(), '\x00'::bytea) $$,
    '42501', NULL, 'settlement: cache_lookup is refused');

SELECT tests.clear_identity();
SELECT is((SELECT count(*)::int FROM pg_catalog.unnest(ARRAY['anon', 'authenticated', 'service_role',
                                                             'tessera_proxy', 'tessera_settlement']) AS r(role),
                 pg_catalog.unnest(ARRAY['tessera_private.destroy_batch_secret()',
                                         'tessera_private.worker_config_changed()',
                                         'tessera_private.guard_api_key_update()',
                                         'tessera_private.notify_api_key_change()',
                                         'tessera_private.guard_batch_transition()',
                                         'tessera_private.record_api_key_failure(inet, text, text, uuid, uuid)']) AS f(fn)
            WHERE pg_catalog.has_function_privilege(r.role, f.fn, 'EXECUTE')), 0,
    'no API or login role may execute the issue 6 trigger and helper functions');
SELECT ok((SELECT bool_and(p.prosecdef AND p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'])
             FROM pg_catalog.pg_proc p
            WHERE p.oid IN ('tessera.verify_api_key(text, inet, uuid, text)'::regprocedure,
                            'tessera.open_batch_secret(uuid, uuid)'::regprocedure,
                            'tessera.cache_lookup(uuid, uuid, bytea)'::regprocedure,
                            'tessera.worker_config(uuid, uuid)'::regprocedure)),
    'the proxy / settlement surfaces are SECURITY DEFINER with a pinned search_path');

--- API keys ----------------------------------------------------------------------------
SELECT tests.act_as('sponsor_a');
SELECT throws_ok($$ SELECT * FROM tessera.create_api_key(tests.client_b(), (SELECT hashed FROM test_keys WHERE n = 3),
                                                         'tk_…k3k3', '{proxy}', 'x') $$,
    '42501', 'not permitted to create API keys for client b0000000-0000-4000-8000-00000000000b',
    'sponsor of A: a key for client B is refused');
SELECT throws_ok($$ SELECT * FROM tessera.create_api_key(tests.client_a(), (SELECT hashed FROM test_keys WHERE n = 1),
                                                         'tk_…k1k1', '{proxy,root}', 'x') $$,
    '23514', NULL, 'sponsor of A: an unknown capability is refused');
SELECT throws_ok($$ SELECT * FROM tessera.create_api_key(tests.client_a(), (SELECT raw FROM test_keys WHERE n = 1),
                                                         'tk_…k1k1', '{proxy}', 'x') $$,
    '22023', 'the key must be sent in its hashed form tkh_<client hex>_<sha256 hex>, never raw',
    'sponsor of A: a raw key is refused, and the error does not echo it');
SELECT throws_ok($$ SELECT * FROM tessera.create_api_key(tests.client_a(), (SELECT hashed FROM test_keys WHERE n = 3),
                                                         'tk_…k3k3', '{proxy}', 'x') $$,
    '22023', NULL, 'sponsor of A: a key naming another client is refused');
SELECT throws_ok($$ SELECT * FROM tessera.create_api_key(tests.client_a(), (SELECT hashed FROM test_keys WHERE n = 1),
                                                         'tk_k1k1', '{proxy}', 'x') $$,
    '23514', NULL, 'sponsor of A: a malformed display hint is refused (api_keys_display_hint_format)');
INSERT INTO keys_made
SELECT c.api_key_id, t.raw, t.hashed
  FROM test_keys AS t,
       tessera.create_api_key(tests.client_a(), t.hashed, t.hint, '{cache,proxy}', 'main') AS c
 WHERE t.n = 1;
SELECT is((SELECT display_hint FROM tessera.api_keys), 'tk_…k1k1',
    'sponsor of A: the key is registered with the hint the client sent');
SELECT throws_ok($$ SELECT key_sha256 FROM tessera.api_keys $$,
    '42501', NULL, 'sponsor of A: the key hash column is not readable');
SELECT is((SELECT count(*)::int FROM tessera.api_keys), 1, 'sponsor of A: sees the key''s metadata');

SELECT tests.clear_identity();
SELECT is((SELECT count(*)::int FROM tessera.api_keys k, keys_made m
            WHERE k.key_sha256 = sha256(convert_to(m.api_key, 'UTF8'))
              AND strpos(k::text, m.api_key) = 0 AND strpos(k::text, substr(m.api_key, 37)) = 0), 1,
    'the table holds the key''s SHA-256 and no part of the raw key');
SELECT throws_ok($$ UPDATE tessera.api_keys SET capabilities = '{batch,cache,proxy}' $$,
    '42501', NULL, 'superuser: widening a key''s capabilities is refused by the guard');
SELECT throws_ok($$ UPDATE tessera.api_keys SET client_id = tests.client_b() $$,
    '42501', NULL, 'superuser: moving a key to another client is refused by the guard');

-- A second key of A and one of B, registered directly (as the superuser) for the
-- owner-policy checks below.
INSERT INTO tessera.api_keys (client_id, key_sha256, display_hint, name, capabilities, created_by)
SELECT pg_catalog.substr(t.hashed, 5, 32)::uuid, pg_catalog.decode(pg_catalog.substr(t.hashed, 38), 'hex'), t.hint,
       'other', '{proxy}', 'pgtap'
  FROM test_keys AS t WHERE t.n IN (2, 3);

SELECT tests.act_as('tessera_proxy');
SELECT is((SELECT client_id FROM tessera.verify_api_key((SELECT hashed FROM keys_made), '10.1.1.1')),
    tests.client_a(), 'proxy: the hashed form verifies to client A');
SELECT is((SELECT capabilities FROM tessera.verify_api_key((SELECT hashed FROM keys_made))),
    '{cache,proxy}'::text[], 'proxy: with its capabilities');
SELECT is_empty($$ SELECT * FROM tessera.verify_api_key((SELECT hashed FROM keys_made), NULL, tests.workload_b()) $$,
    'proxy: the key does not reach a workload of client B');
SELECT throws_ok($$ SELECT * FROM tessera.verify_api_key((SELECT api_key FROM keys_made), '10.1.1.9') $$,
    '22023', 'verify_api_key accepts only the hashed form of a key (tkh_<client hex>_<sha256 hex>), never the raw key',
    'proxy: the raw key is refused, and the error does not echo it');
SELECT throws_ok($$ SELECT * FROM tessera.verify_api_key('tk_a000000000004000800000000000000a_AAAA', '10.1.1.9') $$,
    '22023', NULL, 'proxy: anything shaped like the start of a raw key is refused too');

--- The owner's policies on api_keys: each definer context sees only its own rows ------
-- verify's context (the hash setting), with an operator's JWT in the session: the one key.
SELECT tests.act_as('tessera_owner', 'ops@tessera.example');
DO $$ BEGIN PERFORM set_config('tessera.api_key_sha256', pg_catalog.substr((SELECT hashed FROM keys_made), 38), true); END $$;
SELECT results_eq($$ SELECT display_hint FROM tessera.api_keys $$, $$ VALUES ('tk_…k1k1') $$,
    'owner in a verify of key A (operator JWT present): sees key A and no other key');
DO $$ BEGIN PERFORM set_config('tessera.api_key_sha256', '', true); END $$;
SELECT is_empty($$ SELECT 1 FROM tessera.api_keys $$,
    'owner with an operator JWT but no definer context: sees no key');
DO $$ BEGIN PERFORM set_config('tessera.managing_client_id', tests.client_a()::text, true); END $$;
SELECT is((SELECT pg_catalog.array_agg(display_hint ORDER BY display_hint) FROM tessera.api_keys),
    ARRAY['tk_…k1k1', 'tk_…k2k2'],
    'owner managing client A for an operator: A''s keys, none of B''s');
SELECT tests.act_as('tessera_owner', 'sponsor-b@tenant-b.example');
DO $$ BEGIN PERFORM set_config('tessera.managing_client_id', tests.client_a()::text, true); END $$;
SELECT is_empty($$ SELECT 1 FROM tessera.api_keys $$,
    'owner managing client A for B''s sponsor: nothing (the caller check still applies)');
DO $$ BEGIN PERFORM set_config('tessera.managing_client_id', '', true); END $$;

SELECT tests.act_as('sponsor_a');
SELECT lives_ok($$ SELECT tessera.revoke_api_key(tests.client_a(), (SELECT api_key_id FROM keys_made), 'test') $$,
    'sponsor of A: revokes the key');
SELECT tests.act_as('tessera_proxy');
SELECT is_empty($$ SELECT * FROM tessera.verify_api_key((SELECT hashed FROM keys_made), '10.1.1.1') $$,
    'proxy: the revoked key fails on the very next call');
SELECT tests.clear_identity();
SELECT is((SELECT reason FROM tessera.api_key_failures WHERE source = '10.1.1.1'), 'revoked',
    'the failure is recorded with its reason and source');
SELECT is((SELECT count(*)::int FROM tessera.api_key_failures WHERE source = '10.1.1.9'), 0,
    'the refused raw keys wrote no failure row (nothing partial is written)');
SELECT throws_ok($$ UPDATE tessera.api_keys SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL $$,
    '42501', NULL, 'superuser: un-revoking a key is refused by the guard');

--- Batches and secrets -----------------------------------------------------------------
SELECT tests.act_as('tessera_proxy');
INSERT INTO batch_made SELECT tessera.create_batch(tests.client_a(), tests.workload_a(), 'openai');
SELECT lives_ok($$ SELECT tessera.store_batch_secret(tests.client_a(), (SELECT batch_id FROM batch_made),
                                                     gen_random_uuid(), 'k1', '\x01'::bytea || sha256('\x00'::bytea) || sha256('\x01'::bytea)) $$,
    'proxy: stores a sealed secret for a pending batch');
SELECT throws_ok($$ SELECT tessera.transition_batch(tests.client_a(), (SELECT batch_id FROM batch_made), 'completed') $$,
    '55000', NULL, 'proxy: pending -> completed is an illegal transition');

SELECT tests.act_as('tessera_settlement');
SELECT is((SELECT key_id FROM tessera.open_batch_secret(tests.client_a(), (SELECT batch_id FROM batch_made))),
    'k1', 'settlement: the sealed secret of a running batch is released');
SELECT throws_ok($$ SELECT * FROM tessera.open_batch_secret(tests.client_b(), (SELECT batch_id FROM batch_made)) $$,
    'P0002', NULL, 'settlement: the batch under another client id is not found');
SELECT lives_ok($$ SELECT tessera.transition_batch(tests.client_a(), (SELECT batch_id FROM batch_made), 'dispatched', 'prov-1') $$,
    'settlement: pending -> dispatched');
SELECT lives_ok($$ SELECT tessera.transition_batch(tests.client_a(), (SELECT batch_id FROM batch_made), 'expired') $$,
    'settlement: dispatched -> expired');
SELECT throws_ok($$ SELECT * FROM tessera.open_batch_secret(tests.client_a(), (SELECT batch_id FROM batch_made)) $$,
    '55000', NULL, 'settlement: a terminal batch releases nothing');

SELECT tests.clear_identity();
SELECT is((SELECT count(*)::int FROM tessera.batch_secrets), 0, 'the terminal transition destroyed the secret');
SELECT is((SELECT count(*)::int FROM tessera.audit_events WHERE action = 'secret_revealed'
             AND entity = 'batch_secrets' AND client_id = tests.client_a()), 1,
    'the one release wrote one secret_revealed audit event');
SELECT throws_ok($$ UPDATE tessera.batches SET state = 'dispatched' $$,
    '55000', NULL, 'superuser: a terminal batch never changes again');

--- Exact cache and worker config --------------------------------------------------------
SELECT tests.act_as('tessera_proxy');
SELECT lives_ok($$ SELECT tessera.cache_put(tests.client_a(), tests.workload_a(), sha256('same body'), '"A"'::bytea) $$,
    'proxy: caches a response for workload a-chat');
SELECT is((SELECT response_body FROM tessera.cache_lookup(tests.client_a(), tests.workload_a(), sha256('same body'))),
    '"A"'::bytea, 'proxy: the same workload gets it back');
SELECT is_empty($$ SELECT * FROM tessera.cache_lookup(tests.client_a(), 'a0000000-0000-4000-8000-0000000000a2', sha256('same body')) $$,
    'proxy: another workload of the same client does not, for the identical entry id');
SELECT is_empty($$ SELECT * FROM tessera.cache_lookup(tests.client_b(), tests.workload_b(), sha256('same body')) $$,
    'proxy: another client does not either');
SELECT is((SELECT pass_through FROM tessera.worker_config(tests.client_a(), tests.workload_a())), false,
    'proxy: worker config of a-chat is not pass-through');
CREATE TEMPORARY TABLE version_before AS
    SELECT config_version FROM tessera.worker_config(tests.client_a(), tests.workload_a());

SELECT tests.act_as('sponsor_a');
SELECT is(tessera.set_kill_switch(tests.client_a(), true), true, 'sponsor of A: engages the kill switch');
SELECT tests.act_as('tessera_proxy');
SELECT results_eq($$ SELECT pass_through, mechanics FROM tessera.worker_config(tests.client_a(), tests.workload_a()) $$,
    $$ VALUES (true, '{}'::text[]) $$, 'proxy: under the kill switch the worker config is pure pass-through');
SELECT ok((SELECT config_version FROM tessera.worker_config(tests.client_a(), tests.workload_a()))
          > (SELECT config_version FROM version_before),
    'proxy: with a higher config version');
SELECT is_empty($$ SELECT * FROM tessera.cache_lookup(tests.client_a(), tests.workload_a(), sha256('same body')) $$,
    'proxy: and no cache hit under the kill switch');

SELECT * FROM finish();
ROLLBACK;
