-- Frozen downgrade of 0004_audit_keys_secrets: removes the audit log, checkpoints, keys,
-- settlement secrets, exact cache and worker config. First the 0002 body of
-- create_savings_partitions and the triggers this revision put on older tables, then its
-- tables (CASCADE takes their policies, triggers, partitions and the break_glass_events
-- view), its sequence and functions, and the deltas.

CREATE OR REPLACE FUNCTION tessera_private.create_savings_partitions(p_from date, p_months integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    first_month date := pg_catalog.date_trunc('month', p_from)::date;
    month date;
    part_name text;
    created integer := 0;
BEGIN
    IF p_from IS NULL OR p_months IS NULL OR p_months < 0 OR p_months > 120 THEN
        RAISE EXCEPTION 'create_savings_partitions needs a month and 0..120 months, got %, %', p_from, p_months
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.to_regclass('tessera.optimize_savings_default') IS NULL THEN
        EXECUTE 'CREATE TABLE tessera.optimize_savings_default PARTITION OF tessera.optimize_savings DEFAULT';
        EXECUTE 'ALTER TABLE tessera.optimize_savings_default ENABLE ROW LEVEL SECURITY';
        EXECUTE 'ALTER TABLE tessera.optimize_savings_default FORCE ROW LEVEL SECURITY';
        PERFORM tessera_private.make_append_only('tessera.optimize_savings_default'::regclass);
        created := created + 1;
    END IF;
    FOR i IN 0 .. p_months - 1 LOOP
        month := (first_month + pg_catalog.make_interval(months => i))::date;
        part_name := pg_catalog.format('optimize_savings_p%s', pg_catalog.to_char(month, 'YYYY_MM'));
        CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('tessera.%I', part_name)) IS NOT NULL;
        EXECUTE pg_catalog.format(
            'CREATE TABLE tessera.%I PARTITION OF tessera.optimize_savings FOR VALUES FROM (%L) TO (%L)',
            part_name,
            (month::timestamp AT TIME ZONE 'UTC'),
            ((month + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
        EXECUTE pg_catalog.format('ALTER TABLE tessera.%I ENABLE ROW LEVEL SECURITY', part_name);
        EXECUTE pg_catalog.format('ALTER TABLE tessera.%I FORCE ROW LEVEL SECURITY', part_name);
        PERFORM tessera_private.make_append_only(pg_catalog.format('tessera.%I', part_name)::regclass);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$function$;

COMMENT ON FUNCTION tessera_private.create_savings_partitions(date, integer) IS
    'Creates the missing monthly (UTC) partitions of tessera.optimize_savings and its DEFAULT partition, each with RLS enabled+forced and the append-only triggers. Re-runnable.';

DROP TRIGGER clients_audit ON tessera.clients;
DROP TRIGGER clients_audit_truncate ON tessera.clients;
DROP TRIGGER workloads_audit ON tessera.workloads;
DROP TRIGGER workloads_audit_truncate ON tessera.workloads;
DROP TRIGGER operators_audit ON tessera.operators;
DROP TRIGGER operators_audit_truncate ON tessera.operators;
DROP TRIGGER client_users_audit ON tessera.client_users;
DROP TRIGGER client_users_audit_truncate ON tessera.client_users;
DROP TRIGGER pricing_catalog_audit ON tessera.pricing_catalog;
DROP TRIGGER pricing_catalog_audit_truncate ON tessera.pricing_catalog;
DROP TRIGGER price_sources_audit ON tessera.price_sources;
DROP TRIGGER price_sources_audit_truncate ON tessera.price_sources;
DROP TRIGGER price_import_runs_audit ON tessera.price_import_runs;
DROP TRIGGER price_import_runs_audit_truncate ON tessera.price_import_runs;
DROP TRIGGER balance_transactions_audit ON tessera.balance_transactions;
DROP TRIGGER balance_transactions_audit_truncate ON tessera.balance_transactions;
DROP TRIGGER monthly_readings_audit ON tessera.monthly_readings;
DROP TRIGGER monthly_readings_audit_truncate ON tessera.monthly_readings;
DROP TRIGGER reading_share_tokens_audit ON tessera.reading_share_tokens;
DROP TRIGGER reading_share_tokens_audit_truncate ON tessera.reading_share_tokens;
DROP TRIGGER workloads_worker_config_changed ON tessera.workloads;
DROP TRIGGER clients_worker_config_changed ON tessera.clients;

DROP VIEW tessera.break_glass_events;
DROP TABLE tessera.workload_settings, tessera.cache_entries, tessera.batch_secrets, tessera.batches,
           tessera.api_key_failures, tessera.api_keys, tessera.audit_checkpoints, tessera.audit_events CASCADE;
DROP SEQUENCE tessera.worker_config_version_seq;

DROP FUNCTION IF EXISTS tessera_private.audit_coverage,
              tessera.sweep,
              tessera.worker_config,
              tessera.set_exact_cache_ttl,
              tessera.flush_cache,
              tessera.cache_put,
              tessera.cache_lookup,
              tessera.reseal_batch_secret,
              tessera.batch_secrets_to_reseal,
              tessera.open_batch_secret,
              tessera.store_batch_secret,
              tessera.transition_batch,
              tessera.create_batch,
              tessera.verify_api_key,
              tessera.rotate_api_key,
              tessera.revoke_api_key,
              tessera.create_api_key,
              tessera_private.record_api_key_failure,
              tessera_private.worker_config_changed,
              tessera_private.destroy_batch_secret,
              tessera_private.guard_batch_transition,
              tessera_private.guard_api_key_update,
              tessera.audit_append_checkpoint,
              tessera.audit_sealable_leaves,
              tessera.audit_latest_checkpoint,
              tessera.record_auth_failure,
              tessera.break_glass_publish_price,
              tessera.break_glass,
              tessera_private.apply_audit_coverage,
              tessera_private.audit_row_change,
              tessera_private.break_glass_reason,
              tessera_private.write_audit_event,
              tessera_private.audit_content_hash,
              tessera_private.stamp_audit_event,
              tessera_private.prompt_fingerprint_v1_is_valid,
              tessera_private.create_monthly_partitions;

DROP POLICY clients_select_definer_recording ON tessera.clients;
REVOKE USAGE ON SCHEMA tessera FROM tessera_sealer;
