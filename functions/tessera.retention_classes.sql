-- tessera.retention_classes(): THE list of how long every tessera table keeps its
-- rows, what removes them, and what a client's erasure does to them. One line per table;
-- a reviewer reads this file to know when anything leaves, and nothing leaves a ledger or
-- the audit log but through the two paths named here:
--
--   tessera.retention_run   the scheduled job (service_role, pg_cron or crontab): removes
--                           rows whose time_column is older than retention_window; whole
--                           monthly partitions past the window are detached and dropped,
--                           other rows are deleted under the append-only guard, which
--                           re-checks the window per row against the database clock.
--   tessera.sweep           the hourly sweeper of the short-lived working sets (issue 6).
--   tessera.erase_client    a client's erasure (operators only; docs/erasure.md), with
--                           on_erasure_invoiced / on_erasure_other:
--                             delete     every row of the client goes now;
--                             strip      the row stays for its window with its personal
--                                        data removed or replaced (personal_columns);
--                             tombstone  (audit_events) the row keeps only what the
--                                        Merkle tree needs; its payload is gone;
--                             none       the table holds no client rows.
--
-- Windows and plan tiers. The seed keeps optimize_savings, balance_transactions,
-- audit_events and monthly_readings (and what they need: savings_request_keys, the
-- dead letters) 7 years for invoiced engagements (Raamatupidamise seadus § 12) and makes
-- them deletable on demand for hobby and free clients. The scheduled window is the same
-- 7 years for every tier on purpose: the ledger and the log are partitioned by month
-- across clients, and one window per table is what lets whole months be dropped instead
-- of rows picked out by tier. A hobby or free client's "on demand" is erase_client,
-- which removes their rows at once; an invoiced client's erasure strips and keeps them
-- until this window ends (GDPR Art. 17(3)(b): a legal obligation to keep them).
--
-- The lint tests/lints/0017_table_without_retention_class.sql fails while a table in
-- schema tessera is missing here (or a listed one no longer exists), and
-- tests/test_retention.py checks every line's time column, window and paths.
--
-- IMMUTABLE: a constant list, read by retention_run, the removal guard and the lint. In
-- the exposed schema and readable by authenticated and service_role: a retention policy
-- is something a customer and a reviewer are entitled to read (it holds no data).
CREATE FUNCTION tessera.retention_classes()
RETURNS TABLE (table_name          name,
               retention_class     text,
               time_column         name,
               retention_window    interval,
               removed_by          text,
               on_erasure_invoiced text,
               on_erasure_other    text,
               personal_columns    name[],
               note                text)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    VALUES
    --  table                   class              time column      window             removed by                   invoiced     hobby/free   personal columns (stripped)                              note
    -- Accounting records: 7 years, then retention_run (whole months where partitioned).
        ('optimize_savings'::name, 'accounting'::text, 'occurred_at'::name, interval '7 years', 'tessera.retention_run'::text, 'strip'::text, 'delete'::text,
         '{feature_tag,customer_tag}'::name[],
         'The per-request money record. Monthly partitions past the window are dropped whole. Tags are free text the customer chose: replaced by pseudonyms on erasure (consistently with the readings'' by_feature_tag).'::text),
        ('savings_request_keys',   'accounting',      'occurred_at',   interval '7 years', 'tessera.retention_run',   'keep',      'delete',
         '{}', 'Idempotency key of an optimize_savings row: kept exactly as long as the row it guards.'),
        ('balance_transactions',   'accounting',      'created_at',    interval '7 years', 'tessera.retention_run',   'strip',     'delete',
         '{reason,actor}', 'Money in and out. reason is free text and actor an email: replaced on erasure.'),
        ('monthly_readings',       'accounting',      'issued_at',     interval '7 years', 'tessera.retention_run',   'strip',     'delete',
         '{issued_by,correction_reason,by_feature_tag}', 'Issued readings (the invoice basis), kept 7 years from their issue.'),
        ('audit_events',           'accounting',      'occurred_at',   interval '7 years', 'tessera.retention_run',   'strip',     'tombstone',
         '{actor_email,actor_sub,reason,source_ip,prompt_fingerprint_v1,before,after}',
         'The tamper-evident log. Monthly partitions past the window are dropped whole once sealed; the verifier then starts from the checkpoint covering them. Erased rows keep their place in the Merkle tree (docs/erasure.md).'),
        ('savings_dead_letters',   'accounting',      'attempted_at',  interval '7 years', 'tessera.retention_run',   'delete',    'delete',
         '{}', 'Measurements the ledger refused and their resolutions: true measurements that may matter in a billing dispute, so kept as long as the ledger. Never invoiced, so an erasure removes them for every tier.'),
    -- Kept while the client exists; an erasure removes them (an invoiced client keeps the
    -- stripped skeleton its kept accounting rows reference).
        ('clients',                'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'strip',     'delete',
         '{name}', 'The tenant. An erased invoiced client keeps its id and tier under a placeholder name while accounting rows reference it; retention_run removes it with the last of them.'),
        ('workloads',              'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'strip',     'delete',
         '{name}', 'Referenced by optimize_savings: kept stripped for an invoiced client, like clients.'),
        ('workload_settings',      'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'keep',      'delete',
         '{}', 'One row per workload (config version, cache TTL): goes with its workload.'),
        ('client_users',           'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'delete',    'delete',
         '{email,display_name}', 'Sponsor contacts: personal data, removed on erasure for every tier.'),
        ('api_keys',               'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'delete',    'delete',
         '{name,created_by,revoked_by,revoke_reason}', 'Key hashes and their history; revoked keys stay (their audit trail matters) until the client is erased.'),
        ('batches',                'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'delete',    'delete',
         '{}', 'Batch metadata and state history; no money (the ledger has that).'),
        ('reading_share_tokens',   'link',            'expires_at',    interval '90 days', 'tessera.retention_run',   'delete',    'delete',
         '{created_by}', 'Hashes of share links: removed 90 days after they expire (revoked ones expire too); the audit log keeps their creation and revocation.'),
    -- Operations (issue 15).
        ('canary_scores',          'quality_samples', 'sampled_at',    interval '400 days', 'tessera.retention_run',  'delete',    'delete',
         '{}', 'Quality-SLA samples: the job reads 30 days; kept 400 days so a breach and its credit can be re-derived through a year''s billing disputes. Not accounting records (the credit is in balance_transactions), so an erasure removes them for every tier.'),
        ('anomalies',              'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'delete',    'delete',
         '{acknowledged_by,resolved_by,reenabled_by}', 'What went wrong and who answered (breaches, consent, the kill-switch contract): kept while the client exists, re-enabled stacks included; the credit itself is in balance_transactions and the transitions in audit_events.'),
        ('kill_switch_engagements', 'client_lifetime', NULL,           NULL,               'tessera.erase_client',    'delete',    'delete',
         '{engaged_by,released_by}', 'The evidence that the kill-switch contract was kept (tessera.kill_switch_report), while the client exists. engaged_by / released_by are emails: removed on erasure for every tier.'),
        ('worker_config_versions', 'client_lifetime', NULL,            NULL,               'tessera.erase_client',    'keep',      'delete',
         '{}', 'What each config version allowed: the consent evidence behind the kept savings rows'' unconsented_mechanics; no personal data, so it stays with an invoiced client''s stripped workloads and goes with a hobby or free client''s (ON DELETE CASCADE).'),
    -- Short-lived working sets, already swept hourly (issue 6).
        ('cache_entries',          'working_set',     'expires_at',    interval '0',       'tessera.sweep',           'delete',    'delete',
         '{}', 'Exact-response cache: purged when expired (default TTL 7 days), flushable by the sponsor.'),
        ('batch_secrets',          'working_set',     'created_at',    interval '48 hours', 'tessera.sweep',          'delete',    'delete',
         '{}', 'Sealed settlement secrets: destroyed on the batch''s terminal transition, and by the sweeper 48 hours after storing at the latest.'),
        ('api_key_failures',       'working_set',     'failed_at',     interval '7 days',  'tessera.sweep',           'none',      'none',
         '{}', 'The throttle''s failed verifications (key hint, source address; no client id): purged after 7 days; the audit log keeps each failure.'),
    -- Platform records: no client rows.
        ('operators',              'staff',           NULL,            NULL,               'operator offboarding',    'none',      'none',
         '{email,display_name}', 'Staff: removed when they leave (a DELETE by the platform owner, audited).'),
        ('pricing_catalog',        'reference',       NULL,            NULL,               'never',                   'none',      'none',
         '{}', 'Public provider prices, referenced by every ledger row ever priced with them; no personal data.'),
        ('price_sources',          'reference',       NULL,            NULL,               'never',                   'none',      'none',
         '{}', 'The price files the importer reads; no personal data.'),
        ('price_import_runs',      'reference',       NULL,            NULL,               'never',                   'none',      'none',
         '{}', 'Provenance of every catalog version; no personal data.'),
        ('price_observations',     'reference',       NULL,            NULL,               'never',                   'none',      'none',
         '{}', 'Raw copies of public price files behind the catalog''s confidence scores; no personal data.'),
        ('audit_checkpoints',      'reference',       NULL,            NULL,               'never',                   'none',      'none',
         '{}', 'Signed Merkle checkpoints: a few hundred bytes each, and what lets the kept part of the log verify after old months are dropped.'),
        ('client_erasures',        'erasure_log',     'finished_at',   interval '7 years', 'tessera.retention_run',   'none',      'none',
         '{}', 'The operator-side delete log: survives the erasure it records (client id, initiator, reason, counts), kept as long as the accounting rows it explains.')
$function$;

COMMENT ON FUNCTION tessera.retention_classes() IS
    'The declarative retention list: every tessera table with its class, time column, window, the job that removes its rows, and what a client erasure does to it. Read by tessera.retention_run, tessera.erase_client, the removal guard and lint 0017_table_without_retention_class.';

REVOKE ALL ON FUNCTION tessera.retention_classes() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.retention_classes() TO authenticated, service_role;
