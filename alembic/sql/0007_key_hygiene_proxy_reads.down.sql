-- Frozen downgrade of 0007_key_hygiene_proxy_reads: restores the 0005 definitions.
-- (A downgrade brings back the old key-making functions, which generate raw keys in the
-- database: downgrade only to roll back a failed deployment.)

DROP TRIGGER api_keys_notify_change ON tessera.api_keys;
DROP FUNCTION tessera_private.notify_api_key_change();
DROP FUNCTION tessera.rotate_api_key(uuid, uuid, text, text, interval);
DROP FUNCTION tessera.create_api_key(uuid, text, text, text[], text, uuid, interval);

-- functions/tessera.create_api_key.sql (0005)
-- tessera.create_api_key(client_id, capabilities, name, workload_id, valid_for): make a
-- proxy API key and return the raw key, once.
--
-- Sponsors of the client and operators only (same answer for "no such client" and "not
-- yours"). Only the key's SHA-256 is stored (format and reasoning:
-- schema/92_api_keys.sql). capabilities are checked against the vocabulary (23514,
-- constraint api_keys_capabilities_known) and normalised to sorted + distinct;
-- workload_id NULL = every workload of the client, else a workload of that client
-- (23503 otherwise); valid_for NULL = no expiry, else 1 minute .. 2 years.
--
-- SECURITY DEFINER because API roles hold no INSERT on tessera.api_keys: a key must be
-- generated here, never chosen by the caller. It runs as tessera_owner under FORCE RLS,
-- whose policies admit only key rows of clients the JWT caller may manage. The insert is
-- audited by the table's audit trigger (key_sha256 excluded).
CREATE FUNCTION tessera.create_api_key(p_client_id uuid, p_capabilities text[], p_name text,
                                       p_workload_id uuid DEFAULT NULL,
                                       p_valid_for interval DEFAULT NULL)
RETURNS TABLE (api_key_id uuid, api_key text, display_hint text, capabilities text[],
               workload_id uuid, expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    raw_key text;
    caps text[];
    new_id uuid;
    new_expiry timestamptz;
    hint text;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to create API keys for client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_valid_for IS NOT NULL AND (p_valid_for < interval '1 minute' OR p_valid_for > interval '2 years') THEN
        RAISE EXCEPTION 'an API key must be valid for between 1 minute and 2 years (or without expiry)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT pg_catalog.array_agg(DISTINCT c ORDER BY c) INTO caps
      FROM pg_catalog.unnest(p_capabilities) AS c;

    -- 32 bytes from the server's strong random source, base64url without padding.
    raw_key := 'tk_' || pg_catalog.replace(p_client_id::text, '-', '') || '_'
        || pg_catalog.rtrim(pg_catalog.translate(pg_catalog.encode(
               pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
               || pg_catalog.uuid_send(pg_catalog.gen_random_uuid()), 'base64'), '+/', '-_'), '=');
    hint := 'tk_…' || pg_catalog.right(raw_key, 4);
    new_expiry := pg_catalog.now() + p_valid_for;

    INSERT INTO tessera.api_keys AS k
           (client_id, key_sha256, display_hint, name, workload_id, capabilities, created_by, expires_at)
    VALUES (p_client_id, pg_catalog.sha256(pg_catalog.convert_to(raw_key, 'UTF8')), hint, p_name,
            p_workload_id, COALESCE(caps, '{}'),
            pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                              COALESCE(tessera_private.jwt_email(), session_user::text)),
            new_expiry)
    RETURNING k.api_key_id INTO new_id;

    RETURN QUERY SELECT new_id, raw_key, hint, COALESCE(caps, '{}'::text[]), p_workload_id, new_expiry;
END
$function$;

COMMENT ON FUNCTION tessera.create_api_key(uuid, text[], text, uuid, interval) IS
    'Create a proxy API key (sponsor of the client or operator); returns the raw key once, stores only its SHA-256. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.create_api_key(uuid, text[], text, uuid, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.create_api_key(uuid, text[], text, uuid, interval) TO authenticated;

-- functions/tessera.rotate_api_key.sql (0005)
-- tessera.rotate_api_key(client_id, api_key_id, valid_for): replace a key by a new one
-- with the same name, workload scope and capabilities, and revoke the old one, in one
-- transaction. Returns the new raw key once (as tessera.create_api_key).
--
-- Rotation can only keep or narrow (never widen) what a key may do: it copies the old
-- key's capabilities and scope, and nothing else is accepted. The old key's row records
-- replaced_by. Both steps are audited by the table's audit trigger (an insert and an
-- update). Sponsors of the client and operators only; SECURITY DEFINER for the same
-- reason as create_api_key.
CREATE FUNCTION tessera.rotate_api_key(p_client_id uuid, p_api_key_id uuid,
                                       p_valid_for interval DEFAULT NULL)
RETURNS TABLE (api_key_id uuid, api_key text, display_hint text, capabilities text[],
               workload_id uuid, expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    old tessera.api_keys;
    fresh record;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to rotate API keys of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT k.* INTO old
      FROM tessera.api_keys AS k
     WHERE k.client_id = p_client_id AND k.api_key_id = p_api_key_id
       FOR UPDATE;
    IF old.api_key_id IS NULL THEN
        RAISE EXCEPTION 'API key % of client % not found', p_api_key_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF old.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'API key % was revoked at %; create a new key instead', p_api_key_id, old.revoked_at
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    SELECT * INTO STRICT fresh
      FROM tessera.create_api_key(p_client_id, old.capabilities, old.name, old.workload_id, p_valid_for);

    UPDATE tessera.api_keys AS k
       SET revoked_at = pg_catalog.now(),
           revoked_by = pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                                          COALESCE(tessera_private.jwt_email(), session_user::text)),
           revoke_reason = 'rotated',
           replaced_by = fresh.api_key_id
     WHERE k.client_id = p_client_id AND k.api_key_id = p_api_key_id;

    RETURN QUERY SELECT fresh.api_key_id, fresh.api_key, fresh.display_hint, fresh.capabilities,
                        fresh.workload_id, fresh.expires_at;
END
$function$;

COMMENT ON FUNCTION tessera.rotate_api_key(uuid, uuid, interval) IS
    'Rotate a proxy API key: create a new key with the same name, scope and capabilities and revoke the old one (replaced_by), in one transaction; returns the new raw key once. Sponsor of the client or operator. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.rotate_api_key(uuid, uuid, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.rotate_api_key(uuid, uuid, interval) TO authenticated;

-- functions/tessera.verify_api_key.sql (0005)
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
CREATE OR REPLACE FUNCTION tessera.verify_api_key(p_key text, p_source_ip inet DEFAULT NULL,
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

-- functions/tessera.revoke_api_key.sql (0005)
-- tessera.revoke_api_key(client_id, api_key_id, reason): stop a key, at once and for good.
--
-- Sponsors of the client and operators only. The next tessera.verify_api_key() call
-- with that key fails (reason revoked). Revoking an already revoked key is refused
-- (55000) so a caller learns it was not the one who stopped it. SECURITY DEFINER (API
-- roles hold no UPDATE on tessera.api_keys); the update is audited by the table's
-- audit trigger, and the guard trigger lets it touch only the revocation columns.
CREATE OR REPLACE FUNCTION tessera.revoke_api_key(p_client_id uuid, p_api_key_id uuid, p_reason text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    was_revoked timestamptz;
    found_key boolean;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to revoke API keys of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT true, k.revoked_at INTO found_key, was_revoked
      FROM tessera.api_keys AS k
     WHERE k.client_id = p_client_id AND k.api_key_id = p_api_key_id
       FOR UPDATE;
    IF found_key IS NULL THEN
        RAISE EXCEPTION 'API key % of client % not found', p_api_key_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF was_revoked IS NOT NULL THEN
        RAISE EXCEPTION 'API key % was already revoked at %', p_api_key_id, was_revoked
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    UPDATE tessera.api_keys AS k
       SET revoked_at = pg_catalog.now(),
           revoked_by = pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                                          COALESCE(tessera_private.jwt_email(), session_user::text)),
           revoke_reason = NULLIF(pg_catalog.btrim(p_reason), '')
     WHERE k.client_id = p_client_id AND k.api_key_id = p_api_key_id;
    RETURN pg_catalog.now();
END
$function$;

COMMENT ON FUNCTION tessera.revoke_api_key(uuid, uuid, text) IS
    'Revoke a proxy API key (sponsor of the client or operator); the next verify fails. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.revoke_api_key(uuid, uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.revoke_api_key(uuid, uuid, text) TO authenticated;

-- functions/tessera.worker_config.sql (0005)
-- tessera.worker_config(client_id, workload_id): the effective configuration of one
-- workload for the edge worker, and its config version.
--
--   kill_switch       the client's optimisation kill switch
--   pass_through      = kill_switch: forward the request untouched, no mechanic acts
--   mechanics         the mechanics that may act (sorted names without the mechanic_
--                     prefix): the workload's opt-ins, or '{}' under the kill switch
--   opted_in          the workload's opt-ins as configured (shown to explain a pause)
--   exact_cache_ttl   lifetime of exact-cache entries (default 7 days)
--   config_version    monotonically increasing (tessera.workload_settings; 0 = never
--                     changed since the workload existed before versioning)
--
-- A worker keeps the version it last read and LISTENs on channel tessera_worker_config:
-- every change of a mechanic flag, the kill switch or a workload setting NOTIFYs there
-- (schema/97_workload_settings.sql), so it refreshes at once. No row when the workload is
-- not the client's. Nothing here looks at balance, plan or seats: the kill switch takes
-- effect whatever they are.
--
-- tessera_proxy only (and service_role, for tooling). SECURITY DEFINER; as tessera_owner
-- under FORCE RLS it reads only the client named by tessera.recording_client_id (set
-- here, cleared after).
CREATE OR REPLACE FUNCTION tessera.worker_config(p_client_id uuid, p_workload_id uuid)
RETURNS TABLE (client_id uuid, workload_id uuid, kill_switch boolean, pass_through boolean,
               mechanics text[], opted_in text[], exact_cache_ttl interval, config_version bigint)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    RETURN QUERY
        SELECT w.client_id, w.workload_id, c.optimisation_kill_switch, c.optimisation_kill_switch,
               CASE WHEN c.optimisation_kill_switch THEN '{}'::text[] ELSE opt.names END,
               opt.names,
               COALESCE(s.exact_cache_ttl, interval '7 days'),
               COALESCE(s.config_version, 0)
          FROM tessera.workloads AS w
          JOIN tessera.clients AS c ON c.client_id = w.client_id
          LEFT JOIN tessera.workload_settings AS s
            ON s.client_id = w.client_id AND s.workload_id = w.workload_id
          CROSS JOIN LATERAL (
              SELECT COALESCE(pg_catalog.array_agg(pg_catalog.substr(j.key, 10) ORDER BY j.key COLLATE "C"),
                              '{}'::text[]) AS names
                FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(w)) AS j
               WHERE j.key LIKE 'mechanic\_%' AND j.value = 'true'::jsonb) AS opt
         WHERE w.client_id = p_client_id AND w.workload_id = p_workload_id;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.worker_config(uuid, uuid) IS
    'Effective edge-worker config of a workload: mechanics (none under the kill switch = pure pass-through), exact-cache TTL and a monotonically increasing config version; changes NOTIFY tessera_worker_config. tessera_proxy and service_role. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.worker_config(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.worker_config(uuid, uuid) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.worker_config(uuid, uuid) TO service_role;

-- schema/92_api_keys.sql: comments (0005)
COMMENT ON TABLE tessera.api_keys IS
    'Proxy API keys (tk_...). Only the SHA-256 is stored; the raw key is returned once by tessera.create_api_key(). Verified by the proxy through tessera.verify_api_key(). Capabilities, scope and expiry are fixed at creation; the only change is revocation.';
COMMENT ON COLUMN tessera.api_keys.display_hint IS 'tk_… plus the key''s last 4 characters, to recognise a key in a list.';

-- policies/api_keys.sql (0005)
ALTER POLICY api_keys_select_definer_for_caller ON tessera.api_keys
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY api_keys_insert_definer_for_caller ON tessera.api_keys
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY api_keys_update_definer_for_caller ON tessera.api_keys
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
