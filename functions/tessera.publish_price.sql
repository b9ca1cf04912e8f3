-- tessera.publish_price(...): the one writer of tessera.pricing_catalog.
--
-- In one transaction: serialise publishers of this (provider, model) with a
-- transaction-scoped advisory lock (it also covers the first version, when there is no
-- row to lock), lock the current row (effective_to IS NULL) FOR UPDATE, and then
--   * every component equal (numerically, NULL = NULL) -> no write; returns the current
--     snapshot id with outcome 'unchanged';
--   * otherwise close the current row at p_effective_from and insert the new version from
--     p_effective_from -> outcome 'changed' ('created' when there was no current row).
-- Never backdated: p_effective_from >= now(). Requests already recorded were priced with
-- the snapshot in force when they happened; a backdated version would make the catalog
-- disagree with the ledger. One exception: a model's FIRST version may take effect in
-- the past. No request can have been recorded against a model that never had a price
-- (record_request refuses it), so no ledger row can disagree; requests the proxy sent
-- before the model's price was known are kept as dead letters (no price in force), and
-- publishing the first version from their time lets `tessera-db savings replay-rejected`
-- record them.
--
-- Why SECURITY DEFINER, EXECUTE for service_role only: no role holds INSERT or UPDATE on
-- the catalog (not even service_role, which bypasses RLS), so this function is the only
-- path to a price row and always closes-then-inserts under the lock. It runs as
-- tessera_owner, which FORCE RLS keeps to open or not-yet-ended rows
-- (policies/pricing_catalog.sql), and the guard triggers bind it like everyone else.
CREATE FUNCTION tessera.publish_price(
    p_provider                text,
    p_model                   text,
    p_input                   numeric,
    p_output                  numeric,
    p_cache_read              numeric     DEFAULT NULL,
    p_cache_write_5m          numeric     DEFAULT NULL,
    p_cache_write_1h          numeric     DEFAULT NULL,
    p_batch_input             numeric     DEFAULT NULL,
    p_batch_output            numeric     DEFAULT NULL,
    p_tier_threshold_tokens   integer     DEFAULT NULL,
    p_above_tier_input        numeric     DEFAULT NULL,
    p_above_tier_output       numeric     DEFAULT NULL,
    p_above_tier_cache_read   numeric     DEFAULT NULL,
    p_effective_from          timestamptz DEFAULT now())
RETURNS TABLE (pricing_snapshot_id uuid, outcome text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    cur tessera.pricing_catalog;
    new_id uuid := gen_random_uuid();
BEGIN
    IF p_effective_from IS NULL THEN
        RAISE EXCEPTION 'a price version needs an effective_from' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('tessera.pricing_catalog:' || p_provider || '/' || p_model, 0));

    SELECT c.* INTO cur
      FROM tessera.pricing_catalog AS c
     WHERE c.provider = p_provider AND c.model = p_model AND c.effective_to IS NULL
       FOR UPDATE;

    IF FOUND AND p_effective_from < now() THEN
        RAISE EXCEPTION 'a price version takes effect now or later, never backdated (effective_from %)', p_effective_from
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'only the first version of a model may take effect in the past';
    END IF;
    IF FOUND THEN
        IF  cur.input_usd_per_token                 IS NOT DISTINCT FROM p_input
        AND cur.output_usd_per_token                IS NOT DISTINCT FROM p_output
        AND cur.cache_read_usd_per_token            IS NOT DISTINCT FROM p_cache_read
        AND cur.cache_write_5m_usd_per_token        IS NOT DISTINCT FROM p_cache_write_5m
        AND cur.cache_write_1h_usd_per_token        IS NOT DISTINCT FROM p_cache_write_1h
        AND cur.batch_input_usd_per_token           IS NOT DISTINCT FROM p_batch_input
        AND cur.batch_output_usd_per_token          IS NOT DISTINCT FROM p_batch_output
        AND cur.tier_threshold_tokens               IS NOT DISTINCT FROM p_tier_threshold_tokens
        AND cur.above_tier_input_usd_per_token      IS NOT DISTINCT FROM p_above_tier_input
        AND cur.above_tier_output_usd_per_token     IS NOT DISTINCT FROM p_above_tier_output
        AND cur.above_tier_cache_read_usd_per_token IS NOT DISTINCT FROM p_above_tier_cache_read
        THEN
            RETURN QUERY SELECT cur.pricing_snapshot_id, 'unchanged'::text;
            RETURN;
        END IF;
        IF p_effective_from < cur.effective_from THEN
            RAISE EXCEPTION 'the current price of %/% takes effect at %; a new version cannot start before it (%)',
                            p_provider, p_model, cur.effective_from, p_effective_from
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        UPDATE tessera.pricing_catalog AS c
           SET effective_to = p_effective_from
         WHERE c.pricing_snapshot_id = cur.pricing_snapshot_id;
    END IF;

    INSERT INTO tessera.pricing_catalog (
        pricing_snapshot_id, provider, model, input_usd_per_token, output_usd_per_token,
        cache_read_usd_per_token, cache_write_5m_usd_per_token, cache_write_1h_usd_per_token,
        batch_input_usd_per_token, batch_output_usd_per_token, tier_threshold_tokens,
        above_tier_input_usd_per_token, above_tier_output_usd_per_token,
        above_tier_cache_read_usd_per_token, effective_from)
    VALUES (
        new_id, p_provider, p_model, p_input, p_output,
        p_cache_read, p_cache_write_5m, p_cache_write_1h,
        p_batch_input, p_batch_output, p_tier_threshold_tokens,
        p_above_tier_input, p_above_tier_output,
        p_above_tier_cache_read, p_effective_from);

    RETURN QUERY SELECT new_id, CASE WHEN cur.pricing_snapshot_id IS NULL THEN 'created' ELSE 'changed' END;
END
$function$;

COMMENT ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) IS
    'Publishes a model price: identical components -> current snapshot, ''unchanged''; otherwise closes the current row and inserts a new version (''changed''/''created'') in one transaction. SECURITY DEFINER, service_role only.';

REVOKE ALL ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) TO service_role;
