-- tessera.reseal_batch_secret(client_id, batch_id, secret_id, old_key_id, new_key_id,
-- sealed): replace a secret's sealed value by one sealed under a new key id (key
-- rotation). Returns true when replaced, false when the row no longer holds the old
-- key id (destroyed, or resealed concurrently): compare-and-set, never a blind write.
--
-- tessera_settlement only (it alone holds the private keys needed to reseal). The
-- secret id stays (the application's handle); the batch must not be terminal (a
-- terminal batch has no secret anyway). SECURITY DEFINER; as tessera_owner under FORCE
-- RLS it reaches only the client named by tessera.recording_client_id. The update is
-- audited by the table's audit trigger (sealed excluded, key_id change visible).
CREATE FUNCTION tessera.reseal_batch_secret(p_client_id uuid, p_batch_id uuid, p_secret_id uuid,
                                            p_old_key_id text, p_new_key_id text, p_sealed bytea)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    replaced boolean;
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    UPDATE tessera.batch_secrets AS s
       SET key_id = p_new_key_id, sealed = p_sealed, resealed_at = pg_catalog.now()
     WHERE s.client_id = p_client_id AND s.batch_id = p_batch_id
       AND s.secret_id = p_secret_id AND s.key_id = p_old_key_id
       AND EXISTS (SELECT 1 FROM tessera.batches AS b
                    WHERE b.client_id = s.client_id AND b.batch_id = s.batch_id
                      AND b.state IN ('pending', 'dispatched'));
    replaced := FOUND;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    RETURN replaced;
END
$function$;

COMMENT ON FUNCTION tessera.reseal_batch_secret(uuid, uuid, uuid, text, text, bytea) IS
    'Key rotation: replace a secret''s sealed value by one under a new key id, compare-and-set on the old key id (tessera_settlement only). SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.reseal_batch_secret(uuid, uuid, uuid, text, text, bytea) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.reseal_batch_secret(uuid, uuid, uuid, text, text, bytea) TO tessera_settlement;
