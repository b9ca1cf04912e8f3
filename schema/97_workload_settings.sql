-- tessera.workload_settings: per-workload settings of the edge worker that are not
-- mechanic flags (the exact-cache TTL), and the workload's worker config version.
--
-- config_version: a monotonically increasing number for the workload's effective worker
-- configuration (tessera.worker_config()). It is drawn from one sequence,
-- tessera.worker_config_version_seq, by trigger whenever the effective config can
-- change: a mechanic_* flag of the workload (trigger workloads_worker_config_changed),
-- the client's kill switch (trigger clients_worker_config_changed, bumps every workload
-- of the client) or a row of this table (set_exact_cache_ttl). Every bump also sends
-- NOTIFY on channel tessera_worker_config with a JSON payload
--     {"client_id": ..., "workload_id": ... | null, "config_version": ..., "reason": ...}
-- (workload_id null = every workload of the client), delivered when the transaction
-- commits, so a worker LISTENing refreshes at once instead of polling (the seed's 60 s
-- bound is then a worst case for a worker that lost its connection).
--
-- A workload without a row here has the defaults (TTL 7 days) and config version 0; the
-- first change creates its row. (Existing workloads therefore need no backfill.) The
-- triggers live in this file because they exist to maintain this table; they are added
-- to the existing tables clients and workloads without altering those tables.
CREATE SEQUENCE tessera.worker_config_version_seq AS bigint START WITH 1 NO CYCLE;
COMMENT ON SEQUENCE tessera.worker_config_version_seq IS
    'Source of tessera.workload_settings.config_version: strictly increasing, never reused.';

CREATE TABLE tessera.workload_settings (
    client_id        uuid        NOT NULL,
    workload_id      uuid        NOT NULL,
    exact_cache_ttl  interval    NOT NULL DEFAULT interval '7 days',
    config_version   bigint      NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workload_settings_pkey PRIMARY KEY (client_id, workload_id),
    -- The settings follow their workload (an operator may move a workload to another
    -- client, or delete it).
    CONSTRAINT workload_settings_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT workload_settings_ttl_range CHECK (
        exact_cache_ttl BETWEEN interval '1 minute' AND interval '30 days'),
    CONSTRAINT workload_settings_config_version_positive CHECK (config_version > 0)
);

CREATE TRIGGER workloads_worker_config_changed
    AFTER INSERT OR UPDATE ON tessera.workloads
    FOR EACH ROW EXECUTE FUNCTION tessera_private.worker_config_changed();
ALTER TABLE tessera.workloads ENABLE ALWAYS TRIGGER workloads_worker_config_changed;

CREATE TRIGGER clients_worker_config_changed
    AFTER UPDATE OF optimisation_kill_switch ON tessera.clients
    FOR EACH ROW
    WHEN (OLD.optimisation_kill_switch IS DISTINCT FROM NEW.optimisation_kill_switch)
    EXECUTE FUNCTION tessera_private.worker_config_changed();
ALTER TABLE tessera.clients ENABLE ALWAYS TRIGGER clients_worker_config_changed;

COMMENT ON TABLE tessera.workload_settings IS
    'Per-workload worker settings (exact-cache TTL) and the workload''s monotonically increasing worker config version; every change NOTIFYs channel tessera_worker_config.';
COMMENT ON COLUMN tessera.workload_settings.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.workload_settings.workload_id IS 'The workload.';
COMMENT ON COLUMN tessera.workload_settings.exact_cache_ttl IS 'Lifetime of exact-cache entries, 1 minute .. 30 days (default 7 days).';
COMMENT ON COLUMN tessera.workload_settings.config_version IS 'Version of the workload''s effective worker config (from tessera.worker_config_version_seq).';
COMMENT ON COLUMN tessera.workload_settings.updated_at IS 'Last change.';
