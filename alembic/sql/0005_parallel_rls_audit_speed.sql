-- Frozen migration 0005_parallel_rls_audit_speed: hand-written delta; never edit once merged.
--
-- 1. tessera_private.jwt_claims validates the claims text before casting it, with no
--    EXCEPTION block: an exception block opens a subtransaction, which PostgreSQL refuses
--    in parallel mode, and it was all that kept the RLS identity helpers parallel-unsafe.
-- 2. tessera_private.is_operator, sponsor_client_ids and presented_share_token_sha256
--    become PARALLEL SAFE (jwt_email and jwt_claims already were): a sponsor's or an
--    operator's read may now get the same parallel plan as service_role's (the RLS
--    overhead of the month-to-date query); lint 0014 keeps it so.
-- 3. The audited write path: audit_content_hash is PL/pgSQL (same bytes, encoding v1; as
--    a SQL function with a SET clause it was re-planned in every transaction) and
--    audit_row_change builds entity_id in a loop instead of a query.
-- 4. Every sponsor clause reads client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
--    tessera_private.sponsor_client_ids()))) instead of client_id = ANY ((SELECT
--    tessera_private.sponsor_client_ids())::uuid[]): same rows, still one InitPlan per
--    statement, but the scalar subquery's array came back with a short varlena header and
--    ANY copied it again for every row it tested (about 50 ns a row against 10 ns). The
--    policies keep their names, commands and roles; ALTER POLICY sets both expressions.
--    Likewise the four "is a sponsor at all" clauses of the shared price and checkpoint
--    tables: (SELECT pg_catalog.cardinality(sponsor_client_ids()) > 0), one boolean
--    InitPlan, instead of cardinality() applied to the array param on every row.
-- 5. The definer policies that read a transaction setting wrap the setting itself in the
--    subquery, NULLIF((SELECT pg_catalog.current_setting(...)), '') rather than (SELECT
--    NULLIF(pg_catalog.current_setting(...), '')): the same InitPlan and the same rows,
--    in the form Supabase's splinter (auth_rls_initplan) recognises, so reviewers running
--    it see no false warning.
-- 6. tessera.record_request: its two array variables start from typed empty arrays
--    ('{}'::text[]), as plpgsql_check asks (tests/test_plpgsql_check.py); no change in
--    behaviour.

-- functions/tessera_private.jwt_claims.sql (replaced)
-- tessera_private.jwt_claims(): the caller's JWT claims as a JSON object, or NULL.
--
-- The claims arrive as text in the transaction-local setting request.jwt.claims
-- (PostgREST convention). Missing, empty, malformed or non-object claims all yield NULL,
-- never an error: a policy that calls this must answer "zero rows", not leak why.
-- Not SECURITY DEFINER: it reads only the caller's own setting.
--
-- No exception block, on purpose. The obvious body -- raw::jsonb inside BEGIN ...
-- EXCEPTION WHEN data_exception -- opens a subtransaction on every call, and PostgreSQL
-- refuses subtransactions in parallel mode ("cannot start subtransactions during a
-- parallel operation"): the RLS helpers built on this function (jwt_email(),
-- is_operator(), sponsor_client_ids()) could then never run in a parallel worker, and
-- every call would pay for a subtransaction. PostgreSQL 15 has no pg_input_is_valid()
-- nor IS JSON, so the text is validated here with regular expressions, and raw::jsonb
-- runs only when the validator says the jsonb cast will accept it:
--   1. escapes: every escape jsonb accepts becomes chr(3) -- \" \\ \/ \b \f \n \r \t and
--      \uXXXX, but never \u0000 (22P05), a high surrogate only immediately followed by a
--      low one (the pair is one escape), no lone surrogate, and in a non-UTF8 database
--      no \u escape above \u007F. A backslash left over means invalid;
--   2. strings: every double quote now opens or closes a string, so the text splits on
--      them; each string becomes chr(1), and its contents must hold no raw control
--      character (raw tab, LF and CR are allowed outside strings only, every other
--      control character nowhere, which also keeps the placeholders out of the input);
--   3. numbers (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) and true/false/null
--      become chr(2), a value; then JSON whitespace (space, tab, LF, CR) is dropped;
--   4. a string followed by ":" becomes a key (chr(4)), any other string a value; then,
--      pass after pass, a key followed by a value becomes a pair (chr(5)) and innermost
--      arrays ([] or [V,...]) and objects ({} or {P,...}) collapse into a value. The text
--      is valid when it collapses to a single value and its first non-blank character
--      is "{". Any other leftover (stray characters, chr(3) outside a string, two
--      adjacent values, a key out of place) never collapses.
-- Caps, beyond which the claims are NULL although jsonb might accept them (failing
-- closed, never raising): at most 65536 characters; at most 64 collapse passes, so
-- nesting up to 64 levels is always accepted and deeper nesting may be refused (always
-- beyond 128); in a number no run of more than 200 digits and an exponent of at most 3
-- digits, so numeric input can never overflow (it refuses a weight beyond 131072
-- integer digits or 16383 fraction digits). The regular expressions are dollar-quoted
-- and backslash is written chr(92), so standard_conforming_strings cannot change them.
-- Cost (PostgreSQL 15, one call): about 20 us on a typical 330-byte Supabase claims
-- object, 30 us on a 490-byte one with escapes, against 5-7 us for the exception-block
-- version; paid once per statement, since the policies wrap the helpers in (SELECT ...).
CREATE OR REPLACE FUNCTION tessera_private.jwt_claims()
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    max_length CONSTANT integer := 65536;
    max_depth  CONSTANT integer := 64;
    string_mark CONSTANT text := pg_catalog.chr(1);
    value_mark  CONSTANT text := pg_catalog.chr(2);
    escape_mark CONSTANT text := pg_catalog.chr(3);
    key_mark    CONSTANT text := pg_catalog.chr(4);
    pair_mark   CONSTANT text := pg_catalog.chr(5);
    raw text := pg_catalog.current_setting('request.jwt.claims', true);
    has_control boolean;
    s text;
    parts text[];
    n integer;
    skeleton text;
    contents text := '';
    reduced text;
BEGIN
    -- Claims must be an object: the first non-blank character is "{".
    IF raw IS NULL OR pg_catalog.length(raw) > max_length
       OR pg_catalog.ltrim(raw, E' \t\n\r') NOT LIKE '{%' THEN
        RETURN NULL;
    END IF;
    -- Raw control characters: only JSON whitespace (tab, LF, CR), and only outside
    -- strings (checked in step 2). This also keeps the placeholders chr(1) to chr(5) out
    -- of the input.
    has_control := raw ~ $re$[\u0001-\u001f]$re$;
    IF has_control AND raw ~ $re$[\u0001-\u0008\u000b\u000c\u000e-\u001f]$re$ THEN
        RETURN NULL;
    END IF;

    -- 1. Escapes -> chr(3): every escape jsonb accepts (chr(3) outside a string is left
    -- over and so invalid); a backslash left over is invalid. Afterwards every double
    -- quote opens or closes a string.
    s := raw;
    IF pg_catalog.strpos(s, pg_catalog.chr(92)) > 0 THEN
        -- Matched from the left, as the JSON lexer does, so a run of backslashes pairs up
        -- from its start; the \u escapes are rarer and their pattern costlier.
        s := pg_catalog.regexp_replace(s, $re$\\["\\/bfnrt]$re$, escape_mark, 'g');
        IF pg_catalog.strpos(s, pg_catalog.chr(92)) > 0 THEN
            IF pg_catalog.getdatabaseencoding() = 'UTF8' THEN
                s := pg_catalog.regexp_replace(s,
                    $re$\\u(?:0(?:0(?:0[1-9a-fA-F]|[1-9a-fA-F][0-9a-fA-F])|[1-9a-fA-F][0-9a-fA-F]{2})|[1-9a-cA-CeEfF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}|[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})$re$,
                    escape_mark, 'g');
            ELSE
                -- Outside UTF8, jsonb refuses every \u escape above \u007F.
                s := pg_catalog.regexp_replace(s,
                    $re$\\u00(?:0[1-9a-fA-F]|[1-7][0-9a-fA-F])$re$, escape_mark, 'g');
            END IF;
            IF pg_catalog.strpos(s, pg_catalog.chr(92)) > 0 THEN
                RETURN NULL;
            END IF;
        END IF;
    END IF;

    -- 2. Strings -> chr(1): the even pieces between double quotes are string contents,
    -- which must hold no raw tab, LF or CR.
    parts := pg_catalog.string_to_array(s, '"');
    n := pg_catalog.array_length(parts, 1);
    IF n % 2 = 0 THEN
        RETURN NULL;
    END IF;
    skeleton := parts[1];
    FOR i IN 2..n - 1 BY 2 LOOP
        skeleton := skeleton || string_mark || parts[i + 1];
    END LOOP;
    IF has_control THEN
        FOR i IN 2..n - 1 BY 2 LOOP
            contents := contents || parts[i];
        END LOOP;
        IF contents ~ $re$[\t\n\r]$re$ THEN
            RETURN NULL;
        END IF;
    END IF;

    -- 3. Numbers and literals -> chr(2) (a value), then JSON whitespace dropped (only now: it may
    -- separate two tokens). Number caps, failing closed: a run of more than 200 digits is
    -- refused, and the pattern takes at most 3 exponent digits, so a longer exponent
    -- leaves two adjacent values, which never collapse.
    IF pg_catalog.length(skeleton) > 200 AND skeleton ~ $re$[0-9]{201}$re$ THEN
        RETURN NULL;
    END IF;
    skeleton := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(skeleton,
                    'true', value_mark), 'false', value_mark), 'null', value_mark);
    skeleton := pg_catalog.regexp_replace(skeleton,
        $re$-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]{1,3})?$re$, value_mark, 'g');
    IF has_control OR pg_catalog.strpos(skeleton, ' ') > 0 THEN
        skeleton := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(skeleton,
                        ' ', ''), E'\t', ''), E'\n', ''), E'\r', '');
    END IF;

    -- 4. A string followed by ":" is a key -> chr(4), every other string a value -> chr(2).
    -- Then, pass after pass, a key and its value become a pair (chr(5)), and innermost
    -- arrays [] / [V,...] and objects {} / {P,...} collapse into a value, until only one
    -- value is left (valid: the text started with "{") or nothing changes (invalid).
    skeleton := pg_catalog.replace(pg_catalog.replace(skeleton,
                    string_mark || ':', key_mark), string_mark, value_mark);
    FOR pass IN 1..max_depth LOOP
        skeleton := pg_catalog.replace(skeleton, key_mark || value_mark, pair_mark);
        reduced := skeleton;
        IF pg_catalog.strpos(reduced, '[') > 0 THEN
            reduced := pg_catalog.replace(pg_catalog.regexp_replace(reduced,
                $re$\[(?:\u0002(?:,\u0002)*)?\]$re$, value_mark, 'g'), key_mark || value_mark, pair_mark);
        END IF;
        reduced := pg_catalog.regexp_replace(reduced,
            $re$\{(?:\u0005(?:,\u0005)*)?\}$re$, value_mark, 'g');
        IF reduced = value_mark THEN
            RETURN raw::jsonb;
        END IF;
        IF reduced = skeleton THEN
            RETURN NULL;
        END IF;
        skeleton := reduced;
    END LOOP;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.jwt_claims() IS
    'The caller''s request.jwt.claims as a JSON object; NULL when missing, malformed, not an object or beyond the caps (65536 characters, nesting 64, numbers of 200 digits / 3-digit exponents). Validated without an exception block, so it is parallel safe and never raises.';

REVOKE ALL ON FUNCTION tessera_private.jwt_claims() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.jwt_claims() TO authenticated;

-- functions/tessera_private.is_operator.sql (replaced)
-- tessera_private.is_operator(): is the caller's JWT email listed in tessera.operators?
--
-- SECURITY DEFINER so that the operator policies on tessera.operators do not recurse
-- into themselves. It runs as tessera_owner, which FORCE ROW LEVEL SECURITY still
-- confines: the owner's only policy on tessera.operators shows the row whose email is
-- the caller's own claim, so even this definer cannot read the staff list.
-- search_path is pinned (pg_temp last) and every reference is schema-qualified, so a
-- caller's temporary or same-named objects cannot stand in for the table or helpers.
-- PARALLEL SAFE (migration 0005): it only reads, and jwt_claims no longer opens a
-- subtransaction, so a query whose policies call it may run in parallel workers: a
-- sponsor's large read can use the same parallel plan as service_role's (lint 0014).
CREATE OR REPLACE FUNCTION tessera_private.is_operator()
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
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

-- functions/tessera_private.sponsor_client_ids.sql (replaced)
-- tessera_private.sponsor_client_ids(): the clients whose client_users list the caller's
-- JWT email, as an array (empty, never NULL).
--
-- Policies write
--     client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids())))
-- which PostgreSQL evaluates once per statement (an InitPlan) and can serve from the
-- client_id-leading primary key. Why ARRAY(SELECT unnest(...)) and not the shorter
-- (SELECT tessera_private.sponsor_client_ids()): that scalar subquery's result comes back
-- through a tuple, with the 1-byte varlena header of a short value, and ANY then copies
-- ("detoasts") the array again for every row it tests -- about 50 ns a row, against about
-- 10 ns for the array an ARRAY() subquery builds (migration 0005; docs/benchmarks.md;
-- lint 0015).
-- SECURITY DEFINER for the same reason as is_operator(); as tessera_owner it sees only
-- the client_users rows carrying the caller's own email.
-- PARALLEL SAFE (migration 0005): it only reads, and jwt_claims no longer opens a
-- subtransaction, so a query whose policies call it may run in parallel workers: a
-- sponsor's large read can use the same parallel plan as service_role's (lint 0014).
CREATE OR REPLACE FUNCTION tessera_private.sponsor_client_ids()
RETURNS uuid[]
LANGUAGE sql
STABLE
PARALLEL SAFE
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

-- functions/tessera_private.presented_share_token_sha256.sql (replaced)
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
-- PARALLEL SAFE (migration 0005): it reads a setting and hashes it; read policies call
-- it, and lint 0014 wants every function a read policy calls to be parallel safe.
CREATE OR REPLACE FUNCTION tessera_private.presented_share_token_sha256()
RETURNS bytea
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.sha256(pg_catalog.convert_to(
        NULLIF(pg_catalog.current_setting('tessera.share_token', true), ''), 'UTF8'))
$function$;

COMMENT ON FUNCTION tessera_private.presented_share_token_sha256() IS
    'SHA-256 of the raw share token in the transaction-local setting tessera.share_token (set by tessera.reading_by_share_token), else NULL. Used by tessera_owner policies only.';

REVOKE ALL ON FUNCTION tessera_private.presented_share_token_sha256() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- functions/tessera_private.audit_content_hash.sql (replaced)
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
-- PL/pgSQL, not SQL: a SQL function with a SET clause is never inlined, so its query
-- (VALUES + string_agg) was planned afresh in every transaction that wrote an audit row;
-- PL/pgSQL keeps its expressions prepared for the session (migration 0005; the bytes
-- are unchanged, which the verifier's tests and the tamper suite check).
CREATE OR REPLACE FUNCTION tessera_private.audit_content_hash(p_event tessera.audit_events)
RETURNS bytea
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    field text;
    field_bytes bytea;
    encoded bytea := pg_catalog.convert_to('tessera.audit_events.v1', 'UTF8');
BEGIN
    FOREACH field IN ARRAY ARRAY[
            p_event.event_id::text,
            pg_catalog.to_char(p_event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            p_event.txid::text,
            p_event.client_id::text,
            p_event.entity,
            p_event.entity_id,
            p_event.action,
            p_event.before::text,
            p_event.after::text,
            p_event.actor_role,
            p_event.actor_session_role,
            p_event.actor_email,
            p_event.actor_sub,
            p_event.actor_job,
            p_event.request_id,
            p_event.reason,
            pg_catalog.host(p_event.source_ip) || '/' || pg_catalog.masklen(p_event.source_ip),
            p_event.prompt_fingerprint_v1::text]
    LOOP
        IF field IS NULL THEN
            encoded := encoded || '\xffffffff'::bytea;
        ELSE
            field_bytes := pg_catalog.convert_to(field, 'UTF8');
            encoded := encoded || pg_catalog.int4send(pg_catalog.octet_length(field_bytes)) || field_bytes;
        END IF;
    END LOOP;
    RETURN pg_catalog.sha256(encoded);
END
$function$;

COMMENT ON FUNCTION tessera_private.audit_content_hash(tessera.audit_events) IS
    'SHA-256 of an audit row under canonical encoding v1: ''tessera.audit_events.v1'' then 18 fields in column order (content_hash excluded), each FF FF FF FF for NULL or 4-byte big-endian length || UTF-8 canonical text (decimal ints, UTC ISO-8601 microsecond timestamps with Z, lower-case uuid, host/masklen inet, jsonb::text).';

REVOKE ALL ON FUNCTION tessera_private.audit_content_hash(tessera.audit_events) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- functions/tessera_private.audit_row_change.sql (replaced)
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
    key_column text;
    key_value text;
    entity_key text;
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
    -- entity_id: the key values joined with '/' (a loop, not a query over unnest: this
    -- runs for every audited row, and a query is an executor start each time).
    FOREACH key_column IN ARRAY key_columns LOOP
        key_value := row_full ->> key_column;
        CONTINUE WHEN key_value IS NULL;
        entity_key := CASE WHEN entity_key IS NULL THEN key_value ELSE entity_key || '/' || key_value END;
    END LOOP;
    PERFORM tessera_private.write_audit_event(
        (row_full ->> 'client_id')::uuid,
        TG_TABLE_NAME,
        entity_key,
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

-- functions/tessera.record_request.sql (replaced)
-- tessera.record_request(...): record one proxied request in tessera.optimize_savings,
-- pricing it in the database, and return the row's key fields and costs.
--
-- Callers: the proxy login (tessera_proxy), and service_role (spool replay; see the GRANT). SECURITY DEFINER, so the proxy holds
-- no table privilege at all and reads back nothing but what this returns. As
-- tessera_owner it is still bound by FORCE RLS: it sets the transaction-local setting
-- tessera.recording_client_id to p_client_id, which the owner-only policies on
-- optimize_savings, savings_request_keys and workloads admit (that one client's rows,
-- nothing else), and clears it before returning.
--
-- Idempotency: the key (client_id, request_id) is claimed in tessera.savings_request_keys
-- (INSERT ... ON CONFLICT DO NOTHING; a concurrent claimer is waited for). If it was
-- already claimed, NOTHING is written and the ORIGINAL row is returned with
-- replayed = true, whatever the replay's payload says.
--
-- Validation (all refusals write nothing):
--   * the workload must belong to the client (23503 foreign_key_violation);
--   * mechanics must be known, and are normalised to sorted + distinct (23514);
--   * every mechanic that fired must be opted in on the workload: REFUSED (42501), not
--     recorded. A mechanic the customer did not consent to is a proxy bug; recording it
--     would credit savings to it in the customer's reading. The proxy must fail loudly.
--   * feature_tag / customer_tag that look like an email, phone or card number (23514,
--     message names which), longer than 100 characters, or blank (23514);
--   * token buckets >= 0, and reported totals equal to the bucket sums (23514).
--
-- Pricing (each model priced at the pricing_catalog version in force at occurred_at:
-- effective_from <= occurred_at < effective_to; none => P0002 no_data_found):
--   prompt = uncached + cache_read + cache_write_5m + cache_write_1h tokens.
--   Above tier: when the snapshot has tier_threshold_tokens and prompt > threshold,
--     uncached input uses above_tier_input, output and reasoning above_tier_output,
--     cache reads above_tier_cache_read; cache writes keep their own prices (no source
--     publishes above-tier cache-write prices).
--   Batch: uncached input uses batch_input, output and reasoning batch_output; a batch
--     request above the tier is refused (no source prices that combination).
--   Cache reads use cache_read (or above_tier_cache_read); cache writes use
--     cache_write_5m / cache_write_1h.
--   A component needed for a non-zero bucket but absent from the snapshot (NULL) is
--     REFUSED with P0002 naming it: we never guess (e.g. charging cache reads at the
--     input price overstates savings from caching).
--   cost = sum(tokens x price), exact numeric, no rounding.
--   original_cost_usd is the counterfactual: the request without Tessera. It prices the
--   buckets at the requested model's snapshot, except that when Tessera itself turned
--   on a cheaper way of paying for the same tokens, the original did not have it:
--     prompt_cache_header fired -> every prompt token at the uncached input price (no
--       cache reads, no cache-write premium);
--     batch_routing fired       -> real-time prices (and p_batch must be true, 23514).
--   actual_cost_usd prices the buckets as sent, at the routed model's snapshot, except
--   that a Tessera cache hit (exact_cache or semantic_cache fired) made no provider
--   call: actual_cost_usd = 0. history_pruning's saving is not credited: the proxy
--   does not report the pre-pruning prompt size, and we never guess it.
-- Rows are never re-priced: they keep the snapshot ids and costs they were written with.
CREATE OR REPLACE FUNCTION tessera.record_request(
    p_client_id                   uuid,
    p_workload_id                 uuid,
    p_request_id                  text,
    p_occurred_at                 timestamptz,
    p_requested_provider          text,
    p_requested_model             text,
    p_routed_provider             text,
    p_routed_model                text,
    p_uncached_input_tokens       bigint,
    p_cache_read_input_tokens     bigint DEFAULT 0,
    p_cache_write_5m_input_tokens bigint DEFAULT 0,
    p_cache_write_1h_input_tokens bigint DEFAULT 0,
    p_output_tokens               bigint DEFAULT 0,
    p_reasoning_tokens            bigint DEFAULT NULL,
    p_batch                       boolean DEFAULT false,
    p_mechanics                   text[] DEFAULT '{}',
    p_finish_reason               text DEFAULT NULL,
    p_feature_tag                 text DEFAULT NULL,
    p_customer_tag                text DEFAULT NULL,
    p_reported_input_tokens       bigint DEFAULT NULL,
    p_reported_output_tokens      bigint DEFAULT NULL)
RETURNS TABLE (client_id uuid, request_id text, occurred_at timestamptz, recorded_at timestamptz,
               requested_snapshot_id uuid, routed_snapshot_id uuid, original_cost_usd numeric,
               actual_cost_usd numeric, savings_usd numeric, mechanics text[], replayed boolean)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    -- The known mechanics (the mechanic_* columns of tessera.workloads), in C-collation
    -- order: walking this list yields a stack already sorted and distinct.
    known CONSTANT text[] := ARRAY['auto_route', 'batch_routing', 'exact_cache', 'history_pruning',
                                   'json_schema_enforcement', 'prompt_cache_header', 'semantic_cache'];
    mechanic text;
    mech text[] := '{}'::text[];
    bad text[] := '{}'::text[];
    tag_column text;
    tag_kind text;
    opted_in boolean;
    looked_up record;
    wl tessera.workloads;
    req tessera.pricing_catalog;
    rte tessera.pricing_catalog;
    key_occurred timestamptz;
    orig numeric;
    cache_credit boolean;
    batch_credit boolean;
    saved tessera.optimize_savings;
BEGIN
    -- Hot path: one call per proxied request. Validation below uses plain PL/pgSQL
    -- expressions, not SQL queries; the only statements are the key claim, one lookup
    -- (workload and both snapshots) and the insert (see docs/benchmarks.md).
    IF p_client_id IS NULL OR p_workload_id IS NULL OR p_request_id IS NULL OR p_occurred_at IS NULL
       OR p_requested_provider IS NULL OR p_requested_model IS NULL
       OR p_routed_provider IS NULL OR p_routed_model IS NULL OR p_uncached_input_tokens IS NULL THEN
        RAISE EXCEPTION 'record_request: client, workload, request_id, occurred_at, both models and uncached_input_tokens are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', p_client_id::text, true);

    -- Replay? Claim the key; if someone holds it, return the original and write nothing.
    INSERT INTO tessera.savings_request_keys AS k (client_id, request_id, occurred_at)
    VALUES (p_client_id, p_request_id, p_occurred_at)
    ON CONFLICT ON CONSTRAINT savings_request_keys_pkey DO NOTHING;
    IF NOT FOUND THEN
        SELECT k.occurred_at INTO STRICT key_occurred
          FROM tessera.savings_request_keys AS k
         WHERE k.client_id = p_client_id AND k.request_id = p_request_id;
        RETURN QUERY
            SELECT s.client_id, s.request_id, s.occurred_at, s.recorded_at, s.requested_snapshot_id,
                   s.routed_snapshot_id, s.original_cost_usd, s.actual_cost_usd, s.savings_usd,
                   s.mechanics, true
              FROM tessera.optimize_savings AS s
             WHERE s.client_id = p_client_id AND s.request_id = p_request_id
               AND s.occurred_at = key_occurred;
        PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
        RETURN;
    END IF;

    -- Mechanics: known, then normalised (sorted, distinct).
    FOREACH mechanic IN ARRAY COALESCE(p_mechanics, '{}') LOOP
        IF mechanic IS NULL OR mechanic <> ALL (known) THEN
            bad := bad || COALESCE(mechanic, 'NULL');
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(bad) > 0 THEN
        RAISE EXCEPTION 'unknown mechanic(s): %; known: %', pg_catalog.array_to_string(bad, ', '),
                        pg_catalog.array_to_string(known, ', ')
            USING ERRCODE = 'check_violation', CONSTRAINT = 'optimize_savings_mechanics_known',
                  TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END IF;
    FOREACH mechanic IN ARRAY known LOOP
        IF mechanic = ANY (p_mechanics) THEN
            mech := mech || mechanic;
        END IF;
    END LOOP;

    -- Tags: no personal data.
    FOREACH tag_column IN ARRAY ARRAY['feature_tag', 'customer_tag'] LOOP
        tag_kind := CASE WHEN tag_column = 'feature_tag' AND p_feature_tag IS NOT NULL
                              THEN tessera_private.tag_pii_kind(p_feature_tag)
                         WHEN tag_column = 'customer_tag' AND p_customer_tag IS NOT NULL
                              THEN tessera_private.tag_pii_kind(p_customer_tag) END;
        IF tag_kind IS NOT NULL THEN
            RAISE EXCEPTION '% looks like % (we never store end-user personal data)', tag_column,
                CASE tag_kind WHEN 'email' THEN 'an email address' WHEN 'phone' THEN 'a phone number'
                              ELSE 'a payment card number' END
                USING ERRCODE = 'check_violation', CONSTRAINT = 'optimize_savings_' || tag_column || '_not_pii',
                      TABLE = 'optimize_savings', SCHEMA = 'tessera';
        END IF;
    END LOOP;

    -- One statement reads the workload and the snapshots in force at occurred_at (a late
    -- measurement is priced at the version in force then, closed or not: policy
    -- pricing_catalog_select_definer_recording). Each is checked below, in this order.
    SELECT w AS wl, req_p AS req, rte_p AS rte INTO looked_up
      FROM (SELECT) AS one
      LEFT JOIN tessera.workloads AS w
             ON w.client_id = p_client_id AND w.workload_id = p_workload_id
      LEFT JOIN tessera.pricing_catalog AS req_p
             ON req_p.provider = p_requested_provider AND req_p.model = p_requested_model
            AND req_p.effective_from <= p_occurred_at
            AND (req_p.effective_to IS NULL OR p_occurred_at < req_p.effective_to)
      LEFT JOIN tessera.pricing_catalog AS rte_p
             ON rte_p.provider = p_routed_provider AND rte_p.model = p_routed_model
            AND rte_p.effective_from <= p_occurred_at
            AND (rte_p.effective_to IS NULL OR p_occurred_at < rte_p.effective_to);
    wl := looked_up.wl;
    req := looked_up.req;
    rte := looked_up.rte;

    -- The workload: this client's, and opted in to every mechanic that fired.
    IF wl.workload_id IS NULL THEN
        RAISE EXCEPTION 'workload % does not belong to client %', p_workload_id, p_client_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'optimize_savings_workload_fkey',
                  TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END IF;
    FOREACH mechanic IN ARRAY mech LOOP
        opted_in := CASE mechanic
                        WHEN 'auto_route' THEN wl.mechanic_auto_route
                        WHEN 'prompt_cache_header' THEN wl.mechanic_prompt_cache_header
                        WHEN 'history_pruning' THEN wl.mechanic_history_pruning
                        WHEN 'json_schema_enforcement' THEN wl.mechanic_json_schema_enforcement
                        WHEN 'batch_routing' THEN wl.mechanic_batch_routing
                        WHEN 'exact_cache' THEN wl.mechanic_exact_cache
                        WHEN 'semantic_cache' THEN wl.mechanic_semantic_cache
                    END;
        IF NOT opted_in THEN
            bad := bad || mechanic;
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(bad) > 0 THEN
        RAISE EXCEPTION 'workload % has not opted in to mechanic(s): %', p_workload_id,
                        pg_catalog.array_to_string(bad, ', ')
            USING ERRCODE = 'insufficient_privilege', TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END IF;

    IF req.pricing_snapshot_id IS NULL THEN
        RAISE EXCEPTION 'no price in force for requested model %/% at %', p_requested_provider, p_requested_model, p_occurred_at
            USING ERRCODE = 'no_data_found', TABLE = 'pricing_catalog', SCHEMA = 'tessera';
    END IF;
    IF rte.pricing_snapshot_id IS NULL THEN
        RAISE EXCEPTION 'no price in force for routed model %/% at %', p_routed_provider, p_routed_model, p_occurred_at
            USING ERRCODE = 'no_data_found', TABLE = 'pricing_catalog', SCHEMA = 'tessera';
    END IF;

    -- original_cost_usd is what the request would have cost without Tessera: the requested
    -- model, and no prompt caching or batching that Tessera itself switched on.
    cache_credit := 'prompt_cache_header' = ANY (mech);
    batch_credit := 'batch_routing' = ANY (mech);
    IF batch_credit AND NOT COALESCE(p_batch, false) THEN
        RAISE EXCEPTION 'batch_routing fired but the request was not priced as a batch (p_batch is false)'
            USING ERRCODE = 'check_violation', TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END IF;
    orig := tessera_private.request_cost(req,
                CASE WHEN cache_credit
                     THEN p_uncached_input_tokens + COALESCE(p_cache_read_input_tokens, 0)
                          + COALESCE(p_cache_write_5m_input_tokens, 0) + COALESCE(p_cache_write_1h_input_tokens, 0)
                     ELSE p_uncached_input_tokens END,
                CASE WHEN cache_credit THEN 0 ELSE COALESCE(p_cache_read_input_tokens, 0) END,
                CASE WHEN cache_credit THEN 0 ELSE COALESCE(p_cache_write_5m_input_tokens, 0) END,
                CASE WHEN cache_credit THEN 0 ELSE COALESCE(p_cache_write_1h_input_tokens, 0) END,
                COALESCE(p_output_tokens, 0), p_reasoning_tokens, COALESCE(p_batch, false) AND NOT batch_credit);

    INSERT INTO tessera.optimize_savings AS s (
        client_id, workload_id, request_id, occurred_at, requested_provider, requested_model,
        routed_provider, routed_model, requested_snapshot_id, routed_snapshot_id,
        uncached_input_tokens, cache_read_input_tokens, cache_write_5m_input_tokens,
        cache_write_1h_input_tokens, output_tokens, reasoning_tokens, reported_input_tokens,
        reported_output_tokens, batch, original_cost_usd, actual_cost_usd, mechanics,
        finish_reason, feature_tag, customer_tag)
    VALUES (
        p_client_id, p_workload_id, p_request_id, p_occurred_at, p_requested_provider, p_requested_model,
        p_routed_provider, p_routed_model, req.pricing_snapshot_id, rte.pricing_snapshot_id,
        p_uncached_input_tokens, COALESCE(p_cache_read_input_tokens, 0), COALESCE(p_cache_write_5m_input_tokens, 0),
        COALESCE(p_cache_write_1h_input_tokens, 0), COALESCE(p_output_tokens, 0), p_reasoning_tokens,
        p_reported_input_tokens, p_reported_output_tokens, COALESCE(p_batch, false), orig,
        CASE WHEN mech && ARRAY['exact_cache', 'semantic_cache'] THEN 0
             WHEN rte.pricing_snapshot_id = req.pricing_snapshot_id AND NOT (cache_credit OR batch_credit)
                  THEN orig
             ELSE tessera_private.request_cost(rte, p_uncached_input_tokens,
                      COALESCE(p_cache_read_input_tokens, 0), COALESCE(p_cache_write_5m_input_tokens, 0),
                      COALESCE(p_cache_write_1h_input_tokens, 0), COALESCE(p_output_tokens, 0),
                      p_reasoning_tokens, COALESCE(p_batch, false)) END,
        mech, p_finish_reason, p_feature_tag, p_customer_tag)
    RETURNING * INTO saved;

    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    client_id := saved.client_id;
    request_id := saved.request_id;
    occurred_at := saved.occurred_at;
    recorded_at := saved.recorded_at;
    requested_snapshot_id := saved.requested_snapshot_id;
    routed_snapshot_id := saved.routed_snapshot_id;
    original_cost_usd := saved.original_cost_usd;
    actual_cost_usd := saved.actual_cost_usd;
    savings_usd := saved.savings_usd;
    mechanics := saved.mechanics;
    replayed := false;
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) IS
    'Record one proxied request in tessera.optimize_savings, priced in the database at the snapshots in force at occurred_at; a replayed (client_id, request_id) writes nothing and returns the original (replayed = true). Proxy login and service_role only.';

REVOKE ALL ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) FROM PUBLIC; -- functions are executable by PUBLIC by default
-- The proxy worker records measurements. service_role too, for the one server-side job
-- that has them: replaying the proxy's spooled measurements after an outage (and the
-- demo loader). It can forge no more than the proxy can: costs are computed here from
-- the snapshots, and a replay of a recorded request_id changes nothing.
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) TO service_role;

-- policies/api_key_failures.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY api_key_failures_select_definer_source ON tessera.api_key_failures
    USING (source = NULLIF((SELECT pg_catalog.current_setting('tessera.api_key_source', true)), ''));
ALTER POLICY api_key_failures_insert_definer_source ON tessera.api_key_failures
    WITH CHECK (source = NULLIF((SELECT pg_catalog.current_setting('tessera.api_key_source', true)), ''));

-- policies/api_keys.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY api_keys_select_operator_or_sponsor ON tessera.api_keys
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
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
ALTER POLICY api_keys_select_definer_by_hash ON tessera.api_keys
    USING (key_sha256 = pg_catalog.decode(
               NULLIF((SELECT pg_catalog.current_setting('tessera.api_key_sha256', true)), ''), 'hex'));

-- policies/audit_checkpoints.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY audit_checkpoints_select_operator_or_sponsor ON tessera.audit_checkpoints
    USING ((SELECT tessera_private.is_operator())
           OR (SELECT pg_catalog.cardinality(tessera_private.sponsor_client_ids()) > 0));

-- policies/audit_events.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY audit_events_select_operator_or_sponsor ON tessera.audit_events
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- policies/balance_transactions.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY balance_transactions_select_operator_or_sponsor ON tessera.balance_transactions
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- policies/batch_secrets.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY batch_secrets_select_operator_or_sponsor ON tessera.batch_secrets
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY batch_secrets_select_definer_recording ON tessera.batch_secrets
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
ALTER POLICY batch_secrets_insert_definer_recording ON tessera.batch_secrets
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
ALTER POLICY batch_secrets_update_definer_recording ON tessera.batch_secrets
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid)
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
ALTER POLICY batch_secrets_delete_definer_recording ON tessera.batch_secrets
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
ALTER POLICY batch_secrets_select_definer_to_reseal ON tessera.batch_secrets
    USING (key_id <> NULLIF((SELECT pg_catalog.current_setting('tessera.reseal_current_key_id', true)), ''));

-- policies/batches.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY batches_select_operator_or_sponsor ON tessera.batches
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY batches_select_definer_recording ON tessera.batches
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
ALTER POLICY batches_insert_definer_recording ON tessera.batches
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
ALTER POLICY batches_update_definer_recording ON tessera.batches
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid)
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

-- policies/cache_entries.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY cache_entries_select_operator_or_sponsor ON tessera.cache_entries
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY cache_entries_select_definer_workload ON tessera.cache_entries
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid
           AND workload_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_workload_id', true)), '')::uuid);
ALTER POLICY cache_entries_insert_definer_workload ON tessera.cache_entries
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid
                AND workload_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_workload_id', true)), '')::uuid);
ALTER POLICY cache_entries_update_definer_workload ON tessera.cache_entries
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid
           AND workload_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_workload_id', true)), '')::uuid)
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid
                AND workload_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_workload_id', true)), '')::uuid);
ALTER POLICY cache_entries_select_definer_for_caller ON tessera.cache_entries
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY cache_entries_delete_definer_for_caller ON tessera.cache_entries
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- policies/client_users.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY client_users_select_operator_or_sponsor ON tessera.client_users
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- policies/clients.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY clients_select_operator_or_sponsor ON tessera.clients
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY clients_select_definer_for_caller ON tessera.clients
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY clients_update_definer_for_caller ON tessera.clients
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY clients_select_definer_recording ON tessera.clients
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

-- policies/monthly_readings.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY monthly_readings_select_operator_or_sponsor ON tessera.monthly_readings
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY monthly_readings_select_definer_for_caller ON tessera.monthly_readings
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- policies/optimize_savings.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY optimize_savings_select_operator_or_sponsor ON tessera.optimize_savings
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY optimize_savings_select_definer_recording ON tessera.optimize_savings
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
ALTER POLICY optimize_savings_insert_definer_recording ON tessera.optimize_savings
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

-- policies/price_observations.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY price_observations_select_operator_or_sponsor ON tessera.price_observations
    USING ((SELECT tessera_private.is_operator())
           OR (SELECT pg_catalog.cardinality(tessera_private.sponsor_client_ids()) > 0));

-- policies/price_sources.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY price_sources_select_operator_or_sponsor ON tessera.price_sources
    USING ((SELECT tessera_private.is_operator())
           OR (SELECT pg_catalog.cardinality(tessera_private.sponsor_client_ids()) > 0));

-- policies/pricing_catalog.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY pricing_catalog_select_operator_or_sponsor ON tessera.pricing_catalog
    USING ((SELECT tessera_private.is_operator())
           OR (SELECT pg_catalog.cardinality(tessera_private.sponsor_client_ids()) > 0));
ALTER POLICY pricing_catalog_select_definer_recording ON tessera.pricing_catalog
    USING (NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '') IS NOT NULL);

-- policies/reading_share_tokens.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY reading_share_tokens_select_operator_or_sponsor ON tessera.reading_share_tokens
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY reading_share_tokens_select_definer_for_caller ON tessera.reading_share_tokens
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY reading_share_tokens_insert_definer_for_caller ON tessera.reading_share_tokens
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY reading_share_tokens_update_definer_for_caller ON tessera.reading_share_tokens
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- policies/savings_request_keys.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY savings_request_keys_select_definer_recording ON tessera.savings_request_keys
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
ALTER POLICY savings_request_keys_insert_definer_recording ON tessera.savings_request_keys
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

-- policies/workload_settings.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY workload_settings_select_operator_or_sponsor ON tessera.workload_settings
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY workload_settings_select_definer_recording ON tessera.workload_settings
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
ALTER POLICY workload_settings_insert_definer_recording ON tessera.workload_settings
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
ALTER POLICY workload_settings_update_definer_recording ON tessera.workload_settings
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid)
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

-- policies/workloads.sql: sponsor clauses (4), setting reads (5)
ALTER POLICY workloads_select_operator_or_sponsor ON tessera.workloads
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY workloads_update_operator_or_sponsor ON tessera.workloads
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));
ALTER POLICY workloads_select_definer_recording ON tessera.workloads
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
