-- tessera.canary_scores: the quality SLA's raw samples. The daily canary double-fires a
-- 10% sample of each workload's requests against the customer's promptfoo eval set,
-- once on the routed model (with the mechanics stack that fired) and once on the
-- baseline; both scores land here, one row per (request, eval set), through
-- tessera.record_canary_scores (proxy or service_role).
--
-- Append-only (make_append_only): a score is a measurement, never corrected in place.
-- tessera.sla_run aggregates it per (workload, stack, UTC day of sampled_at).
-- mechanics is the stack that fired, normalised to sorted, distinct known names (the
-- same order as optimize_savings.mechanics, so a stack matches its requests exactly);
-- never empty: a sample without a mechanic measures no Tessera change.
CREATE TABLE tessera.canary_scores (
    client_id       uuid        NOT NULL,
    request_id      text        NOT NULL,
    eval_set        text        NOT NULL,
    workload_id     uuid        NOT NULL,
    mechanics       text[]      NOT NULL,
    routed_score    numeric     NOT NULL,
    baseline_score  numeric     NOT NULL,
    sampled_at      timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- One score per request and eval set: a replayed element is 'replayed', not a second
    -- sample (it would weigh twice in the day's mean).
    CONSTRAINT canary_scores_pkey PRIMARY KEY (client_id, request_id, eval_set),
    CONSTRAINT canary_scores_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON DELETE RESTRICT,
    CONSTRAINT canary_scores_request_id_length CHECK (char_length(request_id) BETWEEN 1 AND 200),
    CONSTRAINT canary_scores_eval_set_length CHECK (char_length(eval_set) BETWEEN 1 AND 200),
    CONSTRAINT canary_scores_mechanics_known CHECK (
        cardinality(mechanics) > 0 AND tessera_private.mechanics_are_valid(mechanics)),
    CONSTRAINT canary_scores_scores_range CHECK (
        routed_score BETWEEN 0 AND 1 AND baseline_score BETWEEN 0 AND 1)
);

-- The SLA job: one workload, one stack, a range of days.
CREATE INDEX canary_scores_workload_sampled_idx
    ON tessera.canary_scores (client_id, workload_id, mechanics, sampled_at);

COMMENT ON TABLE tessera.canary_scores IS
    'Append-only quality-SLA samples: per sampled request and eval set, the routed and baseline scores in [0, 1] and the mechanics stack that fired. Written by tessera.record_canary_scores; aggregated daily by tessera.sla_run.';
COMMENT ON COLUMN tessera.canary_scores.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.canary_scores.request_id IS 'The sampled request (as in optimize_savings.request_id).';
COMMENT ON COLUMN tessera.canary_scores.eval_set IS 'The customer''s eval set the sample was scored against.';
COMMENT ON COLUMN tessera.canary_scores.workload_id IS 'The workload.';
COMMENT ON COLUMN tessera.canary_scores.mechanics IS 'The stack that fired: sorted, distinct, known mechanic names; never empty.';
COMMENT ON COLUMN tessera.canary_scores.routed_score IS 'Score of the routed (optimised) response, 0..1.';
COMMENT ON COLUMN tessera.canary_scores.baseline_score IS 'Score of the baseline response, 0..1.';
COMMENT ON COLUMN tessera.canary_scores.sampled_at IS 'When the request was sampled; its UTC day is the SLA day.';
COMMENT ON COLUMN tessera.canary_scores.recorded_at IS 'When the score was stored.';

SELECT tessera_private.make_append_only('tessera.canary_scores');
