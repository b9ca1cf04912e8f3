-- tessera.pricing_catalog: versioned, append-only model prices.
--
-- One row per (provider, model, validity period) with every price component a request
-- can use, in USD per token as numeric (never float). A price change closes the current
-- row's effective_to and inserts a new row with a new pricing_snapshot_id, in one
-- transaction, through tessera.publish_price(); the only UPDATE ever allowed is setting
-- effective_to once, from NULL to a time not before effective_from (trigger
-- pricing_catalog_guard_update, for every role). Platform-wide reference data: no
-- client_id (a Citus reference table on the scale-out path).
CREATE TABLE tessera.pricing_catalog (
    pricing_snapshot_id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    provider                         text        NOT NULL,
    model                            text        NOT NULL,
    input_usd_per_token              numeric     NOT NULL,
    output_usd_per_token             numeric     NOT NULL,
    cache_read_usd_per_token         numeric,
    cache_write_5m_usd_per_token     numeric,
    cache_write_1h_usd_per_token     numeric,
    batch_input_usd_per_token        numeric,
    batch_output_usd_per_token       numeric,
    tier_threshold_tokens            integer,
    above_tier_input_usd_per_token   numeric,
    above_tier_output_usd_per_token  numeric,
    above_tier_cache_read_usd_per_token numeric,
    effective_from                   timestamptz NOT NULL,
    effective_to                     timestamptz,
    published_at                     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pricing_catalog_pkey PRIMARY KEY (pricing_snapshot_id),
    CONSTRAINT pricing_catalog_provider_format CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]*$'),
    CONSTRAINT pricing_catalog_model_not_blank CHECK (model ~ '[^[:space:]]' AND char_length(model) <= 200),
    CONSTRAINT pricing_catalog_prices_non_negative CHECK (
        input_usd_per_token >= 0 AND output_usd_per_token >= 0
        AND coalesce(cache_read_usd_per_token, 0) >= 0
        AND coalesce(cache_write_5m_usd_per_token, 0) >= 0
        AND coalesce(cache_write_1h_usd_per_token, 0) >= 0
        AND coalesce(batch_input_usd_per_token, 0) >= 0
        AND coalesce(batch_output_usd_per_token, 0) >= 0
        AND coalesce(above_tier_input_usd_per_token, 0) >= 0
        AND coalesce(above_tier_output_usd_per_token, 0) >= 0
        AND coalesce(above_tier_cache_read_usd_per_token, 0) >= 0),
    -- An above-threshold tier needs its threshold and at least its input/output prices.
    CONSTRAINT pricing_catalog_tier_complete CHECK (
        (tier_threshold_tokens IS NULL
         AND above_tier_input_usd_per_token IS NULL
         AND above_tier_output_usd_per_token IS NULL
         AND above_tier_cache_read_usd_per_token IS NULL)
        OR (tier_threshold_tokens > 0
            AND above_tier_input_usd_per_token IS NOT NULL
            AND above_tier_output_usd_per_token IS NOT NULL)),
    CONSTRAINT pricing_catalog_period_ordered CHECK (effective_to IS NULL OR effective_to >= effective_from),
    -- No two periods of one model overlap ('[)' ranges: a close at T and an open at T touch).
    CONSTRAINT pricing_catalog_no_overlap EXCLUDE USING gist (
        provider WITH =, model WITH =, tstzrange(effective_from, effective_to, '[)') WITH &&)
);

-- The price in force for a model at a time: the lookup record_request makes.
CREATE INDEX pricing_catalog_model_effective_idx
    ON tessera.pricing_catalog (provider, model, effective_from DESC);

COMMENT ON TABLE tessera.pricing_catalog IS
    'Append-only, versioned model prices (USD per token, numeric). A change closes effective_to and inserts a new pricing_snapshot_id via tessera.publish_price(); history is never rewritten.';
COMMENT ON COLUMN tessera.pricing_catalog.pricing_snapshot_id IS 'Immutable id of this price version; optimize_savings rows point at it.';
COMMENT ON COLUMN tessera.pricing_catalog.provider IS 'Canonical provider (openai, anthropic, google, ...), lower-case.';
COMMENT ON COLUMN tessera.pricing_catalog.model IS 'Canonical model name, without provider prefix (see tessera_db.pricing.names).';
COMMENT ON COLUMN tessera.pricing_catalog.input_usd_per_token IS 'Uncached input tokens.';
COMMENT ON COLUMN tessera.pricing_catalog.output_usd_per_token IS 'Output tokens (reasoning tokens too, unless a source prices them apart).';
COMMENT ON COLUMN tessera.pricing_catalog.cache_read_usd_per_token IS 'Input tokens served from the provider prompt cache.';
COMMENT ON COLUMN tessera.pricing_catalog.cache_write_5m_usd_per_token IS 'Input tokens written to a 5-minute prompt cache (Anthropic-style cache creation).';
COMMENT ON COLUMN tessera.pricing_catalog.cache_write_1h_usd_per_token IS 'Input tokens written to a 1-hour prompt cache, where priced apart.';
COMMENT ON COLUMN tessera.pricing_catalog.batch_input_usd_per_token IS 'Input tokens through the provider batch API.';
COMMENT ON COLUMN tessera.pricing_catalog.batch_output_usd_per_token IS 'Output tokens through the provider batch API.';
COMMENT ON COLUMN tessera.pricing_catalog.tier_threshold_tokens IS 'Prompt size above which the above_tier_* prices apply (e.g. 200000).';
COMMENT ON COLUMN tessera.pricing_catalog.above_tier_input_usd_per_token IS 'Input price above the threshold.';
COMMENT ON COLUMN tessera.pricing_catalog.above_tier_output_usd_per_token IS 'Output price above the threshold.';
COMMENT ON COLUMN tessera.pricing_catalog.above_tier_cache_read_usd_per_token IS 'Cache-read price above the threshold.';
COMMENT ON COLUMN tessera.pricing_catalog.effective_from IS 'Start of validity (inclusive).';
COMMENT ON COLUMN tessera.pricing_catalog.effective_to IS 'End of validity (exclusive); NULL while current. Set once, never moved.';
COMMENT ON COLUMN tessera.pricing_catalog.published_at IS 'When this version was inserted.';
