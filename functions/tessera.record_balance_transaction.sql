-- tessera.record_balance_transaction(client, kind, amount, reason): append one row to a
-- client's balance ledger and return it.
--
-- Operators (JWT email in tessera.operators) and server-side jobs (service_role) only:
-- SECURITY INVOKER, so the INSERT passes the caller's own privileges and policies
-- (authenticated may insert only as an operator; service_role bypasses RLS). The
-- stamping trigger sets actor, db_role and created_at. Concurrent calls each append a
-- row; the balance is a sum, so none can be lost.
CREATE FUNCTION tessera.record_balance_transaction(p_client_id uuid, p_kind text,
                                                   p_amount_usd numeric, p_reason text)
RETURNS tessera.balance_transactions
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    INSERT INTO tessera.balance_transactions (client_id, kind, amount_usd, reason, actor)
    VALUES (p_client_id, p_kind, p_amount_usd, p_reason, '(stamped)')
    RETURNING *
$function$;

COMMENT ON FUNCTION tessera.record_balance_transaction(uuid, text, numeric, text) IS
    'Append a top_up / usage_charge / service_credit / adjustment to a client''s balance ledger (operators and service_role; invoker rights). Returns the row.';

REVOKE ALL ON FUNCTION tessera.record_balance_transaction(uuid, text, numeric, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.record_balance_transaction(uuid, text, numeric, text) TO authenticated;
GRANT EXECUTE ON FUNCTION tessera.record_balance_transaction(uuid, text, numeric, text) TO service_role;
