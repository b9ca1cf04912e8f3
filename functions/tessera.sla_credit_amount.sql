-- tessera.sla_credit_amount(client, workload, stack, first_day, last_day): the quality
-- SLA's service credit for one breach, from the ledger (issue 15; docs/operations.md).
--
-- Attribution: what the client was charged for that workload's requests with exactly
-- that stack over the breach window is the sum of actual_cost_usd (the request as sent,
-- priced in the database at its snapshot: what the proxy's usage charges bill) of the
-- tessera.optimize_savings rows with this client, this workload, mechanics = the stack
-- (sorted, distinct: a request with m1+m7 is the m1+m7 stack, never m1 alone) and
-- occurred_at in [first_day 00:00 UTC, last_day + 1 00:00 UTC). The credit is 10% of
-- it, rounded to 12 decimal places (the ledger's scale), half away from zero.
--
-- tessera.sla_run writes exactly this amount; tessera.sla_credit_rederive recomputes it
-- for `tessera-db readings rederive`. SECURITY INVOKER: the caller's own RLS applies.
CREATE FUNCTION tessera.sla_credit_amount(p_client_id uuid, p_workload_id uuid, p_mechanics text[],
                                          p_first_day date, p_last_day date)
RETURNS TABLE (requests bigint, charged_usd numeric, credit_usd numeric)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.count(*),
           COALESCE(pg_catalog.sum(s.actual_cost_usd), 0),
           pg_catalog.round(COALESCE(pg_catalog.sum(s.actual_cost_usd), 0) * 0.10, 12)
      FROM tessera.optimize_savings AS s
     WHERE s.client_id = p_client_id
       AND s.workload_id = p_workload_id
       AND s.mechanics = p_mechanics
       AND s.occurred_at >= (p_first_day::timestamp AT TIME ZONE 'UTC')
       AND s.occurred_at < ((p_last_day + 1)::timestamp AT TIME ZONE 'UTC')
$function$;

COMMENT ON FUNCTION tessera.sla_credit_amount(uuid, uuid, text[], date, date) IS
    'The quality-SLA credit of one breach: 10% (rounded to 12 places) of the actual_cost_usd of the workload''s requests with exactly that stack in the breach window (UTC days). Used by tessera.sla_run and tessera.sla_credit_rederive. Invoker rights.';

REVOKE ALL ON FUNCTION tessera.sla_credit_amount(uuid, uuid, text[], date, date) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.sla_credit_amount(uuid, uuid, text[], date, date) TO authenticated, service_role;
