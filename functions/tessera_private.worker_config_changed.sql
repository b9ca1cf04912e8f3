-- tessera_private.worker_config_changed(): AFTER trigger on tessera.workloads (INSERT, and
-- UPDATE changing a mechanic_* flag) and tessera.clients (UPDATE of the kill switch):
-- (and UPDATE moving a workload to another client, whose kill switch then applies;
-- and INSERT of a client with the switch already on, issue 15),
-- and tessera.anomalies (an sla_breach inserted or its stack_disabled changed: a stack
-- disabled or re-enabled, issue 15):
-- draw a new config version for the workload(s) whose effective worker config changed
-- and NOTIFY channel tessera_worker_config (payload documented in
-- schema/97_workload_settings.sql). For the kill switch it also keeps the engagement
-- history, tessera.kill_switch_engagements: engaging opens a row, releasing closes it.
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
    disabled boolean;
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
    ELSIF TG_TABLE_NAME = 'anomalies' THEN
        -- Table-specific columns are read through to_jsonb (NEW's shape depends on the
        -- table; plpgsql_check then has nothing to report for the other tables).
        disabled := (pg_catalog.to_jsonb(NEW) ->> 'stack_disabled')::boolean;
        IF TG_OP = 'UPDATE' AND disabled IS NOT DISTINCT FROM (pg_catalog.to_jsonb(OLD) ->> 'stack_disabled')::boolean THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'INSERT' AND NOT disabled THEN
            RETURN NULL;
        END IF;
        target_workload := NEW.workload_id;
        why := CASE WHEN disabled THEN 'stack_disabled' ELSE 'stack_reenabled' END;
    ELSE
        RAISE EXCEPTION 'worker_config_changed() is not a trigger for %.%', TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'feature_not_supported';
    END IF;

    PERFORM pg_catalog.set_config('tessera.recording_client_id', NEW.client_id::text, true);
    IF TG_TABLE_NAME = 'clients' THEN
        IF (pg_catalog.to_jsonb(NEW) ->> 'optimisation_kill_switch')::boolean THEN
            INSERT INTO tessera.kill_switch_engagements (client_id, engaged_by)
            VALUES (NEW.client_id, tessera_private.actor_label())
            ON CONFLICT (client_id) WHERE released_at IS NULL DO NOTHING;
        ELSE
            UPDATE tessera.kill_switch_engagements AS e
               SET released_at = GREATEST(pg_catalog.now(), e.engaged_at), released_by = tessera_private.actor_label()
             WHERE e.client_id = NEW.client_id AND e.released_at IS NULL;
        END IF;
    END IF;
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
    'AFTER trigger on tessera.workloads (insert, mechanic change), tessera.clients (kill switch; keeps tessera.kill_switch_engagements) and tessera.anomalies (stack disabled / re-enabled): bump the config version of the affected workloads and NOTIFY tessera_worker_config. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.worker_config_changed() FROM PUBLIC; -- functions are executable by PUBLIC by default
