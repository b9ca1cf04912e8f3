-- Schemas and the privileges every later object inherits.
--
--   tessera          application tables and the RPC functions the API may expose.
--   tessera_private  helpers (identity, triggers, guards). Never listed in PostgREST's
--                    db-schemas; the API roles get USAGE only so that row-level
--                    security policies can call the helpers while they are evaluated.

CREATE SCHEMA tessera;
COMMENT ON SCHEMA tessera IS
    'tessera-db application schema: tenancy, ledger and audit tables, plus the RPC functions the API exposes.';

CREATE SCHEMA tessera_private;
COMMENT ON SCHEMA tessera_private IS
    'tessera-db helpers (identity, guards, triggers). Never exposed through the API; USAGE is granted only so RLS policies can call the helpers.';

-- Functions are executable by PUBLIC by default. Every function file revokes that
-- explicitly too; this default keeps a forgotten REVOKE from opening a hole.
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- Grouped by grantee (PostgREST fixtures style).

-- Privileges for anonymous: nothing in this issue's tables; USAGE lets the anonymous
-- surfaces (share-token reading, sign-up) be granted function by function later.
GRANT USAGE ON SCHEMA tessera TO anon;

-- Privileges for authenticated (operators and sponsors, told apart by RLS).
GRANT USAGE ON SCHEMA tessera TO authenticated;
GRANT USAGE ON SCHEMA tessera_private TO authenticated;

-- Privileges for server-side jobs.
GRANT USAGE ON SCHEMA tessera TO service_role;

-- The proxy worker, the settlement job and the audit sealer reach only the functions
-- granted to them.
GRANT USAGE ON SCHEMA tessera TO tessera_proxy, tessera_settlement, tessera_sealer;
