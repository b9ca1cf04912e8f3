-- tessera-db manifest: every SQL file of the declared schema, each listed exactly once,
-- in dependency order. `psql -f load.sql` builds a database from scratch; the Python
-- loader (tessera_db/manifest.py) reads the same list, and the frozen migrations under
-- alembic/sql/ are generated from it. tests/test_manifest.py checks that every file under
-- roles/, schema/, functions/ and policies/ appears here once.
\set ON_ERROR_STOP on

-- Bootstrap (superuser or deploy login): cluster roles and the database grant.
\ir roles/roles.sql
\ir roles/database_grants.sql

-- Everything below is created as, and owned by, tessera_owner.
SET ROLE tessera_owner;

-- Schemas and default privileges
\ir schema/00_schemas.sql

-- Helpers that touch no table
\ir functions/tessera_private.jwt_claims.sql
\ir functions/tessera_private.jwt_email.sql
\ir functions/tessera_private.touch_updated_at.sql

-- Tables
\ir schema/10_clients.sql
\ir schema/20_workloads.sql
\ir schema/30_operators.sql
\ir schema/40_client_users.sql

-- Identity helpers and guards (read the tables above)
\ir functions/tessera_private.is_operator.sql
\ir functions/tessera_private.sponsor_client_ids.sql
\ir functions/tessera_private.can_manage_client.sql
\ir functions/tessera_private.guard_workload_sponsor_update.sql
\ir functions/tessera_private.set_client_setting.sql

-- API functions
\ir functions/tessera.set_kill_switch.sql
\ir functions/tessera.set_cross_customer_intelligence.sql

-- Row-level security, policies and grants, one file per table
\ir policies/clients.sql
\ir policies/workloads.sql
\ir policies/operators.sql
\ir policies/client_users.sql

RESET ROLE;
