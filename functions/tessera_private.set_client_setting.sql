-- tessera_private.set_client_setting(client_id, setting, value): the one body behind the
-- client-controlled portal settings (kill switch, cross-customer opt-in).
--
-- Not executable by any API role: it is reached only through the SECURITY DEFINER
-- functions tessera.set_kill_switch / tessera.set_cross_customer_intelligence, and so
-- runs as tessera_owner, whose row policies on tessera.clients again admit only the
-- caller's own clients. The setting name is checked against a fixed list before it is
-- quoted into the statement.
CREATE FUNCTION tessera_private.set_client_setting(p_client_id uuid, p_setting text, p_value boolean)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    new_value boolean;
BEGIN
    IF p_setting IS NULL OR p_setting NOT IN ('optimisation_kill_switch',
                                              'contributes_to_cross_customer_intelligence') THEN
        RAISE EXCEPTION 'unknown client setting %', pg_catalog.quote_nullable(p_setting)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_value IS NULL THEN
        RAISE EXCEPTION '% must be true or false, not null', p_setting
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Same answer for "no such client" and "not yours": nothing about other tenants leaks.
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to change settings of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    EXECUTE pg_catalog.format(
        'UPDATE tessera.clients SET %1$I = $1 WHERE client_id = $2 RETURNING %1$I', p_setting)
       INTO new_value
      USING p_value, p_client_id;

    -- EXECUTE does not set FOUND; the columns are NOT NULL, so NULL means no row.
    IF new_value IS NULL THEN
        RAISE EXCEPTION 'client % not found', p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN new_value;
END
$function$;

COMMENT ON FUNCTION tessera_private.set_client_setting(uuid, text, boolean) IS
    'Shared body of the portal-setting functions: checks the caller may manage the client, then sets one whitelisted boolean column.';

REVOKE ALL ON FUNCTION tessera_private.set_client_setting(uuid, text, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
