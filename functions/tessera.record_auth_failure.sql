-- tessera.record_auth_failure(kind, key_prefix, source_ip, detail): the proxy records a
-- failed authentication ('auth_failure': unknown, revoked or expired key, bad
-- signature) or a refusal by a rate limit ('rate_limited') as a platform audit event
-- (client_id NULL: an unauthenticated caller has proven no client). The keys issue's own
-- definer functions log failed key verifications through
-- tessera_private.write_audit_event directly.
--
-- Never a raw key: key_prefix is the display prefix only (at most 16 characters), and a
-- prefix or detail that contains something shaped like a full tk_ key (tk_ followed by
-- 16 or more key characters) is refused (22023), so a careless caller cannot put a
-- secret in the permanent log. detail is at most 500 characters.
--
-- SECURITY DEFINER (the proxy holds no INSERT on tessera.audit_events); EXECUTE for the
-- proxy login and service_role (server-side auth paths) only.
CREATE FUNCTION tessera.record_auth_failure(p_kind text, p_key_prefix text, p_source_ip inet, p_detail text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_kind IS NULL OR p_kind NOT IN ('auth_failure', 'rate_limited') THEN
        RAISE EXCEPTION 'unknown authentication event kind %; known: auth_failure, rate_limited',
            pg_catalog.quote_nullable(p_kind)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_key_prefix ~ 'tk_[A-Za-z0-9_-]{16,}' OR p_detail ~ 'tk_[A-Za-z0-9_-]{16,}' THEN
        RAISE EXCEPTION 'that looks like a full API key; record only its display prefix'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF char_length(p_key_prefix) > 16 THEN
        RAISE EXCEPTION 'a key prefix is at most 16 characters (a display prefix, never the key)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF char_length(p_detail) > 500 THEN
        RAISE EXCEPTION 'detail is at most 500 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN tessera_private.write_audit_event(
        NULL, 'auth', NULL, p_kind, NULL,
        NULLIF(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('key_prefix', p_key_prefix, 'detail', p_detail)),
               '{}'::jsonb),
        NULL, p_source_ip);
END
$function$;

COMMENT ON FUNCTION tessera.record_auth_failure(text, text, inet, text) IS
    'Proxy: records a failed authentication or rate-limit refusal (key display prefix, source IP, detail) as a platform audit event; refuses anything shaped like a full tk_ key.';

REVOKE ALL ON FUNCTION tessera.record_auth_failure(text, text, inet, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.record_auth_failure(text, text, inet, text) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.record_auth_failure(text, text, inet, text) TO service_role;
