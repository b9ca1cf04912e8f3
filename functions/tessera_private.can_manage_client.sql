-- tessera_private.can_manage_client(client_id): may the caller change this client's
-- portal settings (kill switch, cross-customer opt-in)? Operators always; sponsors for
-- their own clients. Deliberately consults nothing else: the kill switch is
-- contract-codified and must never depend on balance, plan or seat status.
CREATE FUNCTION tessera_private.can_manage_client(p_client_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT p_client_id IS NOT NULL
       AND (tessera_private.is_operator()
            OR p_client_id = ANY (tessera_private.sponsor_client_ids()))
$function$;

COMMENT ON FUNCTION tessera_private.can_manage_client(uuid) IS
    'True when the caller is an operator or a sponsor of the client. Used by the portal-setting functions and by the owner''s policies on tessera.clients.';

REVOKE ALL ON FUNCTION tessera_private.can_manage_client(uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
