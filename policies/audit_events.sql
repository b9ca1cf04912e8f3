-- Row-level security, policies and grants for tessera.audit_events (and its slice, the
-- view tessera.break_glass_events).
--
--   operator       read every event (the cross-customer view)
--   sponsor        read their own clients' events (platform events, client_id NULL,
--                  are operators' only)
--   service_role   read (BYPASSRLS): the sealer, the verifier, exports
--   anon, proxy,
--   settlement     nothing (the proxy writes only through tessera.record_auth_failure)
--   tessera_sealer no privilege; the sealing definer functions read (event_id, txid,
--                  content_hash) as the owner, only in a tessera_sealer login session
--   owner          (the audit trigger and definer functions) insert only while
--                  tessera_private.write_audit_event runs (it sets the transaction-
--                  local tessera.audit_writer around its INSERT); read only this transaction's
--                  own break_glass rows (tessera_private.break_glass_reason)
--   nobody         INSERT directly, UPDATE, DELETE or TRUNCATE: no privilege, and the
--                  make_append_only triggers (ENABLE ALWAYS) on the parent and every
--                  partition refuse the owner and superusers too
-- Partitions carry RLS enabled and forced with no policy and no grant
-- (tessera_private.create_monthly_partitions): a statement naming a partition directly
-- sees nothing, except as a superuser.
ALTER TABLE tessera.audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.audit_events FORCE ROW LEVEL SECURITY;

CREATE POLICY audit_events_select_operator_or_sponsor ON tessera.audit_events
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- The only way a row gets in: tessera_private.write_audit_event, which sets
-- tessera.audit_writer around its one INSERT and clears it after. The BEFORE INSERT
-- trigger then stamps identity and hash whoever the caller was.
CREATE POLICY audit_events_insert_definer_writer ON tessera.audit_events
    FOR INSERT TO tessera_owner
    WITH CHECK ((SELECT pg_catalog.current_setting('tessera.audit_writer', true)) = 'write_audit_event');

-- tessera_private.break_glass_reason: the break-glass row of this very transaction.
CREATE POLICY audit_events_select_definer_own_break_glass ON tessera.audit_events
    FOR SELECT TO tessera_owner
    USING (action = 'break_glass'
           AND txid = (SELECT pg_catalog.pg_current_xact_id_if_assigned()));

-- tessera.audit_sealable_leaves and tessera.audit_append_checkpoint (the sealer, H2's
-- block): every row, but only in a session whose login is tessera_sealer (session_user
-- cannot be changed without superuser rights), and those definer functions return only
-- event_id and content_hash.
CREATE POLICY audit_events_select_definer_sealer ON tessera.audit_events
    FOR SELECT TO tessera_owner
    USING ((SELECT SESSION_USER) = 'tessera_sealer'::name);

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client, reaches only the rows of the client this transaction is
-- erasing (tessera_private.erasing_client_id()) (and, running tessera.retention_run,
-- reads the rows past their window to count what a dropped partition held; rows are
-- never deleted one by one here: retention drops whole sealed months); and may strip the personal columns of the
-- erased client's rows (the append-only guard refuses any other change).
CREATE POLICY audit_events_select_definer_removal ON tessera.audit_events
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id())
           OR occurred_at < (SELECT tessera_private.removal_cutoff('audit_events'))
           -- the erasure's own tombstones (client_id NULL by then), which its UPDATE
           -- must still see; they hold nothing but their place in the tree
           OR erasure_event_id = NULLIF((SELECT pg_catalog.current_setting('tessera.erasure_event_id', true)), '')::bigint);

CREATE POLICY audit_events_update_definer_erasure ON tessera.audit_events
    FOR UPDATE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()))
    WITH CHECK (erasure_event_id IS NOT NULL AND (SELECT tessera_private.erasing_client_id()) IS NOT NULL);

-- Privileges for authenticated: rows narrowed by the policy above. Read only.
GRANT SELECT ON tessera.audit_events TO authenticated;
GRANT SELECT ON tessera.break_glass_events TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read only.
GRANT SELECT ON tessera.audit_events TO service_role;
GRANT SELECT ON tessera.break_glass_events TO service_role;
