-- Schemas and the privileges every later object inherits.
--
--   tessera          application tables and the RPC functions the API may expose.
--   tessera_private  helpers (identity, triggers, guards) and the SECURITY DEFINER
--                    bodies of the RPCs. Never listed in PostgREST's db-schemas, so no
--                    definer body is an RPC of its own (Supabase Security Advisor lints
--                    0028/0029). The API roles get USAGE so that row-level security
--                    policies can call the helpers and the invoker wrappers in tessera
--                    can call their bodies; EXECUTE is granted function by function.

CREATE SCHEMA tessera;
COMMENT ON SCHEMA tessera IS
    'tessera-db application schema: tenancy, ledger and audit tables, plus the RPC functions the API exposes.';

CREATE SCHEMA tessera_private;
COMMENT ON SCHEMA tessera_private IS
    'tessera-db helpers (identity, guards, triggers) and the SECURITY DEFINER bodies behind the RPC wrappers in tessera. Never exposed through the API; USAGE is granted so RLS policies and the wrappers can call them.';

-- Functions are executable by PUBLIC by default. Every function file revokes that
-- explicitly too; this default keeps a forgotten REVOKE from opening a hole.
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- Grouped by grantee (PostgREST fixtures style).

-- Privileges for anonymous: no table; USAGE lets the anonymous surfaces (share-token
-- reading) be granted function by function. USAGE on tessera_private lets the invoker
-- wrapper tessera.reading_by_share_token call its definer body; anon executes nothing
-- else there.
GRANT USAGE ON SCHEMA tessera TO anon;
GRANT USAGE ON SCHEMA tessera_private TO anon;

-- Privileges for authenticated (operators and sponsors, told apart by RLS).
GRANT USAGE ON SCHEMA tessera TO authenticated;
GRANT USAGE ON SCHEMA tessera_private TO authenticated;

-- Privileges for server-side jobs.
GRANT USAGE ON SCHEMA tessera TO service_role;

-- The proxy worker, the settlement job and the audit sealer reach only the functions
-- granted to them.
GRANT USAGE ON SCHEMA tessera TO tessera_proxy, tessera_settlement, tessera_sealer;
