-- Row-level security, policies and grants for tessera.audit_checkpoints.
--
--   operator       read every checkpoint
--   sponsor        read every checkpoint: a checkpoint is a public commitment (sizes,
--                  hashes, horizons, time, key fingerprint, signature) and holds no
--                  tenant data; a sponsor needs it to check an inclusion proof of their
--                  own events. (What it tells: the platform's total event count over
--                  time.) A signed-in user linked to no client sees none, like the
--                  price catalog.
--   service_role   read (BYPASSRLS): the verifier, proofs, exports
--   anon, proxy,
--   settlement     nothing
--   tessera_sealer no table privilege: it reads the latest checkpoint and appends
--                  through tessera.audit_latest_checkpoint / audit_append_checkpoint
--                  (definer); the owner policies below admit those functions only in a
--                  session whose login is tessera_sealer
--   nobody         UPDATE, DELETE or TRUNCATE: no privilege, and the make_append_only
--                  triggers (ENABLE ALWAYS) refuse the owner and superusers too
ALTER TABLE tessera.audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.audit_checkpoints FORCE ROW LEVEL SECURITY;

CREATE POLICY audit_checkpoints_select_operator_or_sponsor ON tessera.audit_checkpoints
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR (SELECT pg_catalog.cardinality(tessera_private.sponsor_client_ids()) > 0));

-- tessera.audit_latest_checkpoint and tessera.audit_append_checkpoint, called by the
-- sealer login (session_user cannot be changed without superuser rights).
CREATE POLICY audit_checkpoints_select_definer_sealer ON tessera.audit_checkpoints
    FOR SELECT TO tessera_owner
    USING ((SELECT SESSION_USER) = 'tessera_sealer'::name);

CREATE POLICY audit_checkpoints_insert_definer_sealer ON tessera.audit_checkpoints
    FOR INSERT TO tessera_owner
    WITH CHECK ((SELECT SESSION_USER) = 'tessera_sealer'::name);

-- Privileges for authenticated: rows narrowed by the policy above. Read only.
-- tessera.retention_remove (retention) reads the checkpoints to find the one that
-- seals a month before dropping it, and records it as the verifier's new starting point.
CREATE POLICY audit_checkpoints_select_definer_retention ON tessera.audit_checkpoints
    FOR SELECT TO tessera_owner
    USING ((SELECT pg_catalog.current_setting('tessera.removal', true)) = 'retention');

GRANT SELECT ON tessera.audit_checkpoints TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read only (the verifier).
GRANT SELECT ON tessera.audit_checkpoints TO service_role;
