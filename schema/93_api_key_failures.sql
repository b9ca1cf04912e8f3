-- tessera.api_key_failures: failed API key verifications, the throttle's evidence.
--
-- tessera.verify_api_key() appends one row per failure (unknown, malformed, revoked,
-- expired or out-of-scope key) with the matched key's display hint (never the key nor
-- its hash; NULL when the key matched none),
-- the source IP the proxy passed and the time, and writes the same event to
-- tessera.audit_events (action auth_failure; rate_limited when a source reaches the
-- limit). The permanent record is the audit log; this table is the short-lived working
-- set of the throttle and is purged by `tessera-db sweep` after 7 days.
--
-- Throttle without a global lock: a source is refused (SQLSTATE TS429) while it has
-- 20 or more failures in the last 5 minutes. Checking is an index range scan on
-- (source, failed_at) bounded by LIMIT 20, recording is a plain INSERT: no counter row
-- is updated, so concurrent verifications never wait for each other, and failures from
-- different sources never touch the same index entries. Under concurrency a source may
-- overshoot the limit by the number of its in-flight calls; it is refused from then on.
--
-- A calling source without an IP is one source, 'unspecified': leaving out the IP
-- cannot dodge the throttle.
--
-- Platform table, not tenant data (no client_id): failures are mostly for keys that
-- match no client. Under Citus it stays a coordinator-local table, like audit_events.
CREATE TABLE tessera.api_key_failures (
    failure_id  bigint      GENERATED ALWAYS AS IDENTITY,
    source      text        NOT NULL,
    source_ip   inet,
    key_hint    text,
    reason      text        NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_key_failures_pkey PRIMARY KEY (failure_id),
    CONSTRAINT api_key_failures_source_matches_ip CHECK (
        source = COALESCE(host(source_ip), 'unspecified')),
    CONSTRAINT api_key_failures_key_hint_format CHECK (
        key_hint IS NULL OR key_hint ~ '^tk_…[A-Za-z0-9_-]{4}$' OR key_hint = '(malformed)'),
    CONSTRAINT api_key_failures_reason_known CHECK (
        reason IN ('malformed',     -- not the hashed form of a key (a raw key is refused, not recorded)
                   'unknown',       -- well-formed, matches no key
                   'revoked',       -- matches a revoked key
                   'expired',       -- matches an expired key
                   'out_of_scope')) -- valid key, but not for that workload or capability
);

CREATE INDEX api_key_failures_source_time_idx ON tessera.api_key_failures (source, failed_at);
CREATE INDEX api_key_failures_time_idx ON tessera.api_key_failures (failed_at);

COMMENT ON TABLE tessera.api_key_failures IS
    'Failed API key verifications (key hint, source IP, time, reason): the throttle''s working set, purged after 7 days by tessera-db sweep. The permanent record is audit_events (auth_failure / rate_limited).';
COMMENT ON COLUMN tessera.api_key_failures.failure_id IS 'Row id.';
COMMENT ON COLUMN tessera.api_key_failures.source IS 'Throttle bucket: host(source_ip), or ''unspecified'' when the proxy gave no IP.';
COMMENT ON COLUMN tessera.api_key_failures.source_ip IS 'Source IP the proxy passed, if any.';
COMMENT ON COLUMN tessera.api_key_failures.key_hint IS 'tk_… plus the presented key''s last 4 characters, or (malformed); never the key.';
COMMENT ON COLUMN tessera.api_key_failures.reason IS 'malformed | unknown | revoked | expired | out_of_scope.';
COMMENT ON COLUMN tessera.api_key_failures.failed_at IS 'When the verification failed.';
