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
