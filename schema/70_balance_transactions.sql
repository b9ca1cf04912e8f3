-- tessera.balance_transactions: the append-only balance ledger of each client.
--
-- Top-ups, usage charges, service credits and adjustments, each signed by its kind
-- (CHECK balance_transactions_amount_sign), with a required reason and a stamped actor
-- (trigger balance_transactions_stamp: JWT email or sub, database role, created_at).
-- The balance is never stored: tessera.client_balances sums the ledger with the
-- caller's own row-level security (security_invoker), so concurrent writers each append
-- a row and no update can be lost. Rows are never changed or removed (no UPDATE, DELETE
-- or TRUNCATE privilege, and the make_append_only triggers for every role); a mistake
-- is corrected by an adjustment row.
CREATE TABLE tessera.balance_transactions (
    client_id       uuid        NOT NULL,
    transaction_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    kind            text        NOT NULL,
    amount_usd      numeric     NOT NULL,
    reason          text        NOT NULL,
    actor           text        NOT NULL,
    db_role         text        NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT balance_transactions_pkey PRIMARY KEY (client_id, transaction_id),
    CONSTRAINT balance_transactions_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE RESTRICT,
    CONSTRAINT balance_transactions_kind_known CHECK (
        kind IN ('top_up',          -- money in from the client
                 'usage_charge',    -- money out for proxied usage
                 'service_credit',  -- money in from us (goodwill, SLA credit)
                 'adjustment')),    -- a correction, either direction
    CONSTRAINT balance_transactions_amount_sign CHECK (
        CASE kind
            WHEN 'top_up' THEN amount_usd > 0
            WHEN 'usage_charge' THEN amount_usd < 0
            WHEN 'service_credit' THEN amount_usd > 0
            WHEN 'adjustment' THEN amount_usd <> 0
        END),
    CONSTRAINT balance_transactions_amount_bounded CHECK (abs(amount_usd) < 1000000000 AND scale(amount_usd) <= 12),
    CONSTRAINT balance_transactions_reason_not_blank CHECK (reason ~ '[^[:space:]]' AND char_length(reason) <= 500),
    CONSTRAINT balance_transactions_actor_not_blank CHECK (actor ~ '[^[:space:]]' AND char_length(actor) <= 320)
);

CREATE INDEX balance_transactions_client_created_idx ON tessera.balance_transactions (client_id, created_at);

CREATE TRIGGER balance_transactions_stamp
    BEFORE INSERT ON tessera.balance_transactions
    FOR EACH ROW EXECUTE FUNCTION tessera_private.stamp_balance_transaction();
ALTER TABLE tessera.balance_transactions ENABLE ALWAYS TRIGGER balance_transactions_stamp;

COMMENT ON TABLE tessera.balance_transactions IS
    'Append-only balance ledger: top-ups, usage charges, service credits, adjustments, each with reason and stamped actor. The balance is derived (tessera.client_balances), never stored.';
COMMENT ON COLUMN tessera.balance_transactions.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.balance_transactions.transaction_id IS 'Transaction key within the client.';
COMMENT ON COLUMN tessera.balance_transactions.kind IS 'top_up (> 0), usage_charge (< 0), service_credit (> 0), adjustment (<> 0).';
COMMENT ON COLUMN tessera.balance_transactions.amount_usd IS 'Signed USD amount; its sign is fixed by kind.';
COMMENT ON COLUMN tessera.balance_transactions.reason IS 'Why: required, non-blank.';
COMMENT ON COLUMN tessera.balance_transactions.actor IS 'Who: JWT email, or JWT sub for a service job (stamped by trigger, never supplied).';
COMMENT ON COLUMN tessera.balance_transactions.db_role IS 'Database role that wrote the row (stamped by trigger).';
COMMENT ON COLUMN tessera.balance_transactions.created_at IS 'When the row was written (stamped by trigger).';

SELECT tessera_private.make_append_only('tessera.balance_transactions');

-- The derived balance. security_invoker: the caller's own row-level security applies,
-- so a sponsor sums only their own clients' rows.
CREATE VIEW tessera.client_balances WITH (security_invoker = true) AS
SELECT t.client_id,
       sum(t.amount_usd) AS balance_usd,
       count(*) AS transactions,
       max(t.created_at) AS last_transaction_at
  FROM tessera.balance_transactions AS t
 GROUP BY t.client_id;

COMMENT ON VIEW tessera.client_balances IS
    'Balance per client, derived from tessera.balance_transactions under the caller''s RLS (security_invoker).';
