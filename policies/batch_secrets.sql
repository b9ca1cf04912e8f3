-- Row-level security, policies and grants for tessera.batch_secrets.
--
--   operator      read the metadata of every secret (ids, key id, times; never `sealed`:
--                 column grants)
--   sponsor       read the metadata of own clients' secrets
--   anon          nothing
--   proxy         nothing directly: stores through tessera.store_batch_secret()
--   settlement    nothing directly: opens through tessera.open_batch_secret() (the only
--                 way a sealed value leaves the database, audited), lists and reseals
--                 through batch_secrets_to_reseal() / reseal_batch_secret()
--   service_role  read the metadata, and delete (tessera.sweep: the 48-hour rule)
--   owner         (SECURITY DEFINER functions and the destroy trigger) the secrets of the
--                 one client named by tessera.recording_client_id; and, for the rotation
--                 listing only, the rows NOT under the key id in
--                 tessera.reseal_current_key_id
ALTER TABLE tessera.batch_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.batch_secrets FORCE ROW LEVEL SECURITY;

CREATE POLICY batch_secrets_select_operator_or_sponsor ON tessera.batch_secrets
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY batch_secrets_select_definer_recording ON tessera.batch_secrets
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY batch_secrets_insert_definer_recording ON tessera.batch_secrets
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY batch_secrets_update_definer_recording ON tessera.batch_secrets
    FOR UPDATE TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid)
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

CREATE POLICY batch_secrets_delete_definer_recording ON tessera.batch_secrets
    FOR DELETE TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);

-- tessera.batch_secrets_to_reseal: rows sealed under another key id than the current one.
CREATE POLICY batch_secrets_select_definer_to_reseal ON tessera.batch_secrets
    FOR SELECT TO tessera_owner
    USING (key_id <> NULLIF((SELECT pg_catalog.current_setting('tessera.reseal_current_key_id', true)), ''));

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). tessera.erase_client,
-- as the owner, counts the rows of the client this transaction is erasing
-- (tessera_private.erasing_client_id()) for the delete log; they go by ON DELETE CASCADE
-- with their batch.
CREATE POLICY batch_secrets_select_definer_removal ON tessera.batch_secrets
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated: the metadata only, rows narrowed by the policy above.
GRANT SELECT (client_id, batch_id, secret_id, scheme, key_id, created_at, resealed_at)
    ON tessera.batch_secrets TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): the metadata, and DELETE for the sweeper.
GRANT SELECT (client_id, batch_id, secret_id, scheme, key_id, created_at, resealed_at)
    ON tessera.batch_secrets TO service_role;
GRANT DELETE ON tessera.batch_secrets TO service_role;
