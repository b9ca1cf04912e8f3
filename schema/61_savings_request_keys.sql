-- tessera.savings_request_keys: the idempotency key of tessera.optimize_savings.
--
-- optimize_savings is partitioned by occurred_at, and a unique key on a partitioned
-- table must contain the partition key, so "request_id is unique per client" cannot be
-- declared there. This small non-partitioned table holds that key: PRIMARY KEY
-- (client_id, request_id), with the occurred_at of the one row it names (which also
-- tells a replay which partition holds the original). tessera.record_request() inserts
-- here first, in the same transaction as the savings row; a replay finds the key and
-- returns the original row instead of writing a duplicate. Append-only like the ledger.
CREATE TABLE tessera.savings_request_keys (
    client_id    uuid        NOT NULL,
    request_id   text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT savings_request_keys_pkey PRIMARY KEY (client_id, request_id),
    CONSTRAINT savings_request_keys_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE RESTRICT,
    CONSTRAINT savings_request_keys_request_id_length CHECK (char_length(request_id) BETWEEN 1 AND 200)
);

COMMENT ON TABLE tessera.savings_request_keys IS
    'Per-client uniqueness of optimize_savings.request_id (a partitioned table cannot hold it): (client_id, request_id) -> occurred_at of the original row. Append-only.';
COMMENT ON COLUMN tessera.savings_request_keys.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.savings_request_keys.request_id IS 'Proxy request id, unique per client.';
COMMENT ON COLUMN tessera.savings_request_keys.occurred_at IS 'occurred_at of the original optimize_savings row (its partition).';
COMMENT ON COLUMN tessera.savings_request_keys.recorded_at IS 'When the key was claimed.';

SELECT tessera_private.make_append_only('tessera.savings_request_keys');
