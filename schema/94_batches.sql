-- tessera.batches: async batch-arbitrage jobs (mechanic M10, batch_routing) and their
-- state machine.
--
--     pending ──► dispatched ──► completed
--        │            │
--        │            ├────────► failed
--        ├────────────┼────────► failed
--        └────────────┴────────► expired
--
--   pending      created by the proxy; the customer's upstream Authorization header may
--                be stored (sealed) in tessera.batch_secrets
--   dispatched   submitted to the provider's batch API (provider_batch_id known)
--   completed | failed | expired   terminal: final, the row never changes again
--
-- Enforced by trigger batches_guard_transition (ENABLE ALWAYS: every role, the owner
-- included, and under session_replication_role = replica): an UPDATE must be one of the
-- arrows above; identity columns never change; the timestamps are stamped by the
-- trigger, not supplied. Entering a terminal state destroys the batch's settlement
-- secret in the same transaction (trigger batches_destroy_secret_on_terminal).
-- Batches are created and moved only through tessera.create_batch() and
-- tessera.transition_batch(); API roles read them (operators all, sponsors their own).
CREATE TABLE tessera.batches (
    client_id          uuid        NOT NULL,
    batch_id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    workload_id        uuid        NOT NULL,
    provider           text        NOT NULL,
    provider_batch_id  text,
    state              text        NOT NULL DEFAULT 'pending',
    created_at         timestamptz NOT NULL DEFAULT now(),
    dispatched_at      timestamptz,
    finished_at        timestamptz,
    state_changed_at   timestamptz NOT NULL DEFAULT now(),
    state_reason       text,
    CONSTRAINT batches_pkey PRIMARY KEY (client_id, batch_id),
    CONSTRAINT batches_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON DELETE RESTRICT,
    CONSTRAINT batches_state_known CHECK (
        state IN ('pending',      -- created, not yet submitted to the provider
                  'dispatched',   -- submitted to the provider's batch API
                  'completed',    -- terminal: results settled
                  'failed',       -- terminal: the provider or we gave up
                  'expired')),    -- terminal: not settled in time
    CONSTRAINT batches_provider_not_blank CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    CONSTRAINT batches_provider_batch_id_length CHECK (
        provider_batch_id IS NULL OR (provider_batch_id ~ '[^[:space:]]' AND char_length(provider_batch_id) <= 200)),
    CONSTRAINT batches_dispatched_has_provider_id CHECK (
        state IN ('pending', 'expired', 'failed') OR provider_batch_id IS NOT NULL),
    CONSTRAINT batches_finished_iff_terminal CHECK (
        (state IN ('completed', 'failed', 'expired')) = (finished_at IS NOT NULL)),
    CONSTRAINT batches_state_reason_length CHECK (state_reason IS NULL OR char_length(state_reason) <= 500)
);

CREATE INDEX batches_open_idx ON tessera.batches (client_id, created_at)
    WHERE state IN ('pending', 'dispatched');

CREATE TRIGGER batches_guard_transition
    BEFORE INSERT OR UPDATE ON tessera.batches
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_batch_transition();
ALTER TABLE tessera.batches ENABLE ALWAYS TRIGGER batches_guard_transition;

CREATE TRIGGER batches_destroy_secret_on_terminal
    AFTER UPDATE OF state ON tessera.batches
    FOR EACH ROW
    WHEN (NEW.state IN ('completed', 'failed', 'expired'))
    EXECUTE FUNCTION tessera_private.destroy_batch_secret();
ALTER TABLE tessera.batches ENABLE ALWAYS TRIGGER batches_destroy_secret_on_terminal;

COMMENT ON TABLE tessera.batches IS
    'Async batch-arbitrage jobs (M10). State machine pending -> dispatched -> completed | failed | expired (pending may also fail or expire), enforced for every role by trigger batches_guard_transition; terminal states are final and destroy the batch''s settlement secret.';
COMMENT ON COLUMN tessera.batches.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.batches.batch_id IS 'Batch key within the client.';
COMMENT ON COLUMN tessera.batches.workload_id IS 'Workload the batched requests belong to.';
COMMENT ON COLUMN tessera.batches.provider IS 'Upstream provider (openai, anthropic, ...).';
COMMENT ON COLUMN tessera.batches.provider_batch_id IS 'The provider''s batch id, set on dispatch.';
COMMENT ON COLUMN tessera.batches.state IS 'pending | dispatched | completed | failed | expired (the last three terminal).';
COMMENT ON COLUMN tessera.batches.created_at IS 'When the batch was created.';
COMMENT ON COLUMN tessera.batches.dispatched_at IS 'When it was dispatched (stamped by the trigger).';
COMMENT ON COLUMN tessera.batches.finished_at IS 'When it reached a terminal state (stamped by the trigger).';
COMMENT ON COLUMN tessera.batches.state_changed_at IS 'Last state change (stamped by the trigger).';
COMMENT ON COLUMN tessera.batches.state_reason IS 'Why the last transition happened (e.g. the provider''s error), optional.';
