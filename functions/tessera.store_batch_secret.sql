-- tessera.store_batch_secret(client_id, batch_id, secret_id, key_id, sealed): keep the
-- SEALED upstream Authorization header of a running batch; returns secret_id.
--
-- The caller seals before calling (tessera_db.batch_secrets.seal: HPKE to the settlement
-- job's public key, bound to secret id, batch id, client id and key id), so the
-- plaintext never reaches the database, not even as a parameter. One secret per batch
-- (23505 on a second). Refused (55000) once the batch is terminal. Callers: the proxy
-- (tessera_proxy), which holds only the public key. SECURITY DEFINER: no role holds
-- INSERT on tessera.batch_secrets; as tessera_owner under FORCE RLS it reaches only the
-- client named by tessera.recording_client_id (set here, cleared after). The insert is
-- audited by the table's audit trigger (the sealed column excluded).
CREATE FUNCTION tessera.store_batch_secret(p_client_id uuid, p_batch_id uuid, p_secret_id uuid,
                                           p_key_id text, p_sealed bytea)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    batch_state text;
BEGIN
    IF p_client_id IS NULL OR p_batch_id IS NULL OR p_secret_id IS NULL OR p_key_id IS NULL OR p_sealed IS NULL THEN
        RAISE EXCEPTION 'store_batch_secret: client, batch, secret id, key id and sealed value are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', p_client_id::text, true);
    SELECT b.state INTO batch_state
      FROM tessera.batches AS b
     WHERE b.client_id = p_client_id AND b.batch_id = p_batch_id
       FOR SHARE;
    IF batch_state IS NULL THEN
        RAISE EXCEPTION 'batch % of client % not found', p_batch_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF batch_state IN ('completed', 'failed', 'expired') THEN
        RAISE EXCEPTION 'batch % is % (terminal); it takes no secret', p_batch_id, batch_state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    INSERT INTO tessera.batch_secrets (client_id, batch_id, secret_id, scheme, key_id, sealed)
    VALUES (p_client_id, p_batch_id, p_secret_id, 'hpke-x25519-sha256-chacha20poly1305.v1', p_key_id, p_sealed);

    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    RETURN p_secret_id;
END
$function$;

COMMENT ON FUNCTION tessera.store_batch_secret(uuid, uuid, uuid, text, bytea) IS
    'Store the sealed (HPKE) upstream Authorization header of a non-terminal batch (tessera_proxy only); the plaintext never reaches the database. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.store_batch_secret(uuid, uuid, uuid, text, bytea) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.store_batch_secret(uuid, uuid, uuid, text, bytea) TO tessera_proxy;
