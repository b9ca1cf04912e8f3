-- Frozen downgrade of 0005_parallel_rls_audit_speed: restores the 0004 definitions.

-- functions/tessera_private.jwt_claims.sql (0004)
-- tessera_private.jwt_claims(): the caller's JWT claims as a JSON object, or NULL.
--
-- The claims arrive as text in the transaction-local setting request.jwt.claims
-- (PostgREST convention). Missing, empty, malformed or non-object claims all yield NULL,
-- never an error: a policy that calls this must answer "zero rows", not leak why.
-- Not SECURITY DEFINER: it reads only the caller's own setting.
CREATE OR REPLACE FUNCTION tessera_private.jwt_claims()
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    raw text := pg_catalog.current_setting('request.jwt.claims', true);
    claims jsonb;
BEGIN
    IF raw IS NULL OR pg_catalog.btrim(raw) = '' THEN
        RETURN NULL;
    END IF;
    BEGIN
        claims := raw::jsonb;
    -- Any data exception: malformed JSON (22P02) but also valid JSON that jsonb cannot
    -- hold, such as \u0000 (22P05) or a number out of range (22003).
    EXCEPTION WHEN data_exception THEN
        RETURN NULL;
    END;
    IF pg_catalog.jsonb_typeof(claims) IS DISTINCT FROM 'object' THEN
        RETURN NULL;
    END IF;
    RETURN claims;
END
$function$;

COMMENT ON FUNCTION tessera_private.jwt_claims() IS
    'The caller''s request.jwt.claims as a JSON object; NULL when missing, malformed or not an object (never raises).';

REVOKE ALL ON FUNCTION tessera_private.jwt_claims() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.jwt_claims() TO authenticated;

-- functions/tessera_private.is_operator.sql (0004)
-- tessera_private.is_operator(): is the caller's JWT email listed in tessera.operators?
--
-- SECURITY DEFINER so that the operator policies on tessera.operators do not recurse
-- into themselves. It runs as tessera_owner, which FORCE ROW LEVEL SECURITY still
-- confines: the owner's only policy on tessera.operators shows the row whose email is
-- the caller's own claim, so even this definer cannot read the staff list.
-- search_path is pinned (pg_temp last) and every reference is schema-qualified, so a
-- caller's temporary or same-named objects cannot stand in for the table or helpers.
CREATE OR REPLACE FUNCTION tessera_private.is_operator()
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT EXISTS (
        SELECT 1
          FROM tessera.operators AS o
         WHERE o.email = tessera_private.jwt_email()
    )
$function$;

COMMENT ON FUNCTION tessera_private.is_operator() IS
    'True when the caller''s JWT email is in tessera.operators. SECURITY DEFINER, pinned search_path; false for missing or malformed claims.';

REVOKE ALL ON FUNCTION tessera_private.is_operator() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.is_operator() TO authenticated;

-- functions/tessera_private.sponsor_client_ids.sql (0004)
-- tessera_private.sponsor_client_ids(): the clients whose client_users list the caller's
-- JWT email, as an array (empty, never NULL).
--
-- An array rather than SETOF so that policies can write
--     client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[])
-- which PostgreSQL evaluates once per statement (an InitPlan) and serves from the
-- client_id-leading primary key. SECURITY DEFINER for the same reason as is_operator();
-- as tessera_owner it sees only the client_users rows carrying the caller's own email.
CREATE OR REPLACE FUNCTION tessera_private.sponsor_client_ids()
RETURNS uuid[]
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT COALESCE(pg_catalog.array_agg(DISTINCT cu.client_id), '{}'::uuid[])
      FROM tessera.client_users AS cu
     WHERE cu.email = tessera_private.jwt_email()
$function$;

COMMENT ON FUNCTION tessera_private.sponsor_client_ids() IS
    'Client ids the caller sponsors (JWT email in tessera.client_users); empty for missing or malformed claims. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.sponsor_client_ids() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.sponsor_client_ids() TO authenticated;

-- functions/tessera_private.presented_share_token_sha256.sql (0004)
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
CREATE OR REPLACE FUNCTION tessera_private.presented_share_token_sha256()
RETURNS bytea
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.sha256(pg_catalog.convert_to(
        NULLIF(pg_catalog.current_setting('tessera.share_token', true), ''), 'UTF8'))
$function$;

COMMENT ON FUNCTION tessera_private.presented_share_token_sha256() IS
    'SHA-256 of the raw share token in the transaction-local setting tessera.share_token (set by tessera.reading_by_share_token), else NULL. Used by tessera_owner policies only.';

REVOKE ALL ON FUNCTION tessera_private.presented_share_token_sha256() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- functions/tessera_private.audit_content_hash.sql (0004)
-- tessera_private.audit_content_hash(event): the content hash of an audit row, canonical
-- byte encoding v1. Computed by the insert trigger (tessera_private.stamp_audit_event);
-- re-implemented independently by the verifier (tessera_db/audit/encoding.py); the two
-- must agree byte for byte. Documented in docs/audit.md ("Encoding v1").
--
--   content_hash = sha256( 'tessera.audit_events.v1'        (23 ASCII bytes, no terminator)
--                          || f(event_id) || f(occurred_at) || f(txid) || f(client_id)
--                          || f(entity) || f(entity_id) || f(action) || f(before)
--                          || f(after) || f(actor_role) || f(actor_session_role)
--                          || f(actor_email) || f(actor_sub) || f(actor_job)
--                          || f(request_id) || f(reason) || f(source_ip)
--                          || f(prompt_fingerprint_v1) )
--   f(NULL) = the 4 bytes FF FF FF FF
--   f(v)    = int4send(octet_length(b)) || b   (4-byte big-endian length, then b), where
--             b is the UTF-8 of v's canonical text:
--               bigint, xid8  decimal digits                    '42'
--               timestamptz   to_char(v AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
--                                                               '2026-11-23T21:05:03.123456Z'
--               uuid          lower-case, hyphenated (uuid::text)
--               text          as is
--               inet          host(v) || '/' || masklen(v)     '10.0.0.1/32'
--               jsonb         v::text (PostgreSQL's canonical jsonb rendering)
-- content_hash itself is not an input. A NULL and an empty string differ (FF FF FF FF
-- versus 00 00 00 00), and the length prefixes make the concatenation unambiguous.
--
-- IMMUTABLE: the result depends only on the row (the formats above name no locale or
-- time zone setting). The database encoding is UTF-8 (convert_to makes that explicit).
CREATE OR REPLACE FUNCTION tessera_private.audit_content_hash(p_event tessera.audit_events)
RETURNS bytea
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.sha256(
        pg_catalog.convert_to('tessera.audit_events.v1', 'UTF8')
        || pg_catalog.string_agg(
               COALESCE(pg_catalog.int4send(pg_catalog.octet_length(pg_catalog.convert_to(f.v, 'UTF8')))
                        || pg_catalog.convert_to(f.v, 'UTF8'),
                        '\xffffffff'::bytea),
               ''::bytea ORDER BY f.n))
      FROM (VALUES
          (1,  p_event.event_id::text),
          (2,  pg_catalog.to_char(p_event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
          (3,  p_event.txid::text),
          (4,  p_event.client_id::text),
          (5,  p_event.entity),
          (6,  p_event.entity_id),
          (7,  p_event.action),
          (8,  p_event.before::text),
          (9,  p_event.after::text),
          (10, p_event.actor_role),
          (11, p_event.actor_session_role),
          (12, p_event.actor_email),
          (13, p_event.actor_sub),
          (14, p_event.actor_job),
          (15, p_event.request_id),
          (16, p_event.reason),
          (17, pg_catalog.host(p_event.source_ip) || '/' || pg_catalog.masklen(p_event.source_ip)),
          (18, p_event.prompt_fingerprint_v1::text)
      ) AS f (n, v)
$function$;

COMMENT ON FUNCTION tessera_private.audit_content_hash(tessera.audit_events) IS
    'SHA-256 of an audit row under canonical encoding v1: ''tessera.audit_events.v1'' then 18 fields in column order (content_hash excluded), each FF FF FF FF for NULL or 4-byte big-endian length || UTF-8 canonical text (decimal ints, UTC ISO-8601 microsecond timestamps with Z, lower-case uuid, host/masklen inet, jsonb::text).';

REVOKE ALL ON FUNCTION tessera_private.audit_content_hash(tessera.audit_events) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- functions/tessera_private.audit_row_change.sql (0004)
-- tessera_private.audit_row_change(): the generic audit trigger. Attached, by
-- tessera_private.apply_audit_coverage(), to every table that
-- functions/tessera_private.audit_coverage.sql lists as audited, as
--   <table>_audit           AFTER INSERT OR UPDATE OR DELETE, FOR EACH ROW
--   <table>_audit_truncate  AFTER TRUNCATE, FOR EACH STATEMENT
-- both ENABLE ALWAYS (session_replication_role = replica does not skip them).
--
-- Trigger arguments (written by apply_audit_coverage from the catalog and the list):
--   TG_ARGV[0]  the key columns, as a text[] literal: the primary key without client_id
--               (all of it when it is only client_id)
--   TG_ARGV[1]  the secret columns, as a text[] literal: never copied into an event
--
-- One event per changed row: entity = table name, entity_id = key values joined with
-- '/', client_id = the row's client_id (NULL for platform tables), action = insert |
-- update | delete, before/after = the changed non-secret columns only (all non-secret
-- columns for an insert or delete). An UPDATE that changes nothing writes nothing; one
-- that changes only secret columns writes an event with before/after NULL (that it
-- changed is recorded, never what to). Inside a break-glass window
-- (tessera_private.break_glass_reason) the event carries the window's reason.
--
-- SECURITY DEFINER: the writer (authenticated, service_role, the proxy) holds no INSERT
-- on tessera.audit_events; this runs as tessera_owner and appends through
-- tessera_private.write_audit_event, whose insert trigger still stamps the caller's
-- identity (the SET ROLE role and JWT claims are unchanged by SECURITY DEFINER).
-- Trigger functions are never called directly (EXECUTE granted to nobody).
CREATE OR REPLACE FUNCTION tessera_private.audit_row_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    key_columns text[] := TG_ARGV[0]::text[];
    secret_columns text[] := TG_ARGV[1]::text[];
    old_full jsonb;
    new_full jsonb;
    row_full jsonb;
    before_part jsonb;
    after_part jsonb;
    changed_any boolean;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        -- TRUNCATE (owner only: nobody else holds the privilege).
        PERFORM tessera_private.write_audit_event(NULL, TG_TABLE_NAME, NULL, 'truncate',
                                                  NULL, NULL, tessera_private.break_glass_reason());
        RETURN NULL;
    END IF;

    IF TG_OP <> 'INSERT' THEN
        old_full := pg_catalog.to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_full := pg_catalog.to_jsonb(NEW);
    END IF;

    IF TG_OP = 'UPDATE' THEN
        SELECT pg_catalog.jsonb_object_agg(o.key, o.value) FILTER (WHERE o.key <> ALL (secret_columns)),
               pg_catalog.jsonb_object_agg(o.key, new_full -> o.key) FILTER (WHERE o.key <> ALL (secret_columns)),
               count(*) > 0
          INTO before_part, after_part, changed_any
          FROM pg_catalog.jsonb_each(old_full) AS o
         WHERE new_full -> o.key IS DISTINCT FROM o.value;
        IF NOT changed_any THEN
            RETURN NULL;
        END IF;
    ELSE
        before_part := old_full - secret_columns;
        after_part := new_full - secret_columns;
    END IF;

    row_full := COALESCE(new_full, old_full);
    PERFORM tessera_private.write_audit_event(
        (row_full ->> 'client_id')::uuid,
        TG_TABLE_NAME,
        (SELECT pg_catalog.string_agg(row_full ->> k.col, '/' ORDER BY k.n)
           FROM pg_catalog.unnest(key_columns) WITH ORDINALITY AS k (col, n)),
        pg_catalog.lower(TG_OP),
        before_part,
        after_part,
        tessera_private.break_glass_reason());
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.audit_row_change() IS
    'Generic AFTER row/TRUNCATE audit trigger: one event per changed row with the changed non-secret columns (args: key columns, secret columns). Attached by tessera_private.apply_audit_coverage.';

REVOKE ALL ON FUNCTION tessera_private.audit_row_change() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- policies/api_key_failures.sql (0004)
ALTER POLICY api_key_failures_select_definer_source ON tessera.api_key_failures
    USING (source = (SELECT NULLIF(pg_catalog.current_setting('tessera.api_key_source', true), '')));
ALTER POLICY api_key_failures_insert_definer_source ON tessera.api_key_failures
    WITH CHECK (source = (SELECT NULLIF(pg_catalog.current_setting('tessera.api_key_source', true), '')));

-- policies/api_keys.sql (0004)
ALTER POLICY api_keys_select_operator_or_sponsor ON tessera.api_keys
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY api_keys_select_definer_for_caller ON tessera.api_keys
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY api_keys_insert_definer_for_caller ON tessera.api_keys
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY api_keys_update_definer_for_caller ON tessera.api_keys
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY api_keys_select_definer_by_hash ON tessera.api_keys
    USING (key_sha256 = (SELECT pg_catalog.decode(
               NULLIF(pg_catalog.current_setting('tessera.api_key_sha256', true), ''), 'hex')));

-- policies/audit_events.sql (0004)
ALTER POLICY audit_events_select_operator_or_sponsor ON tessera.audit_events
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- policies/balance_transactions.sql (0004)
ALTER POLICY balance_transactions_select_operator_or_sponsor ON tessera.balance_transactions
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- policies/batch_secrets.sql (0004)
ALTER POLICY batch_secrets_select_operator_or_sponsor ON tessera.batch_secrets
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY batch_secrets_select_definer_recording ON tessera.batch_secrets
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));
ALTER POLICY batch_secrets_insert_definer_recording ON tessera.batch_secrets
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));
ALTER POLICY batch_secrets_update_definer_recording ON tessera.batch_secrets
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid))
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));
ALTER POLICY batch_secrets_delete_definer_recording ON tessera.batch_secrets
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));
ALTER POLICY batch_secrets_select_definer_to_reseal ON tessera.batch_secrets
    USING (key_id <> (SELECT NULLIF(pg_catalog.current_setting('tessera.reseal_current_key_id', true), '')));

-- policies/batches.sql (0004)
ALTER POLICY batches_select_operator_or_sponsor ON tessera.batches
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY batches_select_definer_recording ON tessera.batches
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));
ALTER POLICY batches_insert_definer_recording ON tessera.batches
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));
ALTER POLICY batches_update_definer_recording ON tessera.batches
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid))
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- policies/cache_entries.sql (0004)
ALTER POLICY cache_entries_select_operator_or_sponsor ON tessera.cache_entries
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY cache_entries_select_definer_workload ON tessera.cache_entries
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid)
           AND workload_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_workload_id', true), '')::uuid));
ALTER POLICY cache_entries_insert_definer_workload ON tessera.cache_entries
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid)
                AND workload_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_workload_id', true), '')::uuid));
ALTER POLICY cache_entries_update_definer_workload ON tessera.cache_entries
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid)
           AND workload_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_workload_id', true), '')::uuid))
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid)
                AND workload_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_workload_id', true), '')::uuid));
ALTER POLICY cache_entries_select_definer_for_caller ON tessera.cache_entries
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY cache_entries_delete_definer_for_caller ON tessera.cache_entries
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- policies/client_users.sql (0004)
ALTER POLICY client_users_select_operator_or_sponsor ON tessera.client_users
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- policies/clients.sql (0004)
ALTER POLICY clients_select_operator_or_sponsor ON tessera.clients
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY clients_select_definer_for_caller ON tessera.clients
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY clients_update_definer_for_caller ON tessera.clients
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY clients_select_definer_recording ON tessera.clients
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- policies/monthly_readings.sql (0004)
ALTER POLICY monthly_readings_select_operator_or_sponsor ON tessera.monthly_readings
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY monthly_readings_select_definer_for_caller ON tessera.monthly_readings
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- policies/optimize_savings.sql (0004)
ALTER POLICY optimize_savings_select_operator_or_sponsor ON tessera.optimize_savings
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY optimize_savings_select_definer_recording ON tessera.optimize_savings
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));
ALTER POLICY optimize_savings_insert_definer_recording ON tessera.optimize_savings
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- policies/pricing_catalog.sql (0004)
ALTER POLICY pricing_catalog_select_definer_recording ON tessera.pricing_catalog
    USING ((SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')) IS NOT NULL);

-- policies/reading_share_tokens.sql (0004)
ALTER POLICY reading_share_tokens_select_operator_or_sponsor ON tessera.reading_share_tokens
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY reading_share_tokens_select_definer_for_caller ON tessera.reading_share_tokens
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY reading_share_tokens_insert_definer_for_caller ON tessera.reading_share_tokens
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY reading_share_tokens_update_definer_for_caller ON tessera.reading_share_tokens
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- policies/savings_request_keys.sql (0004)
ALTER POLICY savings_request_keys_select_definer_recording ON tessera.savings_request_keys
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));
ALTER POLICY savings_request_keys_insert_definer_recording ON tessera.savings_request_keys
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- policies/workload_settings.sql (0004)
ALTER POLICY workload_settings_select_operator_or_sponsor ON tessera.workload_settings
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY workload_settings_select_definer_recording ON tessera.workload_settings
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));
ALTER POLICY workload_settings_insert_definer_recording ON tessera.workload_settings
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));
ALTER POLICY workload_settings_update_definer_recording ON tessera.workload_settings
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid))
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- policies/workloads.sql (0004)
ALTER POLICY workloads_select_operator_or_sponsor ON tessera.workloads
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY workloads_update_operator_or_sponsor ON tessera.workloads
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));
ALTER POLICY workloads_select_definer_recording ON tessera.workloads
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));
