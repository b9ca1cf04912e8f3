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
\ir schema/01_extensions.sql

-- Helpers that touch no table
\ir functions/tessera_private.jwt_claims.sql
\ir functions/tessera_private.jwt_email.sql
\ir functions/tessera_private.touch_updated_at.sql
\ir functions/tessera_private.refuse_append_only_change.sql
\ir functions/tessera_private.make_append_only.sql

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

-- Money ledger: pricing catalog, sources and confidence (issue 4)
\ir schema/50_pricing_catalog.sql
\ir schema/51_price_sources.sql
\ir schema/52_price_import_runs.sql
\ir schema/53_price_observations.sql
\ir functions/tessera_private.guard_pricing_catalog_update.sql
\ir functions/tessera.publish_price.sql
\ir functions/tessera.record_price_observations.sql
\ir functions/tessera.price_confidence.sql
\ir policies/pricing_catalog.sql
\ir policies/price_sources.sql
\ir policies/price_import_runs.sql
\ir policies/price_observations.sql

-- Money ledger: per-request savings and the balance ledger (issue 4)
\ir functions/tessera_private.mechanics_are_valid.sql
\ir functions/tessera_private.tag_pii_kind.sql
\ir functions/tessera_private.create_savings_partitions.sql
\ir functions/tessera_private.stamp_balance_transaction.sql
\ir schema/60_optimize_savings.sql
\ir schema/61_savings_request_keys.sql
\ir schema/70_balance_transactions.sql
\ir functions/tessera_private.request_cost.sql
\ir functions/tessera.record_request.sql
\ir functions/tessera.record_balance_transaction.sql
\ir policies/optimize_savings.sql
\ir policies/savings_request_keys.sql
\ir policies/balance_transactions.sql

-- Money ledger: monthly readings and share tokens (issue 4)
\ir functions/tessera_private.guard_share_token_update.sql
\ir functions/tessera_private.presented_share_token_sha256.sql
\ir schema/80_monthly_readings.sql
\ir schema/81_reading_share_tokens.sql
\ir functions/tessera.monthly_reading_figures.sql
\ir functions/tessera.issue_monthly_reading.sql
\ir functions/tessera.rederive_monthly_reading.sql
\ir functions/tessera.create_reading_share_token.sql
\ir functions/tessera.revoke_reading_share_token.sql
\ir functions/tessera.reading_by_share_token.sql
\ir policies/monthly_readings.sql
\ir policies/reading_share_tokens.sql

RESET ROLE;
