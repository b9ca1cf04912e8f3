-- tessera_private.guard_client_erasure_update(): the delete log is written once and
-- completed once (schema/98_client_erasures.sql).
--
--   UPDATE  only in the erasing transaction (txid), only from finished_at NULL to set,
--           leaving the identity columns alone; or, later, attaching the certificate to
--           a finished row that has none. Anything else: 42501.
--   DELETE  only by tessera.retention_run (setting tessera.removal = 'retention') for a
--           row whose window (tessera_private.retention_cutoff) has passed.
-- ENABLE ALWAYS, for every role including the owner and superusers.
CREATE FUNCTION tessera_private.guard_client_erasure_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.finished_at < tessera_private.retention_cutoff('client_erasures') THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'DELETE on tessera.client_erasures is refused: the delete log keeps its rows for their retention window'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.client_id, NEW.erasure_id, NEW.plan_tier, NEW.reason, NEW.initiated_by, NEW.started_at, NEW.txid)
       IS DISTINCT FROM (OLD.client_id, OLD.erasure_id, OLD.plan_tier, OLD.reason, OLD.initiated_by, OLD.started_at, OLD.txid) THEN
        RAISE EXCEPTION 'tessera.client_erasures: who, why and when an erasure started never change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.finished_at IS NULL AND OLD.txid = pg_catalog.pg_current_xact_id_if_assigned() AND NEW.certificate IS NULL THEN
        RETURN NEW;  -- the erasing transaction completes its own row
    END IF;
    IF OLD.finished_at IS NOT NULL AND OLD.certificate IS NULL AND NEW.certificate IS NOT NULL
       AND (NEW.finished_at, NEW.counts, NEW.erasure_event_id, NEW.kept_until)
           IS NOT DISTINCT FROM (OLD.finished_at, OLD.counts, OLD.erasure_event_id, OLD.kept_until) THEN
        RETURN NEW;  -- the signed certificate, attached once
    END IF;
    RAISE EXCEPTION 'tessera.client_erasures: a finished erasure is frozen (only its certificate may be attached, once)'
        USING ERRCODE = 'insufficient_privilege';
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_client_erasure_update() IS
    'Trigger: the delete log is completed once by the erasing transaction, may get its certificate once, and is deleted only past its retention window.';

REVOKE ALL ON FUNCTION tessera_private.guard_client_erasure_update() FROM PUBLIC; -- functions are executable by PUBLIC by default
