-- tessera.verify_api_key(key, source_ip, workload_id, capability): the proxy's check of
-- a presented tk_ key. Returns the key's client, workload scope, capabilities and
-- expiry, or no row.
--
-- key is the hashed form of the key, never the key itself:
--     tkh_<client id as 32 hex digits>_<SHA-256 of the raw key as 64 hex digits>
-- (tessera_db.keys.hashed_form). The caller hashes the presented key before anything is
-- sent, so a raw key never crosses the database connection nor reaches a server log
-- line (log_statement, log_min_duration_statement and their parameter DETAIL). A raw
-- key (anything starting with tk_) is refused with SQLSTATE 22023 and a message that
-- holds only its display hint, and nothing is written: the caller is broken, and the
-- key has to be treated as exposed. Anything else that is not the hashed form is
-- recorded as malformed (a worker sends a fixed placeholder for a garbled key rather
-- than the garbled text, which could be a key with a typo).
--
-- No row (and a recorded failure: tessera.api_key_failures + an auth_failure audit
-- event with the source IP and the key's hint when the key matched one, never the key
-- nor its hash) when the key is malformed, unknown, revoked, expired, or -- when
-- workload_id / capability are given -- not valid for that workload of its own client
-- or lacking that capability. Revocation and expiry are read on every call: a revoked
-- key fails on the very next one. A worker that caches a verified key keeps it no longer
-- than its expires_at and drops it on the NOTIFY that names its hash prefix (channel
-- tessera_api_keys, schema/92_api_keys.sql). A key can reach only its own client: the
-- client comes from the stored row, and a workload_id of another client is out of scope.
--
-- Throttle: a source with 20 or more failures in the last 5 minutes is refused with
-- SQLSTATE TS429 (tessera_db.errors.RateLimited), valid key or not. No global lock (see
-- schema/93_api_key_failures.sql). The limit is reached by a call that returns no row
-- and commits its failure; only the calls after it raise, so no failure record is ever
-- rolled back by the throttle's own error.
--
-- The proxy calls this on every request, so it is one query: the throttle count, the key
-- row and the workload check are read together, after the settings the owner's
-- policies need are set in one step. The shape check uses no regular expression (two
-- anchored regexes with counted repetitions cost more than the rest of the call).
--
-- SECURITY DEFINER, EXECUTE for tessera_proxy only (sponsors, operators and anon are
-- refused with 42501). It runs as tessera_owner under FORCE RLS: the owner's policies
-- admit only the key row whose stored hash equals the presented one (setting
-- tessera.api_key_sha256), the failures of the calling source (tessera.api_key_source),
-- and the workloads of the key's own client (tessera.recording_client_id, set to the
-- client named by the key and read only for the key row that matched). The owner's
-- policies for the key-management functions apply only while one of them runs (setting
-- tessera.managing_client_id), so a verify never reads another key, whatever JWT the
-- session carries.
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
    well_formed boolean;
    key_client uuid;
    key_hash bytea;
    throttled boolean;
    k_client uuid;
    k_id uuid;
    k_hint text;
    k_workload uuid;
    k_capabilities text[];
    k_expires timestamptz;
    k_revoked timestamptz;
    workload_ok boolean;
BEGIN
    -- 1. Shape. A raw key is refused outright (nothing is looked up or written).
    IF pg_catalog.left(p_key, 3) = 'tk_' THEN
        RAISE EXCEPTION 'verify_api_key accepts only the hashed form of a key (tkh_<client hex>_<sha256 hex>), never the raw key'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN pg_catalog.char_length(p_key) = 79
                                THEN pg_catalog.format('The raw key %s crossed the connection: treat it as exposed and rotate it.',
                                                       'tk_…' || pg_catalog.right(p_key, 4))
                                ELSE 'A raw key crossed the connection: treat it as exposed and rotate it.' END,
                  HINT = 'hash the key in the client first (tessera_db.keys.hashed_form)';
    END IF;
    well_formed := COALESCE(pg_catalog.char_length(p_key) = 101
                            AND pg_catalog.left(p_key, 4) = 'tkh_'
                            AND pg_catalog.substr(p_key, 37, 1) = '_'
                            AND pg_catalog.ltrim(pg_catalog.substr(p_key, 5, 32) || pg_catalog.substr(p_key, 38),
                                                 '0123456789abcdef') = '', false);
    IF well_formed THEN
        key_client := pg_catalog.substr(p_key, 5, 32)::uuid;
        key_hash := pg_catalog.decode(pg_catalog.substr(p_key, 38, 64), 'hex');
    END IF;

    -- 2. One query: the source's recent failures (the throttle), the key row (the owner
    --    policy admits only the row with this hash) and, for a key valid for every
    --    workload, whether the asked-for workload is one of the key's client's.
    PERFORM pg_catalog.set_config('tessera.api_key_source', src, true),
            pg_catalog.set_config('tessera.api_key_sha256', CASE WHEN well_formed THEN pg_catalog.substr(p_key, 38) ELSE '' END, true),
            pg_catalog.set_config('tessera.recording_client_id', COALESCE(key_client::text, ''), true);
    SELECT t.throttled, a.client_id, a.api_key_id, a.display_hint, a.workload_id, a.capabilities,
           a.expires_at, a.revoked_at,
           CASE WHEN p_workload_id IS NULL THEN true
                WHEN a.workload_id IS NOT NULL THEN a.workload_id = p_workload_id
                ELSE EXISTS (SELECT 1 FROM tessera.workloads AS w
                              WHERE w.client_id = a.client_id AND w.workload_id = p_workload_id) END
      INTO throttled, k_client, k_id, k_hint, k_workload, k_capabilities, k_expires, k_revoked, workload_ok
      FROM (SELECT EXISTS (SELECT 1 FROM tessera.api_key_failures AS f
                            WHERE f.source = src AND f.failed_at > pg_catalog.now() - window_length
                           OFFSET limit_failures - 1) AS throttled) AS t
      LEFT JOIN tessera.api_keys AS a ON a.client_id = key_client AND a.key_sha256 = key_hash;
    PERFORM pg_catalog.set_config('tessera.api_key_sha256', '', true),
            pg_catalog.set_config('tessera.recording_client_id', '', true);

    -- 3. Throttle: refuse a source that has failed too often, valid key or not.
    IF throttled THEN
        RAISE EXCEPTION 'too many failed API key verifications from %; try again in a few minutes', src
            USING ERRCODE = 'TS429',
                  DETAIL = pg_catalog.format('%s or more failures within %s', limit_failures, window_length),
                  HINT = 'check the key; a revoked or expired key never becomes valid again';
    END IF;

    -- 4. The verdict; every failure is recorded with the hint of the key it matched.
    IF NOT well_formed THEN
        PERFORM tessera_private.record_api_key_failure(p_source_ip, '(malformed)', 'malformed');
        RETURN;
    END IF;
    IF k_id IS NULL THEN
        PERFORM tessera_private.record_api_key_failure(p_source_ip, NULL, 'unknown');
        RETURN;
    END IF;
    IF k_revoked IS NOT NULL THEN
        PERFORM tessera_private.record_api_key_failure(p_source_ip, k_hint, 'revoked', k_client, k_id);
        RETURN;
    END IF;
    IF k_expires IS NOT NULL AND k_expires <= pg_catalog.now() THEN
        PERFORM tessera_private.record_api_key_failure(p_source_ip, k_hint, 'expired', k_client, k_id);
        RETURN;
    END IF;
    IF (p_capability IS NOT NULL AND NOT (p_capability = ANY (k_capabilities))) OR NOT workload_ok THEN
        PERFORM tessera_private.record_api_key_failure(p_source_ip, k_hint, 'out_of_scope', k_client, k_id);
        RETURN;
    END IF;

    client_id := k_client;
    api_key_id := k_id;
    workload_id := k_workload;
    capabilities := k_capabilities;
    expires_at := k_expires;
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION tessera.verify_api_key(text, inet, uuid, text) IS
    'The proxy''s key check (tessera_proxy only): the key''s tkh_ hashed form -> client, workload scope, capabilities, expiry, or no row (failure recorded). A raw tk_ key is refused (22023) without echoing it. Sources with too many failures are refused (SQLSTATE TS429). SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.verify_api_key(text, inet, uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.verify_api_key(text, inet, uuid, text) TO tessera_proxy;
