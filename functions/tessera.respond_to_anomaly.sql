-- tessera.respond_to_anomaly(client, anomaly, action): the API's door to
-- tessera_private.respond_to_anomaly (acknowledge, reenable_stack, resolve; who may do
-- what is documented and checked there). SECURITY INVOKER and LANGUAGE sql, so the
-- exposed schema holds no SECURITY DEFINER function an API role can run; the private
-- function does the checking.
CREATE FUNCTION tessera.respond_to_anomaly(p_client_id uuid, p_anomaly_id uuid, p_action text)
RETURNS tessera.anomalies
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT * FROM tessera_private.respond_to_anomaly(p_client_id, p_anomaly_id, p_action)
$function$;

COMMENT ON FUNCTION tessera.respond_to_anomaly(uuid, uuid, text) IS
    'Answer an anomaly: acknowledge, reenable_stack (sponsor of the client or operator) or resolve (operator). Invoker wrapper over tessera_private.respond_to_anomaly.';

REVOKE ALL ON FUNCTION tessera.respond_to_anomaly(uuid, uuid, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.respond_to_anomaly(uuid, uuid, text) TO authenticated;
