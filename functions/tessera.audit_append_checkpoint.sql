-- tessera.audit_append_checkpoint(...): append one signed checkpoint; returns its id.
--
-- The sealer (tessera_db/audit/seal.py) computes the new root over the leaves of
-- tessera.audit_sealable_leaves(prev_horizon, horizon), signs the checkpoint message with
-- its key (which never enters the database) and calls this. The database cannot check an
-- Ed25519 signature or recompute the tree; it checks everything else it can:
--   * the row extends the latest checkpoint: prev_tree_size, prev_root_hash and
--     prev_horizon are the latest checkpoint's (the empty tree, 0, for the first);
--     55000 otherwise (another sealer got there first, or the sealer's view is stale)
--   * horizon <= pg_snapshot_xmin of this statement's snapshot (22023)
--   * tree_size - prev_tree_size is exactly the number of audit rows with
--     prev_horizon <= txid < horizon (22023)
--   * sealed_at is within five minutes of the database clock and not before the
--     latest checkpoint's (22023)
-- and the table's CHECKs (sizes, lengths, frontier shape). Two sealers racing from the
-- same checkpoint both pass the first check in their own snapshots; the second then
-- waits on, and fails, UNIQUE (prev_tree_size) (23505): no fork.
--
-- SECURITY DEFINER, EXECUTE for tessera_sealer only. It runs as tessera_owner under
-- FORCE RLS: the owner's policies on audit_checkpoints and audit_events admit reading and
-- inserting only in a session whose login is tessera_sealer.
CREATE FUNCTION tessera.audit_append_checkpoint(
    p_tree_size bigint, p_root_hash bytea, p_prev_tree_size bigint, p_prev_root_hash bytea,
    p_horizon xid8, p_prev_horizon xid8, p_sealed_at timestamptz, p_key_id text,
    p_signature bytea, p_frontier bytea[])
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    latest tessera.audit_checkpoints;
    expected_size bigint;
    expected_root bytea;
    expected_horizon xid8;
    rows_in_range bigint;
    new_id bigint;
BEGIN
    SELECT c.* INTO latest
      FROM tessera.audit_checkpoints AS c
     ORDER BY c.tree_size DESC
     LIMIT 1;
    IF FOUND THEN
        expected_size := latest.tree_size;
        expected_root := latest.root_hash;
        expected_horizon := latest.horizon;
    ELSE
        expected_size := 0;
        expected_root := pg_catalog.sha256(''::bytea);
        expected_horizon := '0'::xid8;
    END IF;
    IF p_prev_tree_size IS DISTINCT FROM expected_size
       OR p_prev_root_hash IS DISTINCT FROM expected_root
       OR p_prev_horizon IS DISTINCT FROM expected_horizon THEN
        RAISE EXCEPTION 'checkpoint does not extend the latest checkpoint (tree_size %): another sealer appended first, or the sealer''s view is stale',
                        expected_size
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    IF p_horizon IS NULL OR p_horizon > pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) THEN
        RAISE EXCEPTION 'checkpoint horizon % is above this snapshot''s xmin: a writer below it may still be running', p_horizon
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT pg_catalog.count(*) INTO rows_in_range
      FROM tessera.audit_events AS e
     WHERE e.txid >= p_prev_horizon AND e.txid < p_horizon;
    IF p_tree_size IS DISTINCT FROM expected_size + rows_in_range THEN
        RAISE EXCEPTION 'checkpoint tree_size % does not match: % rows lie between the horizons, so it must be %',
                        p_tree_size, rows_in_range, expected_size + rows_in_range
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF p_sealed_at IS NULL
       OR p_sealed_at NOT BETWEEN pg_catalog.clock_timestamp() - interval '5 minutes'
                              AND pg_catalog.clock_timestamp() + interval '5 minutes'
       OR p_sealed_at < latest.sealed_at THEN
        RAISE EXCEPTION 'checkpoint sealed_at % is not within five minutes of the database clock, or is before the latest checkpoint''s', p_sealed_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO tessera.audit_checkpoints
        (tree_size, root_hash, prev_tree_size, prev_root_hash, horizon, prev_horizon,
         sealed_at, key_id, signature, frontier)
    VALUES (p_tree_size, p_root_hash, p_prev_tree_size, p_prev_root_hash, p_horizon, p_prev_horizon,
            p_sealed_at, p_key_id, p_signature, p_frontier)
    RETURNING checkpoint_id INTO new_id;
    RETURN new_id;
END
$function$;

COMMENT ON FUNCTION tessera.audit_append_checkpoint(bigint, bytea, bigint, bytea, xid8, xid8, timestamptz, text, bytea, bytea[]) IS
    'Append a signed audit checkpoint that extends the latest one (prev links, horizon <= xmin, tree_size = rows between the horizons, sane sealed_at); UNIQUE (prev_tree_size) makes a racing sealer fail. tessera_sealer only (definer).';

REVOKE ALL ON FUNCTION tessera.audit_append_checkpoint(bigint, bytea, bigint, bytea, xid8, xid8, timestamptz, text, bytea, bytea[]) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.audit_append_checkpoint(bigint, bytea, bigint, bytea, xid8, xid8, timestamptz, text, bytea, bytea[]) TO tessera_sealer;
