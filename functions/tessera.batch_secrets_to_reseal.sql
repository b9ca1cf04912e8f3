-- tessera.batch_secrets_to_reseal(current_key_id): which secrets are sealed under a key
-- id other than the current one (ids only, never the sealed value), for `tessera-db
-- secrets rotate`.
--
-- tessera_settlement only. SECURITY DEFINER: as tessera_owner under FORCE RLS it reads
-- batch_secrets through the owner policy that admits only rows whose key_id differs from
-- the setting tessera.reseal_current_key_id (set here, cleared after). Returns ids and
-- key ids only; each secret is then opened (audited) and resealed one by one.
CREATE FUNCTION tessera.batch_secrets_to_reseal(p_current_key_id text)
RETURNS TABLE (client_id uuid, batch_id uuid, secret_id uuid, key_id text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
BEGIN
    IF p_current_key_id IS NULL OR p_current_key_id = '' THEN
        RAISE EXCEPTION 'batch_secrets_to_reseal: the current key id is required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.set_config('tessera.reseal_current_key_id', p_current_key_id, true);
    RETURN QUERY
        SELECT s.client_id, s.batch_id, s.secret_id, s.key_id
          FROM tessera.batch_secrets AS s
         WHERE s.key_id <> p_current_key_id
         ORDER BY s.created_at, s.client_id, s.batch_id;
    PERFORM pg_catalog.set_config('tessera.reseal_current_key_id', '', true);
END
$function$;

COMMENT ON FUNCTION tessera.batch_secrets_to_reseal(text) IS
    'Ids of the settlement secrets sealed under a key id other than the current one (tessera_settlement only; never the sealed values). SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera.batch_secrets_to_reseal(text) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.batch_secrets_to_reseal(text) TO tessera_settlement;
