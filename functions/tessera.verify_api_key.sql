-- tessera.verify_api_key(key, source_ip, workload_id, capability): the proxy's check of
-- a presented tk_ key. Returns the key's client, workload scope and capabilities, or no
-- row.
--
-- key is either the raw key (tk_<client hex>_<secret>) or its hashed form
--     tkh_<client id as 32 hex digits>_<SHA-256 of the raw key as 64 hex digits>
-- which lets the edge worker hash the key itself so the raw key never crosses the
-- database connection (nor a server log line with log_statement on);
-- tessera_db.keys.hashed_form() computes it.
--
-- No row (and a recorded failure: tessera.api_key_failures + an auth_failure audit
-- event with the key hint and source IP, never the key) when the key is malformed,
-- unknown, revoked, expired, or -- when workload_id / capability are given -- not valid
-- for that workload of its own client or lacking that capability. Revocation and expiry
-- are read on every call: a revoked key fails on the very next one. A key can reach only
-- its own client: the client comes from the stored row, and a workload_id of another
-- client is out of scope.
--
-- Throttle: a source with 20 or more failures in the last 5 minutes is refused with
-- SQLSTATE TS429 (tessera_db.errors.RateLimited) before the key is even looked at, valid
-- or not. No global lock (see schema/93_api_key_failures.sql). The limit is reached by
-- a call that returns no row and commits its failure; only the calls after it raise, so
-- no failure record is ever rolled back by the throttle's own error.
--
-- SECURITY DEFINER, EXECUTE for tessera_proxy only (sponsors, operators and anon are
-- refused with 42501). It runs as tessera_owner under FORCE RLS: the owner's policies
-- admit only the key row whose stored hash equals the presented one (setting
-- tessera.api_key_sha256), the failures of the calling source (tessera.api_key_source),
-- and the workloads of the key's own client (tessera.recording_client_id).
CREATE FUNCTION tessera.verify_api_key(p_key text, p_source_ip inet DEFAULT NULL,
                                       p_workload_id uuid DEFAULT NULL,
                                       p_capability text DEFAULT NULL)
RETURNS TABLE (client_id uuid, api_key_id uuid, workload_id uuid, capabilities text[],
               expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    -- Keep in step with tessera_private.record_api_key_failure.
    limit_failures CONSTANT integer := 20;
    window_length CONSTANT interval := interval '5 minutes';
    src text := COALESCE(pg_catalog.host(p_source_ip), 'unspecified');
    recent integer;
    key_client uuid;
    key_hash bytea;
    hint text;
    k tessera.api_keys;
    workload_ok boolean;
BEGIN
    PERFORM pg_catalog.set_config('tessera.api_key_source', src, true);

    -- 1. Throttle: refuse a source that has failed too often, before anything else.
    SELECT pg_catalog.count(*) INTO recent
      FROM (SELECT 1 FROM tessera.api_key_failures AS f
             WHERE f.source = src AND f.failed_at > pg_catalog.now() - window_length
             LIMIT limit_failures) AS r;
    IF recent >= limit_failures THEN
        RAISE EXCEPTION 'too many failed API key verifications from %; try again in a few minutes', src
            USING ERRCODE = 'TS429',
                  DETAIL = pg_catalog.format('%s or more failures within %s', limit_failures, window_length),
                  HINT = 'check the key; a revoked or expired key never becomes valid again';
    END IF;

    -- 2. Parse: raw key or hashed form; anything else is malformed.
    IF p_key ~ '^tk_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$' THEN
        key_client := pg_catalog.substr(p_key, 4, 32)::uuid;
        key_hash := pg_catalog.sha256(pg_catalog.convert_to(p_key, 'UTF8'));
        hint := 'tk_…' || pg_catalog.right(p_key, 4);
    ELSIF p_key ~ '^tkh_[0-9a-f]{32}_[0-9a-f]{64}$' THEN
        key_client := pg_catalog.substr(p_key, 5, 32)::uuid;
        key_hash := pg_catalog.decode(pg_catalog.substr(p_key, 38, 64), 'hex');
        hint := NULL;  -- presented hashed: the key's characters are unknown here
    ELSE
        PERFORM tessera_private.record_api_key_failure(p_source_ip, '(malformed)', 'malformed');
        RETURN;
    END IF;

    -- 3. Look the key up: the owner policy admits only the row with this hash.
    PERFORM pg_catalog.set_config('tessera.api_key_sha256', pg_catalog.encode(key_hash, 'hex'), true);
    SELECT a.* INTO k
      FROM tessera.api_keys AS a
     WHERE a.client_id = key_client AND a.key_sha256 = key_hash;
    PERFORM pg_catalog.set_config('tessera.api_key_sha256', '', true);

    IF k.api_key_id IS NULL THEN
        PERFORM tessera_private.record_api_key_failure(p_source_ip, hint, 'unknown');
        RETURN;
    END IF;
    hint := k.display_hint;
    IF k.revoked_at IS NOT NULL THEN
        PERFORM tessera_private.record_api_key_failure(p_source_ip, hint, 'revoked', k.client_id, k.api_key_id);
        RETURN;
    END IF;
    IF k.expires_at IS NOT NULL AND k.expires_at <= pg_catalog.now() THEN
        PERFORM tessera_private.record_api_key_failure(p_source_ip, hint, 'expired', k.client_id, k.api_key_id);
        RETURN;
    END IF;

    -- 4. Scope: the asked-for capability, and a workload of the key's own client within
    --    the key's workload scope.
    IF p_capability IS NOT NULL AND NOT (p_capability = ANY (k.capabilities)) THEN
        PERFORM tessera_private.record_api_key_failure(p_source_ip, hint, 'out_of_scope', k.client_id, k.api_key_id);
        RETURN;
    END IF;
    IF p_workload_id IS NOT NULL THEN
        IF k.workload_id IS NOT NULL THEN
            workload_ok := (k.workload_id = p_workload_id);
        ELSE
            PERFORM pg_catalog.set_config('tessera.recording_client_id', k.client_id::text, true);
            workload_ok := EXISTS (SELECT 1 FROM tessera.workloads AS w
                                    WHERE w.client_id = k.client_id AND w.workload_id = p_workload_id);
            PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
        END IF;
        IF NOT workload_ok THEN
            PERFORM tessera_private.record_api_key_failure(p_source_ip, hint, 'out_of_scope', k.client_id, k.api_key_id);
            RETURN;
        END IF;
    END IF;

    RETURN QUERY SELECT k.client_id, k.api_key_id, k.workload_id, k.capabilities, k.expires_at;
END
$function$;

COMMENT ON FUNCTION tessera.verify_api_key(text, inet, uuid, text) IS
    'The proxy''s key check (tessera_proxy only): raw tk_ key or its tkh_ hashed form -> client, workload scope, capabilities, or no row (failure recorded). Sources with too many failures are refused (SQLSTATE TS429). SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.verify_api_key(text, inet, uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.verify_api_key(text, inet, uuid, text) TO tessera_proxy;
