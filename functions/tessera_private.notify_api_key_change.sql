-- tessera_private.notify_api_key_change(): AFTER UPDATE OR DELETE trigger on
-- tessera.api_keys (api_keys_notify_change, ENABLE ALWAYS): when a key stops working
-- -- revocation, rotation (a revocation with reason rotated), a change of its expiry
-- (which the guard trigger forbids; only a superuser who disables it could) or the row's
-- deletion -- NOTIFY channel tessera_api_keys, delivered when the transaction commits:
--     {"client_id": ..., "api_key_id": ..., "key_sha256_prefix": <first 16 hex digits>,
--      "reason": "revoked" | "rotated" | "expiry_changed" | "deleted"}
-- so an edge worker that caches verified keys (by their SHA-256) drops the cached key at
-- once, and "a revoked key fails on the very next call" holds with a cache too.
--
-- Only a prefix of the hash, never the hash: any session may LISTEN on any channel (no
-- privilege guards it), and the full hash with the client id is the tkh_ form that
-- tessera.verify_api_key accepts. 64 bits name a key among a worker's cached keys; a
-- collision only evicts one more entry, which the next verify re-reads.
--
-- Not SECURITY DEFINER: it reads no table, only the changed row.
CREATE FUNCTION tessera_private.notify_api_key_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    why text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        why := 'deleted';
    ELSIF NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        why := CASE WHEN NEW.revoke_reason = 'rotated' THEN 'rotated' ELSE 'revoked' END;
    ELSIF NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
        why := 'expiry_changed';
    ELSE
        RETURN NULL;  -- nothing a worker caches has changed
    END IF;
    PERFORM pg_catalog.pg_notify('tessera_api_keys', pg_catalog.jsonb_build_object(
        'client_id', OLD.client_id, 'api_key_id', OLD.api_key_id,
        'key_sha256_prefix', pg_catalog.left(pg_catalog.encode(OLD.key_sha256, 'hex'), 16),
        'reason', why)::text);
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.notify_api_key_change() IS
    'AFTER UPDATE OR DELETE trigger on tessera.api_keys: NOTIFY tessera_api_keys with the key''s client, id and SHA-256 prefix (16 hex digits, never the hash) when it is revoked, rotated, re-dated or deleted, so a worker drops a cached key.';

REVOKE ALL ON FUNCTION tessera_private.notify_api_key_change() FROM PUBLIC; -- functions are executable by PUBLIC by default
