-- tessera.break_glass_publish_price: the API entry point. The rules, checks and their
-- reasons live in its SECURITY DEFINER body, tessera_private.break_glass_publish_price
-- (functions/tessera_private.break_glass_publish_price.sql). This wrapper is SECURITY
-- INVOKER so that no definer body sits in the exposed schema (Supabase Security Advisor
-- lints 0028/0029; tests/lints/0018 and 0019); EXECUTE on both goes to exactly the same
-- roles, so every guarantee is unchanged.
CREATE FUNCTION tessera.break_glass_publish_price(
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
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT * FROM tessera_private.break_glass_publish_price(p_provider, p_model, p_input, p_output, p_cache_read, p_cache_write_5m, p_cache_write_1h, p_batch_input, p_batch_output, p_tier_threshold_tokens, p_above_tier_input, p_above_tier_output, p_above_tier_cache_read, p_effective_from)
$function$;

COMMENT ON FUNCTION tessera.break_glass_publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) IS
    'Operators, inside a break-glass window for publish_price only: tessera.publish_price by hand; the catalog changes are audited with the window''s reason.';

REVOKE ALL ON FUNCTION tessera.break_glass_publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.break_glass_publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) TO authenticated;
