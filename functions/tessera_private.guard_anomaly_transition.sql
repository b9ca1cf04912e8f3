-- tessera_private.guard_anomaly_transition(): BEFORE UPDATE trigger on tessera.anomalies,
-- the state machine (issue 15), for every role, the owner included (ENABLE ALWAYS):
--
--   state            open -> acknowledged -> resolved, one step at a time; a row may also
--                    keep its state. Anything else (open -> resolved, back to open,
--                    resolved -> acknowledged, an unknown state) is refused: 23514,
--                    constraint anomalies_state_transition.
--   stack_disabled   true -> false only (a re-enable); a stack is never disabled again
--                    by an UPDATE (a new breach is a new anomaly).
--   what it says     client, id, kind, workload, mechanics, dedupe key, details and
--                    opened_at never change (23514, anomalies_immutable).
--   stamps           acknowledged_at/_by, resolved_at/_by, reenabled_at/_by are set
--                    here, from the clock and tessera_private.actor_label(), on the
--                    transition that earns them, and otherwise kept: a caller cannot
--                    forge or rewrite who did what.
-- The generic audit trigger then records the transition with its actor.
CREATE FUNCTION tessera_private.guard_anomaly_transition()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF NEW.client_id IS DISTINCT FROM OLD.client_id OR NEW.anomaly_id IS DISTINCT FROM OLD.anomaly_id
       OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.workload_id IS DISTINCT FROM OLD.workload_id
       OR NEW.mechanics IS DISTINCT FROM OLD.mechanics OR NEW.dedupe_key IS DISTINCT FROM OLD.dedupe_key
       OR NEW.details IS DISTINCT FROM OLD.details OR NEW.opened_at IS DISTINCT FROM OLD.opened_at THEN
        RAISE EXCEPTION 'anomaly %: only its state and stack_disabled may change', OLD.anomaly_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_immutable',
                  TABLE = 'anomalies', SCHEMA = 'tessera';
    END IF;
    IF NOT (NEW.state IS NOT DISTINCT FROM OLD.state
            OR (OLD.state = 'open' AND NEW.state = 'acknowledged')
            OR (OLD.state = 'acknowledged' AND NEW.state = 'resolved')) THEN
        RAISE EXCEPTION 'anomaly %: illegal transition % -> % (open -> acknowledged -> resolved)',
            OLD.anomaly_id, OLD.state, COALESCE(NEW.state, 'NULL')
            USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_state_transition',
                  TABLE = 'anomalies', SCHEMA = 'tessera';
    END IF;
    IF NEW.stack_disabled IS DISTINCT FROM OLD.stack_disabled AND NOT (OLD.stack_disabled AND NEW.stack_disabled = false) THEN
        RAISE EXCEPTION 'anomaly %: a stack is only ever re-enabled, never disabled again', OLD.anomaly_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'anomalies_state_transition',
                  TABLE = 'anomalies', SCHEMA = 'tessera';
    END IF;

    NEW.acknowledged_at := OLD.acknowledged_at;
    NEW.acknowledged_by := OLD.acknowledged_by;
    NEW.resolved_at := OLD.resolved_at;
    NEW.resolved_by := OLD.resolved_by;
    NEW.reenabled_at := OLD.reenabled_at;
    NEW.reenabled_by := OLD.reenabled_by;
    IF OLD.state = 'open' AND NEW.state = 'acknowledged' THEN
        NEW.acknowledged_at := pg_catalog.now();
        NEW.acknowledged_by := tessera_private.actor_label();
    ELSIF OLD.state = 'acknowledged' AND NEW.state = 'resolved' THEN
        NEW.resolved_at := pg_catalog.now();
        NEW.resolved_by := tessera_private.actor_label();
    END IF;
    IF OLD.stack_disabled AND NOT NEW.stack_disabled THEN
        NEW.reenabled_at := pg_catalog.now();
        NEW.reenabled_by := tessera_private.actor_label();
    END IF;
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_anomaly_transition() IS
    'BEFORE UPDATE trigger on tessera.anomalies: only open -> acknowledged -> resolved and a stack re-enable; what the anomaly says never changes; stamps who and when.';

REVOKE ALL ON FUNCTION tessera_private.guard_anomaly_transition() FROM PUBLIC; -- functions are executable by PUBLIC by default
