-- tessera.price_import_runs: one row per imported price file (provenance of a batch of
-- tessera.price_observations). Written only by tessera.record_price_observations();
-- append-only.
CREATE TABLE tessera.price_import_runs (
    import_run_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    source         text        NOT NULL,
    file_name      text        NOT NULL,
    file_sha256    text        NOT NULL,
    observed_at    timestamptz NOT NULL,
    imported_at    timestamptz NOT NULL DEFAULT now(),
    imported_by    text        NOT NULL,
    CONSTRAINT price_import_runs_pkey PRIMARY KEY (import_run_id),
    CONSTRAINT price_import_runs_source_fkey FOREIGN KEY (source) REFERENCES tessera.price_sources (source),
    CONSTRAINT price_import_runs_file_name_length CHECK (char_length(file_name) BETWEEN 1 AND 500),
    CONSTRAINT price_import_runs_file_sha256_format CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT price_import_runs_imported_by_not_blank CHECK (imported_by ~ '[^[:space:]]')
);

CREATE INDEX price_import_runs_source_idx ON tessera.price_import_runs (source, observed_at DESC);

COMMENT ON TABLE tessera.price_import_runs IS
    'One row per imported price file: source, file name and SHA-256, when its prices were observed, who imported it. Append-only.';
COMMENT ON COLUMN tessera.price_import_runs.observed_at IS 'When the file''s prices were true (default: import time); every observation of the run carries it.';
COMMENT ON COLUMN tessera.price_import_runs.imported_by IS 'The caller: JWT sub/email if any, else the session user.';

SELECT tessera_private.make_append_only('tessera.price_import_runs');
