-- tessera.reading_share_tokens: unguessable links to one issued monthly reading.
--
-- A token is created by tessera.create_reading_share_token() (a sponsor of the client
-- or an operator) and returned once; only its SHA-256 is stored, so neither a database
-- reader nor a backup can reconstruct a working link. Token format:
--
--     tsr_<client_id as 32 hex digits>_<43 base64url characters>
--
-- The secret part is 32 bytes from two gen_random_uuid() calls (PostgreSQL's strong
-- random source; 244 random bits, no extension needed). The client id in the clear lets
-- the anonymous lookup (tessera.reading_by_share_token) address the key
-- (client_id, token_sha256) directly: one index probe, and on Citus one shard instead of
-- a fan-out, while the primary and unique keys keep client_id first. The reading the
-- token opens shows its client anyway, so the prefix discloses nothing more.
--
-- A token opens exactly one (client, month, version). Expiry is mandatory; revocation
-- sets revoked_at once (tessera.revoke_reading_share_token). The only UPDATE ever
-- allowed is revoked_at from NULL to a time (trigger reading_share_tokens_guard_update,
-- every role).
CREATE TABLE tessera.reading_share_tokens (
    client_id       uuid        NOT NULL,
    share_token_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    month           date        NOT NULL,
    version         integer     NOT NULL,
    token_sha256    bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text        NOT NULL,
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    CONSTRAINT reading_share_tokens_pkey PRIMARY KEY (client_id, share_token_id),
    -- The anonymous lookup's key (client id from the token's prefix, hash of the token).
    CONSTRAINT reading_share_tokens_client_hash_key UNIQUE (client_id, token_sha256),
    CONSTRAINT reading_share_tokens_reading_fkey FOREIGN KEY (client_id, month, version)
        REFERENCES tessera.monthly_readings (client_id, month, version) ON DELETE RESTRICT,
    CONSTRAINT reading_share_tokens_hash_length CHECK (octet_length(token_sha256) = 32),
    CONSTRAINT reading_share_tokens_created_by_not_blank CHECK (created_by ~ '[^[:space:]]' AND char_length(created_by) <= 400),
    CONSTRAINT reading_share_tokens_expires_after_created CHECK (expires_at > created_at),
    CONSTRAINT reading_share_tokens_revoked_after_created CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);

CREATE TRIGGER reading_share_tokens_guard_update
    BEFORE UPDATE ON tessera.reading_share_tokens
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_share_token_update();
ALTER TABLE tessera.reading_share_tokens ENABLE ALWAYS TRIGGER reading_share_tokens_guard_update;

COMMENT ON TABLE tessera.reading_share_tokens IS
    'Share links to one issued monthly reading. Only the SHA-256 of the token is stored; the raw token is returned once by tessera.create_reading_share_token(). Anonymous access only through tessera.reading_by_share_token().';
COMMENT ON COLUMN tessera.reading_share_tokens.client_id IS 'The reading''s client; leads every key and is the token''s clear prefix.';
COMMENT ON COLUMN tessera.reading_share_tokens.share_token_id IS 'Handle for listing and revoking; not a secret and not the token.';
COMMENT ON COLUMN tessera.reading_share_tokens.month IS 'Month of the shared reading.';
COMMENT ON COLUMN tessera.reading_share_tokens.version IS 'Version of the shared reading: a token keeps showing the version it was made for.';
COMMENT ON COLUMN tessera.reading_share_tokens.token_sha256 IS 'SHA-256 of the whole token text (UTF-8). The raw token is never stored.';
COMMENT ON COLUMN tessera.reading_share_tokens.created_at IS 'When the token was created.';
COMMENT ON COLUMN tessera.reading_share_tokens.created_by IS 'Actor that created it ("<role>:<JWT email>").';
COMMENT ON COLUMN tessera.reading_share_tokens.expires_at IS 'The token stops working at this time.';
COMMENT ON COLUMN tessera.reading_share_tokens.revoked_at IS 'Set once by tessera.revoke_reading_share_token(); the token stops working.';
