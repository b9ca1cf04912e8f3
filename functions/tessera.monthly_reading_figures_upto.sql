-- tessera.monthly_reading_figures_upto(client_id, month, recorded_cutoff): the figures of a
-- monthly reading computed now from the raw tessera.optimize_savings rows recorded up to
-- a cut-off: rows with recorded_seq <= p_recorded_cutoff (NULL: every row recorded so
-- far). An issued reading keeps its cut-off (tessera.monthly_readings.recorded_cutoff),
-- so the same figures can be recomputed at any later time, whatever was recorded since.
--
-- One aggregate query, one scan of the month's partition: GROUPING SETS produce the
-- totals, the per-mechanics-stack and per-feature_tag groups and the distinct snapshot
-- ids together, and the outer query folds them into the reading's columns (the same
-- names and types as tessera.monthly_readings, so issue and rederive use the same
-- definition of every figure). The month is the UTC calendar month; p_month must be its
-- first day.
--
-- SECURITY INVOKER: the caller's own row-level security applies (a sponsor gets figures
-- of their own clients only, zeros otherwise). Used by tessera.issue_monthly_reading,
-- tessera.rederive_monthly_reading and tessera.monthly_reading_figures.
CREATE FUNCTION tessera.monthly_reading_figures_upto(p_client_id uuid, p_month date, p_recorded_cutoff bigint)
RETURNS TABLE (
    requests                     bigint,
    uncached_input_tokens        bigint,
    cache_read_input_tokens      bigint,
    cache_write_5m_input_tokens  bigint,
    cache_write_1h_input_tokens  bigint,
    output_tokens                bigint,
    reasoning_tokens             bigint,
    original_cost_usd            numeric,
    actual_cost_usd              numeric,
    savings_usd                  numeric,
    by_mechanics                 jsonb,
    by_feature_tag               jsonb,
    snapshot_ids                 uuid[]
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
BEGIN
    IF p_client_id IS NULL OR p_month IS NULL THEN
        RAISE EXCEPTION 'client and month are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_month <> pg_catalog.date_trunc('month', p_month)::date THEN
        RAISE EXCEPTION 'month must be the first day of a month, got %', p_month
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN QUERY
    WITH grouped AS (
        -- gset: bit 3 mechanics, 2 feature_tag, 1 requested snapshot, 0 routed snapshot
        -- (a bit is 0 when the set groups by that column). 15 = the totals.
        SELECT GROUPING(s.mechanics, s.feature_tag, s.requested_snapshot_id, s.routed_snapshot_id) AS gset,
               s.mechanics, s.feature_tag, s.requested_snapshot_id, s.routed_snapshot_id,
               pg_catalog.count(*) AS requests,
               COALESCE(pg_catalog.sum(s.uncached_input_tokens), 0)::bigint AS uncached_input_tokens,
               COALESCE(pg_catalog.sum(s.cache_read_input_tokens), 0)::bigint AS cache_read_input_tokens,
               COALESCE(pg_catalog.sum(s.cache_write_5m_input_tokens), 0)::bigint AS cache_write_5m_input_tokens,
               COALESCE(pg_catalog.sum(s.cache_write_1h_input_tokens), 0)::bigint AS cache_write_1h_input_tokens,
               COALESCE(pg_catalog.sum(s.output_tokens), 0)::bigint AS output_tokens,
               COALESCE(pg_catalog.sum(s.reasoning_tokens), 0)::bigint AS reasoning_tokens,
               COALESCE(pg_catalog.sum(s.original_cost_usd), 0) AS original_cost_usd,
               COALESCE(pg_catalog.sum(s.actual_cost_usd), 0) AS actual_cost_usd,
               COALESCE(pg_catalog.sum(s.savings_usd), 0) AS savings_usd
          FROM tessera.optimize_savings AS s
         WHERE s.client_id = p_client_id
           AND s.occurred_at >= (p_month::timestamp AT TIME ZONE 'UTC')
           AND s.occurred_at < ((p_month + 1 * interval '1 month')::timestamp AT TIME ZONE 'UTC')
           AND (p_recorded_cutoff IS NULL OR s.recorded_seq <= p_recorded_cutoff)
         GROUP BY GROUPING SETS ((), (s.mechanics), (s.feature_tag),
                                 (s.requested_snapshot_id), (s.routed_snapshot_id))
    ),
    metrics AS (
        SELECT g.*,
               pg_catalog.jsonb_build_object(
                   'requests', g.requests,
                   'uncached_input_tokens', g.uncached_input_tokens,
                   'cache_read_input_tokens', g.cache_read_input_tokens,
                   'cache_write_5m_input_tokens', g.cache_write_5m_input_tokens,
                   'cache_write_1h_input_tokens', g.cache_write_1h_input_tokens,
                   'output_tokens', g.output_tokens,
                   'reasoning_tokens', g.reasoning_tokens,
                   'original_cost_usd', g.original_cost_usd,
                   'actual_cost_usd', g.actual_cost_usd,
                   'savings_usd', g.savings_usd) AS m
          FROM grouped AS g
    )
    SELECT t.requests, t.uncached_input_tokens, t.cache_read_input_tokens,
           t.cache_write_5m_input_tokens, t.cache_write_1h_input_tokens, t.output_tokens,
           t.reasoning_tokens, t.original_cost_usd, t.actual_cost_usd, t.savings_usd,
           COALESCE((SELECT pg_catalog.jsonb_agg(
                                pg_catalog.jsonb_build_object('mechanics', pg_catalog.to_jsonb(x.mechanics)) || x.m
                                ORDER BY x.mechanics)
                       FROM metrics AS x WHERE x.gset = 7), '[]'::jsonb),
           COALESCE((SELECT pg_catalog.jsonb_agg(
                                pg_catalog.jsonb_build_object('feature_tag', x.feature_tag) || x.m
                                ORDER BY x.feature_tag NULLS FIRST)
                       FROM metrics AS x WHERE x.gset = 11), '[]'::jsonb),
           COALESCE((SELECT pg_catalog.array_agg(DISTINCT u.id ORDER BY u.id)
                       FROM metrics AS x,
                            LATERAL (VALUES (CASE x.gset WHEN 13 THEN x.requested_snapshot_id
                                                         WHEN 14 THEN x.routed_snapshot_id END)) AS u (id)
                      WHERE x.gset IN (13, 14) AND u.id IS NOT NULL), '{}'::uuid[])
      FROM metrics AS t
     WHERE t.gset = 15;
END
$function$;

COMMENT ON FUNCTION tessera.monthly_reading_figures_upto(uuid, date, bigint) IS
    'Figures of a monthly reading (UTC month starting p_month) computed now from the tessera.optimize_savings rows with recorded_seq <= p_recorded_cutoff (NULL: all) in one aggregate query; same columns as tessera.monthly_readings. Invoker rights: the caller''s RLS applies.';

REVOKE ALL ON FUNCTION tessera.monthly_reading_figures_upto(uuid, date, bigint) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.monthly_reading_figures_upto(uuid, date, bigint) TO authenticated;
GRANT EXECUTE ON FUNCTION tessera.monthly_reading_figures_upto(uuid, date, bigint) TO service_role;
