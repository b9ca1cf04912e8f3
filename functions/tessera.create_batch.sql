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
