-- tessera.monthly_readings: the issued, versioned monthly savings reading of a client.
--
-- One row per (client, month, version). tessera.issue_monthly_reading() computes the
-- figures from tessera.optimize_savings in one aggregate query and inserts the next
-- version; a correction is a new version with a correction_reason, never an edit: the
-- table is append-only (tessera_private.make_append_only: UPDATE, DELETE and TRUNCATE
-- are refused for every role, the owner included). tessera.rederive_monthly_reading()
-- recomputes the figures from the raw rows and lists where they differ from the latest
-- issued version.
--
-- The month is the UTC calendar month: rows with occurred_at in
-- [month 00:00 UTC, next month 00:00 UTC), whatever the session's TimeZone.
--
-- Breakdowns are JSONB arrays on the reading rather than a child table: a reading is
-- issued, shared and compared as one immutable document; a child table would need its
-- own append-only triggers, policies and matrix entry and a multi-row insert that must
-- stay in step with its parent, for rows nobody queries apart from their reading.
-- JSONB numbers are PostgreSQL numeric, so no cost is rounded through a float. Shape
-- (checked as far as CHECK cheaply can; fully produced by tessera.monthly_reading_figures):
--
--   by_mechanics    [{"mechanics": ["auto_route", "exact_cache"], <metrics>}, ...]
--                   one element per distinct mechanics stack (sorted text array, [] =
--                   no mechanic fired), ordered by the stack
--   by_feature_tag  [{"feature_tag": "search" | null, <metrics>}, ...]
--                   one element per feature_tag (null = untagged), nulls first
--   <metrics>       "requests", "uncached_input_tokens", "cache_read_input_tokens",
--                   "cache_write_5m_input_tokens", "cache_write_1h_input_tokens",
--                   "output_tokens", "reasoning_tokens" (integers), "original_cost_usd",
--                   "actual_cost_usd", "savings_usd" (exact decimals, USD)
CREATE TABLE tessera.monthly_readings (
    client_id                    uuid        NOT NULL,
    month                        date        NOT NULL,
    version                      integer     NOT NULL,
    requests                     bigint      NOT NULL,
    uncached_input_tokens        bigint      NOT NULL,
    cache_read_input_tokens      bigint      NOT NULL,
    cache_write_5m_input_tokens  bigint      NOT NULL,
    cache_write_1h_input_tokens  bigint      NOT NULL,
    output_tokens                bigint      NOT NULL,
    reasoning_tokens             bigint      NOT NULL,
    original_cost_usd            numeric     NOT NULL,
    actual_cost_usd              numeric     NOT NULL,
    savings_usd                  numeric     NOT NULL,
    by_mechanics                 jsonb       NOT NULL,
    by_feature_tag               jsonb       NOT NULL,
    snapshot_ids                 uuid[]      NOT NULL,
    issued_at                    timestamptz NOT NULL DEFAULT now(),
    issued_by                    text        NOT NULL,
    correction_reason            text,
    -- The rows this reading covers: the client-month's optimize_savings rows with
    -- recorded_seq <= recorded_cutoff (0: none). Rows recorded after the issuance (late
    -- measurements, replays of dead letters) have a greater recorded_seq; a correction
    -- version takes them in. See schema/60_optimize_savings.sql for why it is exact.
    recorded_cutoff              bigint      NOT NULL,
    -- client_id first: the tenant (Citus distribution) column leads every key.
    CONSTRAINT monthly_readings_pkey PRIMARY KEY (client_id, month, version),
    CONSTRAINT monthly_readings_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE RESTRICT,
    CONSTRAINT monthly_readings_month_is_first_day CHECK (month = date_trunc('month', month)::date),
    CONSTRAINT monthly_readings_version_positive CHECK (version >= 1),
    CONSTRAINT monthly_readings_recorded_cutoff_non_negative CHECK (recorded_cutoff >= 0),
    CONSTRAINT monthly_readings_counts_non_negative CHECK (
        requests >= 0 AND uncached_input_tokens >= 0 AND cache_read_input_tokens >= 0
        AND cache_write_5m_input_tokens >= 0 AND cache_write_1h_input_tokens >= 0
        AND output_tokens >= 0 AND reasoning_tokens >= 0),
    CONSTRAINT monthly_readings_breakdowns_are_arrays CHECK (
        jsonb_typeof(by_mechanics) = 'array' AND jsonb_typeof(by_feature_tag) = 'array'),
    CONSTRAINT monthly_readings_issued_by_not_blank CHECK (issued_by ~ '[^[:space:]]' AND char_length(issued_by) <= 400),
    -- A correction says why; the first version has nothing to correct.
    CONSTRAINT monthly_readings_correction_has_reason CHECK (
        (version = 1 AND correction_reason IS NULL)
        OR (version > 1 AND correction_reason ~ '[^[:space:]]' AND char_length(correction_reason) <= 1000))
);

SELECT tessera_private.make_append_only('tessera.monthly_readings');

COMMENT ON TABLE tessera.monthly_readings IS
    'Issued monthly savings readings, per client and UTC month, versioned and append-only: a correction is a new version. Issued by tessera.issue_monthly_reading(), checked by tessera.rederive_monthly_reading().';
COMMENT ON COLUMN tessera.monthly_readings.client_id IS 'The client; leads the primary key.';
COMMENT ON COLUMN tessera.monthly_readings.month IS 'First day of the UTC calendar month the reading covers.';
COMMENT ON COLUMN tessera.monthly_readings.version IS '1 for the first issue; each correction adds the next version. The latest version is the reading in force.';
COMMENT ON COLUMN tessera.monthly_readings.requests IS 'Proxied requests (optimize_savings rows) in the month.';
COMMENT ON COLUMN tessera.monthly_readings.uncached_input_tokens IS 'Sum of uncached input tokens.';
COMMENT ON COLUMN tessera.monthly_readings.cache_read_input_tokens IS 'Sum of input tokens served from the provider prompt cache.';
COMMENT ON COLUMN tessera.monthly_readings.cache_write_5m_input_tokens IS 'Sum of input tokens written to a 5-minute prompt cache.';
COMMENT ON COLUMN tessera.monthly_readings.cache_write_1h_input_tokens IS 'Sum of input tokens written to a 1-hour prompt cache.';
COMMENT ON COLUMN tessera.monthly_readings.output_tokens IS 'Sum of output tokens.';
COMMENT ON COLUMN tessera.monthly_readings.reasoning_tokens IS 'Sum of reasoning tokens where reported (unreported counts as 0).';
COMMENT ON COLUMN tessera.monthly_readings.original_cost_usd IS 'Sum of original_cost_usd: what the requested models would have cost (USD, exact).';
COMMENT ON COLUMN tessera.monthly_readings.actual_cost_usd IS 'Sum of actual_cost_usd: what the routed models cost (USD, exact).';
COMMENT ON COLUMN tessera.monthly_readings.savings_usd IS 'Sum of the rows'' savings_usd (USD, exact).';
COMMENT ON COLUMN tessera.monthly_readings.by_mechanics IS 'Breakdown by mechanics stack: [{"mechanics": [...], requests, token buckets, costs, savings}], ordered by stack. See the table file for the shape.';
COMMENT ON COLUMN tessera.monthly_readings.by_feature_tag IS 'Breakdown by feature_tag: [{"feature_tag": text|null, requests, token buckets, costs, savings}], untagged (null) first.';
COMMENT ON COLUMN tessera.monthly_readings.snapshot_ids IS 'Sorted distinct pricing_catalog snapshot ids (requested and routed) the month''s costs used.';
COMMENT ON COLUMN tessera.monthly_readings.issued_at IS 'When this version was issued.';
COMMENT ON COLUMN tessera.monthly_readings.issued_by IS 'Actor that issued it: "<database role>:<JWT email or sub>", e.g. authenticated:ops@tessera.example or service_role:nightly-readings.';
COMMENT ON COLUMN tessera.monthly_readings.recorded_cutoff IS 'Cut-off of the rows covered: the client-month''s optimize_savings rows with recorded_seq <= this (the greatest recorded_seq at issuance; 0 = none). Rows recorded later are not in this version; rederive lists them apart.';
COMMENT ON COLUMN tessera.monthly_readings.correction_reason IS 'Why this version corrects the previous one; NULL for version 1, required after.';
