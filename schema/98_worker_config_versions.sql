-- tessera.worker_config_versions: what every worker config version of a workload said.
-- One row per (workload, config_version), written by the trigger
-- workload_settings_config_version_history (tessera_private.record_worker_config_version)
-- whenever tessera.workload_settings.config_version moves -- a mechanic toggle, the kill
-- switch, an SLA disable or re-enable, a settings change -- with the effective config at
-- that moment, exactly as tessera.worker_config() reports it.
--
-- Why: the proxy records the config version it acted on with every request
-- (record_request / record_requests, config_version). Consent is judged against THAT
-- version, not against whatever the workload says when the measurement arrives: a
-- mechanic switched off while a request was in flight was consented by the version the
-- proxy held, and a mechanic the version did not allow was not
-- (tessera_private.ingest_requests, docs/operations.md).
--
-- Never updated; rows go with their workload (ON DELETE CASCADE: an erasure of a hobby
-- or free client deletes its workloads); an invoiced client's erased workloads stay, and
-- so does this history (no personal data), which explains the kept savings rows.
CREATE TABLE tessera.worker_config_versions (
    client_id        uuid        NOT NULL,
    workload_id      uuid        NOT NULL,
    config_version   bigint      NOT NULL,
    kill_switch      boolean     NOT NULL,
    opted_in         text[]      NOT NULL,
    mechanics        text[]      NOT NULL,
    disabled_stacks  jsonb       NOT NULL DEFAULT '[]'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT worker_config_versions_pkey PRIMARY KEY (client_id, workload_id, config_version),
    CONSTRAINT worker_config_versions_workload_fkey FOREIGN KEY (client_id, workload_id)
        REFERENCES tessera.workloads (client_id, workload_id) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT worker_config_versions_mechanics_known CHECK (
        tessera_private.mechanics_are_valid(opted_in) AND tessera_private.mechanics_are_valid(mechanics)),
    CONSTRAINT worker_config_versions_disabled_stacks_array CHECK (jsonb_typeof(disabled_stacks) = 'array')
);

CREATE TRIGGER workload_settings_config_version_history
    AFTER INSERT OR UPDATE OF config_version ON tessera.workload_settings
    FOR EACH ROW EXECUTE FUNCTION tessera_private.record_worker_config_version();
ALTER TABLE tessera.workload_settings ENABLE ALWAYS TRIGGER workload_settings_config_version_history;

COMMENT ON TABLE tessera.worker_config_versions IS
    'Every worker config version of every workload and what it allowed (kill switch, opt-ins, effective mechanics, disabled stacks); written by trigger when the version moves. Ingest judges consent against the version the proxy acted on.';
COMMENT ON COLUMN tessera.worker_config_versions.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.worker_config_versions.workload_id IS 'The workload.';
COMMENT ON COLUMN tessera.worker_config_versions.config_version IS 'The version (tessera.workload_settings.config_version when it was drawn).';
COMMENT ON COLUMN tessera.worker_config_versions.kill_switch IS 'The client''s kill switch at that version.';
COMMENT ON COLUMN tessera.worker_config_versions.opted_in IS 'The workload''s opt-ins at that version (sorted names).';
COMMENT ON COLUMN tessera.worker_config_versions.mechanics IS 'The mechanics that could act at that version: the opt-ins, or none under the kill switch.';
COMMENT ON COLUMN tessera.worker_config_versions.disabled_stacks IS 'Stacks disabled by the quality SLA at that version: an array of sorted mechanic arrays.';
COMMENT ON COLUMN tessera.worker_config_versions.created_at IS 'When the version was drawn.';
