-- tessera_private.destroy_batch_secret(): AFTER UPDATE OF state trigger on tessera.batches
-- (WHEN the new state is terminal): delete the batch's settlement secret in the same
-- transaction as the transition, so a settled batch never keeps a sealed header.
--
-- SECURITY DEFINER so that the deletion does not depend on who moved the batch (the
-- settlement job through tessera.transition_batch, a superuser by hand): it runs as
-- tessera_owner, whose FORCE-RLS policy on tessera.batch_secrets admits only the client
-- named by tessera.recording_client_id, which this function sets to the batch's own
-- client for the DELETE and then restores. ENABLE ALWAYS on the table.
CREATE FUNCTION tessera_private.destroy_batch_secret()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    previous text := pg_catalog.current_setting('tessera.recording_client_id', true);
BEGIN
    PERFORM pg_catalog.set_config('tessera.recording_client_id', NEW.client_id::text, true);
    DELETE FROM tessera.batch_secrets AS s
     WHERE s.client_id = NEW.client_id AND s.batch_id = NEW.batch_id;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', COALESCE(previous, ''), true);
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.destroy_batch_secret() IS
    'AFTER UPDATE trigger on tessera.batches: a batch entering completed / failed / expired loses its settlement secret in the same transaction. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.destroy_batch_secret() FROM PUBLIC; -- functions are executable by PUBLIC by default
