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
-- changed is recorded, never what to). Rows of a client being erased write nothing
-- (the erasure event records the counts). Inside a break-glass window
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

    -- A client's erasure (tessera.erase_client) records itself in one erasure event with
    -- the counts per table; an event per deleted or stripped row would copy into the log
    -- the very personal data being erased. Verified, not taken from the setting: only
    -- the transaction that is erasing this row's client (erasing_client_id) skips.
    IF pg_catalog.current_setting('tessera.removal', true) = 'erasure'
       AND (COALESCE(new_full, old_full) ->> 'client_id')::uuid = tessera_private.erasing_client_id() THEN
        RETURN NULL;
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
