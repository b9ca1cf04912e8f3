-- Row-level security, policies and grants for tessera.api_keys.
--
--   operator  read every key's metadata (never key_sha256: column grants)
--   sponsor   read own clients' key metadata
--   anon, proxy, settlement  nothing; the proxy verifies through tessera.verify_api_key()
--   create / revoke / rotate only through tessera.create_api_key(), revoke_api_key(),
--             rotate_api_key() (no INSERT/UPDATE for API roles: the functions check the
--             caller and the key's shape, and the guard trigger allows only revocation)
--   owner     (SECURITY DEFINER functions) two disjoint contexts, each admitted by its own
--             setting, which only its own functions set:
--             * key management (create / revoke / rotate_api_key set
--               tessera.managing_client_id): key rows of that one client, and only if the
--               JWT caller may manage it;
--             * verification (verify_api_key sets tessera.api_key_sha256): the one row
--               whose hash is the presented one.
--             Permissive policies for the same role and command are OR'd; gating the
--             management policies on their setting means a verify (no JWT, or any JWT the
--             session carries) never evaluates is_operator() / sponsor_client_ids() and
--             never sees a second key. The gate is an AND: it only ever narrows.
ALTER TABLE tessera.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.api_keys FORCE ROW LEVEL SECURITY;

CREATE POLICY api_keys_select_operator_or_sponsor ON tessera.api_keys
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

-- Key management (create / revoke / rotate_api_key): IS NOT DISTINCT FROM, not =, so the
-- gate is false, not NULL, without the setting and the AND stops before the helpers.
CREATE POLICY api_keys_select_definer_for_caller ON tessera.api_keys
    FOR SELECT TO tessera_owner
    USING (client_id IS NOT DISTINCT FROM NULLIF((SELECT pg_catalog.current_setting('tessera.managing_client_id', true)), '')::uuid
           AND ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids())))));

CREATE POLICY api_keys_insert_definer_for_caller ON tessera.api_keys
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id IS NOT DISTINCT FROM NULLIF((SELECT pg_catalog.current_setting('tessera.managing_client_id', true)), '')::uuid
                AND ((SELECT tessera_private.is_operator())
                     OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids())))));

CREATE POLICY api_keys_update_definer_for_caller ON tessera.api_keys
    FOR UPDATE TO tessera_owner
    USING (client_id IS NOT DISTINCT FROM NULLIF((SELECT pg_catalog.current_setting('tessera.managing_client_id', true)), '')::uuid
           AND ((SELECT tessera_private.is_operator())
                OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids())))))
    WITH CHECK (client_id IS NOT DISTINCT FROM NULLIF((SELECT pg_catalog.current_setting('tessera.managing_client_id', true)), '')::uuid
                AND ((SELECT tessera_private.is_operator())
                     OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids())))));

-- Verification (tessera.verify_api_key): only the row whose stored hash is the presented
-- one (setting tessera.api_key_sha256, hex, set and cleared by verify_api_key).
CREATE POLICY api_keys_select_definer_by_hash ON tessera.api_keys
    FOR SELECT TO tessera_owner
    USING (key_sha256 = pg_catalog.decode(
               NULLIF((SELECT pg_catalog.current_setting('tessera.api_key_sha256', true)), ''), 'hex'));

-- Lifecycle (issue 14; tessera.retention_classes(), docs/erasure.md). The owner,
-- running tessera.erase_client, reaches only the rows of the client this transaction is
-- erasing (tessera_private.erasing_client_id()).
CREATE POLICY api_keys_select_definer_removal ON tessera.api_keys
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

CREATE POLICY api_keys_delete_definer_removal ON tessera.api_keys
    FOR DELETE TO tessera_owner
    USING (client_id = (SELECT tessera_private.erasing_client_id()));

-- Privileges for authenticated and server-side jobs: read the metadata only; key_sha256
-- is readable by no API role (it is what verify_api_key compares against).
GRANT SELECT (client_id, api_key_id, display_hint, name, workload_id, capabilities, created_at,
              created_by, expires_at, revoked_at, revoked_by, revoke_reason, replaced_by)
    ON tessera.api_keys TO authenticated;
GRANT SELECT (client_id, api_key_id, display_hint, name, workload_id, capabilities, created_at,
              created_by, expires_at, revoked_at, revoked_by, revoke_reason, replaced_by)
    ON tessera.api_keys TO service_role;
