-- tessera.batch_secrets: the customer's upstream Authorization header of a batch, sealed.
--
-- Never plaintext, not even for one statement: the header is sealed by the caller (the
-- proxy, tessera_db.batch_secrets.seal) BEFORE it is sent to the database, with HPKE
-- (RFC 9180, base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) to
-- the settlement job's public key. So the plaintext never reaches a table, a dead tuple,
-- the WAL, a server log line or a dump, and the database never holds a key that could
-- open it: the proxy holds only the public key, the private keys live in the settlement
-- job's keyring file (outside the database), each with a key id (column key_id).
--
-- Bound to its row: the HPKE info string covers the scheme, key id, secret id, batch id
-- and client id (docs/keys-and-secrets.md), and enters the key schedule, so a sealed
-- value copied to another row (or relabelled with another key id) fails to open.
--
-- The application holds only secret_id. The sealed value leaves the database only
-- through tessera.open_batch_secret() (SECURITY DEFINER, EXECUTE for tessera_settlement
-- only; only while the batch is not terminal; only for the batch's own client; every
-- call writes an audit event). No API role can read the sealed column; no view shows it.
--
-- Destroyed (row deleted) when the batch enters a terminal state (trigger
-- batches_destroy_secret_on_terminal), and by `tessera-db sweep` once older than 48
-- hours whatever the batch's state. Deleted ciphertext can linger in dead tuples, the WAL
-- and backups until they are recycled; it is then still sealed, and `tessera-db secrets
-- rotate --retire` (re-seal under a new key id, then delete the old private key) makes
-- every such copy undecryptable (crypto-shredding).
CREATE TABLE tessera.batch_secrets (
    client_id   uuid        NOT NULL,
    batch_id    uuid        NOT NULL,
    secret_id   uuid        NOT NULL,
    scheme      text        NOT NULL,
    key_id      text        NOT NULL,
    sealed      bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resealed_at timestamptz,
    -- One secret per batch.
    CONSTRAINT batch_secrets_pkey PRIMARY KEY (client_id, batch_id),
    CONSTRAINT batch_secrets_client_secret_key UNIQUE (client_id, secret_id),
    CONSTRAINT batch_secrets_batch_fkey FOREIGN KEY (client_id, batch_id)
        REFERENCES tessera.batches (client_id, batch_id) ON DELETE CASCADE,
    CONSTRAINT batch_secrets_scheme_known CHECK (scheme = 'hpke-x25519-sha256-chacha20poly1305.v1'),
    CONSTRAINT batch_secrets_key_id_format CHECK (key_id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    -- 32-byte encapsulated key + 16-byte tag + 1..8192 bytes of header.
    CONSTRAINT batch_secrets_sealed_length CHECK (octet_length(sealed) BETWEEN 49 AND 8240),
    CONSTRAINT batch_secrets_resealed_after_created CHECK (resealed_at IS NULL OR resealed_at >= created_at)
);

CREATE INDEX batch_secrets_created_idx ON tessera.batch_secrets (created_at);

COMMENT ON TABLE tessera.batch_secrets IS
    'Sealed (HPKE X25519 + ChaCha20-Poly1305) upstream Authorization headers of batches; never plaintext, no key in the database. Opened only via tessera.open_batch_secret() (settlement role, non-terminal batch, own client, audited). Destroyed on the batch''s terminal transition and after 48 h by tessera-db sweep.';
COMMENT ON COLUMN tessera.batch_secrets.client_id IS 'Owning client; bound into the seal.';
COMMENT ON COLUMN tessera.batch_secrets.batch_id IS 'The batch; one secret per batch; bound into the seal.';
COMMENT ON COLUMN tessera.batch_secrets.secret_id IS 'The handle the application keeps; chosen by the sealer before sealing and bound into the seal.';
COMMENT ON COLUMN tessera.batch_secrets.scheme IS 'Sealing scheme and version (hpke-x25519-sha256-chacha20poly1305.v1).';
COMMENT ON COLUMN tessera.batch_secrets.key_id IS 'Id of the settlement key the value is sealed to; bound into the seal.';
COMMENT ON COLUMN tessera.batch_secrets.sealed IS 'HPKE encapsulated key || ciphertext+tag. Readable by no API role.';
COMMENT ON COLUMN tessera.batch_secrets.created_at IS 'When the secret was stored; the sweeper destroys it 48 h later whatever the batch state.';
COMMENT ON COLUMN tessera.batch_secrets.resealed_at IS 'Last re-seal under a new key id (tessera-db secrets rotate).';
