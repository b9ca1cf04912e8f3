-- tessera.audit_checkpoints: signed Merkle checkpoints over tessera.audit_events (issue 5
-- items 4 and 5; docs/audit.md "Sealing", "Verifying").
--
-- The log. Leaves are the audit rows' content hashes in seal order: checkpoint by
-- checkpoint, and within one checkpoint the rows with prev_horizon <= txid < horizon
-- ordered by event_id. leaf = SHA-256(0x00 || content_hash), node = SHA-256(0x01 || l || r)
-- (RFC 6962). Each row commits to the tree of the first tree_size leaves (root_hash) and
-- links to the previous checkpoint (prev_tree_size, prev_root_hash, prev_horizon); the
-- first one links to the empty tree (0, SHA-256(''), horizon 0).
--
-- The horizon. A checkpoint seals only rows whose writer's transaction id is below
-- pg_snapshot_xmin of the sealer's snapshot: every such transaction has ended, so its
-- rows are all visible and none can commit later. A long-running writer is therefore
-- never skipped; its rows wait for the next checkpoint after it commits. Writers take
-- no lock the sealer holds, and the sealer takes none but the row lock of its own insert.
--
-- The signature. Ed25519 over a canonical text message of (version, tree_size,
-- root_hash, prev_tree_size, prev_root_hash, horizon, prev_horizon, sealed_at, key_id),
-- documented in tessera_db/audit/signing.py and docs/audit.md. The signing key never
-- enters the database; key_id is the SHA-256 fingerprint of the public key.
--
-- Forks. prev_tree_size is UNIQUE: two sealers racing from the same checkpoint both try
-- to insert the same prev_tree_size, and the second fails (23505) instead of forking.
-- tree_size is UNIQUE too, and tessera.audit_append_checkpoint accepts only a row that
-- extends the latest checkpoint.
--
-- frontier is not signed: the roots of the tree's perfect subtrees (one per set bit of
-- tree_size), so the sealer can extend the tree without re-reading every old leaf. The
-- sealer checks it folds to the signed root_hash before using it; the verifier compares
-- it with its own rebuild.
--
-- Append-only (make_append_only, ENABLE ALWAYS). What a superuser does anyway is found
-- by tessera-db audit verify, which holds the public key and its own state file.
CREATE TABLE tessera.audit_checkpoints (
    checkpoint_id   bigint      GENERATED ALWAYS AS IDENTITY,
    version         smallint    NOT NULL DEFAULT 1,
    tree_size       bigint      NOT NULL,
    root_hash       bytea       NOT NULL,
    prev_tree_size  bigint      NOT NULL,
    prev_root_hash  bytea       NOT NULL,
    horizon         xid8        NOT NULL,
    prev_horizon    xid8        NOT NULL,
    sealed_at       timestamptz NOT NULL,
    key_id          text        NOT NULL,
    signature       bytea       NOT NULL,
    frontier        bytea[]     NOT NULL,
    CONSTRAINT audit_checkpoints_pkey PRIMARY KEY (checkpoint_id),
    CONSTRAINT audit_checkpoints_prev_tree_size_key UNIQUE (prev_tree_size),
    CONSTRAINT audit_checkpoints_tree_size_key UNIQUE (tree_size),
    CONSTRAINT audit_checkpoints_version_known CHECK (version = 1),
    CONSTRAINT audit_checkpoints_sizes CHECK (prev_tree_size >= 0 AND tree_size > prev_tree_size),
    CONSTRAINT audit_checkpoints_horizons CHECK (horizon > prev_horizon),
    CONSTRAINT audit_checkpoints_hash_lengths CHECK (
        octet_length(root_hash) = 32 AND octet_length(prev_root_hash) = 32),
    CONSTRAINT audit_checkpoints_genesis CHECK (
        prev_tree_size <> 0
        OR (prev_root_hash = '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'::bytea
            AND prev_horizon = '0'::xid8)),
    CONSTRAINT audit_checkpoints_key_id_format CHECK (key_id ~ '^[0-9a-f]{64}$'),
    CONSTRAINT audit_checkpoints_signature_length CHECK (octet_length(signature) = 64),
    CONSTRAINT audit_checkpoints_frontier_shape CHECK (
        cardinality(frontier) = bit_count(tree_size::bit(64))
        AND array_position(frontier, NULL) IS NULL)
);

COMMENT ON TABLE tessera.audit_checkpoints IS
    'Signed RFC 6962 Merkle checkpoints over tessera.audit_events (seal order: by checkpoint, rows with prev_horizon <= txid < horizon by event_id); append-only; written only by the sealer through tessera.audit_append_checkpoint; checked by tessera-db audit verify.';
COMMENT ON COLUMN tessera.audit_checkpoints.checkpoint_id IS 'Identity, in seal order. Not signed; the verifier''s state file remembers it.';
COMMENT ON COLUMN tessera.audit_checkpoints.version IS 'Checkpoint message version (1: tessera_db/audit/signing.py).';
COMMENT ON COLUMN tessera.audit_checkpoints.tree_size IS 'Leaves in the tree this checkpoint commits to (all rows sealed so far).';
COMMENT ON COLUMN tessera.audit_checkpoints.root_hash IS 'RFC 6962 root (MTH) of the first tree_size leaves.';
COMMENT ON COLUMN tessera.audit_checkpoints.prev_tree_size IS 'tree_size of the previous checkpoint (0 for the first); UNIQUE, so a racing sealer fails instead of forking.';
COMMENT ON COLUMN tessera.audit_checkpoints.prev_root_hash IS 'root_hash of the previous checkpoint (SHA-256 of the empty string for the first).';
COMMENT ON COLUMN tessera.audit_checkpoints.horizon IS 'pg_snapshot_xmin of the sealer''s snapshot: this checkpoint seals rows with prev_horizon <= txid < horizon.';
COMMENT ON COLUMN tessera.audit_checkpoints.prev_horizon IS 'horizon of the previous checkpoint (0 for the first).';
COMMENT ON COLUMN tessera.audit_checkpoints.sealed_at IS 'When the sealer sealed (database clock_timestamp()); signed.';
COMMENT ON COLUMN tessera.audit_checkpoints.key_id IS 'Lower-case hex SHA-256 of the signing key''s raw Ed25519 public key.';
COMMENT ON COLUMN tessera.audit_checkpoints.signature IS 'Ed25519 signature over the canonical checkpoint message v1.';
COMMENT ON COLUMN tessera.audit_checkpoints.frontier IS 'Unsigned helper: roots of the perfect subtrees of the tree (left to right), so the sealer extends it without re-reading old leaves.';

SELECT tessera_private.make_append_only('tessera.audit_checkpoints');
