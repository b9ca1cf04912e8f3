-- tessera.sla_run(now): the daily quality-SLA job (issue 15; seed "Quality SLA --
-- auto-rollback + 10% credit"), behind `tessera-db sla run [--now]` and the job
-- registry (one line: SELECT * FROM tessera.sla_run(now())).
--
-- Per (client, workload, stack, UTC day) of tessera.canary_scores.sampled_at, over the
-- 30 complete UTC days before now's day: the sample count and the mean routed_score.
--   qualifying day   at least 30 samples. A day with fewer (or none: a gap) neither
--                    counts toward a breach nor resets one: it is skipped, so "3
--                    consecutive days" means 3 consecutive qualifying days.
--   bad day          a qualifying day whose mean is below 0.95 (0.9499 is, 0.95 is not).
--   good day         a qualifying day with mean >= 0.95: resets the run of bad days.
--   breach           3 consecutive bad days; the run restarts after it (a breach
--                    consumes its days).
-- For each breach, once (its key: workload, stack, last day; anomalies_breach_key):
--   1. the credit: 10% of what the client was charged for that workload's requests
--      with that stack over the window (tessera.sla_credit_amount, documented there) as
--      a service_credit row in tessera.balance_transactions, dated now (so on the next
--      monthly bill); no row when the charge was 0 (the ledger takes positive credits);
--   2. an sla_breach anomaly, stack_disabled = true: that exact stack, for that
--      workload (surgical: m1+m7 breaching leaves m1 alone and m7 alone live), which
--      tessera.worker_config then lists in disabled_stacks; its trigger moves the
--      config version and NOTIFYs the worker. Its details carry the three days' means
--      and counts, the credit and the reactivation path, and the audit trigger writes
--      them as the breach's one audit event (the credit row gets the ledger's own).
-- A stack already disabled for the workload is not breached again; a breach already
-- recorded is reported with status 'already_recorded' and changes nothing: rerunning
-- for the same day, or any earlier day, writes nothing.
--
-- Returns one row per breach found in the window: status 'disabled' (new now) or
-- 'already_recorded'.
--
-- SECURITY INVOKER, EXECUTE for service_role only (BYPASSRLS: it reads every client's
-- scores; it may write anomalies and balance rows). The actor of its rows is the
-- service's JWT sub (`tessera-db sla run` uses "sla-run").
CREATE FUNCTION tessera.sla_run(p_now timestamptz DEFAULT now())
RETURNS TABLE (client_id uuid, workload_id uuid, mechanics text[], first_day date, last_day date,
               days jsonb, charged_usd numeric, credit_usd numeric, anomaly_id uuid,
               credit_transaction_id uuid, status text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    min_samples CONSTANT integer := 30;
    threshold CONSTANT numeric := 0.95;
    run_days CONSTANT integer := 3;
    lookback CONSTANT integer := 30;
    today date;
    g record;
    streak_days date[];
    streak_n bigint[];
    streak_mean numeric[];
    key text;
    existing tessera.anomalies;
    amount record;
    new_anomaly uuid;
    txn uuid;
BEGIN
    IF p_now IS NULL THEN
        RAISE EXCEPTION 'sla_run needs a clock' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    today := (p_now AT TIME ZONE 'UTC')::date;
    -- One run at a time (a second waits, then finds the first one's breaches recorded);
    -- the unique key anomalies_breach_key would refuse a duplicate breach anyway, taking
    -- its credit back with it.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('tessera.sla_run'));

    FOR g IN
        SELECT d.client_id, d.workload_id, d.mechanics,
               pg_catalog.array_agg(d.day ORDER BY d.day) AS day_list,
               pg_catalog.array_agg(d.n ORDER BY d.day) AS n_list,
               pg_catalog.array_agg(d.mean ORDER BY d.day) AS mean_list
          FROM (SELECT c.client_id, c.workload_id, c.mechanics, (c.sampled_at AT TIME ZONE 'UTC')::date AS day,
                       pg_catalog.count(*) AS n, pg_catalog.avg(c.routed_score) AS mean
                  FROM tessera.canary_scores AS c
                 WHERE c.sampled_at >= ((today - lookback)::timestamp AT TIME ZONE 'UTC')
                   AND c.sampled_at < (today::timestamp AT TIME ZONE 'UTC')
                 GROUP BY 1, 2, 3, 4) AS d
         GROUP BY d.client_id, d.workload_id, d.mechanics
         ORDER BY d.client_id, d.workload_id, d.mechanics
    LOOP
        streak_days := '{}';
        streak_n := '{}';
        streak_mean := '{}';
        FOR i IN 1 .. pg_catalog.cardinality(g.day_list) LOOP
            CONTINUE WHEN g.n_list[i] < min_samples;           -- thin or gap day: skipped
            IF g.mean_list[i] >= threshold THEN                -- good day: resets
                streak_days := '{}'; streak_n := '{}'; streak_mean := '{}';
                CONTINUE;
            END IF;
            streak_days := streak_days || g.day_list[i];
            streak_n := streak_n || g.n_list[i];
            streak_mean := streak_mean || g.mean_list[i];
            CONTINUE WHEN pg_catalog.cardinality(streak_days) < run_days;

            key := 'sla:' || g.workload_id::text || ':' || pg_catalog.array_to_string(g.mechanics, '+')
                   || ':' || streak_days[run_days]::text;
            client_id := g.client_id;
            workload_id := g.workload_id;
            mechanics := g.mechanics;
            first_day := streak_days[1];
            last_day := streak_days[run_days];
            days := (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                'day', streak_days[k], 'samples', streak_n[k], 'mean_routed_score', streak_mean[k])
                            ORDER BY k)
                       FROM pg_catalog.generate_series(1, run_days) AS k);
            streak_days := '{}'; streak_n := '{}'; streak_mean := '{}';

            SELECT a.* INTO existing FROM tessera.anomalies AS a
             WHERE a.client_id = g.client_id AND a.kind = 'sla_breach' AND a.dedupe_key = key;
            IF FOUND THEN
                charged_usd := (existing.details ->> 'charged_usd')::numeric;
                credit_usd := (existing.details ->> 'credit_usd')::numeric;
                anomaly_id := existing.anomaly_id;
                credit_transaction_id := (existing.details ->> 'credit_transaction_id')::uuid;
                status := 'already_recorded';
                RETURN NEXT;
                CONTINUE;
            END IF;
            IF EXISTS (SELECT 1 FROM tessera.anomalies AS a
                        WHERE a.client_id = g.client_id AND a.workload_id = g.workload_id
                          AND a.mechanics = g.mechanics AND a.stack_disabled) THEN
                CONTINUE;  -- the stack is already off (late scores of an earlier breach)
            END IF;

            SELECT * INTO amount FROM tessera.sla_credit_amount(g.client_id, g.workload_id, g.mechanics,
                                                                first_day, last_day);
            new_anomaly := gen_random_uuid();
            txn := NULL;
            IF amount.credit_usd > 0 THEN
                INSERT INTO tessera.balance_transactions AS t (client_id, kind, amount_usd, reason, actor)
                VALUES (g.client_id, 'service_credit', amount.credit_usd,
                        pg_catalog.format('quality SLA breach %s: workload %s, stack %s, %s..%s: 10%% of %s USD charged',
                                          new_anomaly, g.workload_id, pg_catalog.array_to_string(g.mechanics, '+'),
                                          first_day, last_day, amount.charged_usd),
                        '(stamped)')
                RETURNING t.transaction_id INTO txn;
            END IF;
            INSERT INTO tessera.anomalies AS a (client_id, anomaly_id, kind, workload_id, mechanics, dedupe_key,
                                                details, stack_disabled)
            VALUES (g.client_id, new_anomaly, 'sla_breach', g.workload_id, g.mechanics, key,
                    pg_catalog.jsonb_build_object(
                        'rule', 'mean routed_score < 0.95 on 3 consecutive qualifying days (>= 30 samples each)',
                        'days', days,
                        'first_day', first_day, 'last_day', last_day,
                        'requests', amount.requests,
                        'charged_usd', amount.charged_usd,
                        'credit_usd', amount.credit_usd,
                        'credit_transaction_id', txn,
                        'credit_rule', '10% of actual_cost_usd of the workload''s requests with exactly this stack in the window (tessera.sla_credit_amount)',
                        'disabled_stack', g.mechanics,
                        'reactivation', 'the client''s sponsor or an operator re-enables the stack with tessera.respond_to_anomaly(client_id, anomaly_id, ''reenable_stack'') (portal /portal/anomalies) once the eval set or prompt template is fixed'),
                    true);
            charged_usd := amount.charged_usd;
            credit_usd := amount.credit_usd;
            anomaly_id := new_anomaly;
            credit_transaction_id := txn;
            status := 'disabled';
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION tessera.sla_run(timestamptz) IS
    'The daily quality-SLA job: per workload and stack, 3 consecutive qualifying UTC days (>= 30 samples) with mean routed score < 0.95 disable that exact stack (sla_breach anomaly, new worker config version) and write a 10% service credit, once per breach. Idempotent. service_role only.';

REVOKE ALL ON FUNCTION tessera.sla_run(timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.sla_run(timestamptz) TO service_role;
