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

-- functions/tessera.record_request.sql (0004)
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
    mech text[] := '{}';
    bad text[] := '{}';
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

-- policies/audit_checkpoints.sql (0004)
ALTER POLICY audit_checkpoints_select_operator_or_sponsor ON tessera.audit_checkpoints
    USING ((SELECT tessera_private.is_operator())
           OR pg_catalog.cardinality((SELECT tessera_private.sponsor_client_ids())) > 0);

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

-- policies/price_observations.sql (0004)
ALTER POLICY price_observations_select_operator_or_sponsor ON tessera.price_observations
    USING ((SELECT tessera_private.is_operator())
           OR pg_catalog.cardinality((SELECT tessera_private.sponsor_client_ids())) > 0);

-- policies/price_sources.sql (0004)
ALTER POLICY price_sources_select_operator_or_sponsor ON tessera.price_sources
    USING ((SELECT tessera_private.is_operator())
           OR pg_catalog.cardinality((SELECT tessera_private.sponsor_client_ids())) > 0);

-- policies/pricing_catalog.sql (0004)
ALTER POLICY pricing_catalog_select_operator_or_sponsor ON tessera.pricing_catalog
    USING ((SELECT tessera_private.is_operator())
           OR pg_catalog.cardinality((SELECT tessera_private.sponsor_client_ids())) > 0);
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
