-- Frozen migration 0008_lifecycle: hand-written delta; never edit once merged.
--
-- Issue 14: retention classes, client erasure that keeps the audit log verifiable.
--
-- 1. tessera.retention_classes(): the one list of every table's retention
--    class, window, removing path and erasure treatment (lint 0017).
-- 2. tessera.client_erasures: the operator-side delete log, and
--    tessera_private.erasing_client_id(), which recognises an erasure only by this
--    transaction's unfinished delete-log row.
-- 3. The append-only guard (refuse_append_only_change) admits exactly two paths:
--    retention past the window by the database clock, and the erasure of the client
--    being erased; the audit trigger writes nothing for the erased client's rows.
-- 4. audit_events: erasure_event_id (tombstones and stripped rows keep their original
--    content_hash), the payload columns may be NULL on such rows only
--    (audit_events_complete_unless_erased), actions erasure and retention.
-- 5. The owner's *_definer_removal / *_definer_erasure policies on every table the
--    erasure or the retention job touches.
-- 6. tessera.erase_client, tessera.retention_remove, tessera.retention_run.

-- >>> functions/tessera.retention_classes.sql
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

-- >>> functions/tessera_private.retention_cutoff.sql
-- tessera_private.retention_cutoff(table): the instant before which the table's rows are
-- past their retention window, by the database's own clock: now() minus the table's
-- window in tessera.retention_classes(); NULL for a table kept indefinitely.
--
-- The database clock, never a caller's: tessera.retention_run takes an injectable clock
-- (p_now) for tests and dry runs, but every removal is re-checked against this cutoff
-- (the removal policies and the append-only guard), so a wrong p_now can remove less,
-- never a row still inside its window.
CREATE FUNCTION tessera_private.retention_cutoff(p_table name)
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.now() - r.retention_window
      FROM tessera.retention_classes() AS r
     WHERE r.table_name = p_table
$function$;

COMMENT ON FUNCTION tessera_private.retention_cutoff(name) IS
    'now() minus the table''s retention window (tessera.retention_classes()); NULL when the table has none. The database clock, never the caller''s.';

REVOKE ALL ON FUNCTION tessera_private.retention_cutoff(name) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.removal_cutoff.sql
-- tessera_private.removal_cutoff(table): what the owner's removal policies compare a
-- row's time column with. While tessera.retention_run runs (it sets tessera.removal to
-- 'retention' around its statements) this is tessera_private.retention_cutoff(table);
-- otherwise NULL, and a comparison with NULL admits nothing. The setting only switches
-- the path on: the window itself is the database's (retention_cutoff), so a forged
-- setting can reach nothing a retention run could not.
CREATE FUNCTION tessera_private.removal_cutoff(p_table name)
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT CASE WHEN pg_catalog.current_setting('tessera.removal', true) = 'retention'
                THEN tessera_private.retention_cutoff(p_table) END
$function$;

COMMENT ON FUNCTION tessera_private.removal_cutoff(name) IS
    'Inside tessera.retention_run: the table''s retention cutoff by the database clock; otherwise NULL. Used by the owner''s *_definer_removal policies.';

REVOKE ALL ON FUNCTION tessera_private.removal_cutoff(name) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.guard_client_erasure_update.sql
-- tessera_private.guard_client_erasure_update(): the delete log is written once and
-- completed once (schema/98_client_erasures.sql).
--
--   UPDATE  only in the erasing transaction (txid), only from finished_at NULL to set,
--           leaving the identity columns alone; or, later, attaching the certificate to
--           a finished row that has none. Anything else: 42501.
--   DELETE  only by tessera.retention_run (setting tessera.removal = 'retention') for a
--           row whose window (tessera_private.retention_cutoff) has passed.
-- ENABLE ALWAYS, for every role including the owner and superusers.
CREATE FUNCTION tessera_private.guard_client_erasure_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.finished_at < tessera_private.retention_cutoff('client_erasures') THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'DELETE on tessera.client_erasures is refused: the delete log keeps its rows for their retention window'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.client_id, NEW.erasure_id, NEW.plan_tier, NEW.reason, NEW.initiated_by, NEW.started_at, NEW.txid)
       IS DISTINCT FROM (OLD.client_id, OLD.erasure_id, OLD.plan_tier, OLD.reason, OLD.initiated_by, OLD.started_at, OLD.txid) THEN
        RAISE EXCEPTION 'tessera.client_erasures: who, why and when an erasure started never change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.finished_at IS NULL AND OLD.txid = pg_catalog.pg_current_xact_id_if_assigned() AND NEW.certificate IS NULL THEN
        RETURN NEW;  -- the erasing transaction completes its own row
    END IF;
    IF OLD.finished_at IS NOT NULL AND OLD.certificate IS NULL AND NEW.certificate IS NOT NULL
       AND (NEW.finished_at, NEW.counts, NEW.erasure_event_id, NEW.kept_until)
           IS NOT DISTINCT FROM (OLD.finished_at, OLD.counts, OLD.erasure_event_id, OLD.kept_until) THEN
        RETURN NEW;  -- the signed certificate, attached once
    END IF;
    RAISE EXCEPTION 'tessera.client_erasures: a finished erasure is frozen (only its certificate may be attached, once)'
        USING ERRCODE = 'insufficient_privilege';
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_client_erasure_update() IS
    'Trigger: the delete log is completed once by the erasing transaction, may get its certificate once, and is deleted only past its retention window.';

REVOKE ALL ON FUNCTION tessera_private.guard_client_erasure_update() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> schema/11_client_erasures.sql
-- tessera.client_erasures: the operator-side delete log (seed: "a terminal entry in the
-- operator-side delete log records the deletion timestamp + initiator"). One row per
-- erased client, written by tessera.erase_client in the erasure's own transaction, and
-- the one place the erased client's id, tier and per-table counts survive the erasure
-- (docs/erasure.md lists every other).
--
-- No foreign key to clients, on purpose: the client row is gone (hobby/free) when the
-- erasure commits. UNIQUE (client_id): a client is erased once; erase_client returns
-- this row again when asked twice.
--
-- Life of a row, guarded by tessera_private.guard_client_erasure_update (ENABLE ALWAYS):
-- inserted with finished_at NULL when the erasure starts (the row is what marks "this
-- transaction erases this client": tessera_private.erasing_client_id() looks it up by
-- txid, so a forged setting opens nothing); completed once, in the same transaction,
-- with the counts, the erasure's audit event and finished_at; then frozen, except that
-- the CLI may attach the signed deletion certificate once. Never deleted but by
-- tessera.retention_run after its window (tessera.retention_classes()).
CREATE TABLE tessera.client_erasures (
    client_id         uuid        NOT NULL,
    erasure_id        uuid        NOT NULL DEFAULT gen_random_uuid(),
    plan_tier         text        NOT NULL,
    reason            text        NOT NULL,
    initiated_by      text        NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at       timestamptz,
    txid              xid8        NOT NULL DEFAULT pg_current_xact_id(),
    counts            jsonb,
    erasure_event_id  bigint,
    kept_until        timestamptz,
    certificate       jsonb,
    CONSTRAINT client_erasures_pkey PRIMARY KEY (client_id, erasure_id),
    CONSTRAINT client_erasures_client_id_key UNIQUE (client_id),
    CONSTRAINT client_erasures_plan_tier_known CHECK (plan_tier IN ('hobby', 'free', 'invoiced')),
    CONSTRAINT client_erasures_reason_not_blank CHECK (reason ~ '[^[:space:]]' AND char_length(reason) <= 1000),
    CONSTRAINT client_erasures_initiated_by_length CHECK (char_length(initiated_by) BETWEEN 3 AND 320),
    CONSTRAINT client_erasures_finished_complete CHECK (
        (finished_at IS NULL AND counts IS NULL AND erasure_event_id IS NULL AND certificate IS NULL)
        OR (finished_at >= started_at AND jsonb_typeof(counts) = 'object' AND erasure_event_id IS NOT NULL)),
    CONSTRAINT client_erasures_certificate_is_object CHECK (jsonb_typeof(certificate) = 'object')
);

-- tessera_private.erasing_client_id(): this transaction's erasure in progress.
CREATE INDEX client_erasures_txid_idx ON tessera.client_erasures (txid) WHERE finished_at IS NULL;

CREATE TRIGGER client_erasures_guard_update
    BEFORE UPDATE OR DELETE ON tessera.client_erasures
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_client_erasure_update();
ALTER TABLE tessera.client_erasures ENABLE ALWAYS TRIGGER client_erasures_guard_update;

COMMENT ON TABLE tessera.client_erasures IS
    'Operator-side delete log: one row per erased client (id, tier, initiator, reason, started/finished, counts per table, the erasure audit event, the signed certificate). Survives the erasure; operators read it.';
COMMENT ON COLUMN tessera.client_erasures.client_id IS 'The erased client (no foreign key: the client row is gone or stripped).';
COMMENT ON COLUMN tessera.client_erasures.erasure_id IS 'Identifies the erasure; the audit event''s entity_id.';
COMMENT ON COLUMN tessera.client_erasures.plan_tier IS 'The client''s tier when erased: decides delete versus strip (docs/erasure.md).';
COMMENT ON COLUMN tessera.client_erasures.reason IS 'Why, as the operator gave it.';
COMMENT ON COLUMN tessera.client_erasures.initiated_by IS 'The operator''s JWT email.';
COMMENT ON COLUMN tessera.client_erasures.started_at IS 'clock_timestamp() when the erasure began.';
COMMENT ON COLUMN tessera.client_erasures.finished_at IS 'clock_timestamp() when it ended; NULL only inside the erasing transaction.';
COMMENT ON COLUMN tessera.client_erasures.txid IS 'The erasing transaction: what tessera_private.erasing_client_id() matches.';
COMMENT ON COLUMN tessera.client_erasures.counts IS 'Per table: {"erased": n} or {"stripped": n, "kept_until": t}.';
COMMENT ON COLUMN tessera.client_erasures.erasure_event_id IS 'The audit event (action erasure) that authorises the tombstones and commits to them.';
COMMENT ON COLUMN tessera.client_erasures.kept_until IS 'Invoiced: when the last kept accounting row''s window ends (retention removes it then).';
COMMENT ON COLUMN tessera.client_erasures.certificate IS 'The signed deletion certificate (detached JWS), attached once by tessera-db clients erase.';

-- >>> functions/tessera_private.erasing_client_id.sql
-- tessera_private.erasing_client_id(): the client this transaction is erasing, or NULL.
--
-- An erasure is in progress exactly when tessera.client_erasures holds an unfinished row
-- written by this transaction (txid): tessera.erase_client inserts it first and
-- completes it last. Nothing a caller sets can make this return a client: the row
-- exists only inside erase_client's transaction, and only erase_client (the owner)
-- inserts it. The owner's *_definer_removal / *_definer_erasure policies and the
-- append-only guard admit a client's rows for deletion or stripping only through this.
--
-- Reads client_erasures under the owner's policy client_erasures_select_definer_own_txid.
-- PARALLEL RESTRICTED: the transaction id is the leader's.
CREATE FUNCTION tessera_private.erasing_client_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT e.client_id
      FROM tessera.client_erasures AS e
     WHERE e.txid = pg_catalog.pg_current_xact_id_if_assigned()
       AND e.finished_at IS NULL
$function$;

COMMENT ON FUNCTION tessera_private.erasing_client_id() IS
    'The client whose erasure this transaction is running (an unfinished tessera.client_erasures row with this txid), else NULL.';

REVOKE ALL ON FUNCTION tessera_private.erasing_client_id() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.erased_tag.sql
-- tessera_private.erased_tag(salt, tag): the pseudonym that replaces a free-text tag
-- (feature_tag, customer_tag) of an erased invoiced client: 'erased-' and the first 16
-- hex digits of SHA-256(salt || tag), written with letters only (0-9 as g-p), so that
-- no pseudonym looks like a phone or card number to the tags' personal-data CHECKs. tessera.erase_client draws one random salt per
-- erasure and forgets it, so the same tag gets the same pseudonym in every row of that
-- erasure (the readings' per-tag groups still add up) while nobody, the database
-- included, can recompute a pseudonym from a guessed tag afterwards.
CREATE FUNCTION tessera_private.erased_tag(p_salt bytea, p_tag text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT 'erased-' || pg_catalog.translate(pg_catalog.left(pg_catalog.encode(
        pg_catalog.sha256(p_salt || pg_catalog.convert_to(p_tag, 'UTF8')), 'hex'), 16), '0123456789', 'ghijklmnop')
$function$;

COMMENT ON FUNCTION tessera_private.erased_tag(bytea, text) IS
    'Pseudonym of a tag of an erased invoiced client: erased- and 16 hex digits (as letters) of SHA-256(per-erasure random salt || tag).';

REVOKE ALL ON FUNCTION tessera_private.erased_tag(bytea, text) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> policies/client_erasures.sql
-- Row-level security, policies and grants for tessera.client_erasures (the operator-side
-- delete log).
--
--   operator       read every row; attach the signed deletion certificate to a finished
--                  erasure, once (the guard trigger refuses any other change)
--   sponsor        nothing: the client they sponsored is gone
--   service_role   read (BYPASSRLS): the retention job and the evidence tooling
--   owner          (tessera.erase_client) insert this transaction's row while an erasure
--                  runs, read it (tessera_private.erasing_client_id) and complete it;
--                  read an operator caller's rows (an erasure asked for twice returns the
--                  first); (tessera.retention_run) delete rows past their window
--   anon, the proxy and settlement logins: nothing
ALTER TABLE tessera.client_erasures ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.client_erasures FORCE ROW LEVEL SECURITY;

CREATE POLICY client_erasures_select_operator ON tessera.client_erasures
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator()));

CREATE POLICY client_erasures_update_operator_certificate ON tessera.client_erasures
    FOR UPDATE TO authenticated
    USING ((SELECT tessera_private.is_operator()))
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY client_erasures_select_definer_own_txid ON tessera.client_erasures
    FOR SELECT TO tessera_owner
    USING (txid = (SELECT pg_catalog.pg_current_xact_id_if_assigned())
           OR (SELECT tessera_private.is_operator())
           OR finished_at < (SELECT tessera_private.removal_cutoff('client_erasures')));

CREATE POLICY client_erasures_insert_definer_erasure ON tessera.client_erasures
    FOR INSERT TO tessera_owner
    WITH CHECK ((SELECT pg_catalog.current_setting('tessera.removal', true)) = 'erasure'
                AND finished_at IS NULL
                AND txid = (SELECT pg_catalog.pg_current_xact_id()));

CREATE POLICY client_erasures_update_definer_erasure ON tessera.client_erasures
    FOR UPDATE TO tessera_owner
    USING (txid = (SELECT pg_catalog.pg_current_xact_id_if_assigned()) AND finished_at IS NULL)
    WITH CHECK (txid = (SELECT pg_catalog.pg_current_xact_id_if_assigned()));

CREATE POLICY client_erasures_delete_definer_retention ON tessera.client_erasures
    FOR DELETE TO tessera_owner
    USING (finished_at < (SELECT tessera_private.removal_cutoff('client_erasures')));

GRANT SELECT ON tessera.client_erasures TO authenticated;
GRANT UPDATE (certificate) ON tessera.client_erasures TO authenticated;

GRANT SELECT ON tessera.client_erasures TO service_role;

-- >>> functions/tessera_private.refuse_append_only_change.sql (replaced)
-- tessera_private.refuse_append_only_change(): trigger body that refuses UPDATE, DELETE
-- and TRUNCATE on an append-only table, for every role, the owner included -- except on
-- the two guarded paths by which anything ever leaves a ledger or the audit log
-- (tessera.retention_classes(), docs/erasure.md):
--
--   retention  (tessera.retention_run sets tessera.removal = 'retention'): a DELETE of a
--              row whose time column is before the table's cutoff by the database's own
--              clock (tessera_private.retention_cutoff). Checked here, row by row, so a
--              caller's wrong clock or a bug in the job cannot remove a row that is
--              still inside its window.
--   erasure    (tessera.erase_client sets tessera.removal = 'erasure'): a DELETE of a
--              row of the client this transaction is erasing
--              (tessera_private.erasing_client_id(), verified once per statement by the
--              statement-level trigger, which records the verified client for the row
--              triggers of the same statement), or an UPDATE of such a row that changes
--              only the table's personal columns (the invoiced "strip"); for
--              audit_events, an UPDATE that turns the row into a tombstone or stripped
--              row of this erasure: its event_id, occurred_at, txid and content_hash
--              unchanged and erasure_event_id set to this erasure's event.
--
-- Attached by tessera_private.make_append_only() as statement-level triggers (so even
-- an UPDATE that matches or changes nothing is refused) and row-level triggers (cloned
-- to every partition, so a statement aimed at a partition is refused too), all ENABLE
-- ALWAYS so session_replication_role = replica cannot switch them off. Privileges are
-- the first line (no UPDATE/DELETE/TRUNCATE is granted; only the owner's guarded
-- policies admit rows); this is the second. TRUNCATE is never allowed.
CREATE OR REPLACE FUNCTION tessera_private.refuse_append_only_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    removal text := pg_catalog.current_setting('tessera.removal', true);
    base_table name;
    erasing uuid;
    lifecycle record;
    old_row jsonb;
    new_row jsonb;
    ignored text[];
BEGIN
    IF removal IN ('retention', 'erasure') AND TG_OP IN ('DELETE', 'UPDATE') THEN
        -- Row triggers fire on partitions (<parent>_pYYYY_MM, <parent>_default).
        base_table := pg_catalog.regexp_replace(TG_TABLE_NAME, '_(p[0-9]{4}_[0-9]{2}|default)$', '');
        SELECT r.time_column, r.retention_window, r.personal_columns
          INTO lifecycle
          FROM tessera.retention_classes() AS r
         WHERE r.table_name = base_table;
        IF TG_LEVEL = 'STATEMENT' THEN
            IF removal = 'retention' AND TG_OP = 'DELETE' AND lifecycle.retention_window IS NOT NULL THEN
                RETURN NULL;  -- each row is checked below
            END IF;
            IF removal = 'erasure' THEN
                erasing := tessera_private.erasing_client_id();
                -- Only a verified erasure reaches the row triggers of this statement; a
                -- forged value is overwritten here before any row is looked at.
                PERFORM pg_catalog.set_config('tessera.erasure_verified', COALESCE(erasing::text, ''), true);
                IF erasing IS NOT NULL THEN
                    RETURN NULL;
                END IF;
            END IF;
        ELSE
            old_row := pg_catalog.to_jsonb(OLD);
            IF removal = 'retention' AND TG_OP = 'DELETE' THEN
                IF (old_row ->> lifecycle.time_column)::timestamptz < tessera_private.retention_cutoff(base_table) THEN
                    RETURN OLD;
                END IF;
            ELSIF removal = 'erasure'
                  AND old_row ->> 'client_id' = NULLIF(pg_catalog.current_setting('tessera.erasure_verified', true), '') THEN
                IF TG_OP = 'DELETE' THEN
                    RETURN OLD;
                END IF;
                new_row := pg_catalog.to_jsonb(NEW);
                IF base_table = 'audit_events' THEN
                    IF old_row -> 'erasure_event_id' = 'null'::jsonb
                       AND new_row ->> 'erasure_event_id' = pg_catalog.current_setting('tessera.erasure_event_id', true)
                       AND (new_row -> 'event_id', new_row -> 'occurred_at', new_row -> 'txid', new_row -> 'content_hash')
                           = (old_row -> 'event_id', old_row -> 'occurred_at', old_row -> 'txid', old_row -> 'content_hash') THEN
                        RETURN NEW;
                    END IF;
                ELSE
                    -- Generated columns are not computed yet in a BEFORE trigger (NULL in
                    -- NEW): leave them out; they follow from the columns compared.
                    ignored := lifecycle.personal_columns::text[] || ARRAY(
                        SELECT a.attname::text FROM pg_catalog.pg_attribute AS a
                         WHERE a.attrelid = TG_RELID AND a.attgenerated <> '' AND NOT a.attisdropped);
                    IF new_row - ignored = old_row - ignored THEN
                        RETURN NEW;
                    END IF;
                END IF;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION '% on %.% is refused: the table is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              SCHEMA = TG_TABLE_SCHEMA,
              TABLE = TG_TABLE_NAME,
              HINT = 'Append a correcting row instead of changing history; rows leave only through tessera.retention_run and tessera.erase_client.';
END
$function$;

COMMENT ON FUNCTION tessera_private.refuse_append_only_change() IS
    'Trigger body: refuses UPDATE/DELETE/TRUNCATE on append-only tables (SQLSTATE 42501), for every role, except retention past the window (database clock) and the erasure of the client this transaction is erasing.';

REVOKE ALL ON FUNCTION tessera_private.refuse_append_only_change() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.stamp_audit_event.sql (replaced)
-- tessera_private.stamp_audit_event(): BEFORE INSERT trigger of tessera.audit_events
-- (audit_events_stamp, ENABLE ALWAYS, cloned to every partition).
--
-- Everything that says who, when, in which request and what the row hashes to is
-- written here, by the database, never by the caller:
--   txid, occurred_at     must be the defaults (pg_current_xact_id(), now()); a
--                         supplied value is refused, so no row is backdated or moved
--                         out of its writer's transaction (the sealer's horizon)
--   actor_role            the role the session acts as: the SET ROLE role (the GUC
--                         `role`, which SECURITY DEFINER functions do not change), else
--                         the login. Inside a definer function current_user is always
--                         tessera_owner, which would say nothing about the caller.
--   actor_session_role    session_user (the login: authenticator, tessera_proxy, ...)
--   actor_email/sub       from request.jwt.claims (tessera_private.jwt_claims)
--   actor_job             setting tessera.job_name (self-declared by jobs; actor_role is
--                         the authoritative part)
--   request_id            setting tessera.request_id; when unset, one uuid is generated
--                         and stored back in tessera.request_id transaction-locally, so
--                         every event of the transaction shares it
--   prompt_fingerprint_v1 setting tessera.prompt_fingerprint_v1 (JSON text), validated
--                         by the column's CHECK
--   content_hash          tessera_private.audit_content_hash(NEW), computed last
-- A caller who supplies any of them is refused (42501), not silently overwritten: a
-- writer that tries is a bug or an attack, and both should be loud.
--
-- No SET clause names tessera.request_id, so the set_config(..., true) below outlives
-- this call (a function's SET clause restores only the settings it names).
CREATE OR REPLACE FUNCTION tessera_private.stamp_audit_event()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    claims jsonb;
    setting text;
BEGIN
    IF NEW.erasure_event_id IS NOT NULL THEN
        RAISE EXCEPTION 'audit_events.erasure_event_id is set by tessera.erase_client on existing rows, never on a new one'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.content_hash IS NOT NULL THEN
        RAISE EXCEPTION 'audit_events.content_hash is computed by the database, never supplied'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.actor_role IS NOT NULL OR NEW.actor_session_role IS NOT NULL OR NEW.actor_email IS NOT NULL
       OR NEW.actor_sub IS NOT NULL OR NEW.actor_job IS NOT NULL OR NEW.request_id IS NOT NULL
       OR NEW.prompt_fingerprint_v1 IS NOT NULL THEN
        RAISE EXCEPTION 'audit_events actor, request_id and prompt_fingerprint_v1 are stamped from the session, never supplied'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Set request.jwt.claims, tessera.request_id, tessera.job_name or tessera.prompt_fingerprint_v1 instead.';
    END IF;
    IF NEW.txid IS DISTINCT FROM pg_catalog.pg_current_xact_id() OR NEW.occurred_at IS DISTINCT FROM pg_catalog.now() THEN
        RAISE EXCEPTION 'audit_events.txid and occurred_at are the writing transaction''s own, never supplied'
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    NEW.actor_role := COALESCE(NULLIF(pg_catalog.current_setting('role'), 'none'), SESSION_USER::text);
    NEW.actor_session_role := SESSION_USER;
    claims := tessera_private.jwt_claims();
    IF pg_catalog.jsonb_typeof(claims -> 'email') = 'string' AND pg_catalog.btrim(claims ->> 'email') <> '' THEN
        NEW.actor_email := pg_catalog.lower(pg_catalog.btrim(claims ->> 'email'));
    END IF;
    IF pg_catalog.jsonb_typeof(claims -> 'sub') = 'string' AND pg_catalog.btrim(claims ->> 'sub') <> '' THEN
        NEW.actor_sub := claims ->> 'sub';
    END IF;
    NEW.actor_job := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('tessera.job_name', true)), '');

    NEW.request_id := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('tessera.request_id', true)), '');
    IF NEW.request_id IS NULL THEN
        NEW.request_id := pg_catalog.gen_random_uuid()::text;
        PERFORM pg_catalog.set_config('tessera.request_id', NEW.request_id, true);
    END IF;

    setting := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('tessera.prompt_fingerprint_v1', true)), '');
    IF setting IS NOT NULL THEN
        BEGIN
            NEW.prompt_fingerprint_v1 := setting::jsonb;
        EXCEPTION WHEN data_exception THEN
            RAISE EXCEPTION 'setting tessera.prompt_fingerprint_v1 is not valid JSON'
                USING ERRCODE = 'invalid_parameter_value';
        END;
    END IF;

    NEW.content_hash := tessera_private.audit_content_hash(NEW);
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.stamp_audit_event() IS
    'BEFORE INSERT trigger of tessera.audit_events: refuses caller-supplied hash, actor, request, txid or time fields, stamps them from the session and computes content_hash (encoding v1).';

REVOKE ALL ON FUNCTION tessera_private.stamp_audit_event() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.audit_row_change.sql (replaced)
-- tessera_private.audit_row_change(): the generic audit trigger. Attached, by
-- tessera_private.apply_audit_coverage(), to every table that
-- functions/tessera_private.audit_coverage.sql lists as audited, as
--   <table>_audit           AFTER INSERT OR UPDATE OR DELETE, FOR EACH ROW
--   <table>_audit_truncate  AFTER TRUNCATE, FOR EACH STATEMENT
-- both ENABLE ALWAYS (session_replication_role = replica does not skip them).
--
-- Trigger arguments (written by apply_audit_coverage from the catalog and the list):
--   TG_ARGV[0]  the key columns, as a text[] literal: the primary key without client_id
--               (all of it when it is only client_id)
--   TG_ARGV[1]  the secret columns, as a text[] literal: never copied into an event
--
-- One event per changed row: entity = table name, entity_id = key values joined with
-- '/', client_id = the row's client_id (NULL for platform tables), action = insert |
-- update | delete, before/after = the changed non-secret columns only (all non-secret
-- columns for an insert or delete). An UPDATE that changes nothing writes nothing; one
-- that changes only secret columns writes an event with before/after NULL (that it
-- changed is recorded, never what to). Rows of a client being erased write nothing
-- (the erasure event records the counts). Inside a break-glass window
-- (tessera_private.break_glass_reason) the event carries the window's reason.
--
-- SECURITY DEFINER: the writer (authenticated, service_role, the proxy) holds no INSERT
-- on tessera.audit_events; this runs as tessera_owner and appends through
-- tessera_private.write_audit_event, whose insert trigger still stamps the caller's
-- identity (the SET ROLE role and JWT claims are unchanged by SECURITY DEFINER).
-- Trigger functions are never called directly (EXECUTE granted to nobody).
CREATE OR REPLACE FUNCTION tessera_private.audit_row_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    key_columns text[] := TG_ARGV[0]::text[];
    secret_columns text[] := TG_ARGV[1]::text[];
    old_full jsonb;
    new_full jsonb;
    row_full jsonb;
    before_part jsonb;
    after_part jsonb;
    changed_any boolean;
    key_column text;
    key_value text;
    entity_key text;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        -- TRUNCATE (owner only: nobody else holds the privilege).
        PERFORM tessera_private.write_audit_event(NULL, TG_TABLE_NAME, NULL, 'truncate',
                                                  NULL, NULL, tessera_private.break_glass_reason());
        RETURN NULL;
    END IF;

    IF TG_OP <> 'INSERT' THEN
        old_full := pg_catalog.to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_full := pg_catalog.to_jsonb(NEW);
    END IF;

    -- A client's erasure (tessera.erase_client) records itself in one erasure event with
    -- the counts per table; an event per deleted or stripped row would copy into the log
    -- the very personal data being erased. Verified, not taken from the setting: only
    -- the transaction that is erasing this row's client (erasing_client_id) skips.
    IF pg_catalog.current_setting('tessera.removal', true) = 'erasure'
       AND (COALESCE(new_full, old_full) ->> 'client_id')::uuid = tessera_private.erasing_client_id() THEN
        RETURN NULL;
    END IF;

    IF TG_OP = 'UPDATE' THEN
        SELECT pg_catalog.jsonb_object_agg(o.key, o.value) FILTER (WHERE o.key <> ALL (secret_columns)),
               pg_catalog.jsonb_object_agg(o.key, new_full -> o.key) FILTER (WHERE o.key <> ALL (secret_columns)),
               count(*) > 0
          INTO before_part, after_part, changed_any
          FROM pg_catalog.jsonb_each(old_full) AS o
         WHERE new_full -> o.key IS DISTINCT FROM o.value;
        IF NOT changed_any THEN
            RETURN NULL;
        END IF;
    ELSE
        before_part := old_full - secret_columns;
        after_part := new_full - secret_columns;
    END IF;

    row_full := COALESCE(new_full, old_full);
    -- entity_id: the key values joined with '/' (a loop, not a query over unnest: this
    -- runs for every audited row, and a query is an executor start each time).
    FOREACH key_column IN ARRAY key_columns LOOP
        key_value := row_full ->> key_column;
        CONTINUE WHEN key_value IS NULL;
        entity_key := CASE WHEN entity_key IS NULL THEN key_value ELSE entity_key || '/' || key_value END;
    END LOOP;
    PERFORM tessera_private.write_audit_event(
        (row_full ->> 'client_id')::uuid,
        TG_TABLE_NAME,
        entity_key,
        pg_catalog.lower(TG_OP),
        before_part,
        after_part,
        tessera_private.break_glass_reason());
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.audit_row_change() IS
    'Generic AFTER row/TRUNCATE audit trigger: one event per changed row with the changed non-secret columns (args: key columns, secret columns). Attached by tessera_private.apply_audit_coverage.';

REVOKE ALL ON FUNCTION tessera_private.audit_row_change() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> schema/90_audit_events.sql (changed columns and constraints)
ALTER TABLE tessera.audit_events ADD COLUMN erasure_event_id bigint;
ALTER TABLE tessera.audit_events
    ALTER COLUMN entity DROP NOT NULL,
    ALTER COLUMN action DROP NOT NULL,
    ALTER COLUMN actor_role DROP NOT NULL,
    ALTER COLUMN actor_session_role DROP NOT NULL,
    ALTER COLUMN request_id DROP NOT NULL;
ALTER TABLE tessera.audit_events DROP CONSTRAINT audit_events_action_known;
ALTER TABLE tessera.audit_events ADD CONSTRAINT audit_events_action_known CHECK (
        action IN ('insert', 'update', 'delete', 'truncate', 'break_glass', 'override', 'auth_failure',
                   'rate_limited', 'secret_revealed', 'secret_destroyed', 'erasure', 'retention'));
ALTER TABLE tessera.audit_events ADD CONSTRAINT audit_events_complete_unless_erased CHECK (
        erasure_event_id IS NOT NULL
        OR (entity IS NOT NULL AND action IS NOT NULL AND actor_role IS NOT NULL
            AND actor_session_role IS NOT NULL AND request_id IS NOT NULL));
ALTER TABLE tessera.audit_events ADD CONSTRAINT audit_events_erased_by_later_event CHECK (erasure_event_id > event_id);
COMMENT ON COLUMN tessera.audit_events.action IS 'insert | update | delete | truncate | break_glass | override | auth_failure | rate_limited | secret_revealed | secret_destroyed | erasure | retention.';
COMMENT ON COLUMN tessera.audit_events.erasure_event_id IS 'Set by tessera.erase_client only: the erasure event that emptied (tombstone) or stripped this row; content_hash stays the original''s.';

-- >>> policies/*.sql (the owner's removal and erasure policies)
CREATE POLICY api_keys_select_definer_removal ON tessera.api_keys
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY api_keys_delete_definer_removal ON tessera.api_keys
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY audit_checkpoints_select_definer_retention ON tessera.audit_checkpoints
    FOR SELECT TO tessera_owner
    USING ((SELECT pg_catalog.current_setting('tessera.removal', true)) = 'retention');


CREATE POLICY audit_events_select_definer_removal ON tessera.audit_events
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR occurred_at < (SELECT tessera_private.removal_cutoff('audit_events'))
           -- the erasure's own tombstones (client_id NULL by then), which its UPDATE
           -- must still see; they hold nothing but their place in the tree
           OR erasure_event_id = NULLIF((SELECT pg_catalog.current_setting('tessera.erasure_event_id', true)), '')::bigint);


CREATE POLICY audit_events_update_definer_erasure ON tessera.audit_events
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (erasure_event_id IS NOT NULL AND (SELECT tessera_private.erasing_client_id()) IS NOT NULL);


CREATE POLICY balance_transactions_select_definer_removal ON tessera.balance_transactions
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR created_at < (SELECT tessera_private.removal_cutoff('balance_transactions')));


CREATE POLICY balance_transactions_delete_definer_removal ON tessera.balance_transactions
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR created_at < (SELECT tessera_private.removal_cutoff('balance_transactions')));


CREATE POLICY balance_transactions_update_definer_erasure ON tessera.balance_transactions
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY batch_secrets_select_definer_removal ON tessera.batch_secrets
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY batches_select_definer_removal ON tessera.batches
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY batches_delete_definer_removal ON tessera.batches
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY cache_entries_select_definer_removal ON tessera.cache_entries
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY cache_entries_delete_definer_removal ON tessera.cache_entries
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY client_users_select_definer_removal ON tessera.client_users
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY client_users_delete_definer_removal ON tessera.client_users
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY clients_select_definer_removal ON tessera.clients
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY clients_delete_definer_removal ON tessera.clients
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY clients_update_definer_erasure ON tessera.clients
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY monthly_readings_select_definer_removal ON tessera.monthly_readings
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR issued_at < (SELECT tessera_private.removal_cutoff('monthly_readings')));


CREATE POLICY monthly_readings_delete_definer_removal ON tessera.monthly_readings
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR issued_at < (SELECT tessera_private.removal_cutoff('monthly_readings')));


CREATE POLICY monthly_readings_update_definer_erasure ON tessera.monthly_readings
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY optimize_savings_select_definer_removal ON tessera.optimize_savings
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR occurred_at < (SELECT tessera_private.removal_cutoff('optimize_savings')));


CREATE POLICY optimize_savings_delete_definer_removal ON tessera.optimize_savings
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR occurred_at < (SELECT tessera_private.removal_cutoff('optimize_savings')));


CREATE POLICY optimize_savings_update_definer_erasure ON tessera.optimize_savings
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY reading_share_tokens_select_definer_removal ON tessera.reading_share_tokens
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR expires_at < (SELECT tessera_private.removal_cutoff('reading_share_tokens')));


CREATE POLICY reading_share_tokens_delete_definer_removal ON tessera.reading_share_tokens
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR expires_at < (SELECT tessera_private.removal_cutoff('reading_share_tokens')));


CREATE POLICY savings_dead_letters_select_definer_removal ON tessera.savings_dead_letters
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR attempted_at < (SELECT tessera_private.removal_cutoff('savings_dead_letters')));


CREATE POLICY savings_dead_letters_delete_definer_removal ON tessera.savings_dead_letters
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR attempted_at < (SELECT tessera_private.removal_cutoff('savings_dead_letters')));


CREATE POLICY savings_request_keys_select_definer_removal ON tessera.savings_request_keys
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR occurred_at < (SELECT tessera_private.removal_cutoff('savings_request_keys')));


CREATE POLICY savings_request_keys_delete_definer_removal ON tessera.savings_request_keys
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR occurred_at < (SELECT tessera_private.removal_cutoff('savings_request_keys')));


CREATE POLICY workload_settings_select_definer_removal ON tessera.workload_settings
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY workloads_select_definer_removal ON tessera.workloads
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY workloads_delete_definer_removal ON tessera.workloads
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));


CREATE POLICY workloads_update_definer_erasure ON tessera.workloads
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (client_id = (SELECT tessera_private.erasing_client_id()));

-- >>> functions/tessera.erase_client.sql
-- tessera.erase_client(client_id, reason): a client's erasure (GDPR Art. 17; seed "Hard-
-- delete on account closure"). Operators only; docs/erasure.md is the reference.
--
-- What goes, by tessera.retention_classes() (on_erasure_invoiced /
-- on_erasure_other):
--   hobby and free   every row of the client in every table: sponsors, keys, batches
--                    and their secrets, cache, savings and their idempotency keys, dead
--                    letters, balance, readings and their share links, workloads, the
--                    client; its audit events become tombstones.
--   invoiced         the accounting rows inside their 7-year window stay (savings,
--                    their keys, balance, readings), with their personal columns
--                    replaced: tags by pseudonyms (the same pseudonym for the same tag in
--                    the savings rows and in the readings' by_feature_tag, so a reading
--                    still re-derives), free-text reasons and emails by 'erased'; the
--                    client and workload rows they reference stay with a placeholder
--                    name; its audit events are stripped of personal data. Everything
--                    else goes now. tessera.retention_run removes the rest when the
--                    window ends (GDPR Art. 17(3)(b): kept to comply with a legal
--                    obligation, the accounting act).
--
-- The audit log stays verifiable. The client's events are listed first (event_id and
-- content_hash); then one erasure event is written (a platform event: client_id NULL,
-- entity client_erasures, entity_id the erasure id) whose `after` commits to exactly
-- that list: its count, first and last event_id, and events_sha256 =
-- SHA-256('tessera.erasure.v1' || for each, in event_id order, int8send(event_id) ||
-- content_hash). Then each listed row is emptied (tombstone: only event_id, occurred_at,
-- txid and content_hash stay) or stripped, with erasure_event_id pointing at that event.
-- content_hash is the original's, so every leaf of the Merkle tree is unchanged;
-- tessera-db audit verify accepts such a row only when a sealed erasure event's
-- commitment covers it, so a row blanked by hand is still caught.
--
-- Everything or nothing: one transaction; the append-only guard, the owner's
-- *_definer_removal policies and the audit trigger recognise the erasure only through
-- the unfinished tessera.client_erasures row this transaction writes first
-- (tessera_private.erasing_client_id). Idempotent: a client erased before returns its
-- delete-log row unchanged (with its certificate, once the CLI attached one).
--
-- SECURITY DEFINER (the tables grant nobody DELETE; the owner's guarded policies admit
-- the erased client's rows only while this runs). EXECUTE for authenticated, and inside
-- only operators: sponsors, anon, the proxy and settlement logins and service_role are
-- refused (42501) -- retention is a job's work, an erasure is a person's decision.
CREATE FUNCTION tessera.erase_client(p_client_id uuid, p_reason text)
RETURNS tessera.client_erasures
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    acting_role text := pg_catalog.current_setting('role');
    operator_email text := tessera_private.jwt_email();
    previous tessera.client_erasures;
    erasure tessera.client_erasures;
    client tessera.clients;
    invoiced boolean;
    salt bytea := uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
    personal_keys text[];
    erased_counts jsonb := '{}'::jsonb;
    n bigint;
    kept_until_at timestamptz;
    table_kept_until timestamptz;
    events_n bigint;
    first_event bigint;
    last_event bigint;
    events_sha256 bytea;
    erasure_event bigint;
BEGIN
    IF acting_role IS DISTINCT FROM 'authenticated' OR NOT tessera_private.is_operator() THEN
        RAISE EXCEPTION 'erase_client: only an operator may erase a client'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Erasure is a person''s decision: sign in as an operator (tessera-db clients erase --as-operator EMAIL).';
    END IF;
    IF p_client_id IS NULL THEN
        RAISE EXCEPTION 'erase_client: a client id is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_reason IS NULL OR p_reason !~ '[^[:space:]]' OR pg_catalog.char_length(p_reason) > 1000 THEN
        RAISE EXCEPTION 'erase_client: a reason (1..1000 characters, not blank) is required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT e.* INTO previous FROM tessera.client_erasures AS e WHERE e.client_id = p_client_id;
    IF FOUND THEN
        RETURN previous;  -- erased before: the same delete-log row (and certificate)
    END IF;
    -- Lock the client against concurrent changes (kill switch, workloads, sponsors).
    SELECT c.* INTO client FROM tessera.clients AS c WHERE c.client_id = p_client_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'erase_client: no client %', p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    invoiced := client.plan_tier = 'invoiced';

    PERFORM pg_catalog.set_config('tessera.removal', 'erasure', true);
    INSERT INTO tessera.client_erasures (client_id, plan_tier, reason, initiated_by)
    VALUES (p_client_id, client.plan_tier, p_reason, operator_email)
    RETURNING * INTO erasure;

    -- What goes for every tier.
    DELETE FROM tessera.reading_share_tokens AS t WHERE t.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('reading_share_tokens', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.savings_dead_letters AS d WHERE d.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_dead_letters', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.cache_entries AS e WHERE e.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('cache_entries', pg_catalog.jsonb_build_object('erased', n));
    SELECT pg_catalog.count(*) INTO n FROM tessera.batch_secrets AS s WHERE s.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('batch_secrets', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.batches AS b WHERE b.client_id = p_client_id;  -- cascades to batch_secrets
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('batches', pg_catalog.jsonb_build_object('erased', n));
    -- A rotated key references its successor (replaced_by, ON DELETE RESTRICT, checked
    -- row by row): delete the keys nobody references first, until none is left.
    SELECT pg_catalog.count(*) INTO n FROM tessera.api_keys AS k WHERE k.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('api_keys', pg_catalog.jsonb_build_object('erased', n));
    LOOP
        DELETE FROM tessera.api_keys AS k
         WHERE k.client_id = p_client_id
           AND NOT EXISTS (SELECT 1 FROM tessera.api_keys AS r
                            WHERE r.client_id = k.client_id AND r.replaced_by = k.api_key_id);
        EXIT WHEN NOT FOUND;
    END LOOP;
    SELECT pg_catalog.count(*) INTO n FROM tessera.api_keys AS k WHERE k.client_id = p_client_id;
    IF n > 0 THEN
        RAISE EXCEPTION 'erase_client: % API keys of client % reference each other in a cycle', n, p_client_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    DELETE FROM tessera.client_users AS u WHERE u.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('client_users', pg_catalog.jsonb_build_object('erased', n));

    IF NOT invoiced THEN
        DELETE FROM tessera.savings_request_keys AS k WHERE k.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_request_keys', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.optimize_savings AS s WHERE s.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('optimize_savings', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.monthly_readings AS r WHERE r.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('monthly_readings', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.balance_transactions AS t WHERE t.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('balance_transactions', pg_catalog.jsonb_build_object('erased', n));
        SELECT pg_catalog.count(*) INTO n FROM tessera.workload_settings AS w WHERE w.client_id = p_client_id;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workload_settings', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.workloads AS w WHERE w.client_id = p_client_id;  -- cascades to workload_settings
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workloads', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.clients AS c WHERE c.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('clients', pg_catalog.jsonb_build_object('erased', n));
    ELSE
        -- Kept for the accounting window, personal columns replaced.
        UPDATE tessera.optimize_savings AS s
           SET feature_tag = CASE WHEN s.feature_tag IS NOT NULL THEN tessera_private.erased_tag(salt, s.feature_tag) END,
               customer_tag = CASE WHEN s.customer_tag IS NOT NULL THEN tessera_private.erased_tag(salt, s.customer_tag) END
         WHERE s.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(s.occurred_at) + interval '7 years' INTO table_kept_until
          FROM tessera.optimize_savings AS s WHERE s.client_id = p_client_id;
        kept_until_at := table_kept_until;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('optimize_savings',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        SELECT pg_catalog.count(*), pg_catalog.max(k.occurred_at) + interval '7 years' INTO n, table_kept_until
          FROM tessera.savings_request_keys AS k WHERE k.client_id = p_client_id;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_request_keys',
            pg_catalog.jsonb_build_object('kept', n, 'kept_until', table_kept_until));
        UPDATE tessera.monthly_readings AS r
           SET issued_by = 'erased',
               correction_reason = CASE WHEN r.correction_reason IS NOT NULL THEN 'erased' END,
               by_feature_tag = (SELECT COALESCE(pg_catalog.jsonb_agg(x.tagged ORDER BY x.tag NULLS FIRST), '[]'::jsonb)
                                   FROM (SELECT g.value || pg_catalog.jsonb_build_object('feature_tag', t.tag) AS tagged, t.tag
                                           FROM pg_catalog.jsonb_array_elements(r.by_feature_tag) AS g
                                          CROSS JOIN LATERAL (SELECT CASE WHEN g.value ->> 'feature_tag' IS NOT NULL
                                                                          THEN tessera_private.erased_tag(salt, g.value ->> 'feature_tag')
                                                                     END AS tag) AS t) AS x)
         WHERE r.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(r.issued_at) + interval '7 years' INTO table_kept_until
          FROM tessera.monthly_readings AS r WHERE r.client_id = p_client_id;
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('monthly_readings',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        UPDATE tessera.balance_transactions AS t SET reason = 'erased', actor = 'erased'
         WHERE t.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(t.created_at) + interval '7 years' INTO table_kept_until
          FROM tessera.balance_transactions AS t WHERE t.client_id = p_client_id;
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('balance_transactions',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        UPDATE tessera.workloads AS w SET name = 'erased workload ' || w.workload_id::text
         WHERE w.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workloads', pg_catalog.jsonb_build_object('stripped', n));
        UPDATE tessera.clients AS c SET name = 'erased client ' || c.client_id::text
         WHERE c.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('clients', pg_catalog.jsonb_build_object('stripped', n));
    END IF;

    -- The audit log: list the client's events, commit to the list in one erasure event,
    -- then empty (hobby/free) or strip (invoiced) exactly those rows.
    SELECT pg_catalog.count(*), pg_catalog.min(a.event_id), pg_catalog.max(a.event_id),
           pg_catalog.sha256(pg_catalog.convert_to('tessera.erasure.v1', 'UTF8')
                             || COALESCE(pg_catalog.string_agg(pg_catalog.int8send(a.event_id) || a.content_hash, ''::bytea
                                                               ORDER BY a.event_id), ''::bytea))
      INTO events_n, first_event, last_event, events_sha256
      FROM tessera.audit_events AS a
     WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL;
    SELECT pg_catalog.max(a.occurred_at) + interval '7 years' INTO table_kept_until
      FROM tessera.audit_events AS a WHERE a.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('audit_events',
        CASE WHEN invoiced THEN pg_catalog.jsonb_build_object('stripped', events_n, 'kept_until', table_kept_until)
             ELSE pg_catalog.jsonb_build_object('tombstoned', events_n) END);
    IF invoiced THEN
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
    END IF;

    erasure_event := tessera_private.write_audit_event(
        NULL, 'client_erasures', erasure.erasure_id::text, 'erasure', NULL,
        pg_catalog.jsonb_build_object(
            'erasure_id', erasure.erasure_id,
            'client_id', p_client_id,
            'plan_tier', client.plan_tier,
            'treatment', CASE WHEN invoiced THEN 'strip' ELSE 'tombstone' END,
            'events', events_n,
            'first_event_id', first_event,
            'last_event_id', last_event,
            'events_sha256', pg_catalog.encode(events_sha256, 'hex'),
            'counts', erased_counts),
        p_reason);
    PERFORM pg_catalog.set_config('tessera.erasure_event_id', erasure_event::text, true);

    IF invoiced THEN
        SELECT pg_catalog.array_agg(DISTINCT c.column_name)
          INTO personal_keys
          FROM tessera.retention_classes() AS r
         CROSS JOIN LATERAL pg_catalog.unnest(r.personal_columns) AS c(column_name);
        UPDATE tessera.audit_events AS a
           SET actor_email = NULL, actor_sub = NULL, reason = NULL, source_ip = NULL,
               prompt_fingerprint_v1 = NULL,
               before = a.before - personal_keys,
               after = a.after - personal_keys,
               erasure_event_id = erasure_event
         WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL AND a.event_id < erasure_event;
    ELSE
        UPDATE tessera.audit_events AS a
           SET client_id = NULL, entity = NULL, entity_id = NULL, action = NULL, before = NULL, after = NULL,
               actor_role = NULL, actor_session_role = NULL, actor_email = NULL, actor_sub = NULL,
               actor_job = NULL, request_id = NULL, reason = NULL, source_ip = NULL,
               prompt_fingerprint_v1 = NULL,
               erasure_event_id = erasure_event
         WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL AND a.event_id < erasure_event;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> events_n THEN  -- the commitment must cover exactly the rows changed
        RAISE EXCEPTION 'erase_client: % audit events listed, % changed (a concurrent writer?); nothing was erased', events_n, n
            USING ERRCODE = 'serialization_failure';
    END IF;

    UPDATE tessera.client_erasures AS e
       SET finished_at = pg_catalog.clock_timestamp(),
           counts = erased_counts,
           erasure_event_id = erasure_event,
           kept_until = CASE WHEN invoiced THEN kept_until_at END
     WHERE e.client_id = p_client_id AND e.erasure_id = erasure.erasure_id
    RETURNING * INTO erasure;
    PERFORM pg_catalog.set_config('tessera.removal', '', true);
    PERFORM pg_catalog.set_config('tessera.erasure_verified', '', true);
    PERFORM pg_catalog.set_config('tessera.erasure_event_id', '', true);
    RETURN erasure;
END
$function$;

COMMENT ON FUNCTION tessera.erase_client(uuid, text) IS
    'Erase a client (operators only): hobby/free lose every row, invoiced keep their accounting rows stripped of personal data for the legal window; the client''s audit events become tombstones (or stripped) authorised by one erasure event. Idempotent; returns the delete-log row.';

REVOKE ALL ON FUNCTION tessera.erase_client(uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.erase_client(uuid, text) TO authenticated;

-- >>> functions/tessera.retention_remove.sql
-- tessera.retention_remove(now): the removal half of tessera.retention_run, the one
-- path by which rows leave a ledger or the audit log on schedule (the other is a
-- client's erasure, tessera.erase_client).
--
-- For every table that tessera.retention_classes() gives to
-- tessera.retention_run, with cutoff = least(now, the database clock) - its window:
--   * whole monthly partitions (<table>_pYYYY_MM) that end at or before the cutoff are
--     detached and dropped, never deleted row by row. An audit_events month is dropped
--     only when a signed checkpoint seals all of it (every row's txid below the
--     checkpoint's horizon); the first such checkpoint becomes the verifier's starting
--     point (tessera-db audit verify starts from its stored frontier and says so), and
--     is recorded in this run's audit event;
--   * other rows past the cutoff (a DEFAULT partition, a table that is not partitioned)
--     are deleted under the append-only guard, which re-checks every row's time against
--     the database clock (tessera_private.refuse_append_only_change): a wrong clock or
--     a bug here can remove less, never a row inside its window. Audit rows are never
--     deleted one by one (a row missing from the middle of the log is what tampering
--     looks like).
-- Then one audit event (action retention, entity retention_run) with the cutoffs and
-- the counts, in this transaction. Idempotent: a second run finds nothing to remove and
-- records a run that removed nothing.
--
-- now may not be later than the database clock (22023): tests move time by writing old
-- rows, and a preview of a later date is tessera.retention_run(..., dry_run => true).
--
-- SECURITY DEFINER (partitions are the owner's to drop; the owner's *_definer_removal
-- policies admit only rows past their window while tessera.removal = 'retention').
-- EXECUTE for service_role only (tessera.retention_run, pg_cron); everyone else 42501.
CREATE FUNCTION tessera.retention_remove(p_now timestamptz)
RETURNS TABLE (table_name name, partitions_dropped integer, rows_removed bigint, cutoff timestamptz, detail text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_variable
DECLARE
    clock timestamptz;
    lifecycle record;
    part record;
    part_rows bigint;
    part_max_txid xid8;
    part_max_event bigint;
    seal record;
    deleted bigint;
    dropped integer;
    kept_unsealed integer;
    summary jsonb := '{}'::jsonb;
    prune jsonb;
BEGIN
    IF p_now IS NULL OR p_now > pg_catalog.now() THEN
        RAISE EXCEPTION 'retention: the clock (%) may not be later than the database''s (%)', p_now, pg_catalog.now()
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Preview a later date with a dry run (tessera-db retention run --dry-run --now ...).';
    END IF;
    clock := LEAST(p_now, pg_catalog.now());
    PERFORM pg_catalog.set_config('tessera.removal', 'retention', true);

    FOR lifecycle IN
        SELECT r.table_name, r.time_column, r.retention_window
          FROM tessera.retention_classes() AS r
         WHERE r.removed_by = 'tessera.retention_run'
         ORDER BY r.table_name = 'monthly_readings', r.table_name  -- share links before the readings they name
    LOOP
        cutoff := clock - lifecycle.retention_window;
        dropped := 0;
        kept_unsealed := 0;
        deleted := 0;
        detail := NULL;
        FOR part IN
            SELECT c.oid::regclass AS partition,
                   (pg_catalog.to_date(pg_catalog.right(c.relname, 7), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC') AS lower_bound,
                   ((pg_catalog.to_date(pg_catalog.right(c.relname, 7), 'YYYY_MM') + interval '1 month')::timestamp
                        AT TIME ZONE 'UTC') AS upper_bound
              FROM pg_catalog.pg_inherits AS i
              JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
             WHERE i.inhparent = pg_catalog.format('tessera.%I', lifecycle.table_name)::regclass
               AND c.relname ~ '_p[0-9]{4}_[0-9]{2}$'
             ORDER BY c.relname
        LOOP
            CONTINUE WHEN part.upper_bound > cutoff;
            IF lifecycle.table_name = 'audit_events' THEN
                SELECT pg_catalog.count(*), pg_catalog.max(a.txid), pg_catalog.max(a.event_id)
                  INTO part_rows, part_max_txid, part_max_event
                  FROM tessera.audit_events AS a
                 WHERE a.occurred_at >= part.lower_bound AND a.occurred_at < part.upper_bound;
                seal := NULL;
                SELECT k.checkpoint_id, k.tree_size, k.horizon INTO seal
                  FROM tessera.audit_checkpoints AS k
                 WHERE k.horizon > COALESCE(part_max_txid, '0'::xid8)
                 ORDER BY k.checkpoint_id
                 LIMIT 1;
                IF seal.checkpoint_id IS NULL THEN
                    kept_unsealed := kept_unsealed + 1;  -- not sealed yet: kept until it is
                    CONTINUE;
                END IF;
                IF part_rows > 0 AND (prune IS NULL OR (prune ->> 'checkpoint_id')::bigint < seal.checkpoint_id) THEN
                    prune := pg_catalog.jsonb_build_object(
                        'checkpoint_id', seal.checkpoint_id, 'tree_size', seal.tree_size,
                        'horizon', seal.horizon::text, 'last_dropped_event_id', part_max_event);
                END IF;
            ELSE
                EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM tessera.%I WHERE %I >= $1 AND %I < $2',
                                          lifecycle.table_name, lifecycle.time_column, lifecycle.time_column)
                   INTO part_rows USING part.lower_bound, part.upper_bound;
            END IF;
            EXECUTE pg_catalog.format('ALTER TABLE tessera.%I DETACH PARTITION %s', lifecycle.table_name, part.partition);
            EXECUTE pg_catalog.format('DROP TABLE %s', part.partition);
            dropped := dropped + 1;
            deleted := deleted + part_rows;
        END LOOP;
        IF lifecycle.table_name <> 'audit_events' THEN
            EXECUTE pg_catalog.format('DELETE FROM tessera.%I WHERE %I < $1', lifecycle.table_name, lifecycle.time_column)
              USING cutoff;
            GET DIAGNOSTICS part_rows = ROW_COUNT;
            deleted := deleted + part_rows;
        END IF;
        IF kept_unsealed > 0 THEN
            detail := pg_catalog.format('%s month(s) past the window kept: not sealed by a checkpoint yet', kept_unsealed);
        END IF;
        table_name := lifecycle.table_name;
        partitions_dropped := dropped;
        rows_removed := deleted;
        summary := summary || pg_catalog.jsonb_build_object(lifecycle.table_name::text, pg_catalog.jsonb_build_object(
            'cutoff', cutoff, 'partitions_dropped', dropped, 'rows_removed', deleted));
        RETURN NEXT;
    END LOOP;

    PERFORM tessera_private.write_audit_event(
        NULL, 'retention_run', NULL, 'retention', NULL,
        pg_catalog.jsonb_build_object('now', p_now, 'tables', summary, 'audit_prune', prune));
    PERFORM pg_catalog.set_config('tessera.removal', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.retention_remove(timestamptz) IS
    'Retention (service_role, through tessera.retention_run): drops whole monthly partitions past their window (audit months only once sealed), deletes other expired rows under the guard, writes one retention audit event.';

REVOKE ALL ON FUNCTION tessera.retention_remove(timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.retention_remove(timestamptz) TO service_role;

-- >>> functions/tessera.retention_run.sql
-- tessera.retention_run(now, dry_run): the retention job behind `tessera-db retention run`
-- and the pg_cron job (tessera-db jobs schedule). One row per table that the retention
-- list (tessera.retention_classes()) gives to this job: its cutoff (now minus
-- its window), the whole monthly partitions past it and the rows past it.
--
--   dry_run => true   counts only, for any now (the future included: "what would a
--                     7-year window let go on 2034-01-01"); writes nothing. A table
--                     the caller may not read is listed with rows_removed NULL.
--   dry_run => false  removes them through tessera.retention_remove (the guarded
--                     path; now may not be later than the database clock) and writes
--                     one audit event with the counts.
--
-- SECURITY INVOKER, EXECUTE for service_role only: it reads every client's rows to count
-- them (BYPASSRLS); the removal itself is the definer function's.
CREATE FUNCTION tessera.retention_run(p_now timestamptz DEFAULT now(), p_dry_run boolean DEFAULT false)
RETURNS TABLE (table_name name, partitions_dropped integer, rows_removed bigint, cutoff timestamptz, detail text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_variable
DECLARE
    lifecycle record;
BEGIN
    IF p_now IS NULL OR p_dry_run IS NULL THEN
        RAISE EXCEPTION 'retention_run needs a clock and a dry-run flag' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT p_dry_run THEN
        RETURN QUERY SELECT * FROM tessera.retention_remove(p_now);
        RETURN;
    END IF;
    FOR lifecycle IN
        SELECT r.table_name, r.time_column, r.retention_window
          FROM tessera.retention_classes() AS r
         WHERE r.removed_by = 'tessera.retention_run'
         ORDER BY r.table_name = 'monthly_readings', r.table_name
    LOOP
        table_name := lifecycle.table_name;
        cutoff := p_now - lifecycle.retention_window;
        SELECT pg_catalog.count(*)::integer INTO partitions_dropped
          FROM pg_catalog.pg_inherits AS i
          JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
         WHERE i.inhparent = pg_catalog.format('tessera.%I', lifecycle.table_name)::regclass
           AND c.relname ~ '_p[0-9]{4}_[0-9]{2}$'
           AND ((pg_catalog.to_date(pg_catalog.right(c.relname, 7), 'YYYY_MM') + interval '1 month')::timestamp
                    AT TIME ZONE 'UTC') <= cutoff;
        detail := CASE WHEN lifecycle.table_name = 'audit_events'
                       THEN 'whole months only, once a checkpoint seals them' END;
        IF pg_catalog.has_table_privilege(pg_catalog.format('tessera.%I', lifecycle.table_name), 'SELECT') THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM tessera.%I WHERE %I < $1',
                                      lifecycle.table_name, lifecycle.time_column)
               INTO rows_removed USING cutoff;
        ELSE
            -- An internal table no API role reads (savings_request_keys: one key per
            -- optimize_savings row, with the same occurred_at): not counted here.
            rows_removed := NULL;
            detail := 'not counted: the caller cannot read this table';
        END IF;
        RETURN NEXT;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION tessera.retention_run(timestamptz, boolean) IS
    'The retention job (service_role): per table, the cutoff and what is past it; dry_run counts only (any clock), otherwise removes through tessera.retention_remove and audits the run.';

REVOKE ALL ON FUNCTION tessera.retention_run(timestamptz, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.retention_run(timestamptz, boolean) TO service_role;

-- >>> functions/tessera_private.audit_coverage.sql (replaced: client_erasures exempt)
-- tessera_private.audit_coverage(): THE list of which tessera tables are audited, which
-- of their columns are secret, and which tables are exempt and why. One line per table;
-- a reviewer reads this file and nothing else to know what the audit log covers.
--
--   audited = true   tessera_private.audit_row_change() is attached as <table>_audit
--                    and <table>_audit_truncate (ENABLE ALWAYS): every INSERT, UPDATE,
--                    DELETE and TRUNCATE writes tessera.audit_events rows with the
--                    changed columns, minus the secret columns named here (never copied
--                    into an event, not even as a before/after value).
--   audited = false  exempt: the reason is required and says why.
--
-- Adding a table is a one-line change: add its row below (and, in a migration, re-create
-- this function and run SELECT tessera_private.apply_audit_coverage()). The lint
-- tests/lints/0013_table_not_audited.sql fails while any table in schema tessera is
-- missing from this list, while a listed table lacks its triggers (or they are not
-- ENABLE ALWAYS, or carry other secret columns), or while an exemption has no reason.
--
-- IMMUTABLE: a constant list, read by apply_audit_coverage() and by the lint.
CREATE OR REPLACE FUNCTION tessera_private.audit_coverage()
RETURNS TABLE (table_name name, audited boolean, secret_columns name[], exempt_reason text)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    VALUES
    --  table                    audited  secret columns   exempt: why
    -- Tenancy (issue 3): clients incl. kill switch and cross-customer opt-in, workloads
    -- incl. mechanic toggles, staff and sponsor contacts.
        ('clients'::name,          true,  '{}'::name[],    NULL::text),
        ('workloads',              true,  '{}',            NULL),
        ('operators',              true,  '{}',            NULL),
        ('client_users',           true,  '{}',            NULL),
    -- Money ledger (issue 4): prices, their provenance, balances, issued readings.
        ('pricing_catalog',        true,  '{}',            NULL),
        ('price_sources',          true,  '{}',            NULL),
        ('price_import_runs',      true,  '{}',            NULL),
        ('balance_transactions',   true,  '{}',            NULL),
        ('monthly_readings',       true,  '{}',            NULL),
        ('reading_share_tokens',   true,  '{token_sha256}', NULL),
    -- Keys, settlement secrets and worker config (issue 6): key creation, revocation and
    -- rotation; batch transitions; a secret's storing, resealing and destruction (never
    -- the sealed value).
        ('api_keys',               true,  '{key_sha256}',  NULL),
        ('batches',                true,  '{}',            NULL),
        ('batch_secrets',          true,  '{sealed}',      NULL),
    -- Exempt.
        ('api_key_failures',       false, NULL,
         'The throttle''s short-lived working set (purged after 7 days): tessera.verify_api_key writes each failure to audit_events itself (auth_failure, and rate_limited when a source reaches the limit), with key hint and source IP.'),
        ('workload_settings',      false, NULL,
         'Its config_version is a derived counter bumped by triggers on workloads and clients, whose changes are audited there (auditing it too would turn one mechanic toggle into two events); its one setting, the exact-cache TTL, changes only through tessera.set_exact_cache_ttl, which writes that audit event itself.'),
        ('cache_entries',          false, NULL,
         'UNLOGGED exact cache, rewritten on the request path and emptied by crashes: a copy the provider can recompute, not a state transition; a sponsor''s flush is audited by tessera.flush_cache itself.'),
        ('price_observations',     false, NULL,
         'Append-only raw copies of public price files, thousands of rows per import; each import is audited as its tessera.price_import_runs row (file name, SHA-256, importer), which the observations reference.'),
        ('optimize_savings',       false, NULL,
         'One append-only row per proxied request: the per-request measurement is itself the audit-grade money record (pricing snapshot, costs, request_id), refused UPDATE/DELETE/TRUNCATE for every role; auditing it would double the proxy''s write path.'),
        ('savings_request_keys',   false, NULL,
         'Append-only idempotency key of optimize_savings (one row per proxied request), written only by tessera.record_request; it carries no state beyond the measurement row.'),
        ('savings_dead_letters',   false, NULL,
         'Append-only record of refused measurements and their resolutions, written only by tessera.record_requests / replay_dead_letters: each row is itself the event (what was refused, why, when, by which role); auditing it would double the hot path''s refusals.'),
        ('client_erasures',        false, NULL,
         'The operator-side delete log: each row is written and completed by tessera.erase_client in the transaction that writes the erasure''s own audit event (action erasure, with the counts), which is the event; a row-change event would repeat it, under the erased client''s id.'),
        ('audit_events',           false, NULL,
         'The audit log itself: append-only, hash-stamped and sealed into signed checkpoints; auditing it would recurse.'),
        ('audit_checkpoints',      false, NULL,
         'The signed seal over audit_events, append-only and checked by tessera-db audit verify; auditing it would add an event per seal, so the log would never be fully sealed.')
$function$;

COMMENT ON FUNCTION tessera_private.audit_coverage() IS
    'The declarative audit coverage list: every tessera table, audited (with its secret columns) or exempt (with a reason). Applied by tessera_private.apply_audit_coverage(); checked by lint 0013_table_not_audited.';

REVOKE ALL ON FUNCTION tessera_private.audit_coverage() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- Attach the triggers the list asks for (every table above exists by now: this file is
-- loaded after all of them, see load.sql).
SELECT tessera_private.apply_audit_coverage();
