-- tessera.anomalies: things the operations side must answer for, each with a state
-- machine open -> acknowledged -> resolved (guard trigger anomalies_guard_transition:
-- any other transition is refused by the database, as are changes to what the anomaly
-- says; every transition is audited with its actor by the generic audit trigger).
--
-- Kinds:
--   sla_breach            tessera.sla_run: a workload's mechanics stack scored below
--                         0.95 on 3 consecutive qualifying days; the stack is disabled
--                         (stack_disabled) and a service credit written. details: the
--                         three days' means and counts, the credit, the reactivation
--                         path. dedupe_key 'sla:<workload>:<stack>:<last day>' is unique
--                         for ever (a rerun never opens a second breach).
--   unconsented_mechanic  ingest: a recorded request fired a mechanic the config
--                         version it acted on did not allow, or any mechanic while the
--                         client's kill switch was on (no saving credited to it).
--   kill_switch_late      ingest: a mechanic fired more than 60 s after the kill switch
--                         was engaged (the seed's contract: effect within 60 s).
-- The ingest kinds open one anomaly per dedupe_key while it is not resolved (later
-- offending requests are flagged on their own optimize_savings rows, not as new
-- anomalies); once resolved, the next offence opens a new one.
--
-- Sponsors read their own clients' anomalies and act through
-- tessera.respond_to_anomaly (acknowledge; re-enable a disabled stack); operators read
-- and act on all; anon nothing.
CREATE TABLE tessera.anomalies (
    client_id        uuid        NOT NULL,
    anomaly_id       uuid        NOT NULL DEFAULT gen_random_uuid(),
    kind             text        NOT NULL,
    workload_id      uuid        NOT NULL,
    mechanics        text[]      NOT NULL DEFAULT '{}',
    dedupe_key       text        NOT NULL,
    details          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    state            text        NOT NULL DEFAULT 'open',
    opened_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz,
    resolved_by      text,
    stack_disabled   boolean     NOT NULL DEFAULT false,
    reenabled_at     timestamptz,
    reenabled_by     text,
    CONSTRAINT anomalies_pkey PRIMARY KEY (client_id, anomaly_id),
    CONSTRAINT anomalies_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON DELETE CASCADE,
    CONSTRAINT anomalies_kind_known CHECK (kind IN ('sla_breach', 'unconsented_mechanic', 'kill_switch_late')),
    CONSTRAINT anomalies_state_known CHECK (state IN ('open', 'acknowledged', 'resolved')),
    -- The known mechanics, listed inline (not tessera_private.mechanics_are_valid): the
    -- SLA job inserts as service_role, which may execute no private helper. The writers
    -- normalise the stack (sorted, distinct) before inserting.
    CONSTRAINT anomalies_mechanics_known CHECK (mechanics <@ ARRAY['auto_route', 'batch_routing', 'exact_cache',
        'history_pruning', 'json_schema_enforcement', 'prompt_cache_header', 'semantic_cache']::text[]),
    CONSTRAINT anomalies_dedupe_key_length CHECK (char_length(dedupe_key) BETWEEN 1 AND 500),
    CONSTRAINT anomalies_details_object CHECK (jsonb_typeof(details) = 'object'),
    -- The stamps follow the state: acknowledged once past open, resolved once resolved.
    CONSTRAINT anomalies_state_stamps CHECK (
        (acknowledged_at IS NOT NULL) = (state <> 'open')
        AND (acknowledged_by IS NOT NULL) = (state <> 'open')
        AND (resolved_at IS NOT NULL) = (state = 'resolved')
        AND (resolved_by IS NOT NULL) = (state = 'resolved')),
    -- Only a breach disables a stack; a re-enabled stack stays re-enabled (a new breach
    -- is a new anomaly).
    CONSTRAINT anomalies_stack_disable_kind CHECK (NOT stack_disabled OR kind = 'sla_breach'),
    CONSTRAINT anomalies_reenable_stamps CHECK (
        (reenabled_at IS NULL) = (reenabled_by IS NULL) AND (reenabled_at IS NULL OR NOT stack_disabled))
);

-- A breach is recorded once, whatever its state: reruns of tessera.sla_run find it.
CREATE UNIQUE INDEX anomalies_breach_key
    ON tessera.anomalies (client_id, dedupe_key) WHERE kind = 'sla_breach';
-- The ingest kinds: one unresolved anomaly per key.
CREATE UNIQUE INDEX anomalies_unresolved_key
    ON tessera.anomalies (client_id, kind, dedupe_key) WHERE state <> 'resolved' AND kind <> 'sla_breach';
-- One live disable per workload and stack; tessera.worker_config reads these.
CREATE UNIQUE INDEX anomalies_disabled_stack_key
    ON tessera.anomalies (client_id, workload_id, mechanics) WHERE stack_disabled;

CREATE TRIGGER anomalies_guard_transition
    BEFORE UPDATE ON tessera.anomalies
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_anomaly_transition();
ALTER TABLE tessera.anomalies ENABLE ALWAYS TRIGGER anomalies_guard_transition;

-- A disabled or re-enabled stack changes the workload's worker config: new config
-- version and NOTIFY (tessera_private.worker_config_changed).
CREATE TRIGGER anomalies_worker_config_changed
    AFTER INSERT OR UPDATE OF stack_disabled ON tessera.anomalies
    FOR EACH ROW
    WHEN (NEW.kind = 'sla_breach')
    EXECUTE FUNCTION tessera_private.worker_config_changed();
ALTER TABLE tessera.anomalies ENABLE ALWAYS TRIGGER anomalies_worker_config_changed;

COMMENT ON TABLE tessera.anomalies IS
    'Operational anomalies (sla_breach, unconsented_mechanic, kill_switch_late) with the state machine open -> acknowledged -> resolved, enforced by trigger; an sla_breach disables its stack until re-enabled through tessera.respond_to_anomaly. Every transition is audited.';
COMMENT ON COLUMN tessera.anomalies.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.anomalies.anomaly_id IS 'Anomaly key within the client.';
COMMENT ON COLUMN tessera.anomalies.kind IS 'sla_breach | unconsented_mechanic | kill_switch_late.';
COMMENT ON COLUMN tessera.anomalies.workload_id IS 'The workload concerned.';
COMMENT ON COLUMN tessera.anomalies.mechanics IS 'The mechanics concerned: the breaching stack, or the unconsented mechanics.';
COMMENT ON COLUMN tessera.anomalies.dedupe_key IS 'What makes two occurrences the same anomaly (see the table comment).';
COMMENT ON COLUMN tessera.anomalies.details IS 'The evidence: the breach days (mean, count), the credit and reactivation path; or the first offending request, its config version and timing.';
COMMENT ON COLUMN tessera.anomalies.state IS 'open -> acknowledged -> resolved; nothing else.';
COMMENT ON COLUMN tessera.anomalies.opened_at IS 'When it was opened.';
COMMENT ON COLUMN tessera.anomalies.acknowledged_at IS 'When it was acknowledged (stamped by the guard trigger).';
COMMENT ON COLUMN tessera.anomalies.acknowledged_by IS 'Who acknowledged it (JWT email, else sub, else role).';
COMMENT ON COLUMN tessera.anomalies.resolved_at IS 'When it was resolved (stamped by the guard trigger).';
COMMENT ON COLUMN tessera.anomalies.resolved_by IS 'Who resolved it.';
COMMENT ON COLUMN tessera.anomalies.stack_disabled IS 'sla_breach: true while its stack is disabled for the workload.';
COMMENT ON COLUMN tessera.anomalies.reenabled_at IS 'When the stack was re-enabled (stamped by the guard trigger).';
COMMENT ON COLUMN tessera.anomalies.reenabled_by IS 'Who re-enabled it.';
