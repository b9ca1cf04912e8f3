-- tessera.price_observations: every price component every source reported, as read.
--
-- Append-only, so confidence (tessera.price_confidence) can be re-derived for any past
-- time from these rows alone. value is numeric parsed from raw_value, the source's own
-- text (no float round trip: '1.25e-06' is stored as 0.00000125 and the text kept).
-- component names are the pricing_catalog columns without "_usd_per_token".
CREATE TABLE tessera.price_observations (
    observation_id  bigint      GENERATED ALWAYS AS IDENTITY,
    import_run_id   uuid        NOT NULL,
    source          text        NOT NULL,
    provider        text        NOT NULL,
    model           text        NOT NULL,
    source_model    text        NOT NULL,
    component       text        NOT NULL,
    value           numeric     NOT NULL,
    raw_value       text        NOT NULL,
    observed_at     timestamptz NOT NULL,
    CONSTRAINT price_observations_pkey PRIMARY KEY (observation_id),
    CONSTRAINT price_observations_import_run_id_fkey FOREIGN KEY (import_run_id)
        REFERENCES tessera.price_import_runs (import_run_id),
    CONSTRAINT price_observations_source_fkey FOREIGN KEY (source) REFERENCES tessera.price_sources (source),
    CONSTRAINT price_observations_provider_format CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]*$'),
    CONSTRAINT price_observations_model_not_blank CHECK (model ~ '[^[:space:]]' AND char_length(model) <= 200),
    CONSTRAINT price_observations_source_model_length CHECK (char_length(source_model) BETWEEN 1 AND 300),
    CONSTRAINT price_observations_component_known CHECK (component IN (
        'input', 'output', 'cache_read', 'cache_write_5m', 'cache_write_1h', 'batch_input',
        'batch_output', 'tier_threshold_tokens', 'above_tier_input', 'above_tier_output',
        'above_tier_cache_read')),
    CONSTRAINT price_observations_value_non_negative CHECK (value >= 0),
    CONSTRAINT price_observations_raw_value_length CHECK (char_length(raw_value) BETWEEN 1 AND 100),
    -- A run reads each (model, component) once.
    CONSTRAINT price_observations_run_component_key UNIQUE (import_run_id, provider, model, component)
);

-- Confidence reads the latest observation per (model, component, source) up to a time.
CREATE INDEX price_observations_model_idx
    ON tessera.price_observations (provider, model, component, source, observed_at DESC);

COMMENT ON TABLE tessera.price_observations IS
    'Append-only price observations (source, model, component, numeric value, raw text, observed_at, import run): the inputs confidence is re-derived from.';
COMMENT ON COLUMN tessera.price_observations.source_model IS 'The model name exactly as the source spelled it (before tessera_db.pricing.names normalisation).';
COMMENT ON COLUMN tessera.price_observations.raw_value IS 'The value as the source wrote it (JSON number or string text).';

SELECT tessera_private.make_append_only('tessera.price_observations');
