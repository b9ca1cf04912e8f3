-- Frozen migration 0008_lifecycle, downgrade: restores 0007's guard, stamp, audit trigger
-- and coverage list and drops the lifecycle objects. Refused (23502) once an erasure
-- left tombstones: their payload is gone and cannot be restored.

DROP FUNCTION tessera.retention_run(timestamptz, boolean);
DROP FUNCTION tessera.retention_remove(timestamptz);
DROP FUNCTION tessera.erase_client(uuid, text);

DROP POLICY api_keys_select_definer_removal ON tessera.api_keys;
DROP POLICY api_keys_delete_definer_removal ON tessera.api_keys;
DROP POLICY audit_checkpoints_select_definer_retention ON tessera.audit_checkpoints;
DROP POLICY audit_events_select_definer_removal ON tessera.audit_events;
DROP POLICY audit_events_update_definer_erasure ON tessera.audit_events;
DROP POLICY balance_transactions_select_definer_removal ON tessera.balance_transactions;
DROP POLICY balance_transactions_delete_definer_removal ON tessera.balance_transactions;
DROP POLICY balance_transactions_update_definer_erasure ON tessera.balance_transactions;
DROP POLICY batch_secrets_select_definer_removal ON tessera.batch_secrets;
DROP POLICY batches_select_definer_removal ON tessera.batches;
DROP POLICY batches_delete_definer_removal ON tessera.batches;
DROP POLICY cache_entries_select_definer_removal ON tessera.cache_entries;
DROP POLICY cache_entries_delete_definer_removal ON tessera.cache_entries;
DROP POLICY client_users_select_definer_removal ON tessera.client_users;
DROP POLICY client_users_delete_definer_removal ON tessera.client_users;
DROP POLICY clients_select_definer_removal ON tessera.clients;
DROP POLICY clients_delete_definer_removal ON tessera.clients;
DROP POLICY clients_update_definer_erasure ON tessera.clients;
DROP POLICY monthly_readings_select_definer_removal ON tessera.monthly_readings;
DROP POLICY monthly_readings_delete_definer_removal ON tessera.monthly_readings;
DROP POLICY monthly_readings_update_definer_erasure ON tessera.monthly_readings;
DROP POLICY optimize_savings_select_definer_removal ON tessera.optimize_savings;
DROP POLICY optimize_savings_delete_definer_removal ON tessera.optimize_savings;
DROP POLICY optimize_savings_update_definer_erasure ON tessera.optimize_savings;
DROP POLICY reading_share_tokens_select_definer_removal ON tessera.reading_share_tokens;
DROP POLICY reading_share_tokens_delete_definer_removal ON tessera.reading_share_tokens;
DROP POLICY savings_dead_letters_select_definer_removal ON tessera.savings_dead_letters;
DROP POLICY savings_dead_letters_delete_definer_removal ON tessera.savings_dead_letters;
DROP POLICY savings_request_keys_select_definer_removal ON tessera.savings_request_keys;
DROP POLICY savings_request_keys_delete_definer_removal ON tessera.savings_request_keys;
DROP POLICY workload_settings_select_definer_removal ON tessera.workload_settings;
DROP POLICY workloads_select_definer_removal ON tessera.workloads;
DROP POLICY workloads_delete_definer_removal ON tessera.workloads;
DROP POLICY workloads_update_definer_erasure ON tessera.workloads;

ALTER TABLE tessera.audit_events DROP CONSTRAINT audit_events_erased_by_later_event;
ALTER TABLE tessera.audit_events DROP CONSTRAINT audit_events_complete_unless_erased;
ALTER TABLE tessera.audit_events DROP CONSTRAINT audit_events_action_known;
ALTER TABLE tessera.audit_events ADD CONSTRAINT audit_events_action_known CHECK (
        action IN ('insert', 'update', 'delete', 'truncate', 'break_glass', 'override', 'auth_failure',
                   'rate_limited', 'secret_revealed', 'secret_destroyed'));
ALTER TABLE tessera.audit_events
    ALTER COLUMN entity SET NOT NULL,
    ALTER COLUMN action SET NOT NULL,
    ALTER COLUMN actor_role SET NOT NULL,
    ALTER COLUMN actor_session_role SET NOT NULL,
    ALTER COLUMN request_id SET NOT NULL;
ALTER TABLE tessera.audit_events DROP COLUMN erasure_event_id;
COMMENT ON COLUMN tessera.audit_events.action IS 'insert | update | delete | truncate | break_glass | override | auth_failure | rate_limited | secret_revealed | secret_destroyed.';

-- >>> functions/tessera_private.refuse_append_only_change.sql (0007's)
-- tessera_private.refuse_append_only_change(): trigger body that refuses UPDATE, DELETE
-- and TRUNCATE on an append-only table, for every role, the owner included.
--
-- Attached by tessera_private.make_append_only() as statement-level triggers (so even
-- an UPDATE that matches or changes nothing is refused) and row-level triggers (cloned
-- to every partition, so a statement aimed at a partition is refused too), all ENABLE
-- ALWAYS so session_replication_role = replica cannot switch them off. Privileges are
-- the first line (no UPDATE/DELETE/TRUNCATE is granted); this is the second.
CREATE OR REPLACE FUNCTION tessera_private.refuse_append_only_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RAISE EXCEPTION '% on %.% is refused: the table is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              SCHEMA = TG_TABLE_SCHEMA,
              TABLE = TG_TABLE_NAME,
              HINT = 'Append a correcting row instead of changing history.';
END
$function$;

COMMENT ON FUNCTION tessera_private.refuse_append_only_change() IS
    'Trigger body: refuses UPDATE/DELETE/TRUNCATE on append-only tables (SQLSTATE 42501), for every role.';

REVOKE ALL ON FUNCTION tessera_private.refuse_append_only_change() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.stamp_audit_event.sql (0007's)
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
CREATE OR REPLACE FUNCTION tessera_private.stamp_audit_event()
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

-- >>> functions/tessera_private.audit_row_change.sql (0007's)
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

DROP TABLE tessera.client_erasures;
DROP FUNCTION tessera_private.erased_tag(bytea, text);
DROP FUNCTION tessera_private.erasing_client_id();
DROP FUNCTION tessera_private.guard_client_erasure_update();
DROP FUNCTION tessera_private.removal_cutoff(name);
DROP FUNCTION tessera_private.retention_cutoff(name);
DROP FUNCTION tessera.retention_classes();

-- >>> functions/tessera_private.audit_coverage.sql (0007's)
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
CREATE OR REPLACE FUNCTION tessera_private.audit_coverage()
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
        ('savings_dead_letters',   false, NULL,
         'Append-only record of refused measurements and their resolutions, written only by tessera.record_requests / replay_dead_letters: each row is itself the event (what was refused, why, when, by which role); auditing it would double the hot path''s refusals.'),
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
