-- Demo data for `tessera-db dev up`: rows in every table so every guard can be seen
-- working. Re-runnable (fixed ids, ON CONFLICT DO NOTHING). Loaded as service_role.
--
--   Acme Analytics (invoiced)  sponsors alice@acme.example, carol@acme.example
--   Globex Labs (free)         sponsors bob@globex.example, carol@acme.example
--   Initech (hobby)            no sponsor: only operators see it
--   operator                   ops@tessera.example

INSERT INTO tessera.clients (client_id, name, plan_tier, optimisation_kill_switch,
                             contributes_to_cross_customer_intelligence)
VALUES ('a0000000-0000-4000-8000-000000000001', 'Acme Analytics', 'invoiced', false, true),
       ('b0000000-0000-4000-8000-000000000002', 'Globex Labs',    'free',     false, false),
       ('c0000000-0000-4000-8000-000000000003', 'Initech',        'hobby',    true,  false)
ON CONFLICT (client_id) DO NOTHING;

INSERT INTO tessera.workloads (client_id, workload_id, name,
                               mechanic_auto_route, mechanic_exact_cache, mechanic_prompt_cache_header)
VALUES ('a0000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000001', 'support-bot',  true,  true,  false),
       ('a0000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000002', 'summariser',   false, false, true),
       ('b0000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-000000000001', 'code-review',  false, false, true),
       ('c0000000-0000-4000-8000-000000000003', 'c1000000-0000-4000-8000-000000000001', 'tps-reports',  true,  false, false)
ON CONFLICT (client_id, workload_id) DO NOTHING;

INSERT INTO tessera.operators (operator_id, email, display_name)
VALUES ('0e000000-0000-4000-8000-000000000001', 'ops@tessera.example', 'Tessera Ops')
ON CONFLICT (operator_id) DO NOTHING;

INSERT INTO tessera.client_users (client_id, client_user_id, email, display_name)
VALUES ('a0000000-0000-4000-8000-000000000001', 'a2000000-0000-4000-8000-000000000001', 'alice@acme.example', 'Alice (Acme)'),
       ('a0000000-0000-4000-8000-000000000001', 'a2000000-0000-4000-8000-000000000002', 'carol@acme.example', 'Carol (Acme)'),
       ('b0000000-0000-4000-8000-000000000002', 'b2000000-0000-4000-8000-000000000001', 'bob@globex.example', 'Bob (Globex)'),
       ('b0000000-0000-4000-8000-000000000002', 'b2000000-0000-4000-8000-000000000002', 'carol@acme.example', 'Carol (consultant)')
ON CONFLICT (client_id, client_user_id) DO NOTHING;

-- pricing (issue 4) -------------------------------------------------------------------
-- Observations from all three sources (tokencost repeating LiteLLM: one vote, not two;
-- OpenRouter disagreeing on Gemini's cache-read price), and prices published through
-- the same functions the importer uses. gpt-4o and claude-sonnet-4-5 have a second,
-- scheduled version (a price cut a week from now), so their first row is closed.
-- Guarded by the demo import run's file name: publishing again would add versions.
DO $demo$
BEGIN
    IF EXISTS (SELECT 1 FROM tessera.price_import_runs WHERE file_name LIKE 'demo-%') THEN
        RETURN;
    END IF;
    PERFORM tessera.record_price_observations('litellm', 'demo-litellm.json', repeat('a', 64), now() - interval '2 days', '[
        {"provider": "openai", "model": "gpt-4o", "source_model": "gpt-4o", "component": "input", "raw_value": "2.5e-06"},
        {"provider": "openai", "model": "gpt-4o", "source_model": "gpt-4o", "component": "output", "raw_value": "1e-05"},
        {"provider": "openai", "model": "gpt-4o", "source_model": "gpt-4o", "component": "cache_read", "raw_value": "1.25e-06"},
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "source_model": "claude-sonnet-4-5", "component": "input", "raw_value": "3e-06"},
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "source_model": "claude-sonnet-4-5", "component": "output", "raw_value": "1.5e-05"},
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "source_model": "claude-sonnet-4-5", "component": "cache_read", "raw_value": "3e-07"},
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "source_model": "claude-sonnet-4-5", "component": "cache_write_5m", "raw_value": "3.75e-06"},
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "source_model": "claude-sonnet-4-5", "component": "cache_write_1h", "raw_value": "6e-06"},
        {"provider": "google", "model": "gemini-2.5-pro", "source_model": "gemini/gemini-2.5-pro", "component": "input", "raw_value": "1.25e-06"},
        {"provider": "google", "model": "gemini-2.5-pro", "source_model": "gemini/gemini-2.5-pro", "component": "output", "raw_value": "1e-05"},
        {"provider": "google", "model": "gemini-2.5-pro", "source_model": "gemini/gemini-2.5-pro", "component": "cache_read", "raw_value": "1.25e-07"}
    ]');
    PERFORM tessera.record_price_observations('tokencost', 'demo-tokencost.json', repeat('b', 64), now() - interval '1 day', '[
        {"provider": "openai", "model": "gpt-4o", "source_model": "gpt-4o", "component": "input", "raw_value": "2.5e-06"},
        {"provider": "openai", "model": "gpt-4o", "source_model": "gpt-4o", "component": "output", "raw_value": "1e-05"}
    ]');
    PERFORM tessera.record_price_observations('openrouter', 'demo-openrouter.json', repeat('c', 64), now() - interval '1 day', '[
        {"provider": "openai", "model": "gpt-4o", "source_model": "openai/gpt-4o", "component": "input", "raw_value": "0.0000025"},
        {"provider": "openai", "model": "gpt-4o", "source_model": "openai/gpt-4o", "component": "output", "raw_value": "0.00001"},
        {"provider": "google", "model": "gemini-2.5-pro", "source_model": "google/gemini-2.5-pro", "component": "input", "raw_value": "0.00000125"},
        {"provider": "google", "model": "gemini-2.5-pro", "source_model": "google/gemini-2.5-pro", "component": "cache_read", "raw_value": "0.00000031"}
    ]');
    PERFORM tessera.publish_price('openai', 'gpt-4o', 0.0000025, 0.00001, p_cache_read => 0.00000125);
    PERFORM tessera.publish_price('openai', 'gpt-4o', 0.000002, 0.000008, p_cache_read => 0.000001,
                                  p_effective_from => now() + interval '7 days');
    PERFORM tessera.publish_price('anthropic', 'claude-sonnet-4-5', 0.000003, 0.000015, p_cache_read => 0.0000003,
                                  p_cache_write_5m => 0.00000375, p_cache_write_1h => 0.000006);
    PERFORM tessera.publish_price('anthropic', 'claude-sonnet-4-5', 0.0000025, 0.0000125, p_cache_read => 0.00000025,
                                  p_cache_write_5m => 0.000003125, p_cache_write_1h => 0.000005,
                                  p_effective_from => now() + interval '7 days');
    PERFORM tessera.publish_price('google', 'gemini-2.5-pro', 0.00000125, 0.00001, p_cache_read => 0.000000125);
END
$demo$;

-- savings and balance (issue 4) -------------------------------------------------------
-- Requests recorded through tessera.record_request (service_role may: spool replay), so
-- costs come from the demo prices above. Re-runnable: a replayed request_id writes
-- nothing. occurred_at = now() (the first load's prices take effect at now()).
--   Acme support-bot   auto-routed claude-sonnet-4-5 -> gemini-2.5-pro; one exact-cache hit
--   Acme summariser    claude-sonnet-4-5 with prompt caching (reads and 5m/1h writes)
--   Globex code-review gpt-4o with a cached prefix (OpenAI style: cached inside prompt)
SELECT r.request_id, r.savings_usd, r.replayed
  FROM (VALUES
      ('a0000000-0000-4000-8000-000000000001'::uuid, 'a1000000-0000-4000-8000-000000000001'::uuid, 'demo-acme-0001',
       'anthropic', 'claude-sonnet-4-5', 'google', 'gemini-2.5-pro', 1200::bigint, 0::bigint, 0::bigint, 0::bigint, 350::bigint,
       ARRAY['auto_route'], 'support'),
      ('a0000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000001', 'demo-acme-0002',
       'anthropic', 'claude-sonnet-4-5', 'google', 'gemini-2.5-pro', 800, 0, 0, 0, 120,
       ARRAY['auto_route'], 'support'),
      ('a0000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000001', 'demo-acme-0003',
       'anthropic', 'claude-sonnet-4-5', 'anthropic', 'claude-sonnet-4-5', 1200, 0, 0, 0, 350,
       ARRAY['exact_cache'], 'support'),
      ('a0000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000002', 'demo-acme-0004',
       'anthropic', 'claude-sonnet-4-5', 'anthropic', 'claude-sonnet-4-5', 40, 6000, 500, 200, 400,
       ARRAY['prompt_cache_header'], 'summaries'),
      ('b0000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-000000000001', 'demo-globex-0001',
       'openai', 'gpt-4o', 'openai', 'gpt-4o', 300, 2048, 0, 0, 600,
       ARRAY['prompt_cache_header'], NULL)
  ) AS v (client_id, workload_id, request_id, req_provider, req_model, rt_provider, rt_model,
          uncached, cache_read, cw5m, cw1h, output, mechanics, feature_tag),
  LATERAL tessera.record_request(
      p_client_id => v.client_id, p_workload_id => v.workload_id, p_request_id => v.request_id,
      p_occurred_at => now(), p_requested_provider => v.req_provider, p_requested_model => v.req_model,
      p_routed_provider => v.rt_provider, p_routed_model => v.rt_model,
      p_uncached_input_tokens => v.uncached, p_cache_read_input_tokens => v.cache_read,
      p_cache_write_5m_input_tokens => v.cw5m, p_cache_write_1h_input_tokens => v.cw1h,
      p_output_tokens => v.output, p_mechanics => v.mechanics, p_finish_reason => 'stop',
      p_feature_tag => v.feature_tag) AS r;

-- The hot path (issue 12): one batch through tessera.record_requests. Its second element
-- names a model the catalog has no price for: it is rejected and kept as a dead letter
-- (tessera-db savings replay-rejected retries it once a price covering its time is
-- published). Guarded: each run would otherwise append one more rejected attempt.
DO $demo$
BEGIN
    IF EXISTS (SELECT 1 FROM tessera.savings_dead_letters WHERE request_id = 'demo-acme-0006') THEN
        RETURN;
    END IF;
    PERFORM * FROM tessera.record_requests(pg_catalog.jsonb_build_array(
        pg_catalog.jsonb_build_object(
            'client_id', 'a0000000-0000-4000-8000-000000000001', 'workload_id', 'a1000000-0000-4000-8000-000000000001',
            'request_id', 'demo-acme-0005', 'occurred_at', now(),
            'requested_provider', 'anthropic', 'requested_model', 'claude-sonnet-4-5',
            'routed_provider', 'google', 'routed_model', 'gemini-2.5-pro',
            'uncached_input_tokens', 900, 'output_tokens', 200, 'mechanics', pg_catalog.jsonb_build_array('auto_route'),
            'finish_reason', 'stop', 'feature_tag', 'support'),
        pg_catalog.jsonb_build_object(
            'client_id', 'a0000000-0000-4000-8000-000000000001', 'workload_id', 'a1000000-0000-4000-8000-000000000001',
            'request_id', 'demo-acme-0006', 'occurred_at', now(),
            'requested_provider', 'openai', 'requested_model', 'gpt-5-preview',
            'routed_provider', 'openai', 'routed_model', 'gpt-5-preview',
            'uncached_input_tokens', 500, 'output_tokens', 80, 'finish_reason', 'stop')));
END
$demo$;

-- The balance ledger: top-ups, a usage charge, a service credit (actor: the loader's
-- JWT sub). Guarded by the demo reasons: appending again would change the balances.
DO $demo$
BEGIN
    IF EXISTS (SELECT 1 FROM tessera.balance_transactions WHERE reason LIKE 'demo: %') THEN
        RETURN;
    END IF;
    PERFORM tessera.record_balance_transaction('a0000000-0000-4000-8000-000000000001', 'top_up', 250.00, 'demo: invoice INV-1001 paid');
    PERFORM tessera.record_balance_transaction('a0000000-0000-4000-8000-000000000001', 'usage_charge', -12.34, 'demo: usage to date');
    PERFORM tessera.record_balance_transaction('b0000000-0000-4000-8000-000000000002', 'top_up', 50.00, 'demo: card top-up');
    PERFORM tessera.record_balance_transaction('b0000000-0000-4000-8000-000000000002', 'service_credit', 5.00, 'demo: SLA credit for the 2026-11 incident');
END
$demo$;

-- audit log (issue 5) -----------------------------------------------------------------
-- Every insert above already wrote its audit event (the audit triggers of
-- functions/tessera_private.audit_coverage.sql), with actor service_role / demo-loader
-- and one request id for the whole load. Added here: one break-glass window opened by
-- the operator (the reviewed slice: SELECT * FROM tessera.break_glass_events) and one
-- failed key verification and one rate-limit refusal from the proxy's point of view.
-- Guarded by the demo reason / detail: loading again adds nothing.
DO $demo_audit$
DECLARE
    saved_claims text := pg_catalog.current_setting('request.jwt.claims', true);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM tessera.audit_events
                    WHERE action = 'break_glass' AND reason LIKE 'Demo:%') THEN
        -- Act as the operator for one call (the loader's login may switch to
        -- authenticated, like the portal does), then back to the loader.
        PERFORM pg_catalog.set_config('role', 'authenticated', true);
        PERFORM pg_catalog.set_config('request.jwt.claims',
            '{"email": "ops@tessera.example", "sub": "ops@tessera.example", "role": "authenticated"}', true);
        PERFORM tessera.break_glass(
            'Demo: the price importer is down and a provider cut prices today; hand-publishing one correction (INC-0001).',
            'publish_price');
        PERFORM pg_catalog.set_config('role', 'service_role', true);
        PERFORM pg_catalog.set_config('request.jwt.claims', saved_claims, true);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM tessera.audit_events
                    WHERE entity = 'auth' AND after ->> 'detail' LIKE 'demo:%') THEN
        PERFORM tessera.record_auth_failure('auth_failure', 'tk_…9f3a', '203.0.113.42', 'demo: revoked key presented');
        PERFORM tessera.record_auth_failure('rate_limited', NULL, '203.0.113.42', 'demo: 20 failures in 60 s from this address');
    END IF;
END
$demo_audit$;

-- keys, settlement secrets, exact cache, worker config (issue 6) ------------------------
-- API keys are registered the one way they can be, by a sponsor through
-- tessera.create_api_key, from a hashed form and a display hint (a real key is
-- generated by the client). The demo registers hashes of random bytes that are never
-- kept, so no working demo key exists anywhere: make your own with `tessera-db keys
-- create`. Acme: a live proxy+cache key, and an old key rotated away (revoked, with
-- replaced_by). Globex: a batch key scoped to code-review, which opts in to
-- batch_routing here. Initech's kill switch is engaged (demo block above), so its
-- worker config is pure pass-through. workload_settings rows exist already: every
-- workload insert drew a config version (trigger workloads_worker_config_changed); Acme's
-- support-bot gets a 3-day cache TTL. Batches, sealed secrets, cache entries and key
-- failures need the proxy and settlement logins: `tessera-db dev up` adds them
-- afterwards (tessera_db.demo.load_proxy_side), sealing the demo secret to a demo key
-- kept in .tessera/ (git-ignored); no secret or key is in this file.
-- Guarded by the demo key names: loading again adds nothing.
DO $demo_keys$
DECLARE
    saved_claims text := pg_catalog.current_setting('request.jwt.claims', true);
    old_key uuid;
BEGIN
    UPDATE tessera.workloads SET mechanic_batch_routing = true
     WHERE client_id = 'b0000000-0000-4000-8000-000000000002'
       AND workload_id = 'b1000000-0000-4000-8000-000000000001' AND NOT mechanic_batch_routing;
    IF NOT EXISTS (SELECT 1 FROM tessera.api_keys WHERE name LIKE 'demo-%') THEN
        PERFORM pg_catalog.set_config('role', 'authenticated', true);
        PERFORM pg_catalog.set_config('request.jwt.claims',
            '{"email": "alice@acme.example", "sub": "alice@acme.example", "role": "authenticated"}', true);
        SELECT k.api_key_id INTO old_key
          FROM tessera.create_api_key('a0000000-0000-4000-8000-000000000001',
                                      'tkh_a0000000000040008000000000000001_'
                                      || pg_catalog.encode(pg_catalog.sha256(pg_catalog.uuid_send(gen_random_uuid())), 'hex'),
                                      'tk_…dem1', '{proxy,cache}', 'demo-production') AS k;
        PERFORM tessera.rotate_api_key('a0000000-0000-4000-8000-000000000001', old_key,
                                       'tkh_a0000000000040008000000000000001_'
                                       || pg_catalog.encode(pg_catalog.sha256(pg_catalog.uuid_send(gen_random_uuid())), 'hex'),
                                       'tk_…dem2', interval '365 days');
        PERFORM tessera.set_exact_cache_ttl('a0000000-0000-4000-8000-000000000001',
                                            'a1000000-0000-4000-8000-000000000001', interval '3 days');
        PERFORM pg_catalog.set_config('request.jwt.claims',
            '{"email": "bob@globex.example", "sub": "bob@globex.example", "role": "authenticated"}', true);
        PERFORM tessera.create_api_key('b0000000-0000-4000-8000-000000000002',
                                       'tkh_b0000000000040008000000000000002_'
                                       || pg_catalog.encode(pg_catalog.sha256(pg_catalog.uuid_send(gen_random_uuid())), 'hex'),
                                       'tk_…dem3', '{proxy,batch}', 'demo-batch-jobs',
                                       'b1000000-0000-4000-8000-000000000001', interval '90 days');
        PERFORM pg_catalog.set_config('role', 'service_role', true);
        PERFORM pg_catalog.set_config('request.jwt.claims', saved_claims, true);
    END IF;
END
$demo_keys$;

-- lifecycle (issue 14) ----------------------------------------------------------------
-- Pied Piper, a free account that closed: created here with a sponsor and a workload,
-- then erased by the operator (tessera_db.demo.load calls tessera.erase_client), so the
-- delete log has a row and the audit log tombstones that `tessera-db audit verify`
-- accepts. Never re-created once erased (the delete log remembers it).
INSERT INTO tessera.clients (client_id, name, plan_tier)
SELECT 'd0000000-0000-4000-8000-000000000004', 'Pied Piper', 'free'
 WHERE NOT EXISTS (SELECT 1 FROM tessera.client_erasures WHERE client_id = 'd0000000-0000-4000-8000-000000000004')
ON CONFLICT (client_id) DO NOTHING;
INSERT INTO tessera.workloads (client_id, workload_id, name)
SELECT 'd0000000-0000-4000-8000-000000000004', 'd1000000-0000-4000-8000-000000000001', 'compression'
 WHERE EXISTS (SELECT 1 FROM tessera.clients WHERE client_id = 'd0000000-0000-4000-8000-000000000004')
ON CONFLICT (client_id, workload_id) DO NOTHING;
INSERT INTO tessera.client_users (client_id, client_user_id, email, display_name)
SELECT 'd0000000-0000-4000-8000-000000000004', 'd2000000-0000-4000-8000-000000000001', 'richard@piedpiper.example',
       'Richard (Pied Piper)'
 WHERE EXISTS (SELECT 1 FROM tessera.clients WHERE client_id = 'd0000000-0000-4000-8000-000000000004')
ON CONFLICT (client_id, client_user_id) DO NOTHING;

-- operations (issue 15) ---------------------------------------------------------------
-- Quality SLA. Acme's "triage" workload runs the two-mechanic stack auto_route +
-- prompt_cache_header. Its canary scored a mean of 0.90 (30 samples a day) on each of
-- the days 4, 3 and 2 days ago (UTC), while auto_route alone kept 0.99: the demo runs
-- tessera.sla_run as of yesterday, which disables exactly that stack for that workload
-- (auto_route alone and prompt_cache_header alone stay live), credits Acme 10% of what
-- the stack's requests cost over the three days, and records one sla_breach anomaly (its
-- audit event carries the days, the credit and the reactivation path).
-- Acme's "summariser" (prompt_cache_header alone) scored 0.91 on the days 3, 2 and 1
-- days ago: as of yesterday that is two bad days, so `tessera-db sla run --now <today>`
-- finds its breach (disables it, one credit, one audit event) and reports triage's as
-- already recorded; a second run changes nothing.
-- The requests are priced by a model pair published for the demo with an effective_from
-- 60 days back (allowed for a model's first version), so the past days have prices.
INSERT INTO tessera.workloads (client_id, workload_id, name, mechanic_auto_route, mechanic_prompt_cache_header)
VALUES ('a0000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000003', 'triage', true, true)
ON CONFLICT (client_id, workload_id) DO NOTHING;

DO $demo_sla$
DECLARE
    acme CONSTANT uuid := 'a0000000-0000-4000-8000-000000000001';
    triage CONSTANT uuid := 'a1000000-0000-4000-8000-000000000003';
    summariser CONSTANT uuid := 'a1000000-0000-4000-8000-000000000002';
    version bigint;
    summariser_version bigint;
    d integer;
    day_noon timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM tessera.canary_scores WHERE client_id = acme AND workload_id = triage) THEN
        RETURN;  -- loaded before; the breach below is already recorded
    END IF;
    IF NOT EXISTS (SELECT 1 FROM tessera.pricing_catalog WHERE provider = 'mistral') THEN
        PERFORM tessera.publish_price('mistral', 'mistral-large-demo', 0.000002, 0.000006,
                                      p_cache_read => 0.0000002, p_effective_from => now() - interval '60 days');
        PERFORM tessera.publish_price('mistral', 'mistral-small-demo', 0.0000002, 0.0000006,
                                      p_cache_read => 0.00000002, p_effective_from => now() - interval '60 days');
    END IF;
    SELECT c.config_version INTO version FROM tessera.worker_config(acme, triage) AS c;
    SELECT c.config_version INTO summariser_version FROM tessera.worker_config(acme, summariser) AS c;
    FOR d IN 1 .. 4 LOOP
        day_noon := ((pg_catalog.date_trunc('day', now() AT TIME ZONE 'UTC') - d * interval '1 day')
                     + interval '12 hours') AT TIME ZONE 'UTC';
        IF d >= 2 THEN
            -- What triage's stack cost that day (the credit's basis), and one auto_route-only request.
            PERFORM * FROM tessera.record_requests(pg_catalog.jsonb_build_array(
                pg_catalog.jsonb_build_object(
                    'client_id', acme, 'workload_id', triage, 'request_id', 'demo-triage-stack-' || d,
                    'occurred_at', day_noon, 'requested_provider', 'mistral', 'requested_model', 'mistral-large-demo',
                    'routed_provider', 'mistral', 'routed_model', 'mistral-small-demo',
                    'uncached_input_tokens', 20000, 'cache_read_input_tokens', 80000, 'output_tokens', 4000,
                    'mechanics', pg_catalog.jsonb_build_array('auto_route', 'prompt_cache_header'),
                    'config_version', version, 'finish_reason', 'stop', 'feature_tag', 'triage'),
                pg_catalog.jsonb_build_object(
                    'client_id', acme, 'workload_id', triage, 'request_id', 'demo-triage-route-' || d,
                    'occurred_at', day_noon, 'requested_provider', 'mistral', 'requested_model', 'mistral-large-demo',
                    'routed_provider', 'mistral', 'routed_model', 'mistral-small-demo',
                    'uncached_input_tokens', 5000, 'output_tokens', 1000,
                    'mechanics', pg_catalog.jsonb_build_array('auto_route'), 'config_version', version,
                    'finish_reason', 'stop', 'feature_tag', 'triage')));
            -- Triage's canary: 30 samples of each stack that day.
            PERFORM * FROM tessera.record_canary_scores((
                SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                           'client_id', acme, 'workload_id', triage,
                           'request_id', 'demo-canary-' || d || '-' || s.stack || '-' || i,
                           'mechanics', CASE s.stack WHEN 'pair' THEN '["prompt_cache_header", "auto_route"]'::jsonb
                                                     ELSE '["auto_route"]'::jsonb END,
                           'eval_set', 'triage-golden-v3',
                           'routed_score', CASE s.stack WHEN 'pair' THEN 0.90 ELSE 0.99 END,
                           'baseline_score', 0.97,
                           'sampled_at', day_noon + i * interval '1 minute'))
                  FROM pg_catalog.generate_series(1, 30) AS i
                 CROSS JOIN (VALUES ('pair'), ('single')) AS s(stack)));
        END IF;
        IF d <= 3 THEN
            -- The summariser: one cached request and 30 samples at 0.91 that day.
            PERFORM * FROM tessera.record_requests(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'client_id', acme, 'workload_id', summariser, 'request_id', 'demo-summariser-cache-' || d,
                'occurred_at', day_noon, 'requested_provider', 'mistral', 'requested_model', 'mistral-large-demo',
                'routed_provider', 'mistral', 'routed_model', 'mistral-large-demo',
                'uncached_input_tokens', 2000, 'cache_read_input_tokens', 30000, 'output_tokens', 800,
                'mechanics', pg_catalog.jsonb_build_array('prompt_cache_header'),
                'config_version', summariser_version, 'finish_reason', 'stop', 'feature_tag', 'summaries')));
            PERFORM * FROM tessera.record_canary_scores((
                SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                           'client_id', acme, 'workload_id', summariser,
                           'request_id', 'demo-canary-summariser-' || d || '-' || i,
                           'mechanics', '["prompt_cache_header"]'::jsonb, 'eval_set', 'summaries-golden-v1',
                           'routed_score', 0.91, 'baseline_score', 0.96,
                           'sampled_at', day_noon + i * interval '1 minute'))
                  FROM pg_catalog.generate_series(1, 30) AS i));
        END IF;
    END LOOP;
    -- The job as it ran yesterday morning: triage's breach (days 4, 3, 2 ago).
    PERFORM * FROM tessera.sla_run(((pg_catalog.date_trunc('day', now() AT TIME ZONE 'UTC') - interval '1 day')
                                    + interval '6 hours') AT TIME ZONE 'UTC');
END
$demo_sla$;

-- Kill switch: Initech (hobby) was created with its kill switch engaged (an engagement
-- from its creation). The operator releases and re-engages it (tessera.set_kill_switch,
-- as ops@tessera.example), which opens a second engagement. The proxy had not refreshed: a request 75 s later still fired auto_route
-- on the config version it held. It is recorded (never lost), credited no saving, and
-- opens an unconsented_mechanic and a kill_switch_late anomaly; `tessera-db killswitch
-- report --client c0000000-0000-4000-8000-000000000003` shows the 60 s contract broken.
-- The operator acknowledges the kill_switch_late one; the other stays open.
DO $demo_ks$
DECLARE
    initech CONSTANT uuid := 'c0000000-0000-4000-8000-000000000003';
    tps CONSTANT uuid := 'c1000000-0000-4000-8000-000000000001';
    saved_claims text := pg_catalog.current_setting('request.jwt.claims', true);
    operator_claims CONSTANT text := '{"email": "ops@tessera.example", "sub": "ops@tessera.example", "role": "authenticated"}';
    stale bigint;
    engaged timestamptz;
    late uuid;
BEGIN
    IF EXISTS (SELECT 1 FROM tessera.anomalies WHERE client_id = initech AND kind = 'kill_switch_late') THEN
        RETURN;
    END IF;
    SELECT c.config_version INTO stale FROM tessera.worker_config(initech, tps) AS c;
    PERFORM pg_catalog.set_config('role', 'authenticated', true);
    PERFORM pg_catalog.set_config('request.jwt.claims', operator_claims, true);
    PERFORM tessera.set_kill_switch(initech, false);
    PERFORM tessera.set_kill_switch(initech, true);
    PERFORM pg_catalog.set_config('role', 'service_role', true);
    PERFORM pg_catalog.set_config('request.jwt.claims', saved_claims, true);
    SELECT e.engaged_at INTO engaged FROM tessera.kill_switch_engagements AS e
     WHERE e.client_id = initech AND e.released_at IS NULL;
    PERFORM * FROM tessera.record_requests(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
        'client_id', initech, 'workload_id', tps, 'request_id', 'demo-initech-late-0001',
        'occurred_at', engaged + interval '75 seconds', 'requested_provider', 'anthropic',
        'requested_model', 'claude-sonnet-4-5', 'routed_provider', 'google', 'routed_model', 'gemini-2.5-pro',
        'uncached_input_tokens', 1500, 'output_tokens', 300,
        'mechanics', pg_catalog.jsonb_build_array('auto_route'), 'config_version', stale,
        'finish_reason', 'stop')));
    SELECT a.anomaly_id INTO late FROM tessera.anomalies AS a
     WHERE a.client_id = initech AND a.kind = 'kill_switch_late';
    PERFORM pg_catalog.set_config('role', 'authenticated', true);
    PERFORM pg_catalog.set_config('request.jwt.claims', operator_claims, true);
    PERFORM tessera.respond_to_anomaly(initech, late, 'acknowledge');
    PERFORM pg_catalog.set_config('role', 'service_role', true);
    PERFORM pg_catalog.set_config('request.jwt.claims', saved_claims, true);
END
$demo_ks$;

-- monthly readings (issue 4)
-- Keep this block LAST (after every block that records savings, the operations block's
-- included): readings are computed from the optimize_savings rows loaded above, and a
-- row recorded after its month's reading would be a late row of that reading.
-- Version 1 of every (client, UTC month) that has savings rows, plus last month for Acme
-- and Globex so the table has rows even without savings data; a month already issued is
-- left alone (re-runnable). Then one share link to Acme's earliest reading, with a fixed
-- demo-only token (never do this outside the dev cluster: real tokens come from
-- tessera.create_reading_share_token and are random):
--   SELECT * FROM tessera.reading_by_share_token(
--       'tsr_a0000000000040008000000000000001_DemoOnlyShareTokenForAcmeReadingNotSecret00');
SELECT tessera.issue_monthly_reading(m.client_id, m.month)
  FROM (SELECT DISTINCT s.client_id, date_trunc('month', s.occurred_at AT TIME ZONE 'UTC')::date AS month
          FROM tessera.optimize_savings AS s
        UNION
        SELECT c.client_id, (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month')::date
          FROM tessera.clients AS c
         WHERE c.client_id IN ('a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000002')) AS m
 WHERE NOT EXISTS (SELECT 1 FROM tessera.monthly_readings AS r
                    WHERE r.client_id = m.client_id AND r.month = m.month)
 ORDER BY m.client_id, m.month;

INSERT INTO tessera.reading_share_tokens (client_id, share_token_id, month, version, token_sha256,
                                          created_by, expires_at)
SELECT r.client_id, 'a3000000-0000-4000-8000-000000000001', r.month, r.version,
       sha256(convert_to('tsr_a0000000000040008000000000000001_DemoOnlyShareTokenForAcmeReadingNotSecret00', 'UTF8')),
       'demo-loader', now() + interval '366 days'
  FROM tessera.monthly_readings AS r
 WHERE r.client_id = 'a0000000-0000-4000-8000-000000000001'
 ORDER BY r.month, r.version
 LIMIT 1
ON CONFLICT DO NOTHING;
