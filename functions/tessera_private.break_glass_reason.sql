-- tessera_private.break_glass_reason(action): the reason of the break-glass window open
-- in the current transaction, or NULL when there is none.
--
-- A window is opened by tessera.break_glass(), which writes a 'break_glass' audit row
-- and notes '<txid>:<event_id>' in the transaction-local setting
-- tessera.break_glass_event. The setting is only a hint (anyone can set a setting):
-- the window exists only if that audit row exists, belongs to this very transaction
-- (txid), names the caller's own JWT email and, when p_action is given, permits that
-- action. Forged settings therefore open nothing, and a window never outlives its
-- transaction (commit or rollback ends it; a later transaction has another txid).
--
-- Runs as the caller, which is always tessera_owner (the definer functions and the
-- audit row trigger): the owner's only SELECT policy on tessera.audit_events shows
-- exactly this transaction's break_glass rows. Granted to nobody.
CREATE FUNCTION tessera_private.break_glass_reason(p_action text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    hint text := pg_catalog.current_setting('tessera.break_glass_event', true);
    this_txid xid8;
    found_reason text;
BEGIN
    IF hint IS NULL OR hint !~ '^[0-9]+:[0-9]+$' THEN
        RETURN NULL;
    END IF;
    this_txid := pg_catalog.pg_current_xact_id_if_assigned();
    IF this_txid IS NULL OR pg_catalog.split_part(hint, ':', 1) <> this_txid::text THEN
        RETURN NULL;
    END IF;
    SELECT e.reason INTO found_reason
      FROM tessera.audit_events AS e
     WHERE e.event_id = pg_catalog.split_part(hint, ':', 2)::bigint
       AND e.txid = this_txid
       AND e.action = 'break_glass'
       AND e.actor_email IS NOT DISTINCT FROM tessera_private.jwt_email()
       AND (p_action IS NULL OR e.after ->> 'action' = p_action);
    RETURN found_reason;
END
$function$;

COMMENT ON FUNCTION tessera_private.break_glass_reason(text) IS
    'Reason of the break-glass window opened by tessera.break_glass in this transaction by this caller (for this action, if given); NULL when none. Verified against the audit row, not the setting.';

REVOKE ALL ON FUNCTION tessera_private.break_glass_reason(text) FROM PUBLIC; -- functions are executable by PUBLIC by default
