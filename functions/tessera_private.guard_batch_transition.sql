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
