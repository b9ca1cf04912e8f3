-- Frozen migration 0004_audit_keys_secrets: rendered from load.sql; never edit once merged.
--
-- Issue 5 (audit events, break-glass, auth failures, signed checkpoints) and issue 6 (API
-- keys, settlement batches and sealed secrets, exact cache, worker config). First the
-- deltas to files migrated earlier, then every new manifest file in load.sql order, then
-- the delta that needs one of them.

-- Delta, schema/00_schemas.sql: the audit sealer login (roles/roles.sql) reaches the
-- functions granted to it in schema tessera.
GRANT USAGE ON SCHEMA tessera TO tessera_sealer;

-- Delta, policies/clients.sql:
-- [issue 6, worker config / batches / cache] The proxy- and settlement-facing SECURITY
-- DEFINER functions (tessera.worker_config, create_batch, cache_lookup, cache_put) read
-- the client's kill switch. They run as tessera_owner, and carry no JWT: this policy
-- admits only the one client named by the transaction-local setting
-- tessera.recording_client_id, which those functions set from their argument and clear
-- afterwards (the same setting that admits that client's workloads, policies/workloads.sql).
CREATE POLICY clients_select_definer_recording ON tessera.clients
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- >>> functions/tessera_private.create_monthly_partitions.sql
-- tessera_private.create_monthly_partitions(parent, from_month, months): make sure the
-- monthly partitions of a table PARTITIONED BY RANGE (<timestamptz>) exist for `months`
-- UTC months starting at the month of p_from, plus its DEFAULT partition. Returns how
-- many partitions it created.
--
-- The one implementation of monthly partitions; tessera_private.create_savings_partitions
-- calls it for tessera.optimize_savings. Each partition is named <parent>_pYYYY_MM and covers
-- [first instant of the UTC month, first instant of the next); the DEFAULT partition is
-- <parent>_default. Every partition gets row-level security ENABLED and FORCED with no
-- policy and no grant (a statement naming a partition directly applies the partition's
-- own RLS, so it must see nothing; reads go through the parent), and, when the parent is
-- append-only (it carries <parent>_append_only_statement), the append-only statement
-- trigger too (tessera_private.make_append_only; the row trigger is cloned from the
-- parent).
--
-- Existing partitions are skipped, so this is re-runnable (a monthly job calls it a few
-- months ahead). Rows that landed in the DEFAULT partition for a month that has no
-- partition yet make creating that month's partition fail (PostgreSQL checks the
-- DEFAULT partition); move them deliberately, never here.
--
-- Retention (the operations issue): a month leaves as a whole partition
-- (ALTER TABLE ... DETACH PARTITION, then DROP TABLE), never by DELETE, which the
-- append-only triggers refuse.
--
-- Not SECURITY DEFINER and granted to nobody: DDL is the owner's, so only migrations and
-- the maintenance job (SET ROLE tessera_owner) run it.
CREATE FUNCTION tessera_private.create_monthly_partitions(p_parent regclass, p_from date, p_months integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    first_month date := pg_catalog.date_trunc('month', p_from)::date;
    parent_schema name;
    parent_name name;
    append_only boolean;
    month date;
    part_name text;
    bound text;
    part regclass;
    created integer := 0;
BEGIN
    IF p_parent IS NULL OR p_from IS NULL OR p_months IS NULL OR p_months < 0 OR p_months > 120 THEN
        RAISE EXCEPTION 'create_monthly_partitions needs a table, a month and 0..120 months, got %, %, %',
            p_parent, p_from, p_months
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT n.nspname, c.relname INTO parent_schema, parent_name
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
     WHERE c.oid = p_parent AND c.relkind = 'p';
    IF parent_name IS NULL THEN
        RAISE EXCEPTION '% is not a partitioned table', p_parent
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    append_only := EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS t
                            WHERE t.tgrelid = p_parent AND t.tgname = parent_name || '_append_only_statement');

    -- The DEFAULT partition first, then each month: one partition spec per element.
    FOR i IN -1 .. p_months - 1 LOOP
        IF i < 0 THEN
            part_name := parent_name || '_default';
            bound := 'DEFAULT';
        ELSE
            month := (first_month + pg_catalog.make_interval(months => i))::date;
            part_name := pg_catalog.format('%s_p%s', parent_name, pg_catalog.to_char(month, 'YYYY_MM'));
            bound := pg_catalog.format('FOR VALUES FROM (%L) TO (%L)',
                                       (month::timestamp AT TIME ZONE 'UTC'),
                                       ((month + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
        END IF;
        CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('%I.%I', parent_schema, part_name)) IS NOT NULL;
        EXECUTE pg_catalog.format('CREATE TABLE %I.%I PARTITION OF %s %s', parent_schema, part_name, p_parent, bound);
        part := pg_catalog.format('%I.%I', parent_schema, part_name)::regclass;
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part);
        EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', part);
        IF append_only THEN
            PERFORM tessera_private.make_append_only(part);
        END IF;
        created := created + 1;
    END LOOP;
    RETURN created;
END
$function$;

COMMENT ON FUNCTION tessera_private.create_monthly_partitions(regclass, date, integer) IS
    'Creates the missing monthly (UTC) partitions <parent>_pYYYY_MM and <parent>_default of a range-partitioned table, each with RLS enabled+forced and, for append-only parents, the append-only triggers. Re-runnable.';

REVOKE ALL ON FUNCTION tessera_private.create_monthly_partitions(regclass, date, integer) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.prompt_fingerprint_v1_is_valid.sql
-- tessera_private.prompt_fingerprint_v1_is_valid(fingerprint): the shape CHECK of
-- tessera.audit_events.prompt_fingerprint_v1 (seed: "Prompt fingerprint v1").
--
-- NULL is valid (no fingerprint). Otherwise a JSON object that holds all three v1 keys:
--   structural_signature  a string: role letters in order, consecutive same-role turns
--                         collapsed, '.'-separated, then the code-fence, JSON-block and
--                         tool-use markers (0/1) and the coarse turn-count band, e.g.
--                         's.u.a/c=1/j=0/t=0/b=2'. Pattern:
--                         ^[a-z](\.[a-z]){0,63}/c=[01]/j=[01]/t=[01]/b=[0-9]{1,2}$
--   token_count_band      an integer 1..6 (<=512, 513-2k, 2k-8k, 8k-32k, 32k-128k, 128k+)
--   embedding_cluster_id  null (no cluster assigned yet) or an integer >= 1
-- Wrong types, out-of-range bands, a cluster id of 0 or a fraction are refused. Other
-- keys are allowed: the seed's versioning rule adds fields to v1 as additive JSONB keys
-- (issue 5: "unknown extra keys allowed"); the whole value is capped at 2 kB so a key
-- can never smuggle a prompt in.
--
-- IMMUTABLE (used in a CHECK constraint): it reads nothing but its argument.
CREATE FUNCTION tessera_private.prompt_fingerprint_v1_is_valid(p_fingerprint jsonb)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_fingerprint IS NULL THEN
        RETURN true;
    END IF;
    IF pg_catalog.jsonb_typeof(p_fingerprint) IS DISTINCT FROM 'object'
       OR pg_catalog.octet_length(p_fingerprint::text) > 2048 THEN
        RETURN false;
    END IF;
    IF NOT (p_fingerprint ? 'structural_signature' AND p_fingerprint ? 'token_count_band'
            AND p_fingerprint ? 'embedding_cluster_id') THEN
        RETURN false;
    END IF;
    IF pg_catalog.jsonb_typeof(p_fingerprint -> 'structural_signature') IS DISTINCT FROM 'string'
       OR (p_fingerprint ->> 'structural_signature')
          !~ '^[a-z](\.[a-z]){0,63}/c=[01]/j=[01]/t=[01]/b=[0-9]{1,2}$' THEN
        RETURN false;
    END IF;
    -- Numbers are checked on their JSON text: 3.0, 3e0 and "3" are not integers here.
    IF pg_catalog.jsonb_typeof(p_fingerprint -> 'token_count_band') IS DISTINCT FROM 'number'
       OR (p_fingerprint -> 'token_count_band')::text !~ '^[1-6]$' THEN
        RETURN false;
    END IF;
    IF pg_catalog.jsonb_typeof(p_fingerprint -> 'embedding_cluster_id') = 'null' THEN
        RETURN true;
    END IF;
    RETURN pg_catalog.jsonb_typeof(p_fingerprint -> 'embedding_cluster_id') = 'number'
       AND (p_fingerprint -> 'embedding_cluster_id')::text ~ '^[1-9][0-9]{0,17}$';
END
$function$;

COMMENT ON FUNCTION tessera_private.prompt_fingerprint_v1_is_valid(jsonb) IS
    'Shape check of prompt_fingerprint_v1: NULL, or an object with structural_signature (pattern s.u.a/c=1/j=0/t=0/b=2), token_count_band 1..6 and embedding_cluster_id null or >= 1; extra keys allowed (additive v1), 2 kB cap.';

REVOKE ALL ON FUNCTION tessera_private.prompt_fingerprint_v1_is_valid(jsonb) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.stamp_audit_event.sql
-- tessera_private.stamp_audit_event(): BEFORE INSERT trigger of tessera.audit_events
-- (audit_events_stamp, ENABLE ALWAYS, cloned to every partition).
--
-- Everything that says who, when, in which request and what the row hashes to is
-- written here, by the database, never by the caller:
--   txid, occurred_at     must be the defaults (pg_current_xact_id(), now()); a
--                         supplied value is refused, so no row is backdated or moved
--                         out of its writer's transaction (the sealer's horizon)
--   actor_role            the role the session acts as: the SET ROLE role (the GUC
--                         `role`, which SECURITY DEFINER functions do not change), else
--                         the login. Inside a definer function current_user is always
--                         tessera_owner, which would say nothing about the caller.
--   actor_session_role    session_user (the login: authenticator, tessera_proxy, ...)
--   actor_email/sub       from request.jwt.claims (tessera_private.jwt_claims)
--   actor_job             setting tessera.job_name (self-declared by jobs; actor_role is
--                         the authoritative part)
--   request_id            setting tessera.request_id; when unset, one uuid is generated
--                         and stored back in tessera.request_id transaction-locally, so
--                         every event of the transaction shares it
--   prompt_fingerprint_v1 setting tessera.prompt_fingerprint_v1 (JSON text), validated
--                         by the column's CHECK
--   content_hash          tessera_private.audit_content_hash(NEW), computed last
-- A caller who supplies any of them is refused (42501), not silently overwritten: a
-- writer that tries is a bug or an attack, and both should be loud.
--
-- No SET clause names tessera.request_id, so the set_config(..., true) below outlives
-- this call (a function's SET clause restores only the settings it names).
CREATE FUNCTION tessera_private.stamp_audit_event()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    claims jsonb;
    setting text;
BEGIN
    IF NEW.content_hash IS NOT NULL THEN
        RAISE EXCEPTION 'audit_events.content_hash is computed by the database, never supplied'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.actor_role IS NOT NULL OR NEW.actor_session_role IS NOT NULL OR NEW.actor_email IS NOT NULL
       OR NEW.actor_sub IS NOT NULL OR NEW.actor_job IS NOT NULL OR NEW.request_id IS NOT NULL
       OR NEW.prompt_fingerprint_v1 IS NOT NULL THEN
        RAISE EXCEPTION 'audit_events actor, request_id and prompt_fingerprint_v1 are stamped from the session, never supplied'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Set request.jwt.claims, tessera.request_id, tessera.job_name or tessera.prompt_fingerprint_v1 instead.';
    END IF;
    IF NEW.txid IS DISTINCT FROM pg_catalog.pg_current_xact_id() OR NEW.occurred_at IS DISTINCT FROM pg_catalog.now() THEN
        RAISE EXCEPTION 'audit_events.txid and occurred_at are the writing transaction''s own, never supplied'
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    NEW.actor_role := COALESCE(NULLIF(pg_catalog.current_setting('role'), 'none'), SESSION_USER::text);
    NEW.actor_session_role := SESSION_USER;
    claims := tessera_private.jwt_claims();
    IF pg_catalog.jsonb_typeof(claims -> 'email') = 'string' AND pg_catalog.btrim(claims ->> 'email') <> '' THEN
        NEW.actor_email := pg_catalog.lower(pg_catalog.btrim(claims ->> 'email'));
    END IF;
    IF pg_catalog.jsonb_typeof(claims -> 'sub') = 'string' AND pg_catalog.btrim(claims ->> 'sub') <> '' THEN
        NEW.actor_sub := claims ->> 'sub';
    END IF;
    NEW.actor_job := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('tessera.job_name', true)), '');

    NEW.request_id := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('tessera.request_id', true)), '');
    IF NEW.request_id IS NULL THEN
        NEW.request_id := pg_catalog.gen_random_uuid()::text;
        PERFORM pg_catalog.set_config('tessera.request_id', NEW.request_id, true);
    END IF;

    setting := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('tessera.prompt_fingerprint_v1', true)), '');
    IF setting IS NOT NULL THEN
        BEGIN
            NEW.prompt_fingerprint_v1 := setting::jsonb;
        EXCEPTION WHEN data_exception THEN
            RAISE EXCEPTION 'setting tessera.prompt_fingerprint_v1 is not valid JSON'
                USING ERRCODE = 'invalid_parameter_value';
        END;
    END IF;

    NEW.content_hash := tessera_private.audit_content_hash(NEW);
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.stamp_audit_event() IS
    'BEFORE INSERT trigger of tessera.audit_events: refuses caller-supplied hash, actor, request, txid or time fields, stamps them from the session and computes content_hash (encoding v1).';

REVOKE ALL ON FUNCTION tessera_private.stamp_audit_event() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> schema/90_audit_events.sql
-- tessera.audit_events: the append-only, tamper-evident log of every state transition
-- (issue 5; contract: /work/coord/audit-contract.md, docs/audit.md).
--
-- Who writes. Nobody directly: no role holds INSERT but the owner, and the owner's
-- INSERT policy admits only tessera_private.write_audit_event (policies/audit_events.sql).
-- Rows come from the generic row trigger tessera_private.audit_row_change (attached to
-- the tables listed in functions/tessera_private.audit_coverage.sql) and from definer
-- functions (tessera.break_glass, tessera.record_auth_failure, the keys/secrets
-- functions). The BEFORE INSERT trigger audit_events_stamp stamps actor, request id,
-- fingerprint and content_hash (tessera_private.stamp_audit_event): a caller never
-- supplies them.
--
-- Append-only. No UPDATE, DELETE or TRUNCATE privilege for anyone, and the
-- make_append_only triggers (ENABLE ALWAYS, so session_replication_role = replica does
-- not switch them off) refuse them for the owner and superusers too. What a superuser
-- does anyway (disabling triggers, editing pages) is detected by the verifier
-- (tessera-db audit verify) against signed Merkle checkpoints (tessera.audit_checkpoints).
--
-- Partitioned by UTC month of occurred_at (previous, current and next month plus
-- DEFAULT, created below; a monthly job creates months ahead with
-- tessera_private.create_monthly_partitions). Retention (seed: 7 years for invoiced
-- engagements; the operations issue) drops whole months: DETACH PARTITION, archive,
-- DROP TABLE; rows are never deleted one by one. The checkpoints keep covering a dropped
-- month by its hashes.
--
-- Not distributed under Citus, on purpose: the Merkle log needs one global order
-- (event_id within each sealing step, txid against the sealer's horizon), which a
-- table sharded by client_id cannot give without a cross-node sequence and snapshot.
-- It stays a coordinator-local table, so its keys need not contain client_id (and
-- platform events have none).
--
-- content_hash, encoding v1 (tessera_private.audit_content_hash; verified independently
-- in Python by tessera_db/audit/encoding.py):
--   sha256('tessera.audit_events.v1' || f(event_id) || f(occurred_at) || f(txid)
--          || f(client_id) || f(entity) || f(entity_id) || f(action) || f(before)
--          || f(after) || f(actor_role) || f(actor_session_role) || f(actor_email)
--          || f(actor_sub) || f(actor_job) || f(request_id) || f(reason) || f(source_ip)
--          || f(prompt_fingerprint_v1))
--   f(NULL) = FF FF FF FF; f(v) = 4-byte big-endian byte length || UTF-8 of the
--   canonical text (see the function's comment).
CREATE TABLE tessera.audit_events (
    event_id              bigint      GENERATED ALWAYS AS IDENTITY,
    occurred_at           timestamptz NOT NULL DEFAULT now(),
    txid                  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    client_id             uuid,
    entity                text        NOT NULL,
    entity_id             text,
    action                text        NOT NULL,
    before                jsonb,
    after                 jsonb,
    actor_role            text        NOT NULL,
    actor_session_role    text        NOT NULL,
    actor_email           text,
    actor_sub             text,
    actor_job             text,
    request_id            text        NOT NULL,
    reason                text,
    source_ip             inet,
    prompt_fingerprint_v1 jsonb,
    content_hash          bytea       NOT NULL,
    -- Contains the partition key (required). event_id alone is unique: it comes from
    -- one identity sequence and cannot be supplied (GENERATED ALWAYS).
    CONSTRAINT audit_events_pkey PRIMARY KEY (event_id, occurred_at),
    CONSTRAINT audit_events_action_known CHECK (
        action IN ('insert',            -- a row was inserted (audit_row_change)
                   'update',            -- a row changed (changed columns only)
                   'delete',            -- a row was deleted
                   'truncate',          -- an audited table was truncated (owner only)
                   'break_glass',       -- an operator opened a break-glass window (reason)
                   'override',          -- an operator overrode a policy decision (reason)
                   'auth_failure',      -- a failed login or key verification
                   'rate_limited',      -- a request refused by a rate limit
                   'secret_revealed',   -- a secret's plaintext was read (never the secret)
                   'secret_destroyed')),-- a secret was destroyed
    CONSTRAINT audit_events_reason_required CHECK (
        action NOT IN ('break_glass', 'override') OR reason ~ '[^[:space:]]'),
    CONSTRAINT audit_events_reason_length CHECK (char_length(reason) <= 1000),
    CONSTRAINT audit_events_entity_format CHECK (entity ~ '^[a-z][a-z0-9_]{0,62}$'),
    CONSTRAINT audit_events_entity_id_length CHECK (char_length(entity_id) BETWEEN 1 AND 500),
    CONSTRAINT audit_events_before_is_object CHECK (jsonb_typeof(before) = 'object'),
    CONSTRAINT audit_events_after_is_object CHECK (jsonb_typeof(after) = 'object'),
    CONSTRAINT audit_events_request_id_length CHECK (char_length(request_id) BETWEEN 1 AND 200),
    CONSTRAINT audit_events_actor_job_length CHECK (char_length(actor_job) <= 100),
    CONSTRAINT audit_events_prompt_fingerprint_v1_shape CHECK (
        tessera_private.prompt_fingerprint_v1_is_valid(prompt_fingerprint_v1)),
    CONSTRAINT audit_events_content_hash_sha256 CHECK (octet_length(content_hash) = 32)
) PARTITION BY RANGE (occurred_at);

-- A sponsor's slice and the CSV export: one client, a time range.
CREATE INDEX audit_events_client_occurred_idx ON tessera.audit_events (client_id, occurred_at);
-- The sealer: rows between two horizons (prev_horizon <= txid < horizon), and the
-- break-glass window lookup (this transaction's break_glass row).
CREATE INDEX audit_events_txid_idx ON tessera.audit_events (txid);

CREATE TRIGGER audit_events_stamp
    BEFORE INSERT ON tessera.audit_events
    FOR EACH ROW EXECUTE FUNCTION tessera_private.stamp_audit_event();
ALTER TABLE tessera.audit_events ENABLE ALWAYS TRIGGER audit_events_stamp;

COMMENT ON TABLE tessera.audit_events IS
    'Append-only, hash-stamped log of every state transition, break-glass and auth failure; partitioned by UTC month; written only by triggers and definer functions through tessera_private.write_audit_event; sealed into signed Merkle checkpoints.';
COMMENT ON COLUMN tessera.audit_events.event_id IS 'Identity; seal order within a sealing step. Never supplied.';
COMMENT ON COLUMN tessera.audit_events.occurred_at IS 'Start of the writing transaction (now()); the partition key. Never supplied.';
COMMENT ON COLUMN tessera.audit_events.txid IS 'Top-level transaction id of the writer; the sealer seals only txid < pg_snapshot_xmin. Never supplied.';
COMMENT ON COLUMN tessera.audit_events.client_id IS 'Client the event belongs to; NULL only for platform events (operators, prices, auth failures).';
COMMENT ON COLUMN tessera.audit_events.entity IS 'Table name, or a pseudo-entity (auth, break_glass, api_keys, ...).';
COMMENT ON COLUMN tessera.audit_events.entity_id IS 'Primary key of the row as text: its key columns other than client_id, joined with "/" in key order (clients: client_id).';
COMMENT ON COLUMN tessera.audit_events.action IS 'insert | update | delete | truncate | break_glass | override | auth_failure | rate_limited | secret_revealed | secret_destroyed.';
COMMENT ON COLUMN tessera.audit_events.before IS 'Changed, non-secret columns before the change (NULL for an insert).';
COMMENT ON COLUMN tessera.audit_events.after IS 'Changed, non-secret columns after the change (NULL for a delete), or event details.';
COMMENT ON COLUMN tessera.audit_events.actor_role IS 'Role the session acted as (SET ROLE, else the login), stamped.';
COMMENT ON COLUMN tessera.audit_events.actor_session_role IS 'Login role (session_user), stamped.';
COMMENT ON COLUMN tessera.audit_events.actor_email IS 'JWT email claim, stamped.';
COMMENT ON COLUMN tessera.audit_events.actor_sub IS 'JWT sub claim, stamped.';
COMMENT ON COLUMN tessera.audit_events.actor_job IS 'Setting tessera.job_name (sealer, sweeper, importer, ...), stamped.';
COMMENT ON COLUMN tessera.audit_events.request_id IS 'Setting tessera.request_id (threads proxy -> database), else one generated uuid per transaction.';
COMMENT ON COLUMN tessera.audit_events.reason IS 'Why: required for break_glass and override; row changes inside a break-glass window carry its reason.';
COMMENT ON COLUMN tessera.audit_events.source_ip IS 'Source address, when the caller gave one (auth failures, rate limits).';
COMMENT ON COLUMN tessera.audit_events.prompt_fingerprint_v1 IS 'Anonymised request shape (seed "Prompt fingerprint v1") from setting tessera.prompt_fingerprint_v1; shape checked.';
COMMENT ON COLUMN tessera.audit_events.content_hash IS 'SHA-256 over the canonical encoding v1 of the stored values, computed by the insert trigger.';

SELECT tessera_private.make_append_only('tessera.audit_events');

-- Partitions for the previous, current and next UTC month plus DEFAULT, so the declared
-- SQL and the migration that runs it agree; a scheduled job keeps creating months ahead.
SELECT tessera_private.create_monthly_partitions('tessera.audit_events',
    (pg_catalog.date_trunc('month', pg_catalog.now() AT TIME ZONE 'UTC') - interval '1 month')::date, 3);

-- The break-glass slice (issue 5 item 3): every break-glass window, who opened it, why,
-- and for which out-of-policy action. security_invoker: the caller's own row-level
-- security applies (operators see all, a sponsor their own clients' windows).
CREATE VIEW tessera.break_glass_events WITH (security_invoker = true) AS
SELECT e.event_id,
       e.occurred_at,
       e.txid,
       e.client_id,
       e.after ->> 'action' AS permitted_action,
       e.reason,
       e.actor_email,
       e.actor_sub,
       e.actor_role,
       e.actor_session_role,
       e.request_id
  FROM tessera.audit_events AS e
 WHERE e.action = 'break_glass';

COMMENT ON VIEW tessera.break_glass_events IS
    'Break-glass windows (action = break_glass) with reason and actor, under the caller''s RLS (security_invoker). Row changes made inside a window share its txid and carry its reason.';

-- >>> functions/tessera_private.audit_content_hash.sql
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
CREATE FUNCTION tessera_private.audit_content_hash(p_event tessera.audit_events)
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

-- >>> functions/tessera_private.write_audit_event.sql
-- tessera_private.write_audit_event(...): the one writer of tessera.audit_events.
--
-- Called by the generic row trigger (tessera_private.audit_row_change) and by SECURITY
-- DEFINER functions (tessera.break_glass, tessera.record_auth_failure, the keys and
-- secrets functions), all of which run as tessera_owner. Not SECURITY DEFINER itself,
-- and EXECUTE for nobody but the owner: an API role can reach it only through those.
--
-- The caller gives what happened; who, when, in which request and the content hash are
-- stamped by the BEFORE INSERT trigger (tessera_private.stamp_audit_event) from the
-- session: request.jwt.claims, role/session_user, tessera.request_id,
-- tessera.job_name, tessera.prompt_fingerprint_v1.
--
-- The transaction-local setting tessera.audit_writer is 'write_audit_event' only around
-- its INSERT (set before, cleared after; an error rolls the setting back with the
-- statement); the owner's INSERT policy on tessera.audit_events admits rows only then
-- (policies/audit_events.sql), so no other code running as the owner inserts audit rows
-- by accident. (A SET clause would be tidier, but PostgreSQL 15 lets only superusers
-- put a custom setting in a function's SET clause.) The new event_id comes from currval
-- (session-local): RETURNING would need an owner SELECT policy over every row.
CREATE FUNCTION tessera_private.write_audit_event(
    p_client_id uuid,
    p_entity    text,
    p_entity_id text,
    p_action    text,
    p_before    jsonb DEFAULT NULL,
    p_after     jsonb DEFAULT NULL,
    p_reason    text  DEFAULT NULL,
    p_source_ip inet  DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM pg_catalog.set_config('tessera.audit_writer', 'write_audit_event', true);
    INSERT INTO tessera.audit_events (client_id, entity, entity_id, action, before, after, reason, source_ip)
    VALUES (p_client_id, p_entity, p_entity_id, p_action, p_before, p_after, p_reason, p_source_ip);
    PERFORM pg_catalog.set_config('tessera.audit_writer', '', true);
    RETURN pg_catalog.currval('tessera.audit_events_event_id_seq'::regclass);
END
$function$;

COMMENT ON FUNCTION tessera_private.write_audit_event(uuid, text, text, text, jsonb, jsonb, text, inet) IS
    'Appends one audit event (what happened); the insert trigger stamps actor, request id, fingerprint and content hash. Owner only: reached through triggers and definer functions.';

REVOKE ALL ON FUNCTION tessera_private.write_audit_event(uuid, text, text, text, jsonb, jsonb, text, inet) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.break_glass_reason.sql
-- tessera_private.break_glass_reason(action): the reason of the break-glass window open
-- in the current transaction, or NULL when there is none.
--
-- A window is opened by tessera.break_glass(), which writes a 'break_glass' audit row
-- and notes '<txid>:<event_id>' in the transaction-local setting
-- tessera.break_glass_event. The setting is only a hint (anyone can set a setting):
-- the window exists only if that audit row exists, belongs to this very transaction
-- (txid), names the caller's own JWT email and, when p_action is given, permits that
-- action. Forged settings therefore open nothing, and a window never outlives its
-- transaction (commit or rollback ends it; a later transaction has another txid).
--
-- Runs as the caller, which is always tessera_owner (the definer functions and the
-- audit row trigger): the owner's only SELECT policy on tessera.audit_events shows
-- exactly this transaction's break_glass rows. Granted to nobody.
CREATE FUNCTION tessera_private.break_glass_reason(p_action text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    hint text := pg_catalog.current_setting('tessera.break_glass_event', true);
    this_txid xid8;
    found_reason text;
BEGIN
    IF hint IS NULL OR hint !~ '^[0-9]+:[0-9]+$' THEN
        RETURN NULL;
    END IF;
    this_txid := pg_catalog.pg_current_xact_id_if_assigned();
    IF this_txid IS NULL OR pg_catalog.split_part(hint, ':', 1) <> this_txid::text THEN
        RETURN NULL;
    END IF;
    SELECT e.reason INTO found_reason
      FROM tessera.audit_events AS e
     WHERE e.event_id = pg_catalog.split_part(hint, ':', 2)::bigint
       AND e.txid = this_txid
       AND e.action = 'break_glass'
       AND e.actor_email IS NOT DISTINCT FROM tessera_private.jwt_email()
       AND (p_action IS NULL OR e.after ->> 'action' = p_action);
    RETURN found_reason;
END
$function$;

COMMENT ON FUNCTION tessera_private.break_glass_reason(text) IS
    'Reason of the break-glass window opened by tessera.break_glass in this transaction by this caller (for this action, if given); NULL when none. Verified against the audit row, not the setting.';

REVOKE ALL ON FUNCTION tessera_private.break_glass_reason(text) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.audit_row_change.sql
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
CREATE FUNCTION tessera_private.audit_row_change()
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

-- >>> functions/tessera_private.apply_audit_coverage.sql
-- tessera_private.apply_audit_coverage(): make the catalog match the declarative list
-- tessera_private.audit_coverage() (functions/tessera_private.audit_coverage.sql).
--
-- For every audited table: attach tessera_private.audit_row_change() as
-- <table>_audit (AFTER INSERT OR UPDATE OR DELETE, FOR EACH ROW) and
-- <table>_audit_truncate (AFTER TRUNCATE, FOR EACH STATEMENT), both ENABLE ALWAYS, with
-- the key columns (from the primary key in the catalog) and the declared secret columns
-- as arguments. A trigger already attached with the same arguments is kept; one with
-- different arguments is replaced. For every exempt table: the reason must be given, and
-- any audit trigger left from an earlier listing is dropped.
--
-- Refuses (22023) a listed table that does not exist in schema tessera, a secret column
-- the table does not have, an audited table without a primary key, and an exempt entry
-- without a reason; so a typo in the list fails the load, not the audit.
-- Re-runnable: a migration that adds a line re-creates the list function and calls this.
-- Not SECURITY DEFINER and granted to nobody: DDL, run as the owner by migrations.
CREATE FUNCTION tessera_private.apply_audit_coverage()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    entry record;
    rel regclass;
    key_columns text[];
    missing text[];
    wanted_args bytea;
    changed integer := 0;
BEGIN
    FOR entry IN SELECT * FROM tessera_private.audit_coverage() ORDER BY table_name LOOP
        rel := pg_catalog.to_regclass(pg_catalog.format('tessera.%I', entry.table_name));
        IF rel IS NULL THEN
            RAISE EXCEPTION 'audit coverage lists tessera.%, which does not exist', entry.table_name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;

        IF NOT entry.audited THEN
            IF entry.exempt_reason IS NULL OR entry.exempt_reason !~ '[^[:space:]]' THEN
                RAISE EXCEPTION 'audit coverage exempts tessera.% without a reason', entry.table_name
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', entry.table_name || '_audit', rel);
            EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', entry.table_name || '_audit_truncate', rel);
            CONTINUE;
        END IF;

        SELECT pg_catalog.array_agg(s.col) INTO missing
          FROM pg_catalog.unnest(entry.secret_columns) AS s (col)
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                            WHERE a.attrelid = rel AND a.attname = s.col AND a.attnum > 0 AND NOT a.attisdropped);
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'audit coverage: tessera.% has no column(s) %', entry.table_name, missing
                USING ERRCODE = 'invalid_parameter_value';
        END IF;

        SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.n) INTO key_columns
          FROM pg_catalog.pg_index AS i
         CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, n)
          JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = rel AND i.indisprimary
           AND (a.attname <> 'client_id'
                OR pg_catalog.array_length(i.indkey::int2[], 1) = 1);
        IF key_columns IS NULL THEN
            RAISE EXCEPTION 'audit coverage: tessera.% has no primary key to name its rows by', entry.table_name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;

        -- pg_trigger.tgargs holds the arguments NUL-terminated, one after another.
        wanted_args := pg_catalog.convert_to(key_columns::text, 'UTF8') || '\x00'::bytea
                       || pg_catalog.convert_to(COALESCE(entry.secret_columns, '{}')::text, 'UTF8') || '\x00'::bytea;
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS t
                    WHERE t.tgrelid = rel AND t.tgname = entry.table_name || '_audit'
                      AND t.tgfoid = 'tessera_private.audit_row_change()'::regprocedure
                      AND t.tgargs = wanted_args AND t.tgenabled = 'A')
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS t
                        WHERE t.tgrelid = rel AND t.tgname = entry.table_name || '_audit_truncate'
                          AND t.tgfoid = 'tessera_private.audit_row_change()'::regprocedure
                          AND t.tgargs = wanted_args AND t.tgenabled = 'A') THEN
            CONTINUE;
        END IF;

        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', entry.table_name || '_audit', rel);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', entry.table_name || '_audit_truncate', rel);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW '
            'EXECUTE FUNCTION tessera_private.audit_row_change(%L, %L)',
            entry.table_name || '_audit', rel, key_columns::text, COALESCE(entry.secret_columns, '{}')::text);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', rel, entry.table_name || '_audit');
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT '
            'EXECUTE FUNCTION tessera_private.audit_row_change(%L, %L)',
            entry.table_name || '_audit_truncate', rel, key_columns::text, COALESCE(entry.secret_columns, '{}')::text);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', rel, entry.table_name || '_audit_truncate');
        changed := changed + 1;
    END LOOP;
    RETURN changed;
END
$function$;

COMMENT ON FUNCTION tessera_private.apply_audit_coverage() IS
    'Attaches (or re-attaches) the audit triggers to the tables tessera_private.audit_coverage() lists as audited and removes them from exempt ones; refuses unknown tables, unknown secret columns and exemptions without a reason. Returns how many tables it (re)attached.';

REVOKE ALL ON FUNCTION tessera_private.apply_audit_coverage() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera.break_glass.sql
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

-- >>> functions/tessera.break_glass_publish_price.sql
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

-- >>> functions/tessera.record_auth_failure.sql
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

-- >>> policies/audit_events.sql
-- Row-level security, policies and grants for tessera.audit_events (and its slice, the
-- view tessera.break_glass_events).
--
--   operator       read every event (the cross-customer view)
--   sponsor        read their own clients' events (platform events, client_id NULL,
--                  are operators' only)
--   service_role   read (BYPASSRLS): the sealer, the verifier, exports
--   anon, proxy,
--   settlement     nothing (the proxy writes only through tessera.record_auth_failure)
--   tessera_sealer no privilege; the sealing definer functions read (event_id, txid,
--                  content_hash) as the owner, only in a tessera_sealer login session
--   owner          (the audit trigger and definer functions) insert only while
--                  tessera_private.write_audit_event runs (it sets the transaction-
--                  local tessera.audit_writer around its INSERT); read only this transaction's
--                  own break_glass rows (tessera_private.break_glass_reason)
--   nobody         INSERT directly, UPDATE, DELETE or TRUNCATE: no privilege, and the
--                  make_append_only triggers (ENABLE ALWAYS) on the parent and every
--                  partition refuse the owner and superusers too
-- Partitions carry RLS enabled and forced with no policy and no grant
-- (tessera_private.create_monthly_partitions): a statement naming a partition directly
-- sees nothing, except as a superuser.
ALTER TABLE tessera.audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.audit_events FORCE ROW LEVEL SECURITY;

CREATE POLICY audit_events_select_operator_or_sponsor ON tessera.audit_events
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- The only way a row gets in: tessera_private.write_audit_event, which sets
-- tessera.audit_writer around its one INSERT and clears it after. The BEFORE INSERT
-- trigger then stamps identity and hash whoever the caller was.
CREATE POLICY audit_events_insert_definer_writer ON tessera.audit_events
    FOR INSERT TO tessera_owner
    WITH CHECK ((SELECT pg_catalog.current_setting('tessera.audit_writer', true)) = 'write_audit_event');

-- tessera_private.break_glass_reason: the break-glass row of this very transaction.
CREATE POLICY audit_events_select_definer_own_break_glass ON tessera.audit_events
    FOR SELECT TO tessera_owner
    USING (action = 'break_glass'
           AND txid = (SELECT pg_catalog.pg_current_xact_id_if_assigned()));

-- tessera.audit_sealable_leaves and tessera.audit_append_checkpoint (the sealer, H2's
-- block): every row, but only in a session whose login is tessera_sealer (session_user
-- cannot be changed without superuser rights), and those definer functions return only
-- event_id and content_hash.
CREATE POLICY audit_events_select_definer_sealer ON tessera.audit_events
    FOR SELECT TO tessera_owner
    USING ((SELECT SESSION_USER) = 'tessera_sealer'::name);

-- Privileges for authenticated: rows narrowed by the policy above. Read only.
GRANT SELECT ON tessera.audit_events TO authenticated;
GRANT SELECT ON tessera.break_glass_events TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read only.
GRANT SELECT ON tessera.audit_events TO service_role;
GRANT SELECT ON tessera.break_glass_events TO service_role;

-- >>> schema/91_audit_checkpoints.sql
-- tessera.audit_checkpoints: signed Merkle checkpoints over tessera.audit_events (issue 5
-- items 4 and 5; docs/audit.md "Sealing", "Verifying").
--
-- The log. Leaves are the audit rows' content hashes in seal order: checkpoint by
-- checkpoint, and within one checkpoint the rows with prev_horizon <= txid < horizon
-- ordered by event_id. leaf = SHA-256(0x00 || content_hash), node = SHA-256(0x01 || l || r)
-- (RFC 6962). Each row commits to the tree of the first tree_size leaves (root_hash) and
-- links to the previous checkpoint (prev_tree_size, prev_root_hash, prev_horizon); the
-- first one links to the empty tree (0, SHA-256(''), horizon 0).
--
-- The horizon. A checkpoint seals only rows whose writer's transaction id is below
-- pg_snapshot_xmin of the sealer's snapshot: every such transaction has ended, so its
-- rows are all visible and none can commit later. A long-running writer is therefore
-- never skipped; its rows wait for the next checkpoint after it commits. Writers take
-- no lock the sealer holds, and the sealer takes none but the row lock of its own insert.
--
-- The signature. Ed25519 over a canonical text message of (version, tree_size,
-- root_hash, prev_tree_size, prev_root_hash, horizon, prev_horizon, sealed_at, key_id),
-- documented in tessera_db/audit/signing.py and docs/audit.md. The signing key never
-- enters the database; key_id is the SHA-256 fingerprint of the public key.
--
-- Forks. prev_tree_size is UNIQUE: two sealers racing from the same checkpoint both try
-- to insert the same prev_tree_size, and the second fails (23505) instead of forking.
-- tree_size is UNIQUE too, and tessera.audit_append_checkpoint accepts only a row that
-- extends the latest checkpoint.
--
-- frontier is not signed: the roots of the tree's perfect subtrees (one per set bit of
-- tree_size), so the sealer can extend the tree without re-reading every old leaf. The
-- sealer checks it folds to the signed root_hash before using it; the verifier compares
-- it with its own rebuild.
--
-- Append-only (make_append_only, ENABLE ALWAYS). What a superuser does anyway is found
-- by tessera-db audit verify, which holds the public key and its own state file.
CREATE TABLE tessera.audit_checkpoints (
    checkpoint_id   bigint      GENERATED ALWAYS AS IDENTITY,
    version         smallint    NOT NULL DEFAULT 1,
    tree_size       bigint      NOT NULL,
    root_hash       bytea       NOT NULL,
    prev_tree_size  bigint      NOT NULL,
    prev_root_hash  bytea       NOT NULL,
    horizon         xid8        NOT NULL,
    prev_horizon    xid8        NOT NULL,
    sealed_at       timestamptz NOT NULL,
    key_id          text        NOT NULL,
    signature       bytea       NOT NULL,
    frontier        bytea[]     NOT NULL,
    CONSTRAINT audit_checkpoints_pkey PRIMARY KEY (checkpoint_id),
    CONSTRAINT audit_checkpoints_prev_tree_size_key UNIQUE (prev_tree_size),
    CONSTRAINT audit_checkpoints_tree_size_key UNIQUE (tree_size),
    CONSTRAINT audit_checkpoints_version_known CHECK (version = 1),
    CONSTRAINT audit_checkpoints_sizes CHECK (prev_tree_size >= 0 AND tree_size > prev_tree_size),
    CONSTRAINT audit_checkpoints_horizons CHECK (horizon > prev_horizon),
    CONSTRAINT audit_checkpoints_hash_lengths CHECK (
        octet_length(root_hash) = 32 AND octet_length(prev_root_hash) = 32),
    CONSTRAINT audit_checkpoints_genesis CHECK (
        prev_tree_size <> 0
        OR (prev_root_hash = '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'::bytea
            AND prev_horizon = '0'::xid8)),
    CONSTRAINT audit_checkpoints_key_id_format CHECK (key_id ~ '^[0-9a-f]{64}$'),
    CONSTRAINT audit_checkpoints_signature_length CHECK (octet_length(signature) = 64),
    CONSTRAINT audit_checkpoints_frontier_shape CHECK (
        cardinality(frontier) = bit_count(tree_size::bit(64))
        AND array_position(frontier, NULL) IS NULL)
);

COMMENT ON TABLE tessera.audit_checkpoints IS
    'Signed RFC 6962 Merkle checkpoints over tessera.audit_events (seal order: by checkpoint, rows with prev_horizon <= txid < horizon by event_id); append-only; written only by the sealer through tessera.audit_append_checkpoint; checked by tessera-db audit verify.';
COMMENT ON COLUMN tessera.audit_checkpoints.checkpoint_id IS 'Identity, in seal order. Not signed; the verifier''s state file remembers it.';
COMMENT ON COLUMN tessera.audit_checkpoints.version IS 'Checkpoint message version (1: tessera_db/audit/signing.py).';
COMMENT ON COLUMN tessera.audit_checkpoints.tree_size IS 'Leaves in the tree this checkpoint commits to (all rows sealed so far).';
COMMENT ON COLUMN tessera.audit_checkpoints.root_hash IS 'RFC 6962 root (MTH) of the first tree_size leaves.';
COMMENT ON COLUMN tessera.audit_checkpoints.prev_tree_size IS 'tree_size of the previous checkpoint (0 for the first); UNIQUE, so a racing sealer fails instead of forking.';
COMMENT ON COLUMN tessera.audit_checkpoints.prev_root_hash IS 'root_hash of the previous checkpoint (SHA-256 of the empty string for the first).';
COMMENT ON COLUMN tessera.audit_checkpoints.horizon IS 'pg_snapshot_xmin of the sealer''s snapshot: this checkpoint seals rows with prev_horizon <= txid < horizon.';
COMMENT ON COLUMN tessera.audit_checkpoints.prev_horizon IS 'horizon of the previous checkpoint (0 for the first).';
COMMENT ON COLUMN tessera.audit_checkpoints.sealed_at IS 'When the sealer sealed (database clock_timestamp()); signed.';
COMMENT ON COLUMN tessera.audit_checkpoints.key_id IS 'Lower-case hex SHA-256 of the signing key''s raw Ed25519 public key.';
COMMENT ON COLUMN tessera.audit_checkpoints.signature IS 'Ed25519 signature over the canonical checkpoint message v1.';
COMMENT ON COLUMN tessera.audit_checkpoints.frontier IS 'Unsigned helper: roots of the perfect subtrees of the tree (left to right), so the sealer extends it without re-reading old leaves.';

SELECT tessera_private.make_append_only('tessera.audit_checkpoints');

-- >>> functions/tessera.audit_latest_checkpoint.sql
-- tessera.audit_latest_checkpoint(): the newest checkpoint (tree_size largest), or no row
-- before the first seal. What the sealer extends.
--
-- SECURITY DEFINER, EXECUTE for tessera_sealer only, so the sealer login holds no table
-- privilege of its own. It runs as tessera_owner under FORCE RLS; the owner's policy
-- audit_checkpoints_select_definer_sealer admits rows only in a session whose login is
-- tessera_sealer (operators, sponsors and service_role read the table directly).
CREATE FUNCTION tessera.audit_latest_checkpoint()
RETURNS SETOF tessera.audit_checkpoints
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT c.*
      FROM tessera.audit_checkpoints AS c
     ORDER BY c.tree_size DESC
     LIMIT 1
$function$;

COMMENT ON FUNCTION tessera.audit_latest_checkpoint() IS
    'The newest audit checkpoint (or no row): what the sealer extends. tessera_sealer only (definer).';

REVOKE ALL ON FUNCTION tessera.audit_latest_checkpoint() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.audit_latest_checkpoint() TO tessera_sealer;

-- >>> functions/tessera.audit_sealable_leaves.sql
-- tessera.audit_sealable_leaves(prev_horizon, horizon): the (event_id, content_hash) of
-- every audit row with prev_horizon <= txid < horizon, in seal order (event_id): the
-- leaves the next checkpoint appends.
--
-- horizon must not be above pg_snapshot_xmin of the calling statement's snapshot
-- (22023 otherwise): below it every writer has ended, so the set is complete and final,
-- and a late-committing writer (txid >= horizon) waits for the next checkpoint instead of
-- being skipped. The sealer reads its horizon with
-- pg_snapshot_xmin(pg_current_snapshot()) first; xmin never moves backwards.
--
-- Only the three columns the log needs leave the function: no client_id, actor or
-- before/after values. SECURITY DEFINER, EXECUTE for tessera_sealer only; it reads as
-- tessera_owner through the policy audit_events_select_definer_sealer, which admits rows
-- only in a session whose login is tessera_sealer. Reads take ACCESS SHARE only, so
-- writers never wait for the sealer.
CREATE FUNCTION tessera.audit_sealable_leaves(p_prev_horizon xid8, p_horizon xid8)
RETURNS TABLE (event_id bigint, content_hash bytea)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_prev_horizon IS NULL OR p_horizon IS NULL OR p_horizon < p_prev_horizon THEN
        RAISE EXCEPTION 'audit_sealable_leaves needs prev_horizon <= horizon (got % and %)', p_prev_horizon, p_horizon
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_horizon > pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) THEN
        RAISE EXCEPTION 'horizon % is above this snapshot''s xmin %: a writer below it may still be running',
                        p_horizon, pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT e.event_id, e.content_hash
      FROM tessera.audit_events AS e
     WHERE e.txid >= p_prev_horizon
       AND e.txid < p_horizon
     ORDER BY e.event_id;
END
$function$;

COMMENT ON FUNCTION tessera.audit_sealable_leaves(xid8, xid8) IS
    'Leaves (event_id, content_hash) of the audit rows with prev_horizon <= txid < horizon, by event_id; horizon must be <= pg_snapshot_xmin. tessera_sealer only (definer).';

REVOKE ALL ON FUNCTION tessera.audit_sealable_leaves(xid8, xid8) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.audit_sealable_leaves(xid8, xid8) TO tessera_sealer;

-- >>> functions/tessera.audit_append_checkpoint.sql
-- tessera.audit_append_checkpoint(...): append one signed checkpoint; returns its id.
--
-- The sealer (tessera_db/audit/seal.py) computes the new root over the leaves of
-- tessera.audit_sealable_leaves(prev_horizon, horizon), signs the checkpoint message with
-- its key (which never enters the database) and calls this. The database cannot check an
-- Ed25519 signature or recompute the tree; it checks everything else it can:
--   * the row extends the latest checkpoint: prev_tree_size, prev_root_hash and
--     prev_horizon are the latest checkpoint's (the empty tree, 0, for the first);
--     55000 otherwise (another sealer got there first, or the sealer's view is stale)
--   * horizon <= pg_snapshot_xmin of this statement's snapshot (22023)
--   * tree_size - prev_tree_size is exactly the number of audit rows with
--     prev_horizon <= txid < horizon (22023)
--   * sealed_at is within five minutes of the database clock and not before the
--     latest checkpoint's (22023)
-- and the table's CHECKs (sizes, lengths, frontier shape). Two sealers racing from the
-- same checkpoint both pass the first check in their own snapshots; the second then
-- waits on, and fails, UNIQUE (prev_tree_size) (23505): no fork.
--
-- SECURITY DEFINER, EXECUTE for tessera_sealer only. It runs as tessera_owner under
-- FORCE RLS: the owner's policies on audit_checkpoints and audit_events admit reading and
-- inserting only in a session whose login is tessera_sealer.
CREATE FUNCTION tessera.audit_append_checkpoint(
    p_tree_size bigint, p_root_hash bytea, p_prev_tree_size bigint, p_prev_root_hash bytea,
    p_horizon xid8, p_prev_horizon xid8, p_sealed_at timestamptz, p_key_id text,
    p_signature bytea, p_frontier bytea[])
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    latest tessera.audit_checkpoints;
    expected_size bigint;
    expected_root bytea;
    expected_horizon xid8;
    rows_in_range bigint;
    new_id bigint;
BEGIN
    SELECT c.* INTO latest
      FROM tessera.audit_checkpoints AS c
     ORDER BY c.tree_size DESC
     LIMIT 1;
    IF FOUND THEN
        expected_size := latest.tree_size;
        expected_root := latest.root_hash;
        expected_horizon := latest.horizon;
    ELSE
        expected_size := 0;
        expected_root := pg_catalog.sha256(''::bytea);
        expected_horizon := '0'::xid8;
    END IF;
    IF p_prev_tree_size IS DISTINCT FROM expected_size
       OR p_prev_root_hash IS DISTINCT FROM expected_root
       OR p_prev_horizon IS DISTINCT FROM expected_horizon THEN
        RAISE EXCEPTION 'checkpoint does not extend the latest checkpoint (tree_size %): another sealer appended first, or the sealer''s view is stale',
                        expected_size
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    IF p_horizon IS NULL OR p_horizon > pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) THEN
        RAISE EXCEPTION 'checkpoint horizon % is above this snapshot''s xmin: a writer below it may still be running', p_horizon
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT pg_catalog.count(*) INTO rows_in_range
      FROM tessera.audit_events AS e
     WHERE e.txid >= p_prev_horizon AND e.txid < p_horizon;
    IF p_tree_size IS DISTINCT FROM expected_size + rows_in_range THEN
        RAISE EXCEPTION 'checkpoint tree_size % does not match: % rows lie between the horizons, so it must be %',
                        p_tree_size, rows_in_range, expected_size + rows_in_range
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF p_sealed_at IS NULL
       OR p_sealed_at NOT BETWEEN pg_catalog.clock_timestamp() - interval '5 minutes'
                              AND pg_catalog.clock_timestamp() + interval '5 minutes'
       OR p_sealed_at < latest.sealed_at THEN
        RAISE EXCEPTION 'checkpoint sealed_at % is not within five minutes of the database clock, or is before the latest checkpoint''s', p_sealed_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO tessera.audit_checkpoints
        (tree_size, root_hash, prev_tree_size, prev_root_hash, horizon, prev_horizon,
         sealed_at, key_id, signature, frontier)
    VALUES (p_tree_size, p_root_hash, p_prev_tree_size, p_prev_root_hash, p_horizon, p_prev_horizon,
            p_sealed_at, p_key_id, p_signature, p_frontier)
    RETURNING checkpoint_id INTO new_id;
    RETURN new_id;
END
$function$;

COMMENT ON FUNCTION tessera.audit_append_checkpoint(bigint, bytea, bigint, bytea, xid8, xid8, timestamptz, text, bytea, bytea[]) IS
    'Append a signed audit checkpoint that extends the latest one (prev links, horizon <= xmin, tree_size = rows between the horizons, sane sealed_at); UNIQUE (prev_tree_size) makes a racing sealer fail. tessera_sealer only (definer).';

REVOKE ALL ON FUNCTION tessera.audit_append_checkpoint(bigint, bytea, bigint, bytea, xid8, xid8, timestamptz, text, bytea, bytea[]) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.audit_append_checkpoint(bigint, bytea, bigint, bytea, xid8, xid8, timestamptz, text, bytea, bytea[]) TO tessera_sealer;

-- >>> policies/audit_checkpoints.sql
-- Row-level security, policies and grants for tessera.audit_checkpoints.
--
--   operator       read every checkpoint
--   sponsor        read every checkpoint: a checkpoint is a public commitment (sizes,
--                  hashes, horizons, time, key fingerprint, signature) and holds no
--                  tenant data; a sponsor needs it to check an inclusion proof of their
--                  own events. (What it tells: the platform's total event count over
--                  time.) A signed-in user linked to no client sees none, like the
--                  price catalog.
--   service_role   read (BYPASSRLS): the verifier, proofs, exports
--   anon, proxy,
--   settlement     nothing
--   tessera_sealer no table privilege: it reads the latest checkpoint and appends
--                  through tessera.audit_latest_checkpoint / audit_append_checkpoint
--                  (definer); the owner policies below admit those functions only in a
--                  session whose login is tessera_sealer
--   nobody         UPDATE, DELETE or TRUNCATE: no privilege, and the make_append_only
--                  triggers (ENABLE ALWAYS) refuse the owner and superusers too
ALTER TABLE tessera.audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.audit_checkpoints FORCE ROW LEVEL SECURITY;

CREATE POLICY audit_checkpoints_select_operator_or_sponsor ON tessera.audit_checkpoints
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR pg_catalog.cardinality((SELECT tessera_private.sponsor_client_ids())) > 0);

-- tessera.audit_latest_checkpoint and tessera.audit_append_checkpoint, called by the
-- sealer login (session_user cannot be changed without superuser rights).
CREATE POLICY audit_checkpoints_select_definer_sealer ON tessera.audit_checkpoints
    FOR SELECT TO tessera_owner
    USING ((SELECT SESSION_USER) = 'tessera_sealer'::name);

CREATE POLICY audit_checkpoints_insert_definer_sealer ON tessera.audit_checkpoints
    FOR INSERT TO tessera_owner
    WITH CHECK ((SELECT SESSION_USER) = 'tessera_sealer'::name);

-- Privileges for authenticated: rows narrowed by the policy above. Read only.
GRANT SELECT ON tessera.audit_checkpoints TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read only (the verifier).
GRANT SELECT ON tessera.audit_checkpoints TO service_role;

-- >>> functions/tessera_private.guard_api_key_update.sql
-- tessera_private.guard_api_key_update(): BEFORE UPDATE trigger on tessera.api_keys.
--
-- The only change ever allowed is revocation, once: revoked_at from NULL to a time, with
-- revoked_by (and optionally revoke_reason and replaced_by) set in the same statement;
-- every other column unchanged. So a key can never widen its capabilities, move to
-- another client or workload, lose its expiry or be un-revoked. ENABLE ALWAYS, so it
-- holds for every role (owner included) and under session_replication_role = replica. It
-- compares the whole row minus the revocation columns, so a column added later is
-- protected too.
CREATE FUNCTION tessera_private.guard_api_key_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    revocation CONSTANT text[] := ARRAY['revoked_at', 'revoked_by', 'revoke_reason', 'replaced_by'];
BEGIN
    IF OLD.revoked_at IS NOT NULL OR NEW.revoked_at IS NULL
       OR (pg_catalog.to_jsonb(NEW) - revocation) IS DISTINCT FROM (pg_catalog.to_jsonb(OLD) - revocation) THEN
        RAISE EXCEPTION 'an API key can only be revoked, once; its client, scope, capabilities and expiry never change'
            USING ERRCODE = 'insufficient_privilege',
                  SCHEMA = TG_TABLE_SCHEMA,
                  TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_api_key_update() IS
    'BEFORE UPDATE trigger on tessera.api_keys: only revocation (revoked_at NULL -> time, with revoked_by) is allowed (SQLSTATE 42501 otherwise), for every role.';

REVOKE ALL ON FUNCTION tessera_private.guard_api_key_update() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.guard_batch_transition.sql
-- tessera_private.guard_batch_transition(): BEFORE INSERT OR UPDATE trigger on
-- tessera.batches, the state machine.
--
-- INSERT: a batch starts pending (timestamps stamped here).
-- UPDATE: must be one of the legal transitions
--     pending -> dispatched | failed | expired
--     dispatched -> completed | failed | expired
-- and nothing but state, provider_batch_id (set once, on dispatch) and state_reason may
-- change; a terminal row (completed, failed, expired) never changes again.
-- dispatched_at / finished_at / state_changed_at are stamped here, never supplied.
-- Refusals: SQLSTATE 55000 (object_not_in_prerequisite_state). ENABLE ALWAYS: every
-- role, the owner included, and under session_replication_role = replica.
CREATE FUNCTION tessera_private.guard_batch_transition()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    mutable CONSTANT text[] := ARRAY['state', 'provider_batch_id', 'state_reason',
                                     'dispatched_at', 'finished_at', 'state_changed_at'];
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state IS DISTINCT FROM 'pending' THEN
            RAISE EXCEPTION 'a batch starts pending, not %', pg_catalog.quote_nullable(NEW.state)
                USING ERRCODE = 'object_not_in_prerequisite_state', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME;
        END IF;
        NEW.created_at := pg_catalog.now();
        NEW.state_changed_at := NEW.created_at;
        NEW.dispatched_at := NULL;
        NEW.finished_at := NULL;
        RETURN NEW;
    END IF;

    IF OLD.state IN ('completed', 'failed', 'expired') THEN
        RAISE EXCEPTION 'batch % is % (terminal); it never changes again', OLD.batch_id, OLD.state
            USING ERRCODE = 'object_not_in_prerequisite_state', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME;
    END IF;
    IF NOT ((OLD.state = 'pending' AND NEW.state IN ('dispatched', 'failed', 'expired'))
            OR (OLD.state = 'dispatched' AND NEW.state IN ('completed', 'failed', 'expired'))) THEN
        RAISE EXCEPTION 'batch % cannot go from % to %', OLD.batch_id, OLD.state, pg_catalog.quote_nullable(NEW.state)
            USING ERRCODE = 'object_not_in_prerequisite_state', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                  HINT = 'legal: pending -> dispatched | failed | expired; dispatched -> completed | failed | expired';
    END IF;
    IF (pg_catalog.to_jsonb(NEW) - mutable) IS DISTINCT FROM (pg_catalog.to_jsonb(OLD) - mutable)
       OR (OLD.provider_batch_id IS NOT NULL AND NEW.provider_batch_id IS DISTINCT FROM OLD.provider_batch_id) THEN
        RAISE EXCEPTION 'only the state, its reason and (once) the provider batch id of a batch change'
            USING ERRCODE = 'object_not_in_prerequisite_state', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME;
    END IF;

    NEW.state_changed_at := pg_catalog.now();
    NEW.dispatched_at := CASE WHEN NEW.state = 'dispatched' THEN NEW.state_changed_at ELSE OLD.dispatched_at END;
    NEW.finished_at := CASE WHEN NEW.state IN ('completed', 'failed', 'expired') THEN NEW.state_changed_at END;
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_batch_transition() IS
    'BEFORE INSERT OR UPDATE trigger on tessera.batches: the state machine (pending -> dispatched -> completed | failed | expired; pending -> failed | expired); terminal rows are final; SQLSTATE 55000 otherwise. Stamps the timestamps.';

REVOKE ALL ON FUNCTION tessera_private.guard_batch_transition() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.destroy_batch_secret.sql
-- tessera_private.destroy_batch_secret(): AFTER UPDATE OF state trigger on tessera.batches
-- (WHEN the new state is terminal): delete the batch's settlement secret in the same
-- transaction as the transition, so a settled batch never keeps a sealed header.
--
-- SECURITY DEFINER so that the deletion does not depend on who moved the batch (the
-- settlement job through tessera.transition_batch, a superuser by hand): it runs as
-- tessera_owner, whose FORCE-RLS policy on tessera.batch_secrets admits only the client
-- named by tessera.recording_client_id, which this function sets to the batch's own
-- client for the DELETE and then restores. ENABLE ALWAYS on the table.
CREATE FUNCTION tessera_private.destroy_batch_secret()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    previous text := pg_catalog.current_setting('tessera.recording_client_id', true);
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', NEW.client_id::text, true);
    DELETE FROM tessera.batch_secrets AS s
     WHERE s.client_id = NEW.client_id AND s.batch_id = NEW.batch_id;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(previous, ''), true);
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.destroy_batch_secret() IS
    'AFTER UPDATE trigger on tessera.batches: a batch entering completed / failed / expired loses its settlement secret in the same transaction. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.destroy_batch_secret() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.worker_config_changed.sql
-- tessera_private.worker_config_changed(): AFTER trigger on tessera.workloads (INSERT, and
-- UPDATE changing a mechanic_* flag) and tessera.clients (UPDATE of the kill switch):
-- (and UPDATE moving a workload to another client, whose kill switch then applies):
-- draw a new config version for the workload(s) whose effective worker config changed
-- and NOTIFY channel tessera_worker_config (payload documented in
-- schema/97_workload_settings.sql).
--
-- SECURITY DEFINER: it must work whoever changed the row (a sponsor flipping a mechanic,
-- tessera.set_kill_switch running as the owner, an operator), and no API role may write
-- tessera.workload_settings. As tessera_owner it is still bound by FORCE RLS: it sets
-- tessera.recording_client_id to the changed row's client, which the owner policies on
-- workloads and workload_settings admit (that client only), and restores the previous
-- value before returning. Mechanic columns are found by their mechanic_ prefix, so a
-- mechanic added later is covered without touching this function.
CREATE FUNCTION tessera_private.worker_config_changed()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    previous text := pg_catalog.current_setting('tessera.recording_client_id', true);
    new_version bigint;
    target_workload uuid;
    why text;
BEGIN
    IF TG_TABLE_NAME = 'workloads' THEN
        IF TG_OP = 'UPDATE' AND NEW.client_id IS NOT DISTINCT FROM OLD.client_id AND NOT EXISTS (
               SELECT 1
                 FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) AS n
                 JOIN pg_catalog.jsonb_each(pg_catalog.to_jsonb(OLD)) AS o USING (key)
                WHERE n.key LIKE 'mechanic\_%' AND n.value IS DISTINCT FROM o.value) THEN
            RETURN NULL;  -- a rename or a no-op: the worker's config is unchanged
        END IF;
        target_workload := NEW.workload_id;
        why := CASE WHEN TG_OP = 'INSERT' THEN 'workload_created'
                    WHEN NEW.client_id IS DISTINCT FROM OLD.client_id THEN 'workload_moved'
                    ELSE 'mechanics' END;
    ELSIF TG_TABLE_NAME = 'clients' THEN
        target_workload := NULL;  -- every workload of the client
        why := 'kill_switch';
    ELSE
        RAISE EXCEPTION 'worker_config_changed() is not a trigger for %.%', TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'feature_not_supported';
    END IF;

    PERFORM pg_catalog.set_config('tessera.recording_client_id', NEW.client_id::text, true);
    -- One new version per workload (the sequence never goes back), creating the
    -- settings row with the defaults where the workload has none yet.
    INSERT INTO tessera.workload_settings AS s (client_id, workload_id, config_version)
    SELECT w.client_id, w.workload_id, pg_catalog.nextval('tessera.worker_config_version_seq')
      FROM tessera.workloads AS w
     WHERE w.client_id = NEW.client_id
       AND (target_workload IS NULL OR w.workload_id = target_workload)
    ON CONFLICT ON CONSTRAINT workload_settings_pkey
    DO UPDATE SET config_version = EXCLUDED.config_version, updated_at = pg_catalog.now();
    SELECT pg_catalog.max(s.config_version) INTO new_version
      FROM tessera.workload_settings AS s
     WHERE s.client_id = NEW.client_id
       AND (target_workload IS NULL OR s.workload_id = target_workload);
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(previous, ''), true);

    IF new_version IS NOT NULL THEN
        PERFORM pg_catalog.pg_notify('tessera_worker_config', pg_catalog.jsonb_build_object(
            'client_id', NEW.client_id, 'workload_id', target_workload,
            'config_version', new_version, 'reason', why)::text);
    END IF;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.worker_config_changed() IS
    'AFTER trigger on tessera.workloads (insert, mechanic change) and tessera.clients (kill switch): bump the config version of the affected workloads and NOTIFY tessera_worker_config. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.worker_config_changed() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> schema/92_api_keys.sql
-- tessera.api_keys: the proxy API keys (tk_...) of each client, stored as SHA-256 only.
--
-- A key is created by tessera.create_api_key() (a sponsor of the client or an operator)
-- and returned once; the database keeps only its SHA-256, so neither a reader of this
-- table nor a backup can rebuild a working key. Key format:
--
--     tk_<client_id as 32 hex digits>_<43 base64url characters>
--
-- The secret part is 32 bytes from two gen_random_uuid() calls (PostgreSQL's strong
-- random source; 244 random bits), generated by the database so a caller can never
-- choose a weak key. The client id in the clear lets tessera.verify_api_key() probe
-- (client_id, key_sha256) directly: one index probe, and on Citus one shard, while every
-- key of this table keeps client_id first (same reasoning as reading_share_tokens).
--
-- No pepper (HMAC with a server secret): a pepper protects low-entropy secrets such as
-- passwords against offline guessing; a 244-bit random key cannot be guessed from its
-- hash, so a pepper would add a secret to manage and nothing to the protection.
--
-- What a key may do is fixed when it is created: client, optional workload scope,
-- capabilities and expiry never change (trigger api_keys_guard_update, every role), so a
-- key can never widen itself. The only UPDATE ever allowed is revocation (revoked_at,
-- revoked_by, revoke_reason and, for a rotation, replaced_by, set once). A revoked or
-- expired key fails on the very next tessera.verify_api_key() call: nothing is cached
-- in the database.
CREATE TABLE tessera.api_keys (
    client_id      uuid        NOT NULL,
    api_key_id     uuid        NOT NULL DEFAULT gen_random_uuid(),
    key_sha256     bytea       NOT NULL,
    display_hint   text        NOT NULL,
    name           text        NOT NULL,
    workload_id    uuid,
    capabilities   text[]      NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text        NOT NULL,
    expires_at     timestamptz,
    revoked_at     timestamptz,
    revoked_by     text,
    revoke_reason  text,
    replaced_by    uuid,
    CONSTRAINT api_keys_pkey PRIMARY KEY (client_id, api_key_id),
    -- The verification key (client id from the key's prefix, hash of the whole key).
    CONSTRAINT api_keys_client_hash_key UNIQUE (client_id, key_sha256),
    CONSTRAINT api_keys_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE RESTRICT,
    -- MATCH SIMPLE: a NULL workload_id (key valid for every workload) is not checked.
    CONSTRAINT api_keys_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON DELETE RESTRICT,
    CONSTRAINT api_keys_replaced_by_fkey FOREIGN KEY (client_id, replaced_by)
        REFERENCES tessera.api_keys (client_id, api_key_id) ON DELETE RESTRICT,
    CONSTRAINT api_keys_hash_length CHECK (octet_length(key_sha256) = 32),
    CONSTRAINT api_keys_display_hint_format CHECK (display_hint ~ '^tk_…[A-Za-z0-9_-]{4}$'),
    CONSTRAINT api_keys_name_not_blank CHECK (name ~ '[^[:space:]]' AND char_length(name) <= 200),
    -- The capability vocabulary (docs/keys-and-secrets.md):
    --   proxy       forward requests to the upstream provider through Tessera
    --   batch       submit async batch jobs (M10; stores a settlement secret)
    --   cache       read and write the workload's exact cache
    --   usage_read  read the client's own usage figures
    CONSTRAINT api_keys_capabilities_known CHECK (
        cardinality(capabilities) >= 1
        AND array_position(capabilities, NULL) IS NULL
        AND capabilities <@ ARRAY['proxy', 'batch', 'cache', 'usage_read']::text[]),
    CONSTRAINT api_keys_created_by_not_blank CHECK (created_by ~ '[^[:space:]]' AND char_length(created_by) <= 400),
    CONSTRAINT api_keys_expires_after_created CHECK (expires_at IS NULL OR expires_at > created_at),
    CONSTRAINT api_keys_revocation_complete CHECK (
        (revoked_at IS NULL AND revoked_by IS NULL AND revoke_reason IS NULL AND replaced_by IS NULL)
        OR (revoked_at IS NOT NULL AND revoked_by IS NOT NULL AND revoked_at >= created_at)),
    CONSTRAINT api_keys_revoke_reason_length CHECK (revoke_reason IS NULL OR char_length(revoke_reason) <= 500),
    CONSTRAINT api_keys_not_replaced_by_itself CHECK (replaced_by IS DISTINCT FROM api_key_id)
);

CREATE TRIGGER api_keys_guard_update
    BEFORE UPDATE ON tessera.api_keys
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_api_key_update();
ALTER TABLE tessera.api_keys ENABLE ALWAYS TRIGGER api_keys_guard_update;

COMMENT ON TABLE tessera.api_keys IS
    'Proxy API keys (tk_...). Only the SHA-256 is stored; the raw key is returned once by tessera.create_api_key(). Verified by the proxy through tessera.verify_api_key(). Capabilities, scope and expiry are fixed at creation; the only change is revocation.';
COMMENT ON COLUMN tessera.api_keys.client_id IS 'Owning client; leads every key and is the key''s clear prefix.';
COMMENT ON COLUMN tessera.api_keys.api_key_id IS 'Handle for listing, revoking and rotating; not a secret and not the key.';
COMMENT ON COLUMN tessera.api_keys.key_sha256 IS 'SHA-256 of the whole key text (UTF-8). The raw key is never stored. Readable by no API role.';
COMMENT ON COLUMN tessera.api_keys.display_hint IS 'tk_… plus the key''s last 4 characters, to recognise a key in a list.';
COMMENT ON COLUMN tessera.api_keys.name IS 'Label chosen at creation.';
COMMENT ON COLUMN tessera.api_keys.workload_id IS 'NULL = every workload of the client; else the one workload the key may address.';
COMMENT ON COLUMN tessera.api_keys.capabilities IS 'Sorted, distinct subset of {batch, cache, proxy, usage_read}; fixed at creation.';
COMMENT ON COLUMN tessera.api_keys.created_at IS 'When the key was created.';
COMMENT ON COLUMN tessera.api_keys.created_by IS 'Actor that created it ("<role>:<JWT email>").';
COMMENT ON COLUMN tessera.api_keys.expires_at IS 'The key stops working at this time (NULL: no expiry).';
COMMENT ON COLUMN tessera.api_keys.revoked_at IS 'Set once by tessera.revoke_api_key() / rotate_api_key(); the key stops working.';
COMMENT ON COLUMN tessera.api_keys.revoked_by IS 'Actor that revoked it.';
COMMENT ON COLUMN tessera.api_keys.revoke_reason IS 'Why it was revoked (optional).';
COMMENT ON COLUMN tessera.api_keys.replaced_by IS 'For a rotation: the key that replaced this one.';

-- >>> schema/93_api_key_failures.sql
-- tessera.api_key_failures: failed API key verifications, the throttle's evidence.
--
-- tessera.verify_api_key() appends one row per failure (unknown, malformed, revoked,
-- expired or out-of-scope key) with the presented key's display hint (never the key),
-- the source IP the proxy passed and the time, and writes the same event to
-- tessera.audit_events (action auth_failure; rate_limited when a source reaches the
-- limit). The permanent record is the audit log; this table is the short-lived working
-- set of the throttle and is purged by `tessera-db sweep` after 7 days.
--
-- Throttle without a global lock: a source is refused (SQLSTATE TS429) while it has
-- 20 or more failures in the last 5 minutes. Checking is an index range scan on
-- (source, failed_at) bounded by LIMIT 20, recording is a plain INSERT: no counter row
-- is updated, so concurrent verifications never wait for each other, and failures from
-- different sources never touch the same index entries. Under concurrency a source may
-- overshoot the limit by the number of its in-flight calls; it is refused from then on.
--
-- A calling source without an IP is one source, 'unspecified': leaving out the IP
-- cannot dodge the throttle.
--
-- Platform table, not tenant data (no client_id): failures are mostly for keys that
-- match no client. Under Citus it stays a coordinator-local table, like audit_events.
CREATE TABLE tessera.api_key_failures (
    failure_id  bigint      GENERATED ALWAYS AS IDENTITY,
    source      text        NOT NULL,
    source_ip   inet,
    key_hint    text,
    reason      text        NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_key_failures_pkey PRIMARY KEY (failure_id),
    CONSTRAINT api_key_failures_source_matches_ip CHECK (
        source = COALESCE(host(source_ip), 'unspecified')),
    CONSTRAINT api_key_failures_key_hint_format CHECK (
        key_hint IS NULL OR key_hint ~ '^tk_…[A-Za-z0-9_-]{4}$' OR key_hint = '(malformed)'),
    CONSTRAINT api_key_failures_reason_known CHECK (
        reason IN ('malformed',     -- not a tk_ key nor its hashed form
                   'unknown',       -- well-formed, matches no key
                   'revoked',       -- matches a revoked key
                   'expired',       -- matches an expired key
                   'out_of_scope')) -- valid key, but not for that workload or capability
);

CREATE INDEX api_key_failures_source_time_idx ON tessera.api_key_failures (source, failed_at);
CREATE INDEX api_key_failures_time_idx ON tessera.api_key_failures (failed_at);

COMMENT ON TABLE tessera.api_key_failures IS
    'Failed API key verifications (key hint, source IP, time, reason): the throttle''s working set, purged after 7 days by tessera-db sweep. The permanent record is audit_events (auth_failure / rate_limited).';
COMMENT ON COLUMN tessera.api_key_failures.failure_id IS 'Row id.';
COMMENT ON COLUMN tessera.api_key_failures.source IS 'Throttle bucket: host(source_ip), or ''unspecified'' when the proxy gave no IP.';
COMMENT ON COLUMN tessera.api_key_failures.source_ip IS 'Source IP the proxy passed, if any.';
COMMENT ON COLUMN tessera.api_key_failures.key_hint IS 'tk_… plus the presented key''s last 4 characters, or (malformed); never the key.';
COMMENT ON COLUMN tessera.api_key_failures.reason IS 'malformed | unknown | revoked | expired | out_of_scope.';
COMMENT ON COLUMN tessera.api_key_failures.failed_at IS 'When the verification failed.';

-- >>> schema/94_batches.sql
-- tessera.batches: async batch-arbitrage jobs (mechanic M10, batch_routing) and their
-- state machine.
--
--     pending ──► dispatched ──► completed
--        │            │
--        │            ├────────► failed
--        ├────────────┼────────► failed
--        └────────────┴────────► expired
--
--   pending      created by the proxy; the customer's upstream Authorization header may
--                be stored (sealed) in tessera.batch_secrets
--   dispatched   submitted to the provider's batch API (provider_batch_id known)
--   completed | failed | expired   terminal: final, the row never changes again
--
-- Enforced by trigger batches_guard_transition (ENABLE ALWAYS: every role, the owner
-- included, and under session_replication_role = replica): an UPDATE must be one of the
-- arrows above; identity columns never change; the timestamps are stamped by the
-- trigger, not supplied. Entering a terminal state destroys the batch's settlement
-- secret in the same transaction (trigger batches_destroy_secret_on_terminal).
-- Batches are created and moved only through tessera.create_batch() and
-- tessera.transition_batch(); API roles read them (operators all, sponsors their own).
CREATE TABLE tessera.batches (
    client_id          uuid        NOT NULL,
    batch_id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    workload_id        uuid        NOT NULL,
    provider           text        NOT NULL,
    provider_batch_id  text,
    state              text        NOT NULL DEFAULT 'pending',
    created_at         timestamptz NOT NULL DEFAULT now(),
    dispatched_at      timestamptz,
    finished_at        timestamptz,
    state_changed_at   timestamptz NOT NULL DEFAULT now(),
    state_reason       text,
    CONSTRAINT batches_pkey PRIMARY KEY (client_id, batch_id),
    CONSTRAINT batches_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON DELETE RESTRICT,
    CONSTRAINT batches_state_known CHECK (
        state IN ('pending',      -- created, not yet submitted to the provider
                  'dispatched',   -- submitted to the provider's batch API
                  'completed',    -- terminal: results settled
                  'failed',       -- terminal: the provider or we gave up
                  'expired')),    -- terminal: not settled in time
    CONSTRAINT batches_provider_not_blank CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    CONSTRAINT batches_provider_batch_id_length CHECK (
        provider_batch_id IS NULL OR (provider_batch_id ~ '[^[:space:]]' AND char_length(provider_batch_id) <= 200)),
    CONSTRAINT batches_dispatched_has_provider_id CHECK (
        state IN ('pending', 'expired', 'failed') OR provider_batch_id IS NOT NULL),
    CONSTRAINT batches_finished_iff_terminal CHECK (
        (state IN ('completed', 'failed', 'expired')) = (finished_at IS NOT NULL)),
    CONSTRAINT batches_state_reason_length CHECK (state_reason IS NULL OR char_length(state_reason) <= 500)
);

CREATE INDEX batches_open_idx ON tessera.batches (client_id, created_at)
    WHERE state IN ('pending', 'dispatched');

CREATE TRIGGER batches_guard_transition
    BEFORE INSERT OR UPDATE ON tessera.batches
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_batch_transition();
ALTER TABLE tessera.batches ENABLE ALWAYS TRIGGER batches_guard_transition;

CREATE TRIGGER batches_destroy_secret_on_terminal
    AFTER UPDATE OF state ON tessera.batches
    FOR EACH ROW
    WHEN (NEW.state IN ('completed', 'failed', 'expired'))
    EXECUTE FUNCTION tessera_private.destroy_batch_secret();
ALTER TABLE tessera.batches ENABLE ALWAYS TRIGGER batches_destroy_secret_on_terminal;

COMMENT ON TABLE tessera.batches IS
    'Async batch-arbitrage jobs (M10). State machine pending -> dispatched -> completed | failed | expired (pending may also fail or expire), enforced for every role by trigger batches_guard_transition; terminal states are final and destroy the batch''s settlement secret.';
COMMENT ON COLUMN tessera.batches.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.batches.batch_id IS 'Batch key within the client.';
COMMENT ON COLUMN tessera.batches.workload_id IS 'Workload the batched requests belong to.';
COMMENT ON COLUMN tessera.batches.provider IS 'Upstream provider (openai, anthropic, ...).';
COMMENT ON COLUMN tessera.batches.provider_batch_id IS 'The provider''s batch id, set on dispatch.';
COMMENT ON COLUMN tessera.batches.state IS 'pending | dispatched | completed | failed | expired (the last three terminal).';
COMMENT ON COLUMN tessera.batches.created_at IS 'When the batch was created.';
COMMENT ON COLUMN tessera.batches.dispatched_at IS 'When it was dispatched (stamped by the trigger).';
COMMENT ON COLUMN tessera.batches.finished_at IS 'When it reached a terminal state (stamped by the trigger).';
COMMENT ON COLUMN tessera.batches.state_changed_at IS 'Last state change (stamped by the trigger).';
COMMENT ON COLUMN tessera.batches.state_reason IS 'Why the last transition happened (e.g. the provider''s error), optional.';

-- >>> schema/95_batch_secrets.sql
-- tessera.batch_secrets: the customer's upstream Authorization header of a batch, sealed.
--
-- Never plaintext, not even for one statement: the header is sealed by the caller (the
-- proxy, tessera_db.batch_secrets.seal) BEFORE it is sent to the database, with HPKE
-- (RFC 9180, base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) to
-- the settlement job's public key. So the plaintext never reaches a table, a dead tuple,
-- the WAL, a server log line or a dump, and the database never holds a key that could
-- open it: the proxy holds only the public key, the private keys live in the settlement
-- job's keyring file (outside the database), each with a key id (column key_id).
--
-- Bound to its row: the HPKE info string covers the scheme, key id, secret id, batch id
-- and client id (docs/keys-and-secrets.md), and enters the key schedule, so a sealed
-- value copied to another row (or relabelled with another key id) fails to open.
--
-- The application holds only secret_id. The sealed value leaves the database only
-- through tessera.open_batch_secret() (SECURITY DEFINER, EXECUTE for tessera_settlement
-- only; only while the batch is not terminal; only for the batch's own client; every
-- call writes an audit event). No API role can read the sealed column; no view shows it.
--
-- Destroyed (row deleted) when the batch enters a terminal state (trigger
-- batches_destroy_secret_on_terminal), and by `tessera-db sweep` once older than 48
-- hours whatever the batch's state. Deleted ciphertext can linger in dead tuples, the WAL
-- and backups until they are recycled; it is then still sealed, and `tessera-db secrets
-- rotate --retire` (re-seal under a new key id, then delete the old private key) makes
-- every such copy undecryptable (crypto-shredding).
CREATE TABLE tessera.batch_secrets (
    client_id   uuid        NOT NULL,
    batch_id    uuid        NOT NULL,
    secret_id   uuid        NOT NULL,
    scheme      text        NOT NULL,
    key_id      text        NOT NULL,
    sealed      bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resealed_at timestamptz,
    -- One secret per batch.
    CONSTRAINT batch_secrets_pkey PRIMARY KEY (client_id, batch_id),
    CONSTRAINT batch_secrets_client_secret_key UNIQUE (client_id, secret_id),
    CONSTRAINT batch_secrets_batch_fkey FOREIGN KEY (client_id, batch_id)
        REFERENCES tessera.batches (client_id, batch_id) ON DELETE CASCADE,
    CONSTRAINT batch_secrets_scheme_known CHECK (scheme = 'hpke-x25519-sha256-chacha20poly1305.v1'),
    CONSTRAINT batch_secrets_key_id_format CHECK (key_id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    -- 32-byte encapsulated key + 16-byte tag + 1..8192 bytes of header.
    CONSTRAINT batch_secrets_sealed_length CHECK (octet_length(sealed) BETWEEN 49 AND 8240),
    CONSTRAINT batch_secrets_resealed_after_created CHECK (resealed_at IS NULL OR resealed_at >= created_at)
);

CREATE INDEX batch_secrets_created_idx ON tessera.batch_secrets (created_at);

COMMENT ON TABLE tessera.batch_secrets IS
    'Sealed (HPKE X25519 + ChaCha20-Poly1305) upstream Authorization headers of batches; never plaintext, no key in the database. Opened only via tessera.open_batch_secret() (settlement role, non-terminal batch, own client, audited). Destroyed on the batch''s terminal transition and after 48 h by tessera-db sweep.';
COMMENT ON COLUMN tessera.batch_secrets.client_id IS 'Owning client; bound into the seal.';
COMMENT ON COLUMN tessera.batch_secrets.batch_id IS 'The batch; one secret per batch; bound into the seal.';
COMMENT ON COLUMN tessera.batch_secrets.secret_id IS 'The handle the application keeps; chosen by the sealer before sealing and bound into the seal.';
COMMENT ON COLUMN tessera.batch_secrets.scheme IS 'Sealing scheme and version (hpke-x25519-sha256-chacha20poly1305.v1).';
COMMENT ON COLUMN tessera.batch_secrets.key_id IS 'Id of the settlement key the value is sealed to; bound into the seal.';
COMMENT ON COLUMN tessera.batch_secrets.sealed IS 'HPKE encapsulated key || ciphertext+tag. Readable by no API role.';
COMMENT ON COLUMN tessera.batch_secrets.created_at IS 'When the secret was stored; the sweeper destroys it 48 h later whatever the batch state.';
COMMENT ON COLUMN tessera.batch_secrets.resealed_at IS 'Last re-seal under a new key id (tessera-db secrets rotate).';

-- >>> schema/96_cache_entries.sql
-- tessera.cache_entries: the exact-response cache (mechanic exact_cache).
--
-- Keyed (client_id, workload_id, entry_id), entry_id = SHA-256 of the normalised request
-- body (RFC 8785 JSON canonicalisation: key order, whitespace and number formatting
-- normalised; tessera_db.cache.entry_id). Only that hash and the response body are
-- stored, never the prompt: the hash does not give the body back.
--
-- Isolation is structural: tessera.cache_lookup() / cache_put() take the calling
-- workload's (client_id, workload_id) and run as tessera_owner under FORCE RLS, whose
-- only policy admits the rows of exactly that (client, workload) pair (settings
-- tessera.recording_client_id / tessera.recording_workload_id, set by the function). An
-- identical body in another workload or client has the same entry_id but another key,
-- and is never visible to the lookup.
--
-- Expiry: expires_at = stored_at + the workload's exact_cache_ttl (default 7 days,
-- tessera.workload_settings). A lookup never returns an expired entry, nor one older
-- than the workload's current TTL (a shortened TTL applies at once); `tessera-db sweep`
-- deletes expired rows. A sponsor flushes their workload with tessera.flush_cache().
--
-- UNLOGGED, on purpose: a cache is a copy of what the provider can always recompute,
-- and writes on the request path should be cheap. An unlogged table writes no WAL, so:
-- after a crash (or an immediate shutdown) PostgreSQL empties it, and it is not
-- replicated (a standby has the table but no rows; a promoted standby starts cold).
-- Either way the proxy just misses and calls the provider: correctness never depends on
-- an entry being there. Response bodies therefore never reach the WAL or a standby.
CREATE TABLE tessera.cache_entries (
    client_id      uuid        NOT NULL,
    workload_id    uuid        NOT NULL,
    entry_id       bytea       NOT NULL,
    response_body  bytea       NOT NULL,
    content_type   text        NOT NULL DEFAULT 'application/json',
    stored_at      timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    CONSTRAINT cache_entries_pkey PRIMARY KEY (client_id, workload_id, entry_id),
    -- An unlogged table may reference a logged one (not the other way round).
    CONSTRAINT cache_entries_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON DELETE CASCADE,
    CONSTRAINT cache_entries_entry_id_length CHECK (octet_length(entry_id) = 32),
    -- 10 MiB: the proxy's request/response size bound.
    CONSTRAINT cache_entries_body_size CHECK (octet_length(response_body) <= 10485760),
    CONSTRAINT cache_entries_content_type_format CHECK (content_type ~ '^[a-z0-9.+-]+/[a-z0-9.+-]+(;.{0,100})?$'),
    CONSTRAINT cache_entries_expires_after_stored CHECK (expires_at > stored_at)
);

-- Made UNLOGGED right after creation (the empty table is simply rewritten); written as
-- CREATE TABLE + SET UNLOGGED so the layout tests find the table by its CREATE TABLE.
ALTER TABLE tessera.cache_entries SET UNLOGGED;

CREATE INDEX cache_entries_expires_idx ON tessera.cache_entries (expires_at);

COMMENT ON TABLE tessera.cache_entries IS
    'Exact-response cache, UNLOGGED (emptied after a crash, not replicated: a miss only costs a provider call). Keyed (client_id, workload_id, sha256 of the RFC 8785-normalised request body); never the prompt. Reached through tessera.cache_lookup / cache_put / flush_cache.';
COMMENT ON COLUMN tessera.cache_entries.client_id IS 'Owning client; part of the key.';
COMMENT ON COLUMN tessera.cache_entries.workload_id IS 'Owning workload; part of the key: a lookup sees only its own workload''s entries.';
COMMENT ON COLUMN tessera.cache_entries.entry_id IS 'SHA-256 of the RFC 8785-canonical request body (32 bytes).';
COMMENT ON COLUMN tessera.cache_entries.response_body IS 'The cached provider response, as returned to the caller.';
COMMENT ON COLUMN tessera.cache_entries.content_type IS 'Media type of the response body.';
COMMENT ON COLUMN tessera.cache_entries.stored_at IS 'When the entry was stored.';
COMMENT ON COLUMN tessera.cache_entries.expires_at IS 'stored_at + the workload''s TTL at that time; never returned after it.';

-- >>> schema/97_workload_settings.sql
-- tessera.workload_settings: per-workload settings of the edge worker that are not
-- mechanic flags (the exact-cache TTL), and the workload's worker config version.
--
-- config_version: a monotonically increasing number for the workload's effective worker
-- configuration (tessera.worker_config()). It is drawn from one sequence,
-- tessera.worker_config_version_seq, by trigger whenever the effective config can
-- change: a mechanic_* flag of the workload (trigger workloads_worker_config_changed),
-- the client's kill switch (trigger clients_worker_config_changed, bumps every workload
-- of the client) or a row of this table (set_exact_cache_ttl). Every bump also sends
-- NOTIFY on channel tessera_worker_config with a JSON payload
--     {"client_id": ..., "workload_id": ... | null, "config_version": ..., "reason": ...}
-- (workload_id null = every workload of the client), delivered when the transaction
-- commits, so a worker LISTENing refreshes at once instead of polling (the seed's 60 s
-- bound is then a worst case for a worker that lost its connection).
--
-- A workload without a row here has the defaults (TTL 7 days) and config version 0; the
-- first change creates its row. (Existing workloads therefore need no backfill.) The
-- triggers live in this file because they exist to maintain this table; they are added
-- to the existing tables clients and workloads without altering those tables.
CREATE SEQUENCE tessera.worker_config_version_seq AS bigint START WITH 1 NO CYCLE;
COMMENT ON SEQUENCE tessera.worker_config_version_seq IS
    'Source of tessera.workload_settings.config_version: strictly increasing, never reused.';

CREATE TABLE tessera.workload_settings (
    client_id        uuid        NOT NULL,
    workload_id      uuid        NOT NULL,
    exact_cache_ttl  interval    NOT NULL DEFAULT interval '7 days',
    config_version   bigint      NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workload_settings_pkey PRIMARY KEY (client_id, workload_id),
    -- The settings follow their workload (an operator may move a workload to another
    -- client, or delete it).
    CONSTRAINT workload_settings_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT workload_settings_ttl_range CHECK (
        exact_cache_ttl BETWEEN interval '1 minute' AND interval '30 days'),
    CONSTRAINT workload_settings_config_version_positive CHECK (config_version > 0)
);

CREATE TRIGGER workloads_worker_config_changed
    AFTER INSERT OR UPDATE ON tessera.workloads
    FOR EACH ROW EXECUTE FUNCTION tessera_private.worker_config_changed();
ALTER TABLE tessera.workloads ENABLE ALWAYS TRIGGER workloads_worker_config_changed;

CREATE TRIGGER clients_worker_config_changed
    AFTER UPDATE OF optimisation_kill_switch ON tessera.clients
    FOR EACH ROW
    WHEN (OLD.optimisation_kill_switch IS DISTINCT FROM NEW.optimisation_kill_switch)
    EXECUTE FUNCTION tessera_private.worker_config_changed();
ALTER TABLE tessera.clients ENABLE ALWAYS TRIGGER clients_worker_config_changed;

COMMENT ON TABLE tessera.workload_settings IS
    'Per-workload worker settings (exact-cache TTL) and the workload''s monotonically increasing worker config version; every change NOTIFYs channel tessera_worker_config.';
COMMENT ON COLUMN tessera.workload_settings.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.workload_settings.workload_id IS 'The workload.';
COMMENT ON COLUMN tessera.workload_settings.exact_cache_ttl IS 'Lifetime of exact-cache entries, 1 minute .. 30 days (default 7 days).';
COMMENT ON COLUMN tessera.workload_settings.config_version IS 'Version of the workload''s effective worker config (from tessera.worker_config_version_seq).';
COMMENT ON COLUMN tessera.workload_settings.updated_at IS 'Last change.';

-- >>> functions/tessera_private.record_api_key_failure.sql
-- tessera_private.record_api_key_failure(source_ip, key_hint, reason, client_id,
-- api_key_id): the bookkeeping of one failed verification, for tessera.verify_api_key().
--
-- Appends a row to tessera.api_key_failures (the throttle's working set) and an
-- auth_failure event to tessera.audit_events (client and key when the presented key
-- matched one; the key hint and reason, never the key). When this failure is the one
-- that brings its source to the limit, also a rate_limited event. Returns the number of
-- failures of the source in the current window (at most the limit + in-flight calls).
--
-- Not SECURITY DEFINER and not executable by any API role: it runs inside
-- verify_api_key() as tessera_owner, whose policies on api_key_failures admit only the
-- source named by tessera.api_key_source (set by verify_api_key).
CREATE FUNCTION tessera_private.record_api_key_failure(p_source_ip inet, p_key_hint text, p_reason text,
                                                        p_client_id uuid DEFAULT NULL,
                                                        p_api_key_id uuid DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    -- Keep in step with tessera.verify_api_key (the refusal side of the throttle).
    limit_failures CONSTANT integer := 20;
    window_length CONSTANT interval := interval '5 minutes';
    src text := COALESCE(pg_catalog.host(p_source_ip), 'unspecified');
    recent integer;
BEGIN
    INSERT INTO tessera.api_key_failures (source, source_ip, key_hint, reason)
    VALUES (src, p_source_ip, p_key_hint, p_reason);

    PERFORM tessera_private.write_audit_event(
        p_client_id, 'api_keys', p_api_key_id::text, 'auth_failure', NULL,
        pg_catalog.jsonb_build_object('reason', p_reason, 'key_hint', p_key_hint, 'source', src),
        NULL, p_source_ip);

    SELECT pg_catalog.count(*) INTO recent
      FROM tessera.api_key_failures AS f
     WHERE f.source = src AND f.failed_at > pg_catalog.now() - window_length;
    IF recent = limit_failures THEN
        PERFORM tessera_private.write_audit_event(
            NULL, 'api_keys', NULL, 'rate_limited', NULL,
            pg_catalog.jsonb_build_object('source', src, 'failures', recent,
                                          'window_seconds', pg_catalog.date_part('epoch', window_length)),
            NULL, p_source_ip);
    END IF;
    RETURN recent;
END
$function$;

COMMENT ON FUNCTION tessera_private.record_api_key_failure(inet, text, text, uuid, uuid) IS
    'Record one failed API key verification (api_key_failures row + auth_failure audit event; rate_limited when the source reaches the limit). Called by tessera.verify_api_key only.';

REVOKE ALL ON FUNCTION tessera_private.record_api_key_failure(inet, text, text, uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera.create_api_key.sql
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

-- >>> functions/tessera.revoke_api_key.sql
-- tessera.revoke_api_key(client_id, api_key_id, reason): stop a key, at once and for good.
--
-- Sponsors of the client and operators only. The next tessera.verify_api_key() call
-- with that key fails (reason revoked). Revoking an already revoked key is refused
-- (55000) so a caller learns it was not the one who stopped it. SECURITY DEFINER (API
-- roles hold no UPDATE on tessera.api_keys); the update is audited by the table's
-- audit trigger, and the guard trigger lets it touch only the revocation columns.
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

-- >>> functions/tessera.rotate_api_key.sql
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

-- >>> functions/tessera.verify_api_key.sql
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

-- >>> functions/tessera.create_batch.sql
-- tessera.create_batch(client_id, workload_id, provider): open a pending async batch
-- (mechanic batch_routing) and return its batch_id.
--
-- Callers: the proxy login (tessera_proxy). Refused (42501) when the workload has not
-- opted in to batch_routing or the client's kill switch is engaged (pure pass-through:
-- no mechanic may act), exactly as tessera.record_request refuses a mechanic the
-- customer did not consent to; 23503 when the workload is not the client's.
-- SECURITY DEFINER so the proxy holds no table privilege; as tessera_owner under FORCE
-- RLS it reads and writes only the client named by tessera.recording_client_id, which
-- it sets to p_client_id and clears before returning. Audited by the batches audit
-- trigger.
CREATE FUNCTION tessera.create_batch(p_client_id uuid, p_workload_id uuid, p_provider text)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    opted_in boolean;
    killed boolean;
    new_id uuid;
BEGIN
    IF p_client_id IS NULL OR p_workload_id IS NULL OR p_provider IS NULL THEN
        RAISE EXCEPTION 'create_batch: client, workload and provider are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', p_client_id::text, true);

    SELECT w.mechanic_batch_routing, c.optimisation_kill_switch INTO opted_in, killed
      FROM tessera.workloads AS w
      JOIN tessera.clients AS c ON c.client_id = w.client_id
     WHERE w.client_id = p_client_id AND w.workload_id = p_workload_id;
    IF opted_in IS NULL THEN
        RAISE EXCEPTION 'workload % is not a workload of client %', p_workload_id, p_client_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF killed THEN
        RAISE EXCEPTION 'client %: the optimisation kill switch is engaged; batch routing is off (pure pass-through)', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT opted_in THEN
        RAISE EXCEPTION 'workload % has not opted in to batch_routing', p_workload_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    INSERT INTO tessera.batches AS b (client_id, workload_id, provider)
    VALUES (p_client_id, p_workload_id, p_provider)
    RETURNING b.batch_id INTO new_id;

    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    RETURN new_id;
END
$function$;

COMMENT ON FUNCTION tessera.create_batch(uuid, uuid, text) IS
    'Open a pending async batch for a workload opted in to batch_routing (tessera_proxy only; refused under the kill switch). SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.create_batch(uuid, uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.create_batch(uuid, uuid, text) TO tessera_proxy;

-- >>> functions/tessera.transition_batch.sql
-- tessera.transition_batch(client_id, batch_id, state, provider_batch_id, reason): move a
-- batch along its state machine (schema/94_batches.sql) and return the time of the
-- change.
--
-- Callers: the proxy (dispatch, fail) and the settlement job (complete, fail, expire).
-- The legality of the move is the trigger's (55000 for an illegal or post-terminal
-- move, for every role); this function only finds the batch of that client (P0002
-- otherwise: another client's batch id is "not found"). Entering a terminal state
-- destroys the batch's settlement secret in the same transaction (trigger). SECURITY
-- DEFINER: callers hold no UPDATE privilege; as tessera_owner under FORCE RLS it reaches
-- only the client named by tessera.recording_client_id (set here, cleared after).
CREATE FUNCTION tessera.transition_batch(p_client_id uuid, p_batch_id uuid, p_state text,
                                         p_provider_batch_id text DEFAULT NULL,
                                         p_reason text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed timestamptz;
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    UPDATE tessera.batches AS b
       SET state = p_state,
           provider_batch_id = COALESCE(p_provider_batch_id, b.provider_batch_id),
           state_reason = NULLIF(pg_catalog.btrim(p_reason), '')
     WHERE b.client_id = p_client_id AND b.batch_id = p_batch_id
    RETURNING b.state_changed_at INTO changed;
    IF changed IS NULL THEN
        RAISE EXCEPTION 'batch % of client % not found', p_batch_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    RETURN changed;
END
$function$;

COMMENT ON FUNCTION tessera.transition_batch(uuid, uuid, text, text, text) IS
    'Move a batch along pending -> dispatched -> completed | failed | expired (tessera_proxy, tessera_settlement); terminal states destroy its secret. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.transition_batch(uuid, uuid, text, text, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.transition_batch(uuid, uuid, text, text, text) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.transition_batch(uuid, uuid, text, text, text) TO tessera_settlement;

-- >>> functions/tessera.store_batch_secret.sql
-- tessera.store_batch_secret(client_id, batch_id, secret_id, key_id, sealed): keep the
-- SEALED upstream Authorization header of a running batch; returns secret_id.
--
-- The caller seals before calling (tessera_db.batch_secrets.seal: HPKE to the settlement
-- job's public key, bound to secret id, batch id, client id and key id), so the
-- plaintext never reaches the database, not even as a parameter. One secret per batch
-- (23505 on a second). Refused (55000) once the batch is terminal. Callers: the proxy
-- (tessera_proxy), which holds only the public key. SECURITY DEFINER: no role holds
-- INSERT on tessera.batch_secrets; as tessera_owner under FORCE RLS it reaches only the
-- client named by tessera.recording_client_id (set here, cleared after). The insert is
-- audited by the table's audit trigger (the sealed column excluded).
CREATE FUNCTION tessera.store_batch_secret(p_client_id uuid, p_batch_id uuid, p_secret_id uuid,
                                           p_key_id text, p_sealed bytea)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    batch_state text;
BEGIN
    IF p_client_id IS NULL OR p_batch_id IS NULL OR p_secret_id IS NULL OR p_key_id IS NULL OR p_sealed IS NULL THEN
        RAISE EXCEPTION 'store_batch_secret: client, batch, secret id, key id and sealed value are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', p_client_id::text, true);
    SELECT b.state INTO batch_state
      FROM tessera.batches AS b
     WHERE b.client_id = p_client_id AND b.batch_id = p_batch_id
       FOR SHARE;
    IF batch_state IS NULL THEN
        RAISE EXCEPTION 'batch % of client % not found', p_batch_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF batch_state IN ('completed', 'failed', 'expired') THEN
        RAISE EXCEPTION 'batch % is % (terminal); it takes no secret', p_batch_id, batch_state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    INSERT INTO tessera.batch_secrets (client_id, batch_id, secret_id, scheme, key_id, sealed)
    VALUES (p_client_id, p_batch_id, p_secret_id, 'hpke-x25519-sha256-chacha20poly1305.v1', p_key_id, p_sealed);

    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    RETURN p_secret_id;
END
$function$;

COMMENT ON FUNCTION tessera.store_batch_secret(uuid, uuid, uuid, text, bytea) IS
    'Store the sealed (HPKE) upstream Authorization header of a non-terminal batch (tessera_proxy only); the plaintext never reaches the database. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.store_batch_secret(uuid, uuid, uuid, text, bytea) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.store_batch_secret(uuid, uuid, uuid, text, bytea) TO tessera_proxy;

-- >>> functions/tessera.open_batch_secret.sql
-- tessera.open_batch_secret(client_id, batch_id): hand the settlement job the sealed
-- upstream Authorization header of a running batch. The one way a secret leaves the
-- database.
--
-- Only for tessera_settlement (EXECUTE granted to it alone: sponsors, operators, anon,
-- the proxy and service_role get 42501). Only for the batch's own client: the secret is
-- looked up by (client_id, batch_id) under an owner policy admitting that client alone,
-- and the seal itself is bound to client, batch and secret id, so a row copied across
-- clients does not open either. Only while the batch is not terminal (55000), with the
-- batch row share-locked until the caller's transaction ends, so it cannot turn
-- terminal between this check and the caller's use. P0002 when the batch is not the
-- client's or holds no secret (destroyed or never stored).
--
-- Every successful call writes a secret_revealed audit event (client, batch, secret id
-- and key id; never the secret) in the caller's transaction. The database holds no key:
-- what is returned is still sealed; the settlement job opens it with its private key
-- (tessera_db.batch_secrets.open_sealed). No view exposes this table.
CREATE FUNCTION tessera.open_batch_secret(p_client_id uuid, p_batch_id uuid)
RETURNS TABLE (secret_id uuid, scheme text, key_id text, sealed bytea)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    batch_state text;
    s tessera.batch_secrets;
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    SELECT b.state INTO batch_state
      FROM tessera.batches AS b
     WHERE b.client_id = p_client_id AND b.batch_id = p_batch_id
       FOR SHARE;
    IF batch_state IS NULL THEN
        RAISE EXCEPTION 'batch % of client % not found', p_batch_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF batch_state IN ('completed', 'failed', 'expired') THEN
        RAISE EXCEPTION 'batch % is % (terminal); its secret is destroyed and never released', p_batch_id, batch_state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT x.* INTO s
      FROM tessera.batch_secrets AS x
     WHERE x.client_id = p_client_id AND x.batch_id = p_batch_id;
    IF s.secret_id IS NULL THEN
        RAISE EXCEPTION 'batch % of client % holds no secret (destroyed by the 48-hour sweep, or never stored)', p_batch_id, p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;

    PERFORM tessera_private.write_audit_event(
        p_client_id, 'batch_secrets', s.secret_id::text, 'secret_revealed', NULL,
        pg_catalog.jsonb_build_object('batch_id', p_batch_id, 'key_id', s.key_id, 'batch_state', batch_state));
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);

    RETURN QUERY SELECT s.secret_id, s.scheme, s.key_id, s.sealed;
END
$function$;

COMMENT ON FUNCTION tessera.open_batch_secret(uuid, uuid) IS
    'Release the sealed settlement secret of a non-terminal batch to its own client''s settlement job (tessera_settlement only); audited (secret_revealed) on every call. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.open_batch_secret(uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.open_batch_secret(uuid, uuid) TO tessera_settlement;

-- >>> functions/tessera.batch_secrets_to_reseal.sql
-- tessera.batch_secrets_to_reseal(current_key_id): which secrets are sealed under a key
-- id other than the current one (ids only, never the sealed value), for `tessera-db
-- secrets rotate`.
--
-- tessera_settlement only. SECURITY DEFINER: as tessera_owner under FORCE RLS it reads
-- batch_secrets through the owner policy that admits only rows whose key_id differs from
-- the setting tessera.reseal_current_key_id (set here, cleared after). Returns ids and
-- key ids only; each secret is then opened (audited) and resealed one by one.
CREATE FUNCTION tessera.batch_secrets_to_reseal(p_current_key_id text)
RETURNS TABLE (client_id uuid, batch_id uuid, secret_id uuid, key_id text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
BEGIN
    IF p_current_key_id IS NULL OR p_current_key_id = '' THEN
        RAISE EXCEPTION 'batch_secrets_to_reseal: the current key id is required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.set_config('tessera.reseal_current_key_id', p_current_key_id, true);
    RETURN QUERY
        SELECT s.client_id, s.batch_id, s.secret_id, s.key_id
          FROM tessera.batch_secrets AS s
         WHERE s.key_id <> p_current_key_id
         ORDER BY s.created_at, s.client_id, s.batch_id;
    PERFORM pg_catalog.set_config('tessera.reseal_current_key_id', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.batch_secrets_to_reseal(text) IS
    'Ids of the settlement secrets sealed under a key id other than the current one (tessera_settlement only; never the sealed values). SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.batch_secrets_to_reseal(text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.batch_secrets_to_reseal(text) TO tessera_settlement;

-- >>> functions/tessera.reseal_batch_secret.sql
-- tessera.reseal_batch_secret(client_id, batch_id, secret_id, old_key_id, new_key_id,
-- sealed): replace a secret's sealed value by one sealed under a new key id (key
-- rotation). Returns true when replaced, false when the row no longer holds the old
-- key id (destroyed, or resealed concurrently): compare-and-set, never a blind write.
--
-- tessera_settlement only (it alone holds the private keys needed to reseal). The
-- secret id stays (the application's handle); the batch must not be terminal (a
-- terminal batch has no secret anyway). SECURITY DEFINER; as tessera_owner under FORCE
-- RLS it reaches only the client named by tessera.recording_client_id. The update is
-- audited by the table's audit trigger (sealed excluded, key_id change visible).
CREATE FUNCTION tessera.reseal_batch_secret(p_client_id uuid, p_batch_id uuid, p_secret_id uuid,
                                            p_old_key_id text, p_new_key_id text, p_sealed bytea)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    replaced boolean;
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    UPDATE tessera.batch_secrets AS s
       SET key_id = p_new_key_id, sealed = p_sealed, resealed_at = pg_catalog.now()
     WHERE s.client_id = p_client_id AND s.batch_id = p_batch_id
       AND s.secret_id = p_secret_id AND s.key_id = p_old_key_id
       AND EXISTS (SELECT 1 FROM tessera.batches AS b
                    WHERE b.client_id = s.client_id AND b.batch_id = s.batch_id
                      AND b.state IN ('pending', 'dispatched'));
    replaced := FOUND;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    RETURN replaced;
END
$function$;

COMMENT ON FUNCTION tessera.reseal_batch_secret(uuid, uuid, uuid, text, text, bytea) IS
    'Key rotation: replace a secret''s sealed value by one under a new key id, compare-and-set on the old key id (tessera_settlement only). SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.reseal_batch_secret(uuid, uuid, uuid, text, text, bytea) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.reseal_batch_secret(uuid, uuid, uuid, text, text, bytea) TO tessera_settlement;

-- >>> functions/tessera.cache_lookup.sql
-- tessera.cache_lookup(client_id, workload_id, entry_id): the exact-cache entry of the
-- calling workload for this normalised request body, or no row.
--
-- entry_id = SHA-256 of the RFC 8785-canonical request body (tessera_db.cache.entry_id).
-- The proxy passes the (client_id, workload_id) of the verified API key. The lookup
-- walks only that workload's partition of the cache: it runs as tessera_owner under
-- FORCE RLS, and the owner's only policy on tessera.cache_entries admits rows of the
-- (client, workload) pair in the settings tessera.recording_client_id /
-- tessera.recording_workload_id, which this function sets from its arguments. So an
-- identical body cached by another workload or client is never returned.
--
-- No row when: no entry; the entry has expired (expires_at) or is older than the
-- workload's current TTL (a shortened TTL applies at once); the workload has not opted
-- in to exact_cache; or the client's kill switch is engaged (pure pass-through).
-- tessera_proxy only. STABLE would do, but the settings are written: VOLATILE.
CREATE FUNCTION tessera.cache_lookup(p_client_id uuid, p_workload_id uuid, p_entry_id bytea)
RETURNS TABLE (response_body bytea, content_type text, stored_at timestamptz, expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    PERFORM pg_catalog.set_config('tessera.recording_workload_id', COALESCE(p_workload_id::text, ''), true);
    RETURN QUERY
        SELECT e.response_body, e.content_type, e.stored_at, e.expires_at
          FROM tessera.cache_entries AS e
          JOIN tessera.workloads AS w
            ON w.client_id = e.client_id AND w.workload_id = e.workload_id
          JOIN tessera.clients AS c ON c.client_id = e.client_id
          LEFT JOIN tessera.workload_settings AS s
            ON s.client_id = e.client_id AND s.workload_id = e.workload_id
         WHERE e.client_id = p_client_id AND e.workload_id = p_workload_id AND e.entry_id = p_entry_id
           AND e.expires_at > pg_catalog.now()
           AND e.stored_at + COALESCE(s.exact_cache_ttl, interval '7 days') > pg_catalog.now()
           AND w.mechanic_exact_cache
           AND NOT c.optimisation_kill_switch;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    PERFORM pg_catalog.set_config('tessera.recording_workload_id', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.cache_lookup(uuid, uuid, bytea) IS
    'Exact-cache lookup within the calling workload''s own partition (tessera_proxy only); never an expired entry, nothing under the kill switch or without the exact_cache opt-in. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.cache_lookup(uuid, uuid, bytea) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.cache_lookup(uuid, uuid, bytea) TO tessera_proxy;

-- >>> functions/tessera.cache_put.sql
-- tessera.cache_put(client_id, workload_id, entry_id, response_body, content_type): store
-- (or refresh) the calling workload's exact-cache entry for a normalised request body;
-- returns its expiry.
--
-- Only the hash of the request (entry_id, 32 bytes) and the response body are stored,
-- never the prompt. expires_at = now() + the workload's exact_cache_ttl (default 7
-- days). Refused (42501) when the workload has not opted in to exact_cache or the
-- client's kill switch is engaged; 23503 when the workload is not the client's.
-- tessera_proxy only; SECURITY DEFINER, confined to the (client, workload) pair by the
-- owner policy (settings tessera.recording_client_id / recording_workload_id).
CREATE FUNCTION tessera.cache_put(p_client_id uuid, p_workload_id uuid, p_entry_id bytea,
                                  p_response_body bytea, p_content_type text DEFAULT 'application/json')
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    opted_in boolean;
    killed boolean;
    ttl interval;
    expiry timestamptz;
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(p_client_id::text, ''), true);
    PERFORM pg_catalog.set_config('tessera.recording_workload_id', COALESCE(p_workload_id::text, ''), true);
    SELECT w.mechanic_exact_cache, c.optimisation_kill_switch, COALESCE(s.exact_cache_ttl, interval '7 days')
      INTO opted_in, killed, ttl
      FROM tessera.workloads AS w
      JOIN tessera.clients AS c ON c.client_id = w.client_id
      LEFT JOIN tessera.workload_settings AS s
        ON s.client_id = w.client_id AND s.workload_id = w.workload_id
     WHERE w.client_id = p_client_id AND w.workload_id = p_workload_id;
    IF opted_in IS NULL THEN
        RAISE EXCEPTION 'workload % is not a workload of client %', p_workload_id, p_client_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF killed THEN
        RAISE EXCEPTION 'client %: the optimisation kill switch is engaged; the exact cache is off (pure pass-through)', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT opted_in THEN
        RAISE EXCEPTION 'workload % has not opted in to exact_cache', p_workload_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    expiry := pg_catalog.now() + ttl;
    INSERT INTO tessera.cache_entries AS e
           (client_id, workload_id, entry_id, response_body, content_type, stored_at, expires_at)
    VALUES (p_client_id, p_workload_id, p_entry_id, p_response_body,
            COALESCE(p_content_type, 'application/json'), pg_catalog.now(), expiry)
    ON CONFLICT ON CONSTRAINT cache_entries_pkey DO UPDATE
       SET response_body = EXCLUDED.response_body, content_type = EXCLUDED.content_type,
           stored_at = EXCLUDED.stored_at, expires_at = EXCLUDED.expires_at;

    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    PERFORM pg_catalog.set_config('tessera.recording_workload_id', '', true);
    RETURN expiry;
END
$function$;

COMMENT ON FUNCTION tessera.cache_put(uuid, uuid, bytea, bytea, text) IS
    'Store the calling workload''s exact-cache entry (hash of the normalised body + response; never the prompt), expiring after the workload''s TTL (tessera_proxy only). SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.cache_put(uuid, uuid, bytea, bytea, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.cache_put(uuid, uuid, bytea, bytea, text) TO tessera_proxy;

-- >>> functions/tessera.flush_cache.sql
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

-- >>> functions/tessera.set_exact_cache_ttl.sql
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

-- >>> functions/tessera.worker_config.sql
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
CREATE FUNCTION tessera.worker_config(p_client_id uuid, p_workload_id uuid)
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

-- >>> functions/tessera.sweep.sql
-- tessera.sweep(as_of): the retention sweeper behind `tessera-db sweep`.
--
--   * destroys every settlement secret stored more than 48 hours before as_of, whatever
--     its batch's state (a batch that never settles keeps its secret 48 h at most);
--   * purges exact-cache entries expired at as_of;
--   * purges API key failure rows older than 7 days (the audit log keeps the events).
-- Returns how many rows of each were removed.
--
-- as_of is the injectable clock (tests move it forward instead of sleeping); it may not
-- lie in the past (22023), so a wrong clock can only destroy sooner, never keep longer.
-- SECURITY INVOKER, EXECUTE for service_role only (BYPASSRLS, DELETE on those three
-- tables); the deletions of secrets are audited by the batch_secrets audit trigger.
CREATE FUNCTION tessera.sweep(p_as_of timestamptz DEFAULT now())
RETURNS TABLE (secrets_destroyed bigint, cache_entries_purged bigint, key_failures_purged bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    secrets bigint;
    entries bigint;
    failures bigint;
BEGIN
    IF p_as_of IS NULL OR p_as_of < pg_catalog.now() THEN
        RAISE EXCEPTION 'sweep: as_of must be now or later (got %)', p_as_of
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM tessera.batch_secrets AS s WHERE s.created_at <= p_as_of - interval '48 hours';
    GET DIAGNOSTICS secrets = ROW_COUNT;
    DELETE FROM tessera.cache_entries AS e WHERE e.expires_at <= p_as_of;
    GET DIAGNOSTICS entries = ROW_COUNT;
    DELETE FROM tessera.api_key_failures AS f WHERE f.failed_at <= p_as_of - interval '7 days';
    GET DIAGNOSTICS failures = ROW_COUNT;
    RETURN QUERY SELECT secrets, entries, failures;
END
$function$;

COMMENT ON FUNCTION tessera.sweep(timestamptz) IS
    'Retention sweep (service_role): destroy settlement secrets older than 48 h whatever the batch state, purge expired cache entries and week-old key failures. as_of = injectable clock, never in the past.';

REVOKE ALL ON FUNCTION tessera.sweep(timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.sweep(timestamptz) TO service_role;

-- >>> policies/api_keys.sql
-- Row-level security, policies and grants for tessera.api_keys.
--
--   operator  read every key's metadata (never key_sha256: column grants)
--   sponsor   read own clients' key metadata
--   anon, proxy, settlement  nothing; the proxy verifies through tessera.verify_api_key()
--   create / revoke / rotate only through tessera.create_api_key(), revoke_api_key(),
--             rotate_api_key() (no INSERT/UPDATE for API roles: a key is generated by the
--             database, never chosen by a caller; the guard trigger allows only revocation)
--   owner     (SECURITY DEFINER functions) key rows of clients the JWT caller may manage,
--             and the one row whose hash matches the presented key (verify_api_key)
ALTER TABLE tessera.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.api_keys FORCE ROW LEVEL SECURITY;

CREATE POLICY api_keys_select_operator_or_sponsor ON tessera.api_keys
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY api_keys_select_definer_for_caller ON tessera.api_keys
    FOR SELECT TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY api_keys_insert_definer_for_caller ON tessera.api_keys
    FOR INSERT TO tessera_owner
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY api_keys_update_definer_for_caller ON tessera.api_keys
    FOR UPDATE TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- tessera.verify_api_key: only the row whose stored hash is the presented one (setting
-- tessera.api_key_sha256, hex, set and cleared by verify_api_key).
CREATE POLICY api_keys_select_definer_by_hash ON tessera.api_keys
    FOR SELECT TO tessera_owner
    USING (key_sha256 = (SELECT pg_catalog.decode(
               NULLIF(pg_catalog.current_setting('tessera.api_key_sha256', true), ''), 'hex')));

-- Privileges for authenticated and server-side jobs: read the metadata only; key_sha256
-- is readable by no API role (it is what verify_api_key compares against).
GRANT SELECT (client_id, api_key_id, display_hint, name, workload_id, capabilities, created_at,
              created_by, expires_at, revoked_at, revoked_by, revoke_reason, replaced_by)
    ON tessera.api_keys TO authenticated;
GRANT SELECT (client_id, api_key_id, display_hint, name, workload_id, capabilities, created_at,
              created_by, expires_at, revoked_at, revoked_by, revoke_reason, replaced_by)
    ON tessera.api_keys TO service_role;

-- >>> policies/api_key_failures.sql
-- Row-level security, policies and grants for tessera.api_key_failures.
--
--   operator      read every failure (a platform security log)
--   sponsor, anon, proxy, settlement  nothing (sponsors see their clients' auth_failure
--                 events in audit_events when the presented key was one of theirs)
--   service_role  read, and delete (tessera.sweep purges rows older than 7 days)
--   owner         (tessera.verify_api_key, SECURITY DEFINER) read and append the failures
--                 of the one calling source (setting tessera.api_key_source)
ALTER TABLE tessera.api_key_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.api_key_failures FORCE ROW LEVEL SECURITY;

CREATE POLICY api_key_failures_select_operator ON tessera.api_key_failures
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator()));

CREATE POLICY api_key_failures_select_definer_source ON tessera.api_key_failures
    FOR SELECT TO tessera_owner
    USING (source = (SELECT NULLIF(pg_catalog.current_setting('tessera.api_key_source', true), '')));

CREATE POLICY api_key_failures_insert_definer_source ON tessera.api_key_failures
    FOR INSERT TO tessera_owner
    WITH CHECK (source = (SELECT NULLIF(pg_catalog.current_setting('tessera.api_key_source', true), '')));

-- Privileges for authenticated: read, narrowed to operators by the policy above.
GRANT SELECT ON tessera.api_key_failures TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read and purge. No TRUNCATE for anyone but the owner.
GRANT SELECT, DELETE ON tessera.api_key_failures TO service_role;

-- >>> policies/batches.sql
-- Row-level security, policies and grants for tessera.batches.
--
--   operator      read every batch
--   sponsor       read own clients' batches
--   anon          nothing
--   proxy, settlement  nothing directly: tessera.create_batch() / transition_batch()
--   service_role  read
--   nobody        INSERT, UPDATE or DELETE directly: batches are created and moved only
--                 through the functions, and the transition trigger guards every role
--   owner         (SECURITY DEFINER functions) the batches of the one client named by
--                 tessera.recording_client_id (set by the function acting for it)
ALTER TABLE tessera.batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.batches FORCE ROW LEVEL SECURITY;

CREATE POLICY batches_select_operator_or_sponsor ON tessera.batches
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY batches_select_definer_recording ON tessera.batches
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

CREATE POLICY batches_insert_definer_recording ON tessera.batches
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

CREATE POLICY batches_update_definer_recording ON tessera.batches
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid))
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.batches TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read. No write: use the functions.
GRANT SELECT ON tessera.batches TO service_role;

-- >>> policies/batch_secrets.sql
-- Row-level security, policies and grants for tessera.batch_secrets.
--
--   operator      read the metadata of every secret (ids, key id, times; never `sealed`:
--                 column grants)
--   sponsor       read the metadata of own clients' secrets
--   anon          nothing
--   proxy         nothing directly: stores through tessera.store_batch_secret()
--   settlement    nothing directly: opens through tessera.open_batch_secret() (the only
--                 way a sealed value leaves the database, audited), lists and reseals
--                 through batch_secrets_to_reseal() / reseal_batch_secret()
--   service_role  read the metadata, and delete (tessera.sweep: the 48-hour rule)
--   owner         (SECURITY DEFINER functions and the destroy trigger) the secrets of the
--                 one client named by tessera.recording_client_id; and, for the rotation
--                 listing only, the rows NOT under the key id in
--                 tessera.reseal_current_key_id
ALTER TABLE tessera.batch_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.batch_secrets FORCE ROW LEVEL SECURITY;

CREATE POLICY batch_secrets_select_operator_or_sponsor ON tessera.batch_secrets
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY batch_secrets_select_definer_recording ON tessera.batch_secrets
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

CREATE POLICY batch_secrets_insert_definer_recording ON tessera.batch_secrets
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

CREATE POLICY batch_secrets_update_definer_recording ON tessera.batch_secrets
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid))
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

CREATE POLICY batch_secrets_delete_definer_recording ON tessera.batch_secrets
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- tessera.batch_secrets_to_reseal: rows sealed under another key id than the current one.
CREATE POLICY batch_secrets_select_definer_to_reseal ON tessera.batch_secrets
    FOR SELECT TO tessera_owner
    USING (key_id <> (SELECT NULLIF(pg_catalog.current_setting('tessera.reseal_current_key_id', true), '')));

-- Privileges for authenticated: the metadata only, rows narrowed by the policy above.
GRANT SELECT (client_id, batch_id, secret_id, scheme, key_id, created_at, resealed_at)
    ON tessera.batch_secrets TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): the metadata, and DELETE for the sweeper.
GRANT SELECT (client_id, batch_id, secret_id, scheme, key_id, created_at, resealed_at)
    ON tessera.batch_secrets TO service_role;
GRANT DELETE ON tessera.batch_secrets TO service_role;

-- >>> policies/cache_entries.sql
-- Row-level security, policies and grants for tessera.cache_entries.
--
--   operator      read every entry's metadata (never response_body: column grants)
--   sponsor       read own clients' entry metadata; flush through tessera.flush_cache()
--   anon, settlement  nothing
--   proxy         nothing directly: tessera.cache_lookup() / cache_put()
--   service_role  read the metadata, delete (tessera.sweep purges expired entries)
--   owner         (SECURITY DEFINER functions) lookup / put: the entries of exactly one
--                 (client, workload) pair, from tessera.recording_client_id and
--                 tessera.recording_workload_id; flush: entries of clients the JWT caller
--                 may manage
ALTER TABLE tessera.cache_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.cache_entries FORCE ROW LEVEL SECURITY;

CREATE POLICY cache_entries_select_operator_or_sponsor ON tessera.cache_entries
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY cache_entries_select_definer_workload ON tessera.cache_entries
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid)
           AND workload_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_workload_id', true), '')::uuid));

CREATE POLICY cache_entries_insert_definer_workload ON tessera.cache_entries
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid)
                AND workload_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_workload_id', true), '')::uuid));

CREATE POLICY cache_entries_update_definer_workload ON tessera.cache_entries
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid)
           AND workload_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_workload_id', true), '')::uuid))
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid)
                AND workload_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_workload_id', true), '')::uuid));

-- tessera.flush_cache: the caller's own clients (operators: all).
CREATE POLICY cache_entries_select_definer_for_caller ON tessera.cache_entries
    FOR SELECT TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY cache_entries_delete_definer_for_caller ON tessera.cache_entries
    FOR DELETE TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- Privileges for authenticated: metadata only, rows narrowed by the policy above.
GRANT SELECT (client_id, workload_id, entry_id, content_type, stored_at, expires_at)
    ON tessera.cache_entries TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): metadata, and DELETE for the sweeper.
GRANT SELECT (client_id, workload_id, entry_id, content_type, stored_at, expires_at)
    ON tessera.cache_entries TO service_role;
GRANT DELETE ON tessera.cache_entries TO service_role;

-- >>> policies/workload_settings.sql
-- Row-level security, policies and grants for tessera.workload_settings.
--
--   operator      read every workload's settings
--   sponsor       read own clients' settings; change the TTL through
--                 tessera.set_exact_cache_ttl()
--   anon, proxy, settlement  nothing directly (the proxy reads tessera.worker_config())
--   service_role  read
--   owner         (SECURITY DEFINER functions and the config-version trigger) the
--                 settings of the one client named by tessera.recording_client_id
ALTER TABLE tessera.workload_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.workload_settings FORCE ROW LEVEL SECURITY;

CREATE POLICY workload_settings_select_operator_or_sponsor ON tessera.workload_settings
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY workload_settings_select_definer_recording ON tessera.workload_settings
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

CREATE POLICY workload_settings_insert_definer_recording ON tessera.workload_settings
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

CREATE POLICY workload_settings_update_definer_recording ON tessera.workload_settings
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid))
    WITH CHECK (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- Privileges for authenticated: read, rows narrowed by the policy above.
GRANT SELECT ON tessera.workload_settings TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read.
GRANT SELECT ON tessera.workload_settings TO service_role;

-- >>> functions/tessera_private.audit_coverage.sql
-- tessera_private.audit_coverage(): THE list of which tessera tables are audited, which
-- of their columns are secret, and which tables are exempt and why. One line per table;
-- a reviewer reads this file and nothing else to know what the audit log covers.
--
--   audited = true   tessera_private.audit_row_change() is attached as <table>_audit
--                    and <table>_audit_truncate (ENABLE ALWAYS): every INSERT, UPDATE,
--                    DELETE and TRUNCATE writes tessera.audit_events rows with the
--                    changed columns, minus the secret columns named here (never copied
--                    into an event, not even as a before/after value).
--   audited = false  exempt: the reason is required and says why.
--
-- Adding a table is a one-line change: add its row below (and, in a migration, re-create
-- this function and run SELECT tessera_private.apply_audit_coverage()). The lint
-- tests/lints/0013_table_not_audited.sql fails while any table in schema tessera is
-- missing from this list, while a listed table lacks its triggers (or they are not
-- ENABLE ALWAYS, or carry other secret columns), or while an exemption has no reason.
--
-- IMMUTABLE: a constant list, read by apply_audit_coverage() and by the lint.
CREATE FUNCTION tessera_private.audit_coverage()
RETURNS TABLE (table_name name, audited boolean, secret_columns name[], exempt_reason text)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    VALUES
    --  table                    audited  secret columns   exempt: why
    -- Tenancy (issue 3): clients incl. kill switch and cross-customer opt-in, workloads
    -- incl. mechanic toggles, staff and sponsor contacts.
        ('clients'::name,          true,  '{}'::name[],    NULL::text),
        ('workloads',              true,  '{}',            NULL),
        ('operators',              true,  '{}',            NULL),
        ('client_users',           true,  '{}',            NULL),
    -- Money ledger (issue 4): prices, their provenance, balances, issued readings.
        ('pricing_catalog',        true,  '{}',            NULL),
        ('price_sources',          true,  '{}',            NULL),
        ('price_import_runs',      true,  '{}',            NULL),
        ('balance_transactions',   true,  '{}',            NULL),
        ('monthly_readings',       true,  '{}',            NULL),
        ('reading_share_tokens',   true,  '{token_sha256}', NULL),
    -- Keys, settlement secrets and worker config (issue 6): key creation, revocation and
    -- rotation; batch transitions; a secret's storing, resealing and destruction (never
    -- the sealed value).
        ('api_keys',               true,  '{key_sha256}',  NULL),
        ('batches',                true,  '{}',            NULL),
        ('batch_secrets',          true,  '{sealed}',      NULL),
    -- Exempt.
        ('api_key_failures',       false, NULL,
         'The throttle''s short-lived working set (purged after 7 days): tessera.verify_api_key writes each failure to audit_events itself (auth_failure, and rate_limited when a source reaches the limit), with key hint and source IP.'),
        ('workload_settings',      false, NULL,
         'Its config_version is a derived counter bumped by triggers on workloads and clients, whose changes are audited there (auditing it too would turn one mechanic toggle into two events); its one setting, the exact-cache TTL, changes only through tessera.set_exact_cache_ttl, which writes that audit event itself.'),
        ('cache_entries',          false, NULL,
         'UNLOGGED exact cache, rewritten on the request path and emptied by crashes: a copy the provider can recompute, not a state transition; a sponsor''s flush is audited by tessera.flush_cache itself.'),
        ('price_observations',     false, NULL,
         'Append-only raw copies of public price files, thousands of rows per import; each import is audited as its tessera.price_import_runs row (file name, SHA-256, importer), which the observations reference.'),
        ('optimize_savings',       false, NULL,
         'One append-only row per proxied request: the per-request measurement is itself the audit-grade money record (pricing snapshot, costs, request_id), refused UPDATE/DELETE/TRUNCATE for every role; auditing it would double the proxy''s write path.'),
        ('savings_request_keys',   false, NULL,
         'Append-only idempotency key of optimize_savings (one row per proxied request), written only by tessera.record_request; it carries no state beyond the measurement row.'),
        ('audit_events',           false, NULL,
         'The audit log itself: append-only, hash-stamped and sealed into signed checkpoints; auditing it would recurse.'),
        ('audit_checkpoints',      false, NULL,
         'The signed seal over audit_events, append-only and checked by tessera-db audit verify; auditing it would add an event per seal, so the log would never be fully sealed.')
$function$;

COMMENT ON FUNCTION tessera_private.audit_coverage() IS
    'The declarative audit coverage list: every tessera table, audited (with its secret columns) or exempt (with a reason). Applied by tessera_private.apply_audit_coverage(); checked by lint 0013_table_not_audited.';

REVOKE ALL ON FUNCTION tessera_private.audit_coverage() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- Attach the triggers the list asks for (every table above exists by now: this file is
-- loaded after all of them, see load.sql).
SELECT tessera_private.apply_audit_coverage();

-- Delta, functions/tessera_private.create_savings_partitions.sql: one implementation of
-- monthly partitions (tessera_private.create_monthly_partitions, created above).
CREATE OR REPLACE FUNCTION tessera_private.create_savings_partitions(p_from date, p_months integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RETURN tessera_private.create_monthly_partitions('tessera.optimize_savings'::regclass, p_from, p_months);
END
$function$;

COMMENT ON FUNCTION tessera_private.create_savings_partitions(date, integer) IS
    'Creates the missing monthly (UTC) partitions of tessera.optimize_savings and its DEFAULT partition, each with RLS enabled+forced and the append-only triggers. Re-runnable.';
