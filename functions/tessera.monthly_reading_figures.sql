-- tessera.monthly_reading_figures(client_id, month): the figures of a monthly reading,
-- computed now from every raw tessera.optimize_savings row recorded so far (a
-- month-to-date view for the portal). The one definition of the figures is
-- tessera.monthly_reading_figures_upto; this is it without a cut-off.
--
-- SECURITY INVOKER: the caller's own row-level security applies (a sponsor gets figures
-- of their own clients only, zeros otherwise).
CREATE FUNCTION tessera.monthly_reading_figures(p_client_id uuid, p_month date)
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
BEGIN
    RETURN QUERY SELECT * FROM tessera.monthly_reading_figures_upto(p_client_id, p_month, NULL);
END
$function$;

COMMENT ON FUNCTION tessera.monthly_reading_figures(uuid, date) IS
    'Figures of a monthly reading (UTC month starting p_month) computed now from every tessera.optimize_savings row recorded so far (tessera.monthly_reading_figures_upto without a cut-off); same columns as tessera.monthly_readings. Invoker rights: the caller''s RLS applies.';

REVOKE ALL ON FUNCTION tessera.monthly_reading_figures(uuid, date) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.monthly_reading_figures(uuid, date) TO authenticated;
GRANT EXECUTE ON FUNCTION tessera.monthly_reading_figures(uuid, date) TO service_role;
