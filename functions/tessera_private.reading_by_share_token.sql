-- The SECURITY DEFINER body behind tessera.reading_by_share_token. The exposed schema
-- holds only a SECURITY INVOKER wrapper (functions/tessera.reading_by_share_token.sql)
-- that calls this, so no definer body is reachable as an RPC of PostgREST's schema
-- (Supabase Security Advisor lints 0028/0029; tests/lints/0018 and 0019). EXECUTE here
-- for exactly the wrapper's roles.
--
-- tessera_private.reading_by_share_token(token): the one anonymous surface of the readings: the
-- issued reading a share token opens, or no row.
--
-- Returns exactly that reading's figures (no row for a wrong, malformed, expired or
-- revoked token; never an error, so nothing is learnt by probing). issued_by (a staff
-- identity) and correction_reason (internal note) are not returned.
--
-- SECURITY DEFINER, executable by anon and authenticated. It runs as tessera_owner,
-- still under FORCE RLS: it puts the raw token in the transaction-local setting
-- tessera.share_token, and the owner's token policies on tessera.reading_share_tokens
-- and tessera.monthly_readings admit only the token row whose stored SHA-256 matches it
-- (unrevoked, unexpired) and the one reading that row names. The client id is read from
-- the token's prefix so the lookup is one probe of (client_id, token_sha256).
CREATE FUNCTION tessera_private.reading_by_share_token(p_token text)
RETURNS TABLE (
    month                        date,
    version                      integer,
    requests                     bigint,
    uncached_input_tokens        bigint,
    cache_read_input_tokens      bigint,
    cache_write_5m_input_tokens  bigint,
    cache_write_1h_input_tokens  bigint,
    output_tokens                bigint,
    reasoning_tokens             bigint,
    original_cost_usd            numeric,
    actual_cost_usd              numeric,
    savings_usd                  numeric,
    by_mechanics                 jsonb,
    by_feature_tag               jsonb,
    snapshot_ids                 uuid[],
    issued_at                    timestamptz
)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    token_client uuid;
BEGIN
    IF p_token IS NULL OR p_token !~ '^tsr_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$' THEN
        RETURN;
    END IF;
    token_client := pg_catalog.substr(p_token, 5, 32)::uuid;

    PERFORM pg_catalog.set_config('tessera.share_token', p_token, true);
    RETURN QUERY
    SELECT r.month, r.version, r.requests, r.uncached_input_tokens, r.cache_read_input_tokens,
           r.cache_write_5m_input_tokens, r.cache_write_1h_input_tokens, r.output_tokens,
           r.reasoning_tokens, r.original_cost_usd, r.actual_cost_usd, r.savings_usd,
           r.by_mechanics, r.by_feature_tag, r.snapshot_ids, r.issued_at
      FROM tessera.reading_share_tokens AS t
      JOIN tessera.monthly_readings AS r
        ON r.client_id = t.client_id AND r.month = t.month AND r.version = t.version
     WHERE t.client_id = token_client
       AND t.token_sha256 = pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8'))
       AND t.revoked_at IS NULL
       AND t.expires_at > pg_catalog.now();
    PERFORM pg_catalog.set_config('tessera.share_token', '', true);
END
$function$;

COMMENT ON FUNCTION tessera_private.reading_by_share_token(text) IS
    'The issued monthly reading a share token opens (anon and authenticated), or no row. SECURITY DEFINER confined by the owner''s token policies; pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.reading_by_share_token(text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.reading_by_share_token(text) TO anon;
GRANT EXECUTE ON FUNCTION tessera_private.reading_by_share_token(text) TO authenticated;
