-- tessera.kill_switch_engagements: every engagement of a client's optimisation kill
-- switch, from the moment it was engaged to the moment it was released (NULL while it
-- is still engaged). Written only by the trigger clients_worker_config_changed
-- (tessera_private.worker_config_changed), in the transaction that flips
-- tessera.clients.optimisation_kill_switch, so the history cannot disagree with the
-- switch: engaging inserts a row (engaged_at = the transaction's time), releasing
-- closes the open one.
--
-- What it is for (issue 15, "kill switch provably kept"): the seed promises the switch
-- takes effect within 60 s (the next KV refresh). tessera_private.ingest_requests reads
-- this table to decide whether a recorded request fired a mechanic while the switch was
-- on (no saving credited; an unconsented_mechanic anomaly) or more than 60 s after it
-- was engaged (a kill_switch_late anomaly), and tessera.kill_switch_report lists each
-- engagement with the last mechanic that fired after it.
CREATE TABLE tessera.kill_switch_engagements (
    client_id      uuid        NOT NULL,
    engagement_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    engaged_at     timestamptz NOT NULL DEFAULT now(),
    engaged_by     text        NOT NULL,
    released_at    timestamptz,
    released_by    text,
    CONSTRAINT kill_switch_engagements_pkey PRIMARY KEY (client_id, engagement_id),
    CONSTRAINT kill_switch_engagements_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE CASCADE,
    CONSTRAINT kill_switch_engagements_release_after_engage CHECK (released_at >= engaged_at),
    CONSTRAINT kill_switch_engagements_released_by_with_release CHECK ((released_at IS NULL) = (released_by IS NULL)),
    CONSTRAINT kill_switch_engagements_actors_length CHECK (
        char_length(engaged_by) BETWEEN 1 AND 320 AND char_length(released_by) BETWEEN 1 AND 320)
);

-- At most one open engagement per client.
CREATE UNIQUE INDEX kill_switch_engagements_one_open_idx
    ON tessera.kill_switch_engagements (client_id) WHERE released_at IS NULL;
-- "Was the switch on at occurred_at?" and the report: one client, a time range.
CREATE INDEX kill_switch_engagements_client_engaged_idx
    ON tessera.kill_switch_engagements (client_id, engaged_at);

-- A client created with the switch already on is engaged from its creation.
CREATE TRIGGER clients_kill_switch_at_creation
    AFTER INSERT ON tessera.clients
    FOR EACH ROW
    WHEN (NEW.optimisation_kill_switch)
    EXECUTE FUNCTION tessera_private.worker_config_changed();
ALTER TABLE tessera.clients ENABLE ALWAYS TRIGGER clients_kill_switch_at_creation;

COMMENT ON TABLE tessera.kill_switch_engagements IS
    'History of each client''s optimisation kill switch: one row per engagement (engaged_at, released_at NULL while on), written only by the trigger on tessera.clients. Read by ingest (consent under the switch, the 60 s contract) and tessera.kill_switch_report.';
COMMENT ON COLUMN tessera.kill_switch_engagements.client_id IS 'The client; part of the primary key.';
COMMENT ON COLUMN tessera.kill_switch_engagements.engagement_id IS 'Engagement key within the client.';
COMMENT ON COLUMN tessera.kill_switch_engagements.engaged_at IS 'When the switch was engaged (the engaging transaction''s time).';
COMMENT ON COLUMN tessera.kill_switch_engagements.engaged_by IS 'Who engaged it: JWT email, else JWT sub, else db:<login>.';
COMMENT ON COLUMN tessera.kill_switch_engagements.released_at IS 'When it was released; NULL while still engaged.';
COMMENT ON COLUMN tessera.kill_switch_engagements.released_by IS 'Who released it.';
