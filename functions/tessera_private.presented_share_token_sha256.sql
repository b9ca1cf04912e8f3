-- tessera_private.presented_share_token_sha256(): SHA-256 of the share token presented in
-- this transaction, or NULL.
--
-- tessera.reading_by_share_token() runs as tessera_owner, which FORCE ROW LEVEL SECURITY
-- still confines. It puts the caller's raw token in the transaction-local setting
-- tessera.share_token; the owner's token policies on tessera.reading_share_tokens and
-- tessera.monthly_readings compare stored hashes with this function's result. So even
-- the definer function can read only the token row, and the reading, that the presented
-- token opens. Setting the GUC by hand gains nothing: it must hold the raw token, whose
-- hash is all the database knows. Not executable by any API role (owner policies only).
-- PARALLEL SAFE (migration 0005): it reads a setting and hashes it; read policies call
-- it, and lint 0014 wants every function a read policy calls to be parallel safe.
CREATE FUNCTION tessera_private.presented_share_token_sha256()
RETURNS bytea
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.sha256(pg_catalog.convert_to(
        NULLIF(pg_catalog.current_setting('tessera.share_token', true), ''), 'UTF8'))
$function$;

COMMENT ON FUNCTION tessera_private.presented_share_token_sha256() IS
    'SHA-256 of the raw share token in the transaction-local setting tessera.share_token (set by tessera.reading_by_share_token), else NULL. Used by tessera_owner policies only.';

REVOKE ALL ON FUNCTION tessera_private.presented_share_token_sha256() FROM PUBLIC; -- functions are executable by PUBLIC by default
