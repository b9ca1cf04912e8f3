-- tessera_private.request_cost(snapshot, buckets..., batch): the USD cost of one
-- request's token buckets at one pricing_catalog version. Exact numeric, no rounding.
--
-- The rule (also documented on tessera.record_request):
--   prompt = uncached + cache_read + cache_write_5m + cache_write_1h
--   above tier  when tier_threshold_tokens is set and prompt > tier_threshold_tokens:
--               uncached input at above_tier_input, output and reasoning at
--               above_tier_output, cache reads at above_tier_cache_read; cache writes
--               keep cache_write_5m / cache_write_1h
--   batch       uncached input at batch_input, output and reasoning at batch_output;
--               batch above the tier is refused
--   otherwise   input, output, cache_read, cache_write_5m, cache_write_1h
-- A price component that is NULL in the snapshot but needed for a non-zero bucket is
-- refused (P0002, naming the component): never guessed from another component.
CREATE FUNCTION tessera_private.request_cost(
    p_price tessera.pricing_catalog,
    p_uncached bigint, p_cache_read bigint, p_cache_write_5m bigint, p_cache_write_1h bigint,
    p_output bigint, p_reasoning bigint, p_batch boolean)
RETURNS numeric
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    prompt bigint := p_uncached + p_cache_read + p_cache_write_5m + p_cache_write_1h;
    completion bigint := p_output + COALESCE(p_reasoning, 0);
    above boolean := p_price.tier_threshold_tokens IS NOT NULL AND prompt > p_price.tier_threshold_tokens;
    in_price numeric;
    out_price numeric;
    read_price numeric;
    missing text;
BEGIN
    IF p_batch AND above THEN
        RAISE EXCEPTION 'no batch price above the % token tier for %/% (snapshot %)',
            p_price.tier_threshold_tokens, p_price.provider, p_price.model, p_price.pricing_snapshot_id
            USING ERRCODE = 'no_data_found';
    END IF;
    in_price := CASE WHEN p_batch THEN p_price.batch_input_usd_per_token
                     WHEN above THEN p_price.above_tier_input_usd_per_token
                     ELSE p_price.input_usd_per_token END;
    out_price := CASE WHEN p_batch THEN p_price.batch_output_usd_per_token
                      WHEN above THEN p_price.above_tier_output_usd_per_token
                      ELSE p_price.output_usd_per_token END;
    read_price := CASE WHEN above THEN p_price.above_tier_cache_read_usd_per_token
                       ELSE p_price.cache_read_usd_per_token END;
    missing := pg_catalog.concat_ws(', ',
        CASE WHEN p_uncached > 0 AND in_price IS NULL THEN
            CASE WHEN p_batch THEN 'batch_input' ELSE 'above_tier_input' END END,
        CASE WHEN completion > 0 AND out_price IS NULL THEN
            CASE WHEN p_batch THEN 'batch_output' ELSE 'above_tier_output' END END,
        CASE WHEN p_cache_read > 0 AND read_price IS NULL THEN
            CASE WHEN above THEN 'above_tier_cache_read' ELSE 'cache_read' END END,
        CASE WHEN p_cache_write_5m > 0 AND p_price.cache_write_5m_usd_per_token IS NULL THEN 'cache_write_5m' END,
        CASE WHEN p_cache_write_1h > 0 AND p_price.cache_write_1h_usd_per_token IS NULL THEN 'cache_write_1h' END);
    IF missing <> '' THEN
        RAISE EXCEPTION 'snapshot % (%/%) has no % price; refusing to guess',
            p_price.pricing_snapshot_id, p_price.provider, p_price.model, missing
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN COALESCE(p_uncached * in_price, 0)
         + COALESCE(completion * out_price, 0)
         + COALESCE(p_cache_read * read_price, 0)
         + COALESCE(p_cache_write_5m * p_price.cache_write_5m_usd_per_token, 0)
         + COALESCE(p_cache_write_1h * p_price.cache_write_1h_usd_per_token, 0);
END
$function$;

COMMENT ON FUNCTION tessera_private.request_cost(tessera.pricing_catalog, bigint, bigint, bigint, bigint, bigint, bigint, boolean) IS
    'USD cost of one request''s token buckets at one pricing snapshot (tiers, batch, cache components; refuses a missing component). Used by tessera.record_request.';

REVOKE ALL ON FUNCTION tessera_private.request_cost(tessera.pricing_catalog, bigint, bigint, bigint, bigint, bigint, bigint, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
