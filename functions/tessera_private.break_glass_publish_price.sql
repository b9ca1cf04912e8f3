-- The SECURITY DEFINER body behind tessera.break_glass_publish_price. The exposed schema
-- holds only a SECURITY INVOKER wrapper
-- (functions/tessera.break_glass_publish_price.sql) that calls this, so no definer body
-- is reachable as an RPC of PostgREST's schema (Supabase Security Advisor lints
-- 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly the wrapper's roles.
--
-- tessera_private.break_glass_publish_price(...): an operator hand-publishes a price version,
-- only inside a break-glass window for 'publish_price' (tessera.break_glass).
--
-- Same arguments and result as tessera.publish_price, which it calls (as the owner):
-- the same lock, never-backdated rule, close-then-insert and guard triggers apply. The
-- pricing_catalog rows it closes and inserts are audited like any other, and their
-- events carry the window's reason. Without an open window (none, another action's,
-- another transaction's, or another operator's) it is refused with 42501, as it is for
-- anyone who is not an operator.
CREATE FUNCTION tessera_private.break_glass_publish_price(
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
BEGIN
    IF NOT tessera_private.is_operator() THEN
        RAISE EXCEPTION 'only operators may hand-publish a price'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF tessera_private.break_glass_reason('publish_price') IS NULL THEN
        RAISE EXCEPTION 'hand-publishing a price needs a break-glass window: SELECT tessera.break_glass(<reason>, ''publish_price'') first, in the same transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY
    SELECT p.pricing_snapshot_id, p.outcome
      FROM tessera.publish_price(p_provider, p_model, p_input, p_output, p_cache_read, p_cache_write_5m,
                                 p_cache_write_1h, p_batch_input, p_batch_output, p_tier_threshold_tokens,
                                 p_above_tier_input, p_above_tier_output, p_above_tier_cache_read,
                                 p_effective_from) AS p;
END
$function$;

COMMENT ON FUNCTION tessera_private.break_glass_publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) IS
    'Operators, inside a break-glass window for publish_price only: tessera.publish_price by hand; the catalog changes are audited with the window''s reason.';

REVOKE ALL ON FUNCTION tessera_private.break_glass_publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.break_glass_publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) TO authenticated;
