-- tessera.cache_entries: the exact-response cache (mechanic exact_cache).
--
-- Keyed (client_id, workload_id, entry_id), entry_id = SHA-256 of the normalised request
-- body (RFC 8785 JSON canonicalisation: key order, whitespace and number formatting
-- normalised; tessera_db.cache.entry_id). Only that hash and the response body are
-- stored, never the prompt: the hash does not give the body back.
--
-- Isolation is structural: tessera.cache_lookup() / cache_put() take the calling
-- workload's (client_id, workload_id) and run as tessera_owner under FORCE RLS, whose
-- only policy admits the rows of exactly that (client, workload) pair (settings
-- tessera.recording_client_id / tessera.recording_workload_id, set by the function). An
-- identical body in another workload or client has the same entry_id but another key,
-- and is never visible to the lookup.
--
-- Expiry: expires_at = stored_at + the workload's exact_cache_ttl (default 7 days,
-- tessera.workload_settings). A lookup never returns an expired entry, nor one older
-- than the workload's current TTL (a shortened TTL applies at once); `tessera-db sweep`
-- deletes expired rows. A sponsor flushes their workload with tessera.flush_cache().
--
-- UNLOGGED, on purpose: a cache is a copy of what the provider can always recompute,
-- and writes on the request path should be cheap. An unlogged table writes no WAL, so:
-- after a crash (or an immediate shutdown) PostgreSQL empties it, and it is not
-- replicated (a standby has the table but no rows; a promoted standby starts cold).
-- Either way the proxy just misses and calls the provider: correctness never depends on
-- an entry being there. Response bodies therefore never reach the WAL or a standby.
CREATE TABLE tessera.cache_entries (
    client_id      uuid        NOT NULL,
    workload_id    uuid        NOT NULL,
    entry_id       bytea       NOT NULL,
    response_body  bytea       NOT NULL,
    content_type   text        NOT NULL DEFAULT 'application/json',
    stored_at      timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    CONSTRAINT cache_entries_pkey PRIMARY KEY (client_id, workload_id, entry_id),
    -- An unlogged table may reference a logged one (not the other way round).
    CONSTRAINT cache_entries_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON DELETE CASCADE,
    CONSTRAINT cache_entries_entry_id_length CHECK (octet_length(entry_id) = 32),
    -- 10 MiB: the proxy's request/response size bound.
    CONSTRAINT cache_entries_body_size CHECK (octet_length(response_body) <= 10485760),
    CONSTRAINT cache_entries_content_type_format CHECK (content_type ~ '^[a-z0-9.+-]+/[a-z0-9.+-]+(;.{0,100})?$'),
    CONSTRAINT cache_entries_expires_after_stored CHECK (expires_at > stored_at)
);

-- Made UNLOGGED right after creation (the empty table is simply rewritten); written as
-- CREATE TABLE + SET UNLOGGED so the layout tests find the table by its CREATE TABLE.
ALTER TABLE tessera.cache_entries SET UNLOGGED;

CREATE INDEX cache_entries_expires_idx ON tessera.cache_entries (expires_at);

COMMENT ON TABLE tessera.cache_entries IS
    'Exact-response cache, UNLOGGED (emptied after a crash, not replicated: a miss only costs a provider call). Keyed (client_id, workload_id, sha256 of the RFC 8785-normalised request body); never the prompt. Reached through tessera.cache_lookup / cache_put / flush_cache.';
COMMENT ON COLUMN tessera.cache_entries.client_id IS 'Owning client; part of the key.';
COMMENT ON COLUMN tessera.cache_entries.workload_id IS 'Owning workload; part of the key: a lookup sees only its own workload''s entries.';
COMMENT ON COLUMN tessera.cache_entries.entry_id IS 'SHA-256 of the RFC 8785-canonical request body (32 bytes).';
COMMENT ON COLUMN tessera.cache_entries.response_body IS 'The cached provider response, as returned to the caller.';
COMMENT ON COLUMN tessera.cache_entries.content_type IS 'Media type of the response body.';
COMMENT ON COLUMN tessera.cache_entries.stored_at IS 'When the entry was stored.';
COMMENT ON COLUMN tessera.cache_entries.expires_at IS 'stored_at + the workload''s TTL at that time; never returned after it.';
