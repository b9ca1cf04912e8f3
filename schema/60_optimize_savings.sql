-- tessera.optimize_savings: one row per proxied request, append-only, partitioned by
-- month of occurred_at from day one.
--
-- Written only through tessera.record_request() (SECURITY DEFINER, EXECUTE for the
-- proxy login): it picks the price snapshots in force at occurred_at and computes both
-- costs here, in the database; a caller never supplies a cost. Rows are never updated
-- when prices change later (they point at immutable pricing snapshots), and UPDATE,
-- DELETE and TRUNCATE are refused for every role (no privilege, plus the
-- make_append_only triggers, ENABLE ALWAYS, on the parent and every partition).
--
-- Idempotency and the partition key. PostgreSQL requires every unique key of a
-- partitioned table to contain the partition key, so (client_id, request_id) cannot be
-- unique here: the primary key below is (client_id, request_id, occurred_at), which
-- would let a replay with a different occurred_at in. The per-client uniqueness of
-- request_id therefore lives in the small, NON-partitioned table
-- tessera.savings_request_keys (schema/61_savings_request_keys.sql): PRIMARY KEY
-- (client_id, request_id) -> occurred_at. record_request() claims the key first
-- (INSERT ... ON CONFLICT DO NOTHING, which waits for a concurrent claimer to commit);
-- if the key exists it returns the original row, found via its occurred_at, which also
-- prunes the lookup to one partition.
--
-- Cut-off of a monthly reading (docs/readings.md). recorded_seq numbers the rows in the
-- order they were written (a sequence, so it is monotonic across all writers and
-- survives dump/restore, unlike transaction ids or recorded_at, which is the writer's
-- transaction START and so can be earlier than an issuance it commits after). Every
-- writer (tessera_private.ingest_requests) first takes, for each (client, UTC month) it
-- writes, a SHARED transaction advisory lock on the same key that
-- tessera.issue_monthly_reading takes EXCLUSIVELY: an issuance waits for the in-flight
-- writers of that client-month to commit and holds back new ones until it commits. So
-- the rows a reading covers are exactly the client-month's rows with recorded_seq <= the
-- reading's recorded_cutoff, and every row written later has a greater recorded_seq.
--
-- Token buckets are non-overlapping: uncached input + cache reads + 5-minute cache
-- writes + 1-hour cache writes = the whole prompt; output excludes reasoning. When the
-- provider reported totals (reported_input_tokens, reported_output_tokens) they must
-- equal the sums of the buckets, so a cached token cannot be counted twice (see
-- docs/usage-buckets.md for how OpenAI- and Anthropic-style usage objects map here).
CREATE TABLE tessera.optimize_savings (
    client_id                    uuid        NOT NULL,
    workload_id                  uuid        NOT NULL,
    request_id                   text        NOT NULL,
    occurred_at                  timestamptz NOT NULL,
    recorded_at                  timestamptz NOT NULL DEFAULT now(),
    requested_provider           text        NOT NULL,
    requested_model              text        NOT NULL,
    routed_provider              text        NOT NULL,
    routed_model                 text        NOT NULL,
    requested_snapshot_id        uuid        NOT NULL,
    routed_snapshot_id           uuid        NOT NULL,
    uncached_input_tokens        bigint      NOT NULL DEFAULT 0,
    cache_read_input_tokens      bigint      NOT NULL DEFAULT 0,
    cache_write_5m_input_tokens  bigint      NOT NULL DEFAULT 0,
    cache_write_1h_input_tokens  bigint      NOT NULL DEFAULT 0,
    output_tokens                bigint      NOT NULL DEFAULT 0,
    reasoning_tokens             bigint,
    reported_input_tokens        bigint,
    reported_output_tokens       bigint,
    batch                        boolean     NOT NULL DEFAULT false,
    original_cost_usd            numeric     NOT NULL,
    actual_cost_usd              numeric     NOT NULL,
    savings_usd                  numeric     GENERATED ALWAYS AS (original_cost_usd - actual_cost_usd) STORED,
    mechanics                    text[]      NOT NULL DEFAULT '{}',
    finish_reason                text,
    feature_tag                  text,
    customer_tag                 text,
    -- Issue 15: the worker config version the proxy acted on (NULL = unknown: recorded
    -- without one) and the mechanics that fired without consent at that version or
    -- under the kill switch; no saving is credited to those (docs/operations.md).
    worker_config_version        bigint,
    unconsented_mechanics        text[]      NOT NULL DEFAULT '{}',
    -- Monotonic recording order (see the cut-off note above): assigned by the INSERT,
    -- after the writer holds its shared (client, month) lock, so a row a reading does not
    -- cover always has a greater number than every row it does.
    recorded_seq                 bigserial   NOT NULL,
    -- Contains the partition key (required); per-client uniqueness of request_id is in
    -- tessera.savings_request_keys (see above).
    CONSTRAINT optimize_savings_pkey PRIMARY KEY (client_id, request_id, occurred_at),
    CONSTRAINT optimize_savings_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON DELETE RESTRICT,
    CONSTRAINT optimize_savings_requested_snapshot_fkey FOREIGN KEY (requested_snapshot_id)
        REFERENCES tessera.pricing_catalog (pricing_snapshot_id) ON DELETE RESTRICT,
    CONSTRAINT optimize_savings_routed_snapshot_fkey FOREIGN KEY (routed_snapshot_id)
        REFERENCES tessera.pricing_catalog (pricing_snapshot_id) ON DELETE RESTRICT,
    CONSTRAINT optimize_savings_request_id_length CHECK (char_length(request_id) BETWEEN 1 AND 200),
    CONSTRAINT optimize_savings_models_length CHECK (
        char_length(requested_provider) BETWEEN 1 AND 100 AND char_length(requested_model) BETWEEN 1 AND 200
        AND char_length(routed_provider) BETWEEN 1 AND 100 AND char_length(routed_model) BETWEEN 1 AND 200),
    CONSTRAINT optimize_savings_tokens_non_negative CHECK (
        uncached_input_tokens >= 0 AND cache_read_input_tokens >= 0
        AND cache_write_5m_input_tokens >= 0 AND cache_write_1h_input_tokens >= 0
        AND output_tokens >= 0 AND COALESCE(reasoning_tokens, 0) >= 0),
    -- Cached tokens are counted once: a reported prompt total is exactly the sum of the
    -- four input buckets, a reported completion total exactly output + reasoning.
    CONSTRAINT optimize_savings_input_total_matches CHECK (
        reported_input_tokens IS NULL
        OR reported_input_tokens = uncached_input_tokens + cache_read_input_tokens
                                   + cache_write_5m_input_tokens + cache_write_1h_input_tokens),
    CONSTRAINT optimize_savings_output_total_matches CHECK (
        reported_output_tokens IS NULL
        OR reported_output_tokens = output_tokens + COALESCE(reasoning_tokens, 0)),
    CONSTRAINT optimize_savings_costs_non_negative CHECK (original_cost_usd >= 0 AND actual_cost_usd >= 0),
    CONSTRAINT optimize_savings_mechanics_known CHECK (tessera_private.mechanics_are_valid(mechanics)),
    CONSTRAINT optimize_savings_finish_reason_length CHECK (char_length(finish_reason) BETWEEN 1 AND 64),
    CONSTRAINT optimize_savings_feature_tag_length CHECK (char_length(feature_tag) BETWEEN 1 AND 100),
    CONSTRAINT optimize_savings_customer_tag_length CHECK (char_length(customer_tag) BETWEEN 1 AND 100),
    -- We never store end-user personal data (tessera_private.tag_pii_kind).
    CONSTRAINT optimize_savings_feature_tag_not_pii CHECK (tessera_private.tag_pii_kind(feature_tag) IS NULL),
    CONSTRAINT optimize_savings_customer_tag_not_pii CHECK (tessera_private.tag_pii_kind(customer_tag) IS NULL),
    CONSTRAINT optimize_savings_unconsented_fired CHECK (unconsented_mechanics <@ mechanics)
) PARTITION BY RANGE (occurred_at);

-- Month-to-date and monthly-reading queries: one client, a time range.
CREATE INDEX optimize_savings_client_occurred_idx ON tessera.optimize_savings (client_id, occurred_at);

COMMENT ON TABLE tessera.optimize_savings IS
    'Append-only, one row per proxied request, partitioned by UTC month of occurred_at. Written only by tessera.record_request(); costs computed in the database from pricing snapshots; request_id is unique per client through tessera.savings_request_keys.';
COMMENT ON COLUMN tessera.optimize_savings.client_id IS 'Owning client; leads every key.';
COMMENT ON COLUMN tessera.optimize_savings.workload_id IS 'Workload of the client that sent the request.';
COMMENT ON COLUMN tessera.optimize_savings.request_id IS 'Proxy request id, unique per client (tessera.savings_request_keys); 1..200 characters.';
COMMENT ON COLUMN tessera.optimize_savings.occurred_at IS 'When the request happened; the partition key and the instant prices are taken at.';
COMMENT ON COLUMN tessera.optimize_savings.recorded_at IS 'When the row was written.';
COMMENT ON COLUMN tessera.optimize_savings.requested_provider IS 'Provider the client asked for.';
COMMENT ON COLUMN tessera.optimize_savings.requested_model IS 'Model the client asked for (priced as original_cost_usd).';
COMMENT ON COLUMN tessera.optimize_savings.routed_provider IS 'Provider the request actually went to.';
COMMENT ON COLUMN tessera.optimize_savings.routed_model IS 'Model the request actually went to (priced as actual_cost_usd).';
COMMENT ON COLUMN tessera.optimize_savings.requested_snapshot_id IS 'pricing_catalog version in force for the requested model at occurred_at.';
COMMENT ON COLUMN tessera.optimize_savings.routed_snapshot_id IS 'pricing_catalog version in force for the routed model at occurred_at.';
COMMENT ON COLUMN tessera.optimize_savings.uncached_input_tokens IS 'Prompt tokens neither read from nor written to the provider cache.';
COMMENT ON COLUMN tessera.optimize_savings.cache_read_input_tokens IS 'Prompt tokens read from the provider cache.';
COMMENT ON COLUMN tessera.optimize_savings.cache_write_5m_input_tokens IS 'Prompt tokens written to a 5-minute provider cache.';
COMMENT ON COLUMN tessera.optimize_savings.cache_write_1h_input_tokens IS 'Prompt tokens written to a 1-hour provider cache.';
COMMENT ON COLUMN tessera.optimize_savings.output_tokens IS 'Completion tokens excluding reasoning tokens.';
COMMENT ON COLUMN tessera.optimize_savings.reasoning_tokens IS 'Reasoning tokens where the provider reports them (NULL: not reported); billed at the output price.';
COMMENT ON COLUMN tessera.optimize_savings.reported_input_tokens IS 'Prompt total as the provider reported it, if it did; must equal the sum of the four input buckets.';
COMMENT ON COLUMN tessera.optimize_savings.reported_output_tokens IS 'Completion total as the provider reported it, if it did; must equal output + reasoning.';
COMMENT ON COLUMN tessera.optimize_savings.batch IS 'Sent through the provider batch API (batch prices).';
COMMENT ON COLUMN tessera.optimize_savings.original_cost_usd IS 'Cost at the requested model''s snapshot, computed by record_request.';
COMMENT ON COLUMN tessera.optimize_savings.actual_cost_usd IS 'Cost at the routed model''s snapshot (0 for a Tessera cache hit), computed by record_request.';
COMMENT ON COLUMN tessera.optimize_savings.savings_usd IS 'original_cost_usd - actual_cost_usd (generated).';
COMMENT ON COLUMN tessera.optimize_savings.mechanics IS 'Mechanics that fired, sorted and distinct, from the known set (mechanic_* flags of workloads).';
COMMENT ON COLUMN tessera.optimize_savings.finish_reason IS 'Provider finish reason, as reported.';
COMMENT ON COLUMN tessera.optimize_savings.feature_tag IS 'Optional client-chosen feature label; never personal data (email/phone/card refused).';
COMMENT ON COLUMN tessera.optimize_savings.recorded_seq IS 'Monotonic recording order (a sequence, assigned at INSERT under the writer''s shared client-month lock); a monthly reading covers the rows with recorded_seq <= its recorded_cutoff.';
COMMENT ON COLUMN tessera.optimize_savings.customer_tag IS 'Optional client-chosen customer segment label; never personal data (email/phone/card refused).';
COMMENT ON COLUMN tessera.optimize_savings.worker_config_version IS 'The worker config version the proxy acted on (tessera.worker_config_versions); NULL = unknown (recorded without one).';
COMMENT ON COLUMN tessera.optimize_savings.unconsented_mechanics IS 'Mechanics that fired without consent (not allowed at that config version, or under the kill switch): no saving credited to them (docs/operations.md).';

SELECT tessera_private.make_append_only('tessera.optimize_savings');

-- Partitions for the previous, current and next UTC month plus DEFAULT, so the declared
-- SQL and the migration that runs it agree; a scheduled job keeps creating months ahead.
SELECT tessera_private.create_savings_partitions(
    (pg_catalog.date_trunc('month', pg_catalog.now() AT TIME ZONE 'UTC') - interval '1 month')::date, 3);
