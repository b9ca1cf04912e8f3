-- tessera.audit_events: the append-only, tamper-evident log of every state transition
-- (issue 5; contract: /work/coord/audit-contract.md, docs/audit.md).
--
-- Who writes. Nobody directly: no role holds INSERT but the owner, and the owner's
-- INSERT policy admits only tessera_private.write_audit_event (policies/audit_events.sql).
-- Rows come from the generic row trigger tessera_private.audit_row_change (attached to
-- the tables listed in functions/tessera_private.audit_coverage.sql) and from definer
-- functions (tessera.break_glass, tessera.record_auth_failure, the keys/secrets
-- functions). The BEFORE INSERT trigger audit_events_stamp stamps actor, request id,
-- fingerprint and content_hash (tessera_private.stamp_audit_event): a caller never
-- supplies them.
--
-- Append-only. No UPDATE, DELETE or TRUNCATE privilege for anyone, and the
-- make_append_only triggers (ENABLE ALWAYS, so session_replication_role = replica does
-- not switch them off) refuse them for the owner and superusers too. What a superuser
-- does anyway (disabling triggers, editing pages) is detected by the verifier
-- (tessera-db audit verify) against signed Merkle checkpoints (tessera.audit_checkpoints).
--
-- Partitioned by UTC month of occurred_at (previous, current and next month plus
-- DEFAULT, created below; a monthly job creates months ahead with
-- tessera_private.create_monthly_partitions). Retention (seed: 7 years for invoiced
-- engagements; the operations issue) drops whole months: DETACH PARTITION, archive,
-- DROP TABLE; rows are never deleted one by one. The checkpoints keep covering a dropped
-- month by its hashes.
--
-- Not distributed under Citus, on purpose: the Merkle log needs one global order
-- (event_id within each sealing step, txid against the sealer's horizon), which a
-- table sharded by client_id cannot give without a cross-node sequence and snapshot.
-- It stays a coordinator-local table, so its keys need not contain client_id (and
-- platform events have none).
--
-- content_hash, encoding v1 (tessera_private.audit_content_hash; verified independently
-- in Python by tessera_db/audit/encoding.py):
--   sha256('tessera.audit_events.v1' || f(event_id) || f(occurred_at) || f(txid)
--          || f(client_id) || f(entity) || f(entity_id) || f(action) || f(before)
--          || f(after) || f(actor_role) || f(actor_session_role) || f(actor_email)
--          || f(actor_sub) || f(actor_job) || f(request_id) || f(reason) || f(source_ip)
--          || f(prompt_fingerprint_v1))
--   f(NULL) = FF FF FF FF; f(v) = 4-byte big-endian byte length || UTF-8 of the
--   canonical text (see the function's comment).
CREATE TABLE tessera.audit_events (
    event_id              bigint      GENERATED ALWAYS AS IDENTITY,
    occurred_at           timestamptz NOT NULL DEFAULT now(),
    txid                  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    client_id             uuid,
    entity                text,
    entity_id             text,
    action                text,
    before                jsonb,
    after                 jsonb,
    actor_role            text,
    actor_session_role    text,
    actor_email           text,
    actor_sub             text,
    actor_job             text,
    request_id            text,
    reason                text,
    source_ip             inet,
    prompt_fingerprint_v1 jsonb,
    content_hash          bytea       NOT NULL,
    -- Set only by tessera.erase_client (docs/erasure.md): the row was erased (a tombstone:
    -- every field but event_id, occurred_at, txid and content_hash is NULL) or, for an
    -- invoiced client, stripped of personal data, by the erasure whose audit event this
    -- is. Not an input of content_hash: the hash is the original row's, so the row keeps
    -- its leaf in the Merkle tree, and the verifier accepts it only because that later,
    -- sealed erasure event commits to exactly this (event_id, content_hash).
    erasure_event_id      bigint,
    -- Contains the partition key (required). event_id alone is unique: it comes from
    -- one identity sequence and cannot be supplied (GENERATED ALWAYS).
    CONSTRAINT audit_events_pkey PRIMARY KEY (event_id, occurred_at),
    CONSTRAINT audit_events_action_known CHECK (
        action IN ('insert',            -- a row was inserted (audit_row_change)
                   'update',            -- a row changed (changed columns only)
                   'delete',            -- a row was deleted
                   'truncate',          -- an audited table was truncated (owner only)
                   'break_glass',       -- an operator opened a break-glass window (reason)
                   'override',          -- an operator overrode a policy decision (reason)
                   'auth_failure',      -- a failed login or key verification
                   'rate_limited',      -- a request refused by a rate limit
                   'secret_revealed',   -- a secret's plaintext was read (never the secret)
                   'secret_destroyed',  -- a secret was destroyed
                   'erasure',           -- a client was erased (tessera.erase_client; commits to its tombstones)
                   'retention')),       -- a retention run removed what was past its window (counts)
    -- The fields every event has, unless erase_client has since emptied it (entity,
    -- action, the actor's roles and the request id were NOT NULL before issue 14; a
    -- tombstone keeps none of them).
    CONSTRAINT audit_events_complete_unless_erased CHECK (
        erasure_event_id IS NOT NULL
        OR (entity IS NOT NULL AND action IS NOT NULL AND actor_role IS NOT NULL
            AND actor_session_role IS NOT NULL AND request_id IS NOT NULL)),
    -- The authorising erasure event comes later than what it erases.
    CONSTRAINT audit_events_erased_by_later_event CHECK (erasure_event_id > event_id),
    CONSTRAINT audit_events_reason_required CHECK (
        action NOT IN ('break_glass', 'override') OR reason ~ '[^[:space:]]'),
    CONSTRAINT audit_events_reason_length CHECK (char_length(reason) <= 1000),
    CONSTRAINT audit_events_entity_format CHECK (entity ~ '^[a-z][a-z0-9_]{0,62}$'),
    CONSTRAINT audit_events_entity_id_length CHECK (char_length(entity_id) BETWEEN 1 AND 500),
    CONSTRAINT audit_events_before_is_object CHECK (jsonb_typeof(before) = 'object'),
    CONSTRAINT audit_events_after_is_object CHECK (jsonb_typeof(after) = 'object'),
    CONSTRAINT audit_events_request_id_length CHECK (char_length(request_id) BETWEEN 1 AND 200),
    CONSTRAINT audit_events_actor_job_length CHECK (char_length(actor_job) <= 100),
    CONSTRAINT audit_events_prompt_fingerprint_v1_shape CHECK (
        tessera_private.prompt_fingerprint_v1_is_valid(prompt_fingerprint_v1)),
    CONSTRAINT audit_events_content_hash_sha256 CHECK (octet_length(content_hash) = 32)
) PARTITION BY RANGE (occurred_at);

-- A sponsor's slice and the CSV export: one client, a time range.
CREATE INDEX audit_events_client_occurred_idx ON tessera.audit_events (client_id, occurred_at);
-- The sealer: rows between two horizons (prev_horizon <= txid < horizon), and the
-- break-glass window lookup (this transaction's break_glass row).
CREATE INDEX audit_events_txid_idx ON tessera.audit_events (txid);

CREATE TRIGGER audit_events_stamp
    BEFORE INSERT ON tessera.audit_events
    FOR EACH ROW EXECUTE FUNCTION tessera_private.stamp_audit_event();
ALTER TABLE tessera.audit_events ENABLE ALWAYS TRIGGER audit_events_stamp;

COMMENT ON TABLE tessera.audit_events IS
    'Append-only, hash-stamped log of every state transition, break-glass and auth failure; partitioned by UTC month; written only by triggers and definer functions through tessera_private.write_audit_event; sealed into signed Merkle checkpoints.';
COMMENT ON COLUMN tessera.audit_events.event_id IS 'Identity; seal order within a sealing step. Never supplied.';
COMMENT ON COLUMN tessera.audit_events.occurred_at IS 'Start of the writing transaction (now()); the partition key. Never supplied.';
COMMENT ON COLUMN tessera.audit_events.txid IS 'Top-level transaction id of the writer; the sealer seals only txid < pg_snapshot_xmin. Never supplied.';
COMMENT ON COLUMN tessera.audit_events.client_id IS 'Client the event belongs to; NULL only for platform events (operators, prices, auth failures).';
COMMENT ON COLUMN tessera.audit_events.entity IS 'Table name, or a pseudo-entity (auth, break_glass, api_keys, ...).';
COMMENT ON COLUMN tessera.audit_events.entity_id IS 'Primary key of the row as text: its key columns other than client_id, joined with "/" in key order (clients: client_id).';
COMMENT ON COLUMN tessera.audit_events.action IS 'insert | update | delete | truncate | break_glass | override | auth_failure | rate_limited | secret_revealed | secret_destroyed | erasure | retention.';
COMMENT ON COLUMN tessera.audit_events.before IS 'Changed, non-secret columns before the change (NULL for an insert).';
COMMENT ON COLUMN tessera.audit_events.after IS 'Changed, non-secret columns after the change (NULL for a delete), or event details.';
COMMENT ON COLUMN tessera.audit_events.actor_role IS 'Role the session acted as (SET ROLE, else the login), stamped.';
COMMENT ON COLUMN tessera.audit_events.actor_session_role IS 'Login role (session_user), stamped.';
COMMENT ON COLUMN tessera.audit_events.actor_email IS 'JWT email claim, stamped.';
COMMENT ON COLUMN tessera.audit_events.actor_sub IS 'JWT sub claim, stamped.';
COMMENT ON COLUMN tessera.audit_events.actor_job IS 'Setting tessera.job_name (sealer, sweeper, importer, ...), stamped.';
COMMENT ON COLUMN tessera.audit_events.request_id IS 'Setting tessera.request_id (threads proxy -> database), else one generated uuid per transaction.';
COMMENT ON COLUMN tessera.audit_events.reason IS 'Why: required for break_glass and override; row changes inside a break-glass window carry its reason.';
COMMENT ON COLUMN tessera.audit_events.source_ip IS 'Source address, when the caller gave one (auth failures, rate limits).';
COMMENT ON COLUMN tessera.audit_events.prompt_fingerprint_v1 IS 'Anonymised request shape (seed "Prompt fingerprint v1") from setting tessera.prompt_fingerprint_v1; shape checked.';
COMMENT ON COLUMN tessera.audit_events.content_hash IS 'SHA-256 over the canonical encoding v1 of the stored values, computed by the insert trigger.';
COMMENT ON COLUMN tessera.audit_events.erasure_event_id IS 'Set by tessera.erase_client only: the erasure event that emptied (tombstone) or stripped this row; content_hash stays the original''s.';

SELECT tessera_private.make_append_only('tessera.audit_events');

-- Partitions for the previous, current and next UTC month plus DEFAULT, so the declared
-- SQL and the migration that runs it agree; a scheduled job keeps creating months ahead.
SELECT tessera_private.create_monthly_partitions('tessera.audit_events',
    (pg_catalog.date_trunc('month', pg_catalog.now() AT TIME ZONE 'UTC') - interval '1 month')::date, 3);

-- The break-glass slice (issue 5 item 3): every break-glass window, who opened it, why,
-- and for which out-of-policy action. security_invoker: the caller's own row-level
-- security applies (operators see all, a sponsor their own clients' windows).
CREATE VIEW tessera.break_glass_events WITH (security_invoker = true) AS
SELECT e.event_id,
       e.occurred_at,
       e.txid,
       e.client_id,
       e.after ->> 'action' AS permitted_action,
       e.reason,
       e.actor_email,
       e.actor_sub,
       e.actor_role,
       e.actor_session_role,
       e.request_id
  FROM tessera.audit_events AS e
 WHERE e.action = 'break_glass';

COMMENT ON VIEW tessera.break_glass_events IS
    'Break-glass windows (action = break_glass) with reason and actor, under the caller''s RLS (security_invoker). Row changes made inside a window share its txid and carry its reason.';
