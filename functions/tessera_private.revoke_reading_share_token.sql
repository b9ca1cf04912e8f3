-- The SECURITY DEFINER body behind tessera.revoke_reading_share_token. The exposed
-- schema holds only a SECURITY INVOKER wrapper
-- (functions/tessera.revoke_reading_share_token.sql) that calls this, so no definer body
-- is reachable as an RPC of PostgREST's schema (Supabase Security Advisor lints
-- 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly the wrapper's roles.
--
-- tessera_private.revoke_reading_share_token(client_id, share_token_id): stop a share link
-- working. Sponsors of the client and operators. Returns true when this call revoked it,
-- false when it was already revoked; no_data_found when there is no such token for a
-- client the caller may manage (the same answer as "not yours").
--
-- SECURITY DEFINER because API roles hold no UPDATE on the token table; as
-- tessera_owner under FORCE RLS it reaches only token rows of clients the caller may
-- manage, and the trigger reading_share_tokens_guard_update lets it set revoked_at only.
CREATE FUNCTION tessera_private.revoke_reading_share_token(p_client_id uuid, p_share_token_id uuid)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    was_revoked timestamptz;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'share token % not found', p_share_token_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT t.revoked_at INTO was_revoked
      FROM tessera.reading_share_tokens AS t
     WHERE t.client_id = p_client_id AND t.share_token_id = p_share_token_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'share token % not found', p_share_token_id USING ERRCODE = 'no_data_found';
    END IF;
    IF was_revoked IS NOT NULL THEN
        RETURN false;
    END IF;
    UPDATE tessera.reading_share_tokens AS t
       SET revoked_at = pg_catalog.now()
     WHERE t.client_id = p_client_id AND t.share_token_id = p_share_token_id AND t.revoked_at IS NULL;
    RETURN FOUND;
END
$function$;

COMMENT ON FUNCTION tessera_private.revoke_reading_share_token(uuid, uuid) IS
    'Revoke a reading share link (sponsor of the client or operator). SECURITY DEFINER, pinned search_path; sets revoked_at only.';

REVOKE ALL ON FUNCTION tessera_private.revoke_reading_share_token(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.revoke_reading_share_token(uuid, uuid) TO authenticated;
