-- Frozen migration 0007_key_hygiene_proxy_reads: hand-written delta; never edit once merged.
--
-- Issue 12, items 4 (key hygiene) and 6 (the proxy's per-request reads).
--
-- 1. Raw API keys never cross the database connection. tessera.create_api_key and
--    tessera.rotate_api_key used to generate the raw key in the database and return it
--    over the connection (a driver, pooler or logged result could keep it). The new
--    signatures take the key's tkh_ hashed form and display hint from the client, which
--    generates the key (tessera_db.keys.generate_key) and shows it once; the database
--    checks the hashed form's shape, that it names p_client_id, the hint's format (CHECK)
--    and the hash's novelty (UNIQUE).
--    The old signatures are DROPPED here rather than kept for a later revision (the
--    project's rule for a changed signature): keeping them would keep a way to make a
--    key that violates the standing rule ("raw keys never cross the connection"), and
--    revoking EXECUTE instead would keep dead code that still generates raw keys and
--    turn an old client's call into a misleading "permission denied". Their callers are
--    people managing keys (portal, CLI), not the request path, so an old client fails
--    with "function does not exist" until it is upgraded; nothing in flight breaks.
-- 2. tessera.verify_api_key accepts only the hashed form. A raw key (anything starting
--    with tk_) is refused with 22023, a message holding only the key's display hint, and
--    nothing written. Same signature.
-- 3. NOTIFY tessera_api_keys (trigger api_keys_notify_change, ENABLE ALWAYS) when a key is
--    revoked, rotated, re-dated or deleted, naming its SHA-256 prefix (16 hex digits,
--    never the hash), so an edge worker may cache verified keys.
-- 4. The owner's key-management policies on tessera.api_keys apply only while
--    tessera.managing_client_id (set by create / revoke / rotate_api_key) names the row's
--    client; a verify no longer evaluates is_operator() / sponsor_client_ids() (OR'd in
--    from those policies) and can never read a second key.
-- 5. verify_api_key reads throttle, key and workload in one query, with the settings set
--    in one step and a shape check without regular expressions; worker_config lists the
--    mechanic columns instead of building and sorting a jsonb of the workload row.
--    bench/proxy_reads.py (docs/benchmarks.md, section proxy-reads) measures both.

-- Drop the old key-making signatures first (rotate calls create).
DROP FUNCTION tessera.rotate_api_key(uuid, uuid, interval);
DROP FUNCTION tessera.create_api_key(uuid, text[], text, uuid, interval);

-- functions/tessera.create_api_key.sql (new signature)
-- tessera.create_api_key(client_id, hashed_key, display_hint, capabilities, name,
-- workload_id, valid_for): register a proxy API key that the caller generated.
--
-- The raw key never reaches the database: the client generates it (Python `secrets`,
-- tessera_db.keys.generate_key: tk_<client hex>_<43 base64url characters>, 256 random
-- bits), shows it once, and sends only its hashed form tkh_<client hex>_<SHA-256 hex>
-- and its display hint tk_…<last 4 characters>. (Until migration 0007 this function
-- generated the key here and returned it over the connection, where a driver, pooler or
-- logged result could keep it.) The database checks what it can check without the key:
-- the hashed form's shape (a 32-byte hash), that its client part is p_client_id (a key
-- naming another client could never verify), the hint's format (CHECK
-- api_keys_display_hint_format), and that the hash is new for the client (UNIQUE
-- api_keys_client_hash_key). It cannot check the hint against the key nor the key's
-- randomness: a caller who registers a guessable key weakens only the keys of a client
-- they manage, and the throttle bounds online guessing.
--
-- Sponsors of the client and operators only (same answer for "no such client" and "not
-- yours"). capabilities are checked against the vocabulary (23514, constraint
-- api_keys_capabilities_known) and normalised to sorted + distinct; workload_id NULL =
-- every workload of the client, else a workload of that client (23503 otherwise);
-- valid_for NULL = no expiry, else 1 minute .. 2 years. Nothing is written on any error.
--
-- SECURITY DEFINER because API roles hold no INSERT on tessera.api_keys. It runs as
-- tessera_owner under FORCE RLS, whose key-management policies admit, only while the
-- setting tessera.managing_client_id names the client (set here after the caller check,
-- restored before returning), key rows of that client if the JWT caller may manage it.
-- The insert is audited by the table's audit trigger (key_sha256 excluded).
CREATE FUNCTION tessera.create_api_key(p_client_id uuid, p_hashed_key text, p_display_hint text,
                                       p_capabilities text[], p_name text,
                                       p_workload_id uuid DEFAULT NULL,
                                       p_valid_for interval DEFAULT NULL)
RETURNS TABLE (api_key_id uuid, display_hint text, capabilities text[], workload_id uuid,
               expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    previous text := pg_catalog.current_setting('tessera.managing_client_id', true);
    caps text[];
    new_id uuid;
    new_expiry timestamptz;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to create API keys for client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_hashed_key IS NULL OR p_hashed_key !~ '^tkh_[0-9a-f]{32}_[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'the key must be sent in its hashed form tkh_<client hex>_<sha256 hex>, never raw'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'generate and hash the key in the client (tessera_db.keys.generate_key)';
    END IF;
    IF pg_catalog.substr(p_hashed_key, 5, 32)::uuid <> p_client_id THEN
        RAISE EXCEPTION 'the key names client %, not client %', pg_catalog.substr(p_hashed_key, 5, 32)::uuid, p_client_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_valid_for IS NOT NULL AND (p_valid_for < interval '1 minute' OR p_valid_for > interval '2 years') THEN
        RAISE EXCEPTION 'an API key must be valid for between 1 minute and 2 years (or without expiry)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT pg_catalog.array_agg(DISTINCT c ORDER BY c) INTO caps
      FROM pg_catalog.unnest(p_capabilities) AS c;
    new_expiry := pg_catalog.now() + p_valid_for;

    PERFORM pg_catalog.set_config('tessera.managing_client_id', p_client_id::text, true);
    INSERT INTO tessera.api_keys AS k
           (client_id, key_sha256, display_hint, name, workload_id, capabilities, created_by, expires_at)
    VALUES (p_client_id, pg_catalog.decode(pg_catalog.substr(p_hashed_key, 38), 'hex'), p_display_hint, p_name,
            p_workload_id, COALESCE(caps, '{}'),
            pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                              COALESCE(tessera_private.jwt_email(), session_user::text)),
            new_expiry)
    RETURNING k.api_key_id INTO new_id;
    PERFORM pg_catalog.set_config('tessera.managing_client_id', COALESCE(previous, ''), true);

    RETURN QUERY SELECT new_id, p_display_hint, COALESCE(caps, '{}'::text[]), p_workload_id, new_expiry;
END
$function$;

COMMENT ON FUNCTION tessera.create_api_key(uuid, text, text, text[], text, uuid, interval) IS
    'Register a proxy API key generated by the caller (sponsor of the client or operator): only its tkh_ hashed form and display hint are sent and its SHA-256 stored; the raw key never reaches the database. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.create_api_key(uuid, text, text, text[], text, uuid, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.create_api_key(uuid, text, text, text[], text, uuid, interval) TO authenticated;

-- functions/tessera.rotate_api_key.sql (new signature)
-- tessera.rotate_api_key(client_id, api_key_id, hashed_key, display_hint, valid_for):
-- replace a key by a new one with the same name, workload scope and capabilities, and
-- revoke the old one, in one transaction. The new key is generated by the caller and
-- sent only as its tkh_ hashed form and display hint, exactly as for
-- tessera.create_api_key (which this calls, with all of its checks).
--
-- Rotation can only keep or narrow (never widen) what a key may do: it copies the old
-- key's capabilities and scope, and nothing else is accepted. The old key's row records
-- replaced_by. Both steps are audited by the table's audit trigger (an insert and an
-- update, key_sha256 excluded), and the revocation NOTIFYs tessera_api_keys (reason
-- rotated) so a worker drops a cached copy of the old key at once. Sponsors of the client
-- and operators only; SECURITY DEFINER and confined by tessera.managing_client_id like
-- create_api_key.
CREATE FUNCTION tessera.rotate_api_key(p_client_id uuid, p_api_key_id uuid, p_hashed_key text,
                                       p_display_hint text, p_valid_for interval DEFAULT NULL)
RETURNS TABLE (api_key_id uuid, display_hint text, capabilities text[], workload_id uuid,
               expires_at timestamptz)
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
    PERFORM pg_catalog.set_config('tessera.managing_client_id', p_client_id::text, true);
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
      FROM tessera.create_api_key(p_client_id, p_hashed_key, p_display_hint, old.capabilities, old.name,
                                  old.workload_id, p_valid_for);

    UPDATE tessera.api_keys AS k
       SET revoked_at = pg_catalog.now(),
           revoked_by = pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                                          COALESCE(tessera_private.jwt_email(), session_user::text)),
           revoke_reason = 'rotated',
           replaced_by = fresh.api_key_id
     WHERE k.client_id = p_client_id AND k.api_key_id = p_api_key_id;
    PERFORM pg_catalog.set_config('tessera.managing_client_id', '', true);

    RETURN QUERY SELECT fresh.api_key_id, fresh.display_hint, fresh.capabilities, fresh.workload_id,
                        fresh.expires_at;
END
$function$;

COMMENT ON FUNCTION tessera.rotate_api_key(uuid, uuid, text, text, interval) IS
    'Rotate a proxy API key: register the caller-generated new key (tkh_ hashed form and hint only) with the same name, scope and capabilities and revoke the old one (replaced_by), in one transaction. Sponsor of the client or operator. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.rotate_api_key(uuid, uuid, text, text, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.rotate_api_key(uuid, uuid, text, text, interval) TO authenticated;

-- functions/tessera.verify_api_key.sql (replaced)
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

-- functions/tessera.revoke_api_key.sql (replaced)
-- tessera.revoke_api_key(client_id, api_key_id, reason): stop a key, at once and for good.
--
-- Sponsors of the client and operators only. The next tessera.verify_api_key() call
-- with that key fails (reason revoked). Revoking an already revoked key is refused
-- (55000) so a caller learns it was not the one who stopped it. SECURITY DEFINER (API
-- roles hold no UPDATE on tessera.api_keys), confined like create_api_key by the owner's
-- key-management policies, which apply only while tessera.managing_client_id names the
-- client (set here after the caller check, cleared before returning). The update is
-- audited by the table's audit trigger, the guard trigger lets it touch only the
-- revocation columns, and trigger api_keys_notify_change NOTIFYs tessera_api_keys with
-- the key's hash prefix so a worker drops a cached copy at once.
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
    PERFORM pg_catalog.set_config('tessera.managing_client_id', p_client_id::text, true);
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
    PERFORM pg_catalog.set_config('tessera.managing_client_id', '', true);
    RETURN pg_catalog.now();
END
$function$;

COMMENT ON FUNCTION tessera.revoke_api_key(uuid, uuid, text) IS
    'Revoke a proxy API key (sponsor of the client or operator); the next verify fails. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.revoke_api_key(uuid, uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.revoke_api_key(uuid, uuid, text) TO authenticated;

-- functions/tessera.worker_config.sql (replaced)
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
-- The proxy reads this on every request (unless it caches the config by version), so
-- the mechanics are listed column by column, in name order, rather than found by
-- their mechanic_ prefix in to_jsonb(workload): the generic form (a jsonb of the row,
-- jsonb_each, a sorted array_agg) was more than half of the call. A mechanic column
-- added later must be added here too: tests/test_worker_config.py fails until it is
-- (every mechanic_ column of tessera.workloads, switched on, must be reported).
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
              SELECT pg_catalog.array_remove(ARRAY[
                         CASE WHEN w.mechanic_auto_route THEN 'auto_route' END,
                         CASE WHEN w.mechanic_batch_routing THEN 'batch_routing' END,
                         CASE WHEN w.mechanic_exact_cache THEN 'exact_cache' END,
                         CASE WHEN w.mechanic_history_pruning THEN 'history_pruning' END,
                         CASE WHEN w.mechanic_json_schema_enforcement THEN 'json_schema_enforcement' END,
                         CASE WHEN w.mechanic_prompt_cache_header THEN 'prompt_cache_header' END,
                         CASE WHEN w.mechanic_semantic_cache THEN 'semantic_cache' END]::text[], NULL) AS names) AS opt
         WHERE w.client_id = p_client_id AND w.workload_id = p_workload_id;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.worker_config(uuid, uuid) IS
    'Effective edge-worker config of a workload: mechanics (none under the kill switch = pure pass-through), exact-cache TTL and a monotonically increasing config version; changes NOTIFY tessera_worker_config. tessera_proxy and service_role. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.worker_config(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.worker_config(uuid, uuid) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.worker_config(uuid, uuid) TO service_role;

-- functions/tessera_private.notify_api_key_change.sql (new)
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

-- schema/92_api_keys.sql: the NOTIFY trigger, comments
CREATE TRIGGER api_keys_notify_change
    AFTER UPDATE OR DELETE ON tessera.api_keys
    FOR EACH ROW EXECUTE FUNCTION tessera_private.notify_api_key_change();
ALTER TABLE tessera.api_keys ENABLE ALWAYS TRIGGER api_keys_notify_change;
COMMENT ON TABLE tessera.api_keys IS
    'Proxy API keys (tk_...), generated by the client and registered by tessera.create_api_key() from their hashed form: only the SHA-256 is stored and the raw key never reaches the database. Verified by the proxy through tessera.verify_api_key(). Capabilities, scope and expiry are fixed at creation; the only change is revocation (NOTIFY tessera_api_keys).';
COMMENT ON COLUMN tessera.api_keys.display_hint IS 'tk_… plus the key''s last 4 characters (sent by the client that generated the key), to recognise a key in a list.';

-- policies/api_keys.sql: the key-management policies, gated on tessera.managing_client_id
ALTER POLICY api_keys_select_definer_for_caller ON tessera.api_keys
    USING (client_id IS NOT DISTINCT FROM NULLIF((SELECT pg_catalog.current_setting('tessera.managing_client_id', true)), '')::uuid
           AND ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids())))));
ALTER POLICY api_keys_insert_definer_for_caller ON tessera.api_keys
    WITH CHECK (client_id IS NOT DISTINCT FROM NULLIF((SELECT pg_catalog.current_setting('tessera.managing_client_id', true)), '')::uuid
                AND ((SELECT tessera_private.is_operator())
                     OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids())))));
ALTER POLICY api_keys_update_definer_for_caller ON tessera.api_keys
    USING (client_id IS NOT DISTINCT FROM NULLIF((SELECT pg_catalog.current_setting('tessera.managing_client_id', true)), '')::uuid
           AND ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids())))))
    WITH CHECK (client_id IS NOT DISTINCT FROM NULLIF((SELECT pg_catalog.current_setting('tessera.managing_client_id', true)), '')::uuid
                AND ((SELECT tessera_private.is_operator())
                     OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids())))));
