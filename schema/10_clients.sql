-- tessera.clients: the tenants. client_id is the future Citus distribution column.
CREATE TABLE tessera.clients (
    client_id   uuid        NOT NULL DEFAULT gen_random_uuid(),
    name        text        NOT NULL,
    plan_tier   text        NOT NULL DEFAULT 'free',
    optimisation_kill_switch boolean NOT NULL DEFAULT false,
    contributes_to_cross_customer_intelligence boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clients_pkey PRIMARY KEY (client_id),
    -- Not blank: at least one non-whitespace character (btrim only trims spaces).
    CONSTRAINT clients_name_not_blank CHECK (name ~ '[^[:space:]]'),
    CONSTRAINT clients_name_length CHECK (char_length(name) <= 200),
    -- A CHECK rather than an enum type: a bad value then names this constraint in the
    -- error, and adding a tier is a plain constraint swap in a migration.
    CONSTRAINT clients_plan_tier_known CHECK (plan_tier IN ('hobby', 'free', 'invoiced')),
    CONSTRAINT clients_updated_after_created CHECK (updated_at >= created_at)
);

CREATE TRIGGER clients_touch_updated_at
    BEFORE UPDATE ON tessera.clients
    FOR EACH ROW EXECUTE FUNCTION tessera_private.touch_updated_at();

COMMENT ON TABLE tessera.clients IS
    'Tenants of the proxy. Sponsors read their own row; the kill switch and the cross-customer opt-in change only through tessera.set_kill_switch / tessera.set_cross_customer_intelligence.';
COMMENT ON COLUMN tessera.clients.client_id IS 'Tenant key; leads every tenant table''s primary key (Citus distribution column).';
COMMENT ON COLUMN tessera.clients.name IS 'Display name, 1..200 characters, not blank.';
COMMENT ON COLUMN tessera.clients.plan_tier IS 'hobby | free | invoiced. Never consulted by the kill switch.';
COMMENT ON COLUMN tessera.clients.optimisation_kill_switch IS
    'Client-controlled global pause: true = every workload is pure pass-through. Never gated on balance, plan or seat status.';
COMMENT ON COLUMN tessera.clients.contributes_to_cross_customer_intelligence IS
    'Opt-in to cross-customer aggregation of anonymised prompt fingerprints (off by default).';
COMMENT ON COLUMN tessera.clients.created_at IS 'Row creation time.';
COMMENT ON COLUMN tessera.clients.updated_at IS 'Last change, set by trigger clients_touch_updated_at.';
