-- tessera_private.record_worker_config_version(): AFTER INSERT / UPDATE OF config_version
-- trigger on tessera.workload_settings: append what the new version says to
-- tessera.worker_config_versions -- the kill switch, the opt-ins, the effective
-- mechanics and the disabled stacks, read exactly as tessera.worker_config() reads them
-- (it calls it) -- so the proxy's recorded config version can be checked later.
--
-- SECURITY DEFINER: the version moves whoever changed something (a sponsor's toggle, the
-- kill switch, the SLA job, an operator), and no API role may write the history. As
-- tessera_owner under FORCE RLS it sets tessera.recording_client_id to the row's client
-- (the owner's recording policies admit that client only) and restores the previous
-- value before returning.
CREATE FUNCTION tessera_private.record_worker_config_version()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    previous text := pg_catalog.current_setting('tessera.recording_client_id', true);
    cfg record;
    found_config boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.config_version IS NOT DISTINCT FROM OLD.config_version THEN
        RETURN NULL;
    END IF;
    -- worker_config sets and clears tessera.recording_client_id itself: read first, then
    -- admit the client for the INSERT.
    SELECT c.kill_switch, c.opted_in, c.mechanics, c.disabled_stacks INTO cfg
      FROM tessera.worker_config(NEW.client_id, NEW.workload_id) AS c;
    found_config := FOUND;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', NEW.client_id::text, true);
    IF found_config THEN
        INSERT INTO tessera.worker_config_versions AS v
            (client_id, workload_id, config_version, kill_switch, opted_in, mechanics, disabled_stacks)
        VALUES (NEW.client_id, NEW.workload_id, NEW.config_version, cfg.kill_switch, cfg.opted_in, cfg.mechanics,
                cfg.disabled_stacks)
        ON CONFLICT ON CONSTRAINT worker_config_versions_pkey DO NOTHING;
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(previous, ''), true);
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.record_worker_config_version() IS
    'AFTER trigger on tessera.workload_settings: append the effective worker config of each new config version to tessera.worker_config_versions. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.record_worker_config_version() FROM PUBLIC; -- functions are executable by PUBLIC by default
