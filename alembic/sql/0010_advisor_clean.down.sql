-- Frozen migration 0010_advisor_clean, downgrade: hand-written delta; never edit once merged.
--
-- Issue 16, Security Advisor clean: no SECURITY DEFINER body sits in the exposed schema.
-- The 13 RPCs anon or authenticated may call (Supabase splinter lints 0028/0029,
-- tests/lints/0018 and 0019) become SECURITY INVOKER wrappers in tessera over their
-- unchanged definer bodies, now in tessera_private with exactly the wrappers' grants.
-- anon gets USAGE on tessera_private for the share-token wrapper.

DROP FUNCTION tessera.erase_client(uuid, text);
DROP FUNCTION tessera_private.erase_client(uuid, text);

DROP FUNCTION tessera.set_exact_cache_ttl(uuid, uuid, interval);
DROP FUNCTION tessera_private.set_exact_cache_ttl(uuid, uuid, interval);

DROP FUNCTION tessera.flush_cache(uuid, uuid);
DROP FUNCTION tessera_private.flush_cache(uuid, uuid);

DROP FUNCTION tessera.rotate_api_key(uuid, uuid, text, text, interval);
DROP FUNCTION tessera_private.rotate_api_key(uuid, uuid, text, text, interval);

DROP FUNCTION tessera.revoke_api_key(uuid, uuid, text);
DROP FUNCTION tessera_private.revoke_api_key(uuid, uuid, text);

DROP FUNCTION tessera.create_api_key(uuid, text, text, text[], text, uuid, interval);
DROP FUNCTION tessera_private.create_api_key(uuid, text, text, text[], text, uuid, interval);

DROP FUNCTION tessera.break_glass_publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz);
DROP FUNCTION tessera_private.break_glass_publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz);

DROP FUNCTION tessera.break_glass(text, text, uuid);
DROP FUNCTION tessera_private.break_glass(text, text, uuid);

DROP FUNCTION tessera.reading_by_share_token(text);
DROP FUNCTION tessera_private.reading_by_share_token(text);

DROP FUNCTION tessera.revoke_reading_share_token(uuid, uuid);
DROP FUNCTION tessera_private.revoke_reading_share_token(uuid, uuid);

DROP FUNCTION tessera.create_reading_share_token(uuid, date, integer, interval);
DROP FUNCTION tessera_private.create_reading_share_token(uuid, date, integer, interval);

DROP FUNCTION tessera.set_cross_customer_intelligence(uuid, boolean);
DROP FUNCTION tessera_private.set_cross_customer_intelligence(uuid, boolean);

DROP FUNCTION tessera.set_kill_switch(uuid, boolean);
DROP FUNCTION tessera_private.set_kill_switch(uuid, boolean);

-- functions/tessera.set_kill_switch.sql (as before 0010)
-- tessera.set_kill_switch(client_id, engaged): the client's global optimisation pause.
--
-- Engaged = every workload of the client runs as pure pass-through. Callable by the
-- client's sponsors and by operators. Contract-codified: it never looks at balance,
-- plan tier or seat status, and no other condition may ever be added here.
-- SECURITY DEFINER because sponsors hold no UPDATE privilege on tessera.clients.
CREATE FUNCTION tessera.set_kill_switch(p_client_id uuid, p_engaged boolean)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.set_client_setting(p_client_id, 'optimisation_kill_switch', p_engaged)
$function$;

COMMENT ON FUNCTION tessera.set_kill_switch(uuid, boolean) IS
    'Engage (true) or release (false) the client''s optimisation kill switch; sponsors of the client and operators only; never gated on balance, plan or seats. Returns the new state.';

REVOKE ALL ON FUNCTION tessera.set_kill_switch(uuid, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.set_kill_switch(uuid, boolean) TO authenticated;

-- functions/tessera.set_cross_customer_intelligence.sql (as before 0010)
-- tessera.set_cross_customer_intelligence(client_id, opt_in): the client's opt-in to
-- cross-customer aggregation of anonymised prompt fingerprints (Terms §15). Callable by
-- the client's sponsors and by operators; never gated on balance, plan or seats.
CREATE FUNCTION tessera.set_cross_customer_intelligence(p_client_id uuid, p_opt_in boolean)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.set_client_setting(p_client_id, 'contributes_to_cross_customer_intelligence', p_opt_in)
$function$;

COMMENT ON FUNCTION tessera.set_cross_customer_intelligence(uuid, boolean) IS
    'Opt the client in (true) or out (false) of cross-customer intelligence; sponsors of the client and operators only. Returns the new state.';

REVOKE ALL ON FUNCTION tessera.set_cross_customer_intelligence(uuid, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.set_cross_customer_intelligence(uuid, boolean) TO authenticated;

-- functions/tessera.create_reading_share_token.sql (as before 0010)
-- tessera.create_reading_share_token(client_id, month, version, valid_for): make an
-- unguessable link to one issued monthly reading and return the raw token, once.
--
-- Sponsors of the client and operators only. Only the token's SHA-256 is stored (see
-- schema/81_reading_share_tokens.sql for the format). version NULL = the latest issued
-- version, which the token then keeps showing even after a correction. valid_for is
-- 1 minute to 366 days (default 30 days).
--
-- SECURITY DEFINER because API roles hold no INSERT on the token table: a token must be
-- generated here, never chosen by the caller. It runs as tessera_owner under FORCE RLS,
-- whose policies admit only readings and token rows of clients the JWT caller may
-- manage. "No such reading" and "not yours" give the same answer.
CREATE FUNCTION tessera.create_reading_share_token(p_client_id uuid, p_month date,
                                                   p_version integer DEFAULT NULL,
                                                   p_valid_for interval DEFAULT interval '30 days')
RETURNS TABLE (share_token_id uuid, token text, version integer, expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    reading_version integer;
    raw_token text;
    new_id uuid;
    new_expiry timestamptz;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to share readings of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_valid_for IS NULL OR p_valid_for < interval '1 minute' OR p_valid_for > interval '366 days' THEN
        RAISE EXCEPTION 'a share token must be valid for between 1 minute and 366 days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT r.version INTO reading_version
      FROM tessera.monthly_readings AS r
     WHERE r.client_id = p_client_id AND r.month = p_month
       AND (p_version IS NULL OR r.version = p_version)
     ORDER BY r.version DESC
     LIMIT 1;
    IF reading_version IS NULL THEN
        RAISE EXCEPTION '%', pg_catalog.format('no issued reading for client %s, month %s%s', p_client_id,
                        pg_catalog.to_char(p_month, 'YYYY-MM'),
                        CASE WHEN p_version IS NULL THEN '' ELSE ', version ' || p_version END)
            USING ERRCODE = 'no_data_found';
    END IF;

    -- 32 bytes from the server's strong random source, base64url without padding.
    raw_token := 'tsr_' || pg_catalog.replace(p_client_id::text, '-', '') || '_'
        || pg_catalog.rtrim(pg_catalog.translate(pg_catalog.encode(
               pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
               || pg_catalog.uuid_send(pg_catalog.gen_random_uuid()), 'base64'), '+/', '-_'), '=');
    new_expiry := pg_catalog.now() + p_valid_for;

    INSERT INTO tessera.reading_share_tokens AS t
           (client_id, month, version, token_sha256, created_by, expires_at)
    VALUES (p_client_id, p_month, reading_version,
            pg_catalog.sha256(pg_catalog.convert_to(raw_token, 'UTF8')),
            pg_catalog.format('%s:%s', pg_catalog.current_setting('role'),
                              COALESCE(tessera_private.jwt_email(), session_user::text)),
            new_expiry)
    RETURNING t.share_token_id INTO new_id;

    RETURN QUERY SELECT new_id, raw_token, reading_version, new_expiry;
END
$function$;

COMMENT ON FUNCTION tessera.create_reading_share_token(uuid, date, integer, interval) IS
    'Create a share link to one issued monthly reading (sponsor of the client or operator); returns the raw token once, stores only its SHA-256. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.create_reading_share_token(uuid, date, integer, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.create_reading_share_token(uuid, date, integer, interval) TO authenticated;

-- functions/tessera.revoke_reading_share_token.sql (as before 0010)
-- tessera.revoke_reading_share_token(client_id, share_token_id): stop a share link
-- working. Sponsors of the client and operators. Returns true when this call revoked it,
-- false when it was already revoked; no_data_found when there is no such token for a
-- client the caller may manage (the same answer as "not yours").
--
-- SECURITY DEFINER because API roles hold no UPDATE on the token table; as
-- tessera_owner under FORCE RLS it reaches only token rows of clients the caller may
-- manage, and the trigger reading_share_tokens_guard_update lets it set revoked_at only.
CREATE FUNCTION tessera.revoke_reading_share_token(p_client_id uuid, p_share_token_id uuid)
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

COMMENT ON FUNCTION tessera.revoke_reading_share_token(uuid, uuid) IS
    'Revoke a reading share link (sponsor of the client or operator). SECURITY DEFINER, pinned search_path; sets revoked_at only.';

REVOKE ALL ON FUNCTION tessera.revoke_reading_share_token(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.revoke_reading_share_token(uuid, uuid) TO authenticated;

-- functions/tessera.reading_by_share_token.sql (as before 0010)
-- tessera.reading_by_share_token(token): the one anonymous surface of the readings: the
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

COMMENT ON FUNCTION tessera.reading_by_share_token(text) IS
    'The issued monthly reading a share token opens (anon and authenticated), or no row. SECURITY DEFINER confined by the owner''s token policies; pinned search_path.';

REVOKE ALL ON FUNCTION tessera.reading_by_share_token(text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.reading_by_share_token(text) TO anon;
GRANT EXECUTE ON FUNCTION tessera.reading_by_share_token(text) TO authenticated;

-- functions/tessera.break_glass.sql (as before 0010)
-- tessera.break_glass(reason, action, client_id): an operator opens a break-glass window
-- for one reviewed out-of-policy action, for the rest of the current transaction.
--
-- The 'break_glass' audit row is written first, before anything the window permits, in
-- the same transaction (so rolling back the action rolls back nothing of the audit
-- without rolling back the action too, and a committed action always has its row).
-- The row carries the reason, the permitted action (after.action) and, when given, the
-- client acted for. The window is that row: tessera_private.break_glass_reason()
-- finds it by this transaction's txid and the caller's email (a transaction-local
-- setting is only the pointer), so it ends with the transaction and cannot be forged.
-- Every audited row change made while it is open carries the same reason; the windows
-- are listed by the view tessera.break_glass_events.
--
-- Permitted actions (one reviewed kind for now):
--   publish_price  hand-publish a price version (tessera.break_glass_publish_price).
--                  Prices are normally published only by the importer job
--                  (tessera.publish_price, service_role), from multi-source
--                  observations with a confidence score; no operator may write them.
--                  When a provider changes prices and the importer is broken or a
--                  source is wrong, an operator must correct the catalog by hand so
--                  every client's savings are priced right. That bypasses the
--                  multi-source process, so it needs a reason and lands in the
--                  reviewed slice. Operators' ordinary powers (kill switch, workload
--                  toggles, contacts) are already within policy and stay as they are.
--
-- Refused: a caller who is not an operator (42501); a missing or blank reason, or one
-- over 1000 characters (22023); an unknown action (22023); an unknown client (P0002).
-- SECURITY DEFINER: operators hold no INSERT on tessera.audit_events.
CREATE FUNCTION tessera.break_glass(p_reason text, p_action text, p_client_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    event bigint;
BEGIN
    IF NOT tessera_private.is_operator() THEN
        RAISE EXCEPTION 'break-glass is for operators only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_reason IS NULL OR p_reason !~ '[^[:space:]]' THEN
        RAISE EXCEPTION 'break-glass needs a reason: say why, in words a reviewer will read'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF char_length(p_reason) > 1000 THEN
        RAISE EXCEPTION 'a break-glass reason is at most 1000 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_action IS NULL OR p_action NOT IN ('publish_price') THEN
        RAISE EXCEPTION 'unknown break-glass action %; known: publish_price', pg_catalog.quote_nullable(p_action)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The owner's policy on clients admits operators' callers to every client.
    IF p_client_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM tessera.clients AS c WHERE c.client_id = p_client_id) THEN
        RAISE EXCEPTION 'client % not found', p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;

    event := tessera_private.write_audit_event(
        p_client_id, 'break_glass', NULL, 'break_glass',
        NULL, pg_catalog.jsonb_build_object('action', p_action), p_reason, NULL);
    PERFORM pg_catalog.set_config('tessera.break_glass_event',
                                  pg_catalog.pg_current_xact_id()::text || ':' || event::text, true);
    RETURN event;
END
$function$;

COMMENT ON FUNCTION tessera.break_glass(text, text, uuid) IS
    'Operators only: writes a break_glass audit row (reason, permitted action, client) and opens a window for that action until the transaction ends. Returns the event id.';

REVOKE ALL ON FUNCTION tessera.break_glass(text, text, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.break_glass(text, text, uuid) TO authenticated;

-- functions/tessera.break_glass_publish_price.sql (as before 0010)
-- tessera.break_glass_publish_price(...): an operator hand-publishes a price version,
-- only inside a break-glass window for 'publish_price' (tessera.break_glass).
--
-- Same arguments and result as tessera.publish_price, which it calls (as the owner):
-- the same lock, never-backdated rule, close-then-insert and guard triggers apply. The
-- pricing_catalog rows it closes and inserts are audited like any other, and their
-- events carry the window's reason. Without an open window (none, another action's,
-- another transaction's, or another operator's) it is refused with 42501, as it is for
-- anyone who is not an operator.
CREATE FUNCTION tessera.break_glass_publish_price(
    p_provider                text,
    p_model                   text,
    p_input                   numeric,
    p_output                  numeric,
    p_cache_read              numeric     DEFAULT NULL,
    p_cache_write_5m          numeric     DEFAULT NULL,
    p_cache_write_1h          numeric     DEFAULT NULL,
    p_batch_input             numeric     DEFAULT NULL,
    p_batch_output            numeric     DEFAULT NULL,
    p_tier_threshold_tokens   integer     DEFAULT NULL,
    p_above_tier_input        numeric     DEFAULT NULL,
    p_above_tier_output       numeric     DEFAULT NULL,
    p_above_tier_cache_read   numeric     DEFAULT NULL,
    p_effective_from          timestamptz DEFAULT now())
RETURNS TABLE (pricing_snapshot_id uuid, outcome text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF NOT tessera_private.is_operator() THEN
        RAISE EXCEPTION 'only operators may hand-publish a price'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF tessera_private.break_glass_reason('publish_price') IS NULL THEN
        RAISE EXCEPTION 'hand-publishing a price needs a break-glass window: SELECT tessera.break_glass(<reason>, ''publish_price'') first, in the same transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY
    SELECT p.pricing_snapshot_id, p.outcome
      FROM tessera.publish_price(p_provider, p_model, p_input, p_output, p_cache_read, p_cache_write_5m,
                                 p_cache_write_1h, p_batch_input, p_batch_output, p_tier_threshold_tokens,
                                 p_above_tier_input, p_above_tier_output, p_above_tier_cache_read,
                                 p_effective_from) AS p;
END
$function$;

COMMENT ON FUNCTION tessera.break_glass_publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) IS
    'Operators, inside a break-glass window for publish_price only: tessera.publish_price by hand; the catalog changes are audited with the window''s reason.';

REVOKE ALL ON FUNCTION tessera.break_glass_publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.break_glass_publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) TO authenticated;

-- functions/tessera.create_api_key.sql (as before 0010)
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

-- functions/tessera.revoke_api_key.sql (as before 0010)
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
CREATE FUNCTION tessera.revoke_api_key(p_client_id uuid, p_api_key_id uuid, p_reason text DEFAULT NULL)
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

-- functions/tessera.rotate_api_key.sql (as before 0010)
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

-- functions/tessera.flush_cache.sql (as before 0010)
-- tessera.flush_cache(client_id, workload_id): delete every exact-cache entry of a
-- workload (all of the client's workloads when workload_id is NULL); returns how many.
--
-- Sponsors of the client and operators (the seed: "Sponsor can flush on demand via
-- portal"). SECURITY DEFINER because API roles hold no DELETE on the cache; as
-- tessera_owner under FORCE RLS the owner's flush policy admits only the entries of
-- clients the JWT caller may manage, so another client's workload id deletes nothing.
-- Each flush writes one audit event (entity cache_entries, action delete, the count).
CREATE FUNCTION tessera.flush_cache(p_client_id uuid, p_workload_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    flushed bigint;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to flush the cache of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM tessera.cache_entries AS e
     WHERE e.client_id = p_client_id
       AND (p_workload_id IS NULL OR e.workload_id = p_workload_id);
    GET DIAGNOSTICS flushed = ROW_COUNT;
    -- cache_entries carries no row audit trigger (UNLOGGED, request-path churn); the
    -- flush is a sponsor's decision, so it is audited here as one event.
    PERFORM tessera_private.write_audit_event(
        p_client_id, 'cache_entries', p_workload_id::text, 'delete', NULL,
        pg_catalog.jsonb_build_object('flushed', flushed, 'workload_id', p_workload_id));
    RETURN flushed;
END
$function$;

COMMENT ON FUNCTION tessera.flush_cache(uuid, uuid) IS
    'Flush the exact cache of a workload (or of every workload of the client): sponsor of the client or operator. Returns the number of entries deleted. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.flush_cache(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.flush_cache(uuid, uuid) TO authenticated;

-- functions/tessera.set_exact_cache_ttl.sql (as before 0010)
-- tessera.set_exact_cache_ttl(client_id, workload_id, ttl): how long the workload's
-- exact-cache entries live (1 minute .. 30 days; default 7 days). Returns the new config
-- version.
--
-- Sponsors of the client and operators. A shorter TTL applies at once to existing
-- entries (cache_lookup checks stored_at + the current TTL); a longer one applies to
-- entries stored from now on. Bumps the workload's worker config version and NOTIFYs
-- tessera_worker_config. SECURITY DEFINER because no API role writes
-- tessera.workload_settings; as tessera_owner under FORCE RLS it reaches the workload
-- through tessera.recording_client_id, set only after the caller's right to manage the
-- client has been checked.
CREATE FUNCTION tessera.set_exact_cache_ttl(p_client_id uuid, p_workload_id uuid, p_ttl interval)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    new_version bigint;
    old_ttl interval;
BEGIN
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to change settings of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_ttl IS NULL THEN
        RAISE EXCEPTION 'the exact-cache TTL must be given (1 minute .. 30 days)'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', p_client_id::text, true);
    SELECT s.exact_cache_ttl INTO old_ttl FROM tessera.workload_settings AS s
     WHERE s.client_id = p_client_id AND s.workload_id = p_workload_id;
    INSERT INTO tessera.workload_settings AS s (client_id, workload_id, exact_cache_ttl, config_version)
    SELECT w.client_id, w.workload_id, p_ttl, pg_catalog.nextval('tessera.worker_config_version_seq')
      FROM tessera.workloads AS w
     WHERE w.client_id = p_client_id AND w.workload_id = p_workload_id
    ON CONFLICT ON CONSTRAINT workload_settings_pkey
    DO UPDATE SET exact_cache_ttl = EXCLUDED.exact_cache_ttl, config_version = EXCLUDED.config_version,
                  updated_at = pg_catalog.now()
    RETURNING s.config_version INTO new_version;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    IF new_version IS NULL THEN
        RAISE EXCEPTION 'workload % of client % not found', p_workload_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    -- tessera.workload_settings is exempt from row auditing (its config_version is a
    -- derived counter, see tessera_private.audit_coverage): the TTL change is audited here.
    IF old_ttl IS DISTINCT FROM p_ttl THEN
        PERFORM tessera_private.write_audit_event(p_client_id, 'workload_settings', p_workload_id::text,
            CASE WHEN old_ttl IS NULL THEN 'insert' ELSE 'update' END,
            CASE WHEN old_ttl IS NOT NULL THEN pg_catalog.jsonb_build_object('exact_cache_ttl', old_ttl) END,
            pg_catalog.jsonb_build_object('exact_cache_ttl', p_ttl));
    END IF;
    PERFORM pg_catalog.pg_notify('tessera_worker_config', pg_catalog.jsonb_build_object(
        'client_id', p_client_id, 'workload_id', p_workload_id,
        'config_version', new_version, 'reason', 'settings')::text);
    RETURN new_version;
END
$function$;

COMMENT ON FUNCTION tessera.set_exact_cache_ttl(uuid, uuid, interval) IS
    'Set a workload''s exact-cache TTL (1 minute .. 30 days): sponsor of the client or operator; bumps the worker config version and NOTIFYs tessera_worker_config. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.set_exact_cache_ttl(uuid, uuid, interval) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.set_exact_cache_ttl(uuid, uuid, interval) TO authenticated;

-- functions/tessera.erase_client.sql (as before 0010)
-- tessera.erase_client(client_id, reason): a client's erasure (GDPR Art. 17; seed "Hard-
-- delete on account closure"). Operators only; docs/erasure.md is the reference.
--
-- What goes, by tessera.retention_classes() (on_erasure_invoiced /
-- on_erasure_other):
--   hobby and free   every row of the client in every table: sponsors, keys, batches
--                    and their secrets, cache, savings and their idempotency keys, dead
--                    letters, balance, readings and their share links, workloads, the
--                    client; its audit events become tombstones.
--   invoiced         the accounting rows inside their 7-year window stay (savings,
--                    their keys, balance, readings), with their personal columns
--                    replaced: tags by pseudonyms (the same pseudonym for the same tag in
--                    the savings rows and in the readings' by_feature_tag, so a reading
--                    still re-derives), free-text reasons and emails by 'erased'; the
--                    client and workload rows they reference stay with a placeholder
--                    name; its audit events are stripped of personal data. Everything
--                    else goes now. tessera.retention_run removes the rest when the
--                    window ends (GDPR Art. 17(3)(b): kept to comply with a legal
--                    obligation, the accounting act).
--
-- The audit log stays verifiable. The client's events are listed first (event_id and
-- content_hash); then one erasure event is written (a platform event: client_id NULL,
-- entity client_erasures, entity_id the erasure id) whose `after` commits to exactly
-- that list: its count, first and last event_id, and events_sha256 =
-- SHA-256('tessera.erasure.v1' || for each, in event_id order, int8send(event_id) ||
-- content_hash). Then each listed row is emptied (tombstone: only event_id, occurred_at,
-- txid and content_hash stay) or stripped, with erasure_event_id pointing at that event.
-- content_hash is the original's, so every leaf of the Merkle tree is unchanged;
-- tessera-db audit verify accepts such a row only when a sealed erasure event's
-- commitment covers it, so a row blanked by hand is still caught.
--
-- Everything or nothing: one transaction; the append-only guard, the owner's
-- *_definer_removal policies and the audit trigger recognise the erasure only through
-- the unfinished tessera.client_erasures row this transaction writes first
-- (tessera_private.erasing_client_id). Idempotent: a client erased before returns its
-- delete-log row unchanged (with its certificate, once the CLI attached one).
--
-- SECURITY DEFINER (the tables grant nobody DELETE; the owner's guarded policies admit
-- the erased client's rows only while this runs). EXECUTE for authenticated, and inside
-- only operators: sponsors, anon, the proxy and settlement logins and service_role are
-- refused (42501) -- retention is a job's work, an erasure is a person's decision.
CREATE FUNCTION tessera.erase_client(p_client_id uuid, p_reason text)
RETURNS tessera.client_erasures
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    acting_role text := pg_catalog.current_setting('role');
    operator_email text := tessera_private.jwt_email();
    previous tessera.client_erasures;
    erasure tessera.client_erasures;
    client tessera.clients;
    invoiced boolean;
    salt bytea := uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
    personal_keys text[];
    erased_counts jsonb := '{}'::jsonb;
    n bigint;
    kept_until_at timestamptz;
    table_kept_until timestamptz;
    events_n bigint;
    first_event bigint;
    last_event bigint;
    events_sha256 bytea;
    erasure_event bigint;
BEGIN
    IF acting_role IS DISTINCT FROM 'authenticated' OR NOT tessera_private.is_operator() THEN
        RAISE EXCEPTION 'erase_client: only an operator may erase a client'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Erasure is a person''s decision: sign in as an operator (tessera-db clients erase --as-operator EMAIL).';
    END IF;
    IF p_client_id IS NULL THEN
        RAISE EXCEPTION 'erase_client: a client id is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_reason IS NULL OR p_reason !~ '[^[:space:]]' OR pg_catalog.char_length(p_reason) > 1000 THEN
        RAISE EXCEPTION 'erase_client: a reason (1..1000 characters, not blank) is required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT e.* INTO previous FROM tessera.client_erasures AS e WHERE e.client_id = p_client_id;
    IF FOUND THEN
        RETURN previous;  -- erased before: the same delete-log row (and certificate)
    END IF;
    -- Lock the client against concurrent changes (kill switch, workloads, sponsors).
    SELECT c.* INTO client FROM tessera.clients AS c WHERE c.client_id = p_client_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'erase_client: no client %', p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    invoiced := client.plan_tier = 'invoiced';

    PERFORM pg_catalog.set_config('tessera.removal', 'erasure', true);
    INSERT INTO tessera.client_erasures (client_id, plan_tier, reason, initiated_by)
    VALUES (p_client_id, client.plan_tier, p_reason, operator_email)
    RETURNING * INTO erasure;

    -- What goes for every tier.
    DELETE FROM tessera.reading_share_tokens AS t WHERE t.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('reading_share_tokens', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.savings_dead_letters AS d WHERE d.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_dead_letters', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.cache_entries AS e WHERE e.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('cache_entries', pg_catalog.jsonb_build_object('erased', n));
    SELECT pg_catalog.count(*) INTO n FROM tessera.batch_secrets AS s WHERE s.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('batch_secrets', pg_catalog.jsonb_build_object('erased', n));
    DELETE FROM tessera.batches AS b WHERE b.client_id = p_client_id;  -- cascades to batch_secrets
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('batches', pg_catalog.jsonb_build_object('erased', n));
    -- A rotated key references its successor (replaced_by, ON DELETE RESTRICT, checked
    -- row by row): delete the keys nobody references first, until none is left.
    SELECT pg_catalog.count(*) INTO n FROM tessera.api_keys AS k WHERE k.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('api_keys', pg_catalog.jsonb_build_object('erased', n));
    LOOP
        DELETE FROM tessera.api_keys AS k
         WHERE k.client_id = p_client_id
           AND NOT EXISTS (SELECT 1 FROM tessera.api_keys AS r
                            WHERE r.client_id = k.client_id AND r.replaced_by = k.api_key_id);
        EXIT WHEN NOT FOUND;
    END LOOP;
    SELECT pg_catalog.count(*) INTO n FROM tessera.api_keys AS k WHERE k.client_id = p_client_id;
    IF n > 0 THEN
        RAISE EXCEPTION 'erase_client: % API keys of client % reference each other in a cycle', n, p_client_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    DELETE FROM tessera.client_users AS u WHERE u.client_id = p_client_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('client_users', pg_catalog.jsonb_build_object('erased', n));

    IF NOT invoiced THEN
        DELETE FROM tessera.savings_request_keys AS k WHERE k.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_request_keys', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.optimize_savings AS s WHERE s.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('optimize_savings', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.monthly_readings AS r WHERE r.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('monthly_readings', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.balance_transactions AS t WHERE t.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('balance_transactions', pg_catalog.jsonb_build_object('erased', n));
        SELECT pg_catalog.count(*) INTO n FROM tessera.workload_settings AS w WHERE w.client_id = p_client_id;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workload_settings', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.workloads AS w WHERE w.client_id = p_client_id;  -- cascades to workload_settings
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workloads', pg_catalog.jsonb_build_object('erased', n));
        DELETE FROM tessera.clients AS c WHERE c.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('clients', pg_catalog.jsonb_build_object('erased', n));
    ELSE
        -- Kept for the accounting window, personal columns replaced.
        UPDATE tessera.optimize_savings AS s
           SET feature_tag = CASE WHEN s.feature_tag IS NOT NULL THEN tessera_private.erased_tag(salt, s.feature_tag) END,
               customer_tag = CASE WHEN s.customer_tag IS NOT NULL THEN tessera_private.erased_tag(salt, s.customer_tag) END
         WHERE s.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(s.occurred_at) + interval '7 years' INTO table_kept_until
          FROM tessera.optimize_savings AS s WHERE s.client_id = p_client_id;
        kept_until_at := table_kept_until;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('optimize_savings',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        SELECT pg_catalog.count(*), pg_catalog.max(k.occurred_at) + interval '7 years' INTO n, table_kept_until
          FROM tessera.savings_request_keys AS k WHERE k.client_id = p_client_id;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('savings_request_keys',
            pg_catalog.jsonb_build_object('kept', n, 'kept_until', table_kept_until));
        UPDATE tessera.monthly_readings AS r
           SET issued_by = 'erased',
               correction_reason = CASE WHEN r.correction_reason IS NOT NULL THEN 'erased' END,
               by_feature_tag = (SELECT COALESCE(pg_catalog.jsonb_agg(x.tagged ORDER BY x.tag NULLS FIRST), '[]'::jsonb)
                                   FROM (SELECT g.value || pg_catalog.jsonb_build_object('feature_tag', t.tag) AS tagged, t.tag
                                           FROM pg_catalog.jsonb_array_elements(r.by_feature_tag) AS g
                                          CROSS JOIN LATERAL (SELECT CASE WHEN g.value ->> 'feature_tag' IS NOT NULL
                                                                          THEN tessera_private.erased_tag(salt, g.value ->> 'feature_tag')
                                                                     END AS tag) AS t) AS x)
         WHERE r.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(r.issued_at) + interval '7 years' INTO table_kept_until
          FROM tessera.monthly_readings AS r WHERE r.client_id = p_client_id;
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('monthly_readings',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        UPDATE tessera.balance_transactions AS t SET reason = 'erased', actor = 'erased'
         WHERE t.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        SELECT pg_catalog.max(t.created_at) + interval '7 years' INTO table_kept_until
          FROM tessera.balance_transactions AS t WHERE t.client_id = p_client_id;
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('balance_transactions',
            pg_catalog.jsonb_build_object('stripped', n, 'kept_until', table_kept_until));
        UPDATE tessera.workloads AS w SET name = 'erased workload ' || w.workload_id::text
         WHERE w.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('workloads', pg_catalog.jsonb_build_object('stripped', n));
        UPDATE tessera.clients AS c SET name = 'erased client ' || c.client_id::text
         WHERE c.client_id = p_client_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        erased_counts := erased_counts || pg_catalog.jsonb_build_object('clients', pg_catalog.jsonb_build_object('stripped', n));
    END IF;

    -- The audit log: list the client's events, commit to the list in one erasure event,
    -- then empty (hobby/free) or strip (invoiced) exactly those rows.
    SELECT pg_catalog.count(*), pg_catalog.min(a.event_id), pg_catalog.max(a.event_id),
           pg_catalog.sha256(pg_catalog.convert_to('tessera.erasure.v1', 'UTF8')
                             || COALESCE(pg_catalog.string_agg(pg_catalog.int8send(a.event_id) || a.content_hash, ''::bytea
                                                               ORDER BY a.event_id), ''::bytea))
      INTO events_n, first_event, last_event, events_sha256
      FROM tessera.audit_events AS a
     WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL;
    SELECT pg_catalog.max(a.occurred_at) + interval '7 years' INTO table_kept_until
      FROM tessera.audit_events AS a WHERE a.client_id = p_client_id;
    erased_counts := erased_counts || pg_catalog.jsonb_build_object('audit_events',
        CASE WHEN invoiced THEN pg_catalog.jsonb_build_object('stripped', events_n, 'kept_until', table_kept_until)
             ELSE pg_catalog.jsonb_build_object('tombstoned', events_n) END);
    IF invoiced THEN
        kept_until_at := GREATEST(kept_until_at, table_kept_until);
    END IF;

    erasure_event := tessera_private.write_audit_event(
        NULL, 'client_erasures', erasure.erasure_id::text, 'erasure', NULL,
        pg_catalog.jsonb_build_object(
            'erasure_id', erasure.erasure_id,
            'client_id', p_client_id,
            'plan_tier', client.plan_tier,
            'treatment', CASE WHEN invoiced THEN 'strip' ELSE 'tombstone' END,
            'events', events_n,
            'first_event_id', first_event,
            'last_event_id', last_event,
            'events_sha256', pg_catalog.encode(events_sha256, 'hex'),
            'counts', erased_counts),
        p_reason);
    PERFORM pg_catalog.set_config('tessera.erasure_event_id', erasure_event::text, true);

    IF invoiced THEN
        SELECT pg_catalog.array_agg(DISTINCT c.column_name)
          INTO personal_keys
          FROM tessera.retention_classes() AS r
         CROSS JOIN LATERAL pg_catalog.unnest(r.personal_columns) AS c(column_name);
        UPDATE tessera.audit_events AS a
           SET actor_email = NULL, actor_sub = NULL, reason = NULL, source_ip = NULL,
               prompt_fingerprint_v1 = NULL,
               before = a.before - personal_keys,
               after = a.after - personal_keys,
               erasure_event_id = erasure_event
         WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL AND a.event_id < erasure_event;
    ELSE
        UPDATE tessera.audit_events AS a
           SET client_id = NULL, entity = NULL, entity_id = NULL, action = NULL, before = NULL, after = NULL,
               actor_role = NULL, actor_session_role = NULL, actor_email = NULL, actor_sub = NULL,
               actor_job = NULL, request_id = NULL, reason = NULL, source_ip = NULL,
               prompt_fingerprint_v1 = NULL,
               erasure_event_id = erasure_event
         WHERE a.client_id = p_client_id AND a.erasure_event_id IS NULL AND a.event_id < erasure_event;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> events_n THEN  -- the commitment must cover exactly the rows changed
        RAISE EXCEPTION 'erase_client: % audit events listed, % changed (a concurrent writer?); nothing was erased', events_n, n
            USING ERRCODE = 'serialization_failure';
    END IF;

    UPDATE tessera.client_erasures AS e
       SET finished_at = pg_catalog.clock_timestamp(),
           counts = erased_counts,
           erasure_event_id = erasure_event,
           kept_until = CASE WHEN invoiced THEN kept_until_at END
     WHERE e.client_id = p_client_id AND e.erasure_id = erasure.erasure_id
    RETURNING * INTO erasure;
    PERFORM pg_catalog.set_config('tessera.removal', '', true);
    PERFORM pg_catalog.set_config('tessera.erasure_verified', '', true);
    PERFORM pg_catalog.set_config('tessera.erasure_event_id', '', true);
    RETURN erasure;
END
$function$;

COMMENT ON FUNCTION tessera.erase_client(uuid, text) IS
    'Erase a client (operators only): hobby/free lose every row, invoiced keep their accounting rows stripped of personal data for the legal window; the client''s audit events become tombstones (or stripped) authorised by one erasure event. Idempotent; returns the delete-log row.';

REVOKE ALL ON FUNCTION tessera.erase_client(uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.erase_client(uuid, text) TO authenticated;

-- schema/00_schemas.sql (as before 0010)
REVOKE USAGE ON SCHEMA tessera_private FROM anon;
COMMENT ON SCHEMA tessera_private IS
    'tessera-db helpers (identity, guards, triggers). Never exposed through the API; USAGE is granted only so RLS policies can call the helpers.';
