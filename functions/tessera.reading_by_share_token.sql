-- tessera.reading_by_share_token: the API entry point. The rules, checks and their
-- reasons live in its SECURITY DEFINER body, tessera_private.reading_by_share_token
-- (functions/tessera_private.reading_by_share_token.sql). This wrapper is SECURITY
-- INVOKER so that no definer body sits in the exposed schema (Supabase Security Advisor
-- lints 0028/0029; tests/lints/0018 and 0019); EXECUTE on both goes to exactly the same
-- roles, so every guarantee is unchanged.
CREATE FUNCTION tessera.reading_by_share_token(p_token text)
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
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT * FROM tessera_private.reading_by_share_token(p_token)
$function$;

COMMENT ON FUNCTION tessera.reading_by_share_token(text) IS
    'The issued monthly reading a share token opens (anon and authenticated), or no row. Invoker wrapper over the SECURITY DEFINER body tessera_private.reading_by_share_token, confined by the owner''s token policies.';

REVOKE ALL ON FUNCTION tessera.reading_by_share_token(text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.reading_by_share_token(text) TO anon;
GRANT EXECUTE ON FUNCTION tessera.reading_by_share_token(text) TO authenticated;
