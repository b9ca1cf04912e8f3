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
