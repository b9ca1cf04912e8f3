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

-- Lifecycle (issue 14): the retention list, the operator-side delete log and the
-- helpers every table's removal policies use (loaded before the first policy file)
\ir functions/tessera.retention_classes.sql
\ir functions/tessera_private.retention_cutoff.sql
\ir functions/tessera_private.removal_cutoff.sql
\ir functions/tessera_private.guard_client_erasure_update.sql
\ir schema/11_client_erasures.sql
\ir functions/tessera_private.erasing_client_id.sql
\ir functions/tessera_private.erased_tag.sql
\ir policies/client_erasures.sql

-- API functions
\ir functions/tessera_private.set_kill_switch.sql
\ir functions/tessera.set_kill_switch.sql
\ir functions/tessera_private.set_cross_customer_intelligence.sql
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
\ir functions/tessera_private.create_monthly_partitions.sql
\ir functions/tessera_private.create_savings_partitions.sql
\ir functions/tessera_private.stamp_balance_transaction.sql
\ir schema/60_optimize_savings.sql
\ir schema/61_savings_request_keys.sql
\ir schema/62_savings_dead_letters.sql
\ir schema/70_balance_transactions.sql
\ir functions/tessera_private.request_cost.sql
\ir functions/tessera_private.request_fields.sql
\ir functions/tessera_private.write_dead_letters.sql
\ir functions/tessera_private.request_field_problems.sql
\ir functions/tessera_private.ingest_requests.sql
\ir functions/tessera.record_request.sql
\ir functions/tessera.record_requests.sql
\ir functions/tessera.replay_dead_letters.sql
\ir functions/tessera.record_balance_transaction.sql
\ir policies/optimize_savings.sql
\ir policies/savings_request_keys.sql
\ir policies/savings_dead_letters.sql
\ir policies/balance_transactions.sql

-- Money ledger: monthly readings and share tokens (issue 4)
\ir functions/tessera_private.guard_share_token_update.sql
\ir functions/tessera_private.presented_share_token_sha256.sql
\ir schema/80_monthly_readings.sql
\ir schema/81_reading_share_tokens.sql
\ir functions/tessera.monthly_reading_figures_upto.sql
\ir functions/tessera.monthly_reading_figures.sql
\ir functions/tessera.issue_monthly_reading.sql
\ir functions/tessera.rederive_monthly_reading.sql
\ir functions/tessera_private.create_reading_share_token.sql
\ir functions/tessera.create_reading_share_token.sql
\ir functions/tessera_private.revoke_reading_share_token.sql
\ir functions/tessera.revoke_reading_share_token.sql
\ir functions/tessera_private.reading_by_share_token.sql
\ir functions/tessera.reading_by_share_token.sql
\ir policies/monthly_readings.sql
\ir policies/reading_share_tokens.sql

-- Audit log (issue 5): append-only, hash-stamped audit_events; break-glass; auth failures
\ir functions/tessera_private.prompt_fingerprint_v1_is_valid.sql
\ir functions/tessera_private.stamp_audit_event.sql
\ir schema/90_audit_events.sql
\ir functions/tessera_private.audit_content_hash.sql
\ir functions/tessera_private.write_audit_event.sql
\ir functions/tessera_private.break_glass_reason.sql
\ir functions/tessera_private.audit_row_change.sql
\ir functions/tessera_private.apply_audit_coverage.sql
\ir functions/tessera_private.break_glass.sql
\ir functions/tessera.break_glass.sql
\ir functions/tessera_private.break_glass_publish_price.sql
\ir functions/tessera.break_glass_publish_price.sql
\ir functions/tessera.record_auth_failure.sql
\ir policies/audit_events.sql

-- Audit checkpoints (issue 5): signed Merkle checkpoints, the sealer's functions
\ir schema/91_audit_checkpoints.sql
\ir functions/tessera.audit_latest_checkpoint.sql
\ir functions/tessera.audit_sealable_leaves.sql
\ir functions/tessera.audit_append_checkpoint.sql
\ir policies/audit_checkpoints.sql

-- Keys, settlement secrets, exact cache and worker config (issue 6)
\ir functions/tessera_private.guard_api_key_update.sql
\ir functions/tessera_private.notify_api_key_change.sql
\ir functions/tessera_private.guard_batch_transition.sql
\ir functions/tessera_private.destroy_batch_secret.sql
\ir functions/tessera_private.worker_config_changed.sql
\ir schema/92_api_keys.sql
\ir schema/93_api_key_failures.sql
\ir schema/94_batches.sql
\ir schema/95_batch_secrets.sql
\ir schema/96_cache_entries.sql
\ir schema/97_workload_settings.sql
\ir functions/tessera_private.record_api_key_failure.sql
\ir functions/tessera_private.create_api_key.sql
\ir functions/tessera.create_api_key.sql
\ir functions/tessera_private.revoke_api_key.sql
\ir functions/tessera.revoke_api_key.sql
\ir functions/tessera_private.rotate_api_key.sql
\ir functions/tessera.rotate_api_key.sql
\ir functions/tessera.verify_api_key.sql
\ir functions/tessera.create_batch.sql
\ir functions/tessera.transition_batch.sql
\ir functions/tessera.store_batch_secret.sql
\ir functions/tessera.open_batch_secret.sql
\ir functions/tessera.batch_secrets_to_reseal.sql
\ir functions/tessera.reseal_batch_secret.sql
\ir functions/tessera.cache_lookup.sql
\ir functions/tessera.cache_put.sql
\ir functions/tessera_private.flush_cache.sql
\ir functions/tessera.flush_cache.sql
\ir functions/tessera_private.set_exact_cache_ttl.sql
\ir functions/tessera.set_exact_cache_ttl.sql
\ir functions/tessera.worker_config.sql
\ir functions/tessera.sweep.sql
\ir policies/api_keys.sql
\ir policies/api_key_failures.sql
\ir policies/batches.sql
\ir policies/batch_secrets.sql
\ir policies/cache_entries.sql
\ir policies/workload_settings.sql

-- Lifecycle (issue 14): client erasure and the retention job
\ir functions/tessera_private.erase_client.sql
\ir functions/tessera.erase_client.sql
\ir functions/tessera.retention_remove.sql
\ir functions/tessera.retention_run.sql

-- Operations (issue 15): canary scores, the quality SLA, anomalies, kill switch and consent
\ir functions/tessera_private.actor_label.sql
\ir functions/tessera_private.record_worker_config_version.sql
\ir functions/tessera_private.guard_anomaly_transition.sql
\ir schema/98_kill_switch_engagements.sql
\ir schema/98_worker_config_versions.sql
\ir schema/99_canary_scores.sql
\ir schema/99_anomalies.sql
\ir functions/tessera.record_canary_scores.sql
\ir functions/tessera.sla_credit_amount.sql
\ir functions/tessera.sla_run.sql
\ir functions/tessera.sla_credit_rederive.sql
\ir functions/tessera_private.respond_to_anomaly.sql
\ir functions/tessera.respond_to_anomaly.sql
\ir functions/tessera.kill_switch_report.sql
\ir policies/kill_switch_engagements.sql
\ir policies/worker_config_versions.sql
\ir policies/canary_scores.sql
\ir policies/anomalies.sql

-- Audit coverage (issue 5): the one list of audited / exempt tables; it attaches the
-- audit triggers, so it stays LAST, after every table it names.
\ir functions/tessera_private.audit_coverage.sql

RESET ROLE;
