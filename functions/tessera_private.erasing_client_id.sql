-- tessera_private.erasing_client_id(): the client this transaction is erasing, or NULL.
--
-- An erasure is in progress exactly when tessera.client_erasures holds an unfinished row
-- written by this transaction (txid): tessera.erase_client inserts it first and
-- completes it last. Nothing a caller sets can make this return a client: the row
-- exists only inside erase_client's transaction, and only erase_client (the owner)
-- inserts it. The owner's *_definer_removal / *_definer_erasure policies and the
-- append-only guard admit a client's rows for deletion or stripping only through this.
--
-- Reads client_erasures under the owner's policy client_erasures_select_definer_own_txid.
-- PARALLEL RESTRICTED: the transaction id is the leader's.
CREATE FUNCTION tessera_private.erasing_client_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT e.client_id
      FROM tessera.client_erasures AS e
     WHERE e.txid = pg_catalog.pg_current_xact_id_if_assigned()
       AND e.finished_at IS NULL
$function$;

COMMENT ON FUNCTION tessera_private.erasing_client_id() IS
    'The client whose erasure this transaction is running (an unfinished tessera.client_erasures row with this txid), else NULL.';

REVOKE ALL ON FUNCTION tessera_private.erasing_client_id() FROM PUBLIC; -- functions are executable by PUBLIC by default
