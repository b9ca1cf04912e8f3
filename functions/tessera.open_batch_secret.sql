-- tessera.open_batch_secret(client_id, batch_id): hand the settlement job the sealed
-- upstream Authorization header of a running batch. The one way a secret leaves the
-- database.
--
-- Only for tessera_settlement (EXECUTE granted to it alone: sponsors, operators, anon,
-- the proxy and service_role get 42501). Only for the batch's own client: the secret is
-- looked up by (client_id, batch_id) under an owner policy admitting that client alone,
-- and the seal itself is bound to client, batch and secret id, so a row copied across
-- clients does not open either. Only while the batch is not terminal (55000), with the
-- batch row share-locked until the caller's transaction ends, so it cannot turn
-- terminal between this check and the caller's use. P0002 when the batch is not the
-- client's or holds no secret (destroyed or never stored).
--
-- Every successful call writes a secret_revealed audit event (client, batch, secret id
-- and key id; never the secret) in the caller's transaction. The database holds no key:
-- what is returned is still sealed; the settlement job opens it with its private key
-- (tessera_db.batch_secrets.open_sealed). No view exposes this table.
CREATE FUNCTION tessera.open_batch_secret(p_client_id uuid, p_batch_id uuid)
RETURNS TABLE (secret_id uuid, scheme text, key_id text, sealed bytea)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    batch_state text;
    s tessera.batch_secrets;
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    SELECT b.state INTO batch_state
      FROM tessera.batches AS b
     WHERE b.client_id = p_client_id AND b.batch_id = p_batch_id
       FOR SHARE;
    IF batch_state IS NULL THEN
        RAISE EXCEPTION 'batch % of client % not found', p_batch_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF batch_state IN ('completed', 'failed', 'expired') THEN
        RAISE EXCEPTION 'batch % is % (terminal); its secret is destroyed and never released', p_batch_id, batch_state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT x.* INTO s
      FROM tessera.batch_secrets AS x
     WHERE x.client_id = p_client_id AND x.batch_id = p_batch_id;
    IF s.secret_id IS NULL THEN
        RAISE EXCEPTION 'batch % of client % holds no secret (destroyed by the 48-hour sweep, or never stored)', p_batch_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;

    PERFORM tessera_private.write_audit_event(
        p_client_id, 'batch_secrets', s.secret_id::text, 'secret_revealed', NULL,
        pg_catalog.jsonb_build_object('batch_id', p_batch_id, 'key_id', s.key_id, 'batch_state', batch_state));
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);

    RETURN QUERY SELECT s.secret_id, s.scheme, s.key_id, s.sealed;
END
$function$;

COMMENT ON FUNCTION tessera.open_batch_secret(uuid, uuid) IS
    'Release the sealed settlement secret of a non-terminal batch to its own client''s settlement job (tessera_settlement only); audited (secret_revealed) on every call. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.open_batch_secret(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.open_batch_secret(uuid, uuid) TO tessera_settlement;
