-- The SECURITY DEFINER body behind tessera.break_glass. The exposed schema holds only a
-- SECURITY INVOKER wrapper (functions/tessera.break_glass.sql) that calls this, so no
-- definer body is reachable as an RPC of PostgREST's schema (Supabase Security Advisor
-- lints 0028/0029; tests/lints/0018 and 0019). EXECUTE here for exactly the wrapper's
-- roles.
--
-- tessera_private.break_glass(reason, action, client_id): an operator opens a break-glass window
-- for one reviewed out-of-policy action, for the rest of the current transaction.
--
-- The 'break_glass' audit row is written first, before anything the window permits, in
-- the same transaction (so rolling back the action rolls back nothing of the audit
-- without rolling back the action too, and a committed action always has its row).
-- The row carries the reason, the permitted action (after.action) and, when given, the
-- client acted for. The window is that row: tessera_private.break_glass_reason()
-- finds it by this transaction's txid and the caller's email (a transaction-local
-- setting is only the pointer), so it ends with the transaction and cannot be forged.
-- Every audited row change made while it is open carries the same reason; the windows
-- are listed by the view tessera.break_glass_events.
--
-- Permitted actions (one reviewed kind for now):
--   publish_price  hand-publish a price version (tessera.break_glass_publish_price).
--                  Prices are normally published only by the importer job
--                  (tessera.publish_price, service_role), from multi-source
--                  observations with a confidence score; no operator may write them.
--                  When a provider changes prices and the importer is broken or a
--                  source is wrong, an operator must correct the catalog by hand so
--                  every client's savings are priced right. That bypasses the
--                  multi-source process, so it needs a reason and lands in the
--                  reviewed slice. Operators' ordinary powers (kill switch, workload
--                  toggles, contacts) are already within policy and stay as they are.
--
-- Refused: a caller who is not an operator (42501); a missing or blank reason, or one
-- over 1000 characters (22023); an unknown action (22023); an unknown client (P0002).
-- SECURITY DEFINER: operators hold no INSERT on tessera.audit_events.
CREATE FUNCTION tessera_private.break_glass(p_reason text, p_action text, p_client_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    event bigint;
BEGIN
    IF NOT tessera_private.is_operator() THEN
        RAISE EXCEPTION 'break-glass is for operators only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_reason IS NULL OR p_reason !~ '[^[:space:]]' THEN
        RAISE EXCEPTION 'break-glass needs a reason: say why, in words a reviewer will read'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF char_length(p_reason) > 1000 THEN
        RAISE EXCEPTION 'a break-glass reason is at most 1000 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_action IS NULL OR p_action NOT IN ('publish_price') THEN
        RAISE EXCEPTION 'unknown break-glass action %; known: publish_price', pg_catalog.quote_nullable(p_action)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The owner's policy on clients admits operators' callers to every client.
    IF p_client_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM tessera.clients AS c WHERE c.client_id = p_client_id) THEN
        RAISE EXCEPTION 'client % not found', p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;

    event := tessera_private.write_audit_event(
        p_client_id, 'break_glass', NULL, 'break_glass',
        NULL, pg_catalog.jsonb_build_object('action', p_action), p_reason, NULL);
    PERFORM pg_catalog.set_config('tessera.break_glass_event',
                                  pg_catalog.pg_current_xact_id()::text || ':' || event::text, true);
    RETURN event;
END
$function$;

COMMENT ON FUNCTION tessera_private.break_glass(text, text, uuid) IS
    'Operators only: writes a break_glass audit row (reason, permitted action, client) and opens a window for that action until the transaction ends. Returns the event id.';

REVOKE ALL ON FUNCTION tessera_private.break_glass(text, text, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.break_glass(text, text, uuid) TO authenticated;
