-- tessera.price_sources: where price observations come from, and whose numbers they
-- really are.
--
-- tokencost ships a copy of LiteLLM's model_prices file, so an observation from
-- tokencost is LiteLLM's number again, not a second opinion: each source names its
-- independent upstream, and confidence (tessera.price_confidence) counts agreement by
-- upstream, never by source. Append-only (tessera_private.make_append_only): changing a
-- source's upstream would silently change every confidence re-derived for the past; a
-- new source is a new row, added by a migration.
CREATE TABLE tessera.price_sources (
    source       text        NOT NULL,
    upstream     text        NOT NULL,
    precedence   integer     NOT NULL,
    description  text        NOT NULL,
    -- Given by the migration that adds the source (no default): from this date its
    -- observations can exist.
    registered_on date       NOT NULL,
    CONSTRAINT price_sources_pkey PRIMARY KEY (source),
    CONSTRAINT price_sources_source_format CHECK (source ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT price_sources_upstream_format CHECK (upstream ~ '^[a-z][a-z0-9_]*$'),
    -- Which source's value the catalog publishes when several observed a component
    -- (lowest first); unique so the choice is never a tie.
    CONSTRAINT price_sources_precedence_key UNIQUE (precedence),
    CONSTRAINT price_sources_precedence_positive CHECK (precedence > 0),
    CONSTRAINT price_sources_description_not_blank CHECK (description ~ '[^[:space:]]')
);

COMMENT ON TABLE tessera.price_sources IS
    'Price sources and their independent upstream (tokencost -> litellm). Confidence counts agreement by upstream. Append-only.';
COMMENT ON COLUMN tessera.price_sources.source IS 'Source name as given to `tessera-db prices import --source`.';
COMMENT ON COLUMN tessera.price_sources.upstream IS 'The independent origin of its numbers; sources sharing an upstream are one vote.';
COMMENT ON COLUMN tessera.price_sources.registered_on IS 'When the source was added to the registry (set by its migration).';
COMMENT ON COLUMN tessera.price_sources.precedence IS 'Publishing order: the catalog takes each component from the lowest-precedence source that observed it.';

SELECT tessera_private.make_append_only('tessera.price_sources');

-- Reference rows: the importers in tessera_db/pricing/ know exactly these sources.
INSERT INTO tessera.price_sources (source, upstream, precedence, description, registered_on) VALUES
    ('litellm',    'litellm',    1, 'LiteLLM model_prices_and_context_window.json (BerriAI/litellm)', '2026-11-23'),
    ('openrouter', 'openrouter', 2, 'OpenRouter /api/v1/models response (USD per token, as strings)', '2026-11-23'),
    ('tokencost',  'litellm',    3, 'tokencost model_prices.json: a copy of LiteLLM''s file, so never an independent vote', '2026-11-23');
