-- tessera.rederive_monthly_reading(client_id, month): recompute the reading's figures
-- from the raw optimize_savings rows it covers (tessera.monthly_reading_figures_upto with
-- the reading's own recorded_cutoff, the same definition the issue used) and compare
-- them with the latest issued version. Rows recorded after the issuance are not
-- differences (a correction version takes them in); `tessera-db readings rederive` lists
-- them apart and also re-prices every row from its token buckets, independently of the
-- database's pricing (tessera_db/pricing/rederive.py): this function sums stored costs.
--
-- Returns one row per figure that differs, none when they agree:
--   figure     the column, or for a breakdown the element and metric, e.g.
--              by_mechanics[["auto_route"]].actual_cost_usd, by_feature_tag[null].requests;
--              an element present on one side only is one row named by the element
--              alone (by_feature_tag["search"]) carrying its whole metrics object
--   issued     the issued value (JSON; SQL NULL when the element is missing there)
--   rederived  the recomputed value (JSON; SQL NULL when the element is missing there)
-- Numbers compare as numeric (1.50 equals 1.5). Raises no_data_found when no reading
-- is issued (or visible to the caller). SECURITY INVOKER: the caller's RLS applies to
-- both the reading and the raw rows, so a sponsor can check their own clients.
CREATE FUNCTION tessera.rederive_monthly_reading(p_client_id uuid, p_month date)
RETURNS TABLE (figure text, issued jsonb, rederived jsonb)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    issued_doc jsonb;
    cutoff bigint;
    fresh_doc jsonb;
BEGIN
    SELECT pg_catalog.to_jsonb(r) - ARRAY['client_id', 'month', 'version', 'issued_at',
                                          'issued_by', 'correction_reason', 'recorded_cutoff'],
           r.recorded_cutoff
      INTO issued_doc, cutoff
      FROM tessera.monthly_readings AS r
     WHERE r.client_id = p_client_id AND r.month = p_month
     ORDER BY r.version DESC
     LIMIT 1;
    IF issued_doc IS NULL THEN
        RAISE EXCEPTION 'no issued reading for client % and month %',
                        p_client_id, pg_catalog.to_char(p_month, 'YYYY-MM')
            USING ERRCODE = 'no_data_found';
    END IF;

    SELECT pg_catalog.to_jsonb(f) INTO fresh_doc
      FROM tessera.monthly_reading_figures_upto(p_client_id, p_month, cutoff) AS f;

    RETURN QUERY
    -- Plain figures.
    SELECT k.key, i.value, f.value
      FROM (SELECT e.key FROM pg_catalog.jsonb_each(issued_doc) AS e
            UNION SELECT e.key FROM pg_catalog.jsonb_each(fresh_doc) AS e) AS k
      LEFT JOIN pg_catalog.jsonb_each(issued_doc) AS i ON i.key = k.key
      LEFT JOIN pg_catalog.jsonb_each(fresh_doc) AS f ON f.key = k.key
     WHERE k.key NOT IN ('by_mechanics', 'by_feature_tag')
       AND i.value IS DISTINCT FROM f.value
    UNION ALL
    -- Breakdowns: match elements by their key field; an element on one side only is one
    -- row (its whole metrics object), otherwise compare metric by metric.
    SELECT CASE WHEN e.issued_metrics IS NULL OR e.fresh_metrics IS NULL
                THEN pg_catalog.format('%s[%s]', e.name, e.elem_key::text)
                ELSE pg_catalog.format('%s[%s].%s', e.name, e.elem_key::text, m.metric) END,
           m.issued_value, m.fresh_value
      FROM (SELECT COALESCE(ie.name, fe.name) AS name, COALESCE(ie.elem_key, fe.elem_key) AS elem_key,
                   ie.metrics AS issued_metrics, fe.metrics AS fresh_metrics
              FROM (SELECT b.name, x -> b.key_field AS elem_key, x - b.key_field AS metrics
                      FROM (VALUES ('by_mechanics', 'mechanics'), ('by_feature_tag', 'feature_tag')) AS b (name, key_field),
                           pg_catalog.jsonb_array_elements(issued_doc -> b.name) AS x) AS ie
              FULL JOIN (SELECT b.name, x -> b.key_field AS elem_key, x - b.key_field AS metrics
                           FROM (VALUES ('by_mechanics', 'mechanics'), ('by_feature_tag', 'feature_tag')) AS b (name, key_field),
                                pg_catalog.jsonb_array_elements(fresh_doc -> b.name) AS x) AS fe
                ON fe.name = ie.name AND fe.elem_key = ie.elem_key
           ) AS e
     CROSS JOIN LATERAL (
            SELECT NULL::text AS metric, e.issued_metrics AS issued_value, e.fresh_metrics AS fresh_value
             WHERE e.issued_metrics IS NULL OR e.fresh_metrics IS NULL
            UNION ALL
            SELECT mk.metric, e.issued_metrics -> mk.metric, e.fresh_metrics -> mk.metric
              FROM (SELECT jk AS metric FROM pg_catalog.jsonb_object_keys(e.issued_metrics) AS jk
                    UNION SELECT jk FROM pg_catalog.jsonb_object_keys(e.fresh_metrics) AS jk) AS mk
             WHERE e.issued_metrics IS NOT NULL AND e.fresh_metrics IS NOT NULL
           ) AS m
     WHERE m.issued_value IS DISTINCT FROM m.fresh_value
     ORDER BY 1;
END
$function$;

COMMENT ON FUNCTION tessera.rederive_monthly_reading(uuid, date) IS
    'Recompute a monthly reading from the raw optimize_savings rows it covers (its recorded_cutoff) and list each figure that differs from the latest issued version (no rows = agrees). Invoker rights.';

REVOKE ALL ON FUNCTION tessera.rederive_monthly_reading(uuid, date) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.rederive_monthly_reading(uuid, date) TO authenticated;
GRANT EXECUTE ON FUNCTION tessera.rederive_monthly_reading(uuid, date) TO service_role;
