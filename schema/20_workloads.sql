-- tessera.workloads: a client's traffic streams, each with per-mechanic opt-in flags.
--
-- Every optimisation mechanic is a boolean column named mechanic_<name>, off by
-- default. The prefix is load-bearing: the sponsor column guard
-- (tessera_private.guard_workload_sponsor_update) lets sponsors change exactly the
-- columns that carry it.
CREATE TABLE tessera.workloads (
    client_id    uuid        NOT NULL,
    workload_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    name         text        NOT NULL,
    mechanic_auto_route              boolean NOT NULL DEFAULT false,
    mechanic_prompt_cache_header     boolean NOT NULL DEFAULT false,
    mechanic_history_pruning         boolean NOT NULL DEFAULT false,
    mechanic_json_schema_enforcement boolean NOT NULL DEFAULT false,
    mechanic_batch_routing           boolean NOT NULL DEFAULT false,
    mechanic_exact_cache             boolean NOT NULL DEFAULT false,
    mechanic_semantic_cache          boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- client_id first: policies filter on it through this index, and Citus needs the
    -- distribution column in every primary and unique key.
    CONSTRAINT workloads_pkey PRIMARY KEY (client_id, workload_id),
    CONSTRAINT workloads_client_name_key UNIQUE (client_id, name),
    CONSTRAINT workloads_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE RESTRICT,
    -- Not blank: at least one non-whitespace character (btrim only trims spaces).
    CONSTRAINT workloads_name_not_blank CHECK (name ~ '[^[:space:]]'),
    CONSTRAINT workloads_name_length CHECK (char_length(name) <= 200),
    CONSTRAINT workloads_updated_after_created CHECK (updated_at >= created_at)
);

CREATE TRIGGER workloads_touch_updated_at
    BEFORE UPDATE ON tessera.workloads
    FOR EACH ROW EXECUTE FUNCTION tessera_private.touch_updated_at();

COMMENT ON TABLE tessera.workloads IS
    'A client''s workloads. Each optimisation mechanic is opt-in per workload (all off by default); sponsors may flip only the mechanic_* flags of their own workloads.';
COMMENT ON COLUMN tessera.workloads.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.workloads.workload_id IS 'Workload key within the client.';
COMMENT ON COLUMN tessera.workloads.name IS 'Display name, unique within the client.';
COMMENT ON COLUMN tessera.workloads.mechanic_auto_route IS 'Opt-in: auto-route to a cheaper model.';
COMMENT ON COLUMN tessera.workloads.mechanic_prompt_cache_header IS 'Opt-in: inject the provider prompt-cache header.';
COMMENT ON COLUMN tessera.workloads.mechanic_history_pruning IS 'Opt-in: prune long conversation history.';
COMMENT ON COLUMN tessera.workloads.mechanic_json_schema_enforcement IS 'Opt-in: enforce a JSON schema on responses.';
COMMENT ON COLUMN tessera.workloads.mechanic_batch_routing IS 'Opt-in: route async-tolerant calls through provider batch APIs.';
COMMENT ON COLUMN tessera.workloads.mechanic_exact_cache IS 'Opt-in: exact-response cache (sha256 of the normalised body).';
COMMENT ON COLUMN tessera.workloads.mechanic_semantic_cache IS 'Opt-in: semantic cache (prompt embedding).';
COMMENT ON COLUMN tessera.workloads.created_at IS 'Row creation time.';
COMMENT ON COLUMN tessera.workloads.updated_at IS 'Last change, set by trigger workloads_touch_updated_at.';
