-- tessera.sla_credit_rederive(client, month): re-derive every quality-SLA service credit
-- written in a month from the raw rows (issue 15), for `tessera-db readings rederive`
-- (tessera_db/sla.py): one row per sla_breach anomaly of the client whose credit falls
-- in that UTC month (its balance row's created_at; a breach with no charge has no row
-- and is dated by opened_at), with the credit recorded in tessera.balance_transactions
-- and the credit tessera.sla_credit_amount computes now from optimize_savings for the
-- breach's window, and whether they agree.
--
-- SECURITY INVOKER: the caller's own RLS applies (sponsors their own clients).
CREATE FUNCTION tessera.sla_credit_rederive(p_client_id uuid, p_month date)
RETURNS TABLE (anomaly_id uuid, workload_id uuid, mechanics text[], first_day date, last_day date,
               credit_transaction_id uuid, recorded_usd numeric, rederived_usd numeric, agrees boolean)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT a.anomaly_id, a.workload_id, a.mechanics, (a.details ->> 'first_day')::date,
           (a.details ->> 'last_day')::date, t.transaction_id, COALESCE(t.amount_usd, 0), r.credit_usd,
           COALESCE(t.amount_usd, 0) = r.credit_usd
      FROM tessera.anomalies AS a
      LEFT JOIN tessera.balance_transactions AS t
        ON t.client_id = a.client_id AND t.transaction_id = (a.details ->> 'credit_transaction_id')::uuid
     CROSS JOIN LATERAL tessera.sla_credit_amount(a.client_id, a.workload_id, a.mechanics,
                                                  (a.details ->> 'first_day')::date,
                                                  (a.details ->> 'last_day')::date) AS r
     WHERE a.client_id = p_client_id AND a.kind = 'sla_breach'
       AND COALESCE(t.created_at, a.opened_at) >= (pg_catalog.date_trunc('month', p_month)::timestamp AT TIME ZONE 'UTC')
       AND COALESCE(t.created_at, a.opened_at)
           < ((pg_catalog.date_trunc('month', p_month) + interval '1 month')::timestamp AT TIME ZONE 'UTC')
     ORDER BY a.opened_at, a.anomaly_id
$function$;

COMMENT ON FUNCTION tessera.sla_credit_rederive(uuid, date) IS
    'Per quality-SLA breach credited in the month: the recorded service credit and the one re-derived now from optimize_savings (tessera.sla_credit_amount), and whether they agree. Invoker rights.';

REVOKE ALL ON FUNCTION tessera.sla_credit_rederive(uuid, date) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.sla_credit_rederive(uuid, date) TO authenticated, service_role;
