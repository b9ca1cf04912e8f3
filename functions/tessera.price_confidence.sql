-- tessera.price_confidence(snapshot, at): how far the independent sources agree with each
-- price component of a catalog snapshot, as known at time `at`. Re-derivable at any time
-- from tessera.price_observations and tessera.price_sources alone (both append-only).
--
-- For each non-NULL component c of the snapshot (provider p, model m, value v):
--   1. each source's current observation of (p, m, c) is its latest with
--      observed_at <= at (ties: the later observation_id);
--   2. each independent upstream casts one vote: the current observation of the source
--      that IS the upstream (source = upstream) if it has one, else the freshest current
--      observation among the sources copying it. So tokencost (upstream litellm) can
--      never add a vote, nor refresh litellm's, when LiteLLM itself was imported;
--   3. N = upstreams with a vote; A = those whose vote equals v (numeric equality);
--      t = the latest observed_at among the A agreeing votes;
--   4. confidence = round((A / N) * 0.99 ^ d, 6), d = max(0, (at - t) in days, fractional);
--      0 when A = 0 (no upstream agrees, or none observed c at all: N = 0).
-- The overall confidence of a snapshot is the minimum over its components (docs/pricing.md).
--
-- SECURITY INVOKER: the caller's row-level security decides which observations count
-- (operators, sponsors and service_role read them all; see policies/price_observations.sql).
CREATE FUNCTION tessera.price_confidence(p_pricing_snapshot_id uuid, p_at timestamptz DEFAULT now())
RETURNS TABLE (component text, catalog_value numeric, observing_upstreams integer,
               agreeing_upstreams integer, freshest_agreeing_at timestamptz, confidence numeric)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH snap AS (
        SELECT c.* FROM tessera.pricing_catalog AS c WHERE c.pricing_snapshot_id = p_pricing_snapshot_id
    ),
    catalog_values AS (
        SELECT s.provider, s.model, v.component, v.value
          FROM snap AS s
         CROSS JOIN LATERAL (VALUES
               ('input', s.input_usd_per_token),
               ('output', s.output_usd_per_token),
               ('cache_read', s.cache_read_usd_per_token),
               ('cache_write_5m', s.cache_write_5m_usd_per_token),
               ('cache_write_1h', s.cache_write_1h_usd_per_token),
               ('batch_input', s.batch_input_usd_per_token),
               ('batch_output', s.batch_output_usd_per_token),
               ('tier_threshold_tokens', s.tier_threshold_tokens::numeric),
               ('above_tier_input', s.above_tier_input_usd_per_token),
               ('above_tier_output', s.above_tier_output_usd_per_token),
               ('above_tier_cache_read', s.above_tier_cache_read_usd_per_token)) AS v (component, value)
         WHERE v.value IS NOT NULL
    ),
    current_per_source AS (
        SELECT DISTINCT ON (o.source, o.component) o.source, o.component, o.value, o.observed_at
          FROM tessera.price_observations AS o
          JOIN snap AS s ON o.provider = s.provider AND o.model = s.model
         WHERE o.observed_at <= p_at
         ORDER BY o.source, o.component, o.observed_at DESC, o.observation_id DESC
    ),
    votes AS (
        SELECT DISTINCT ON (src.upstream, cps.component) src.upstream, cps.component, cps.value, cps.observed_at
          FROM current_per_source AS cps
          JOIN tessera.price_sources AS src ON src.source = cps.source
         ORDER BY src.upstream, cps.component, (src.source = src.upstream) DESC, cps.observed_at DESC, src.precedence
    ),
    tally AS (
        SELECT cv.component, cv.value,
               count(v.upstream)::integer AS observing,
               (count(v.upstream) FILTER (WHERE v.value = cv.value))::integer AS agreeing,
               max(v.observed_at) FILTER (WHERE v.value = cv.value) AS freshest
          FROM catalog_values AS cv
          LEFT JOIN votes AS v ON v.component = cv.component
         GROUP BY cv.component, cv.value
    )
    SELECT t.component, t.value, t.observing, t.agreeing, t.freshest,
           CASE WHEN t.agreeing = 0 THEN 0::numeric
                ELSE pg_catalog.round(
                        (t.agreeing::numeric / t.observing)
                        * pg_catalog.power(0.99::numeric,
                              GREATEST(0::numeric,
                                  EXTRACT(EPOCH FROM (p_at - t.freshest)) / 86400)),
                        6)
           END
      FROM tally AS t
     ORDER BY t.component
$function$;

COMMENT ON FUNCTION tessera.price_confidence(uuid, timestamptz) IS
    'Per-component confidence of a pricing snapshot at a time: (agreeing independent upstreams / observing upstreams) * 0.99^days since the freshest agreeing observation, rounded to 6 places. Re-derivable from price_observations. SECURITY INVOKER.';

REVOKE ALL ON FUNCTION tessera.price_confidence(uuid, timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.price_confidence(uuid, timestamptz) TO authenticated, service_role;
