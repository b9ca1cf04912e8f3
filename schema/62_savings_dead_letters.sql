-- tessera.savings_dead_letters: every measurement the proxy reported that could not be
-- recorded, kept with its reason until it is; never edited, never silently dropped.
--
-- tessera.record_requests() appends one 'rejected' row per element it rejects (in the
-- caller's transaction, beside the rows it records): the element's fields (only the
-- fields record_request takes, see payload below), the SQLSTATE, the constraint and the
-- human reason. Sending the same request again, or replaying it with
-- `tessera-db savings replay-rejected` (tessera.replay_dead_letters) after the cause is
-- fixed (the missing price published, say), appends another 'rejected' row while it
-- still fails (so first and last attempt are the first and last of these rows) and,
-- once it is in the ledger, one 'resolved' row naming how (recorded, or replayed: it
-- had been recorded meanwhile). A request is therefore identified by (client_id,
-- request_id) across its rows; tessera.savings_dead_letter_status below folds them.
--
-- Append-only (make_append_only triggers, ENABLE ALWAYS): resolving is an appended row,
-- never an UPDATE. Only the two definer functions write here.
--
-- client_id. Tenant table, client-scoped under RLS (its sponsor and operators read it),
-- so it leads the primary key (Citus). There is deliberately no foreign key to
-- tessera.clients: an element naming a client that does not exist (a proxy bug, or a
-- client erased while the request was in flight) must still be kept. An element whose
-- client_id is missing or not a uuid is kept under the nil uuid
-- 00000000-0000-0000-0000-000000000000, which no client has: only operators see those.
--
-- payload. The element's known fields as sent (JSON), and nothing else: keys that
-- record_request does not take are dropped and only their NAMES kept, under
-- "_unknown_fields" (so a replay is refused again, as the original was: a misspelt
-- "ouput_tokens" must not be recorded as zero output); a feature_tag / customer_tag
-- refused as personal data is dropped (its name is kept under "_redacted"; a replay
-- then records the measurement without that tag); strings are cut at 1000 characters
-- (every text field's limit is far below, so a cut value is still refused). An element
-- that is not a JSON object is kept as {"_not_an_object": <its JSON type>}. No prompt
-- or response content is ever part of an element.
CREATE TABLE tessera.savings_dead_letters (
    client_id        uuid        NOT NULL,
    dead_letter_id   bigint      GENERATED ALWAYS AS IDENTITY,
    request_id       text,
    entry            text        NOT NULL,
    attempted_at     timestamptz NOT NULL DEFAULT now(),
    payload          jsonb,
    sqlstate         text,
    constraint_name  text,
    reason           text,
    resolution       text,
    db_role          text        NOT NULL,
    CONSTRAINT savings_dead_letters_pkey PRIMARY KEY (client_id, dead_letter_id),
    CONSTRAINT savings_dead_letters_entry_known CHECK (entry IN (
        'rejected',     -- an attempt that was refused: payload, sqlstate and reason set
        'resolved')),   -- the request is in the ledger now: resolution set
    CONSTRAINT savings_dead_letters_rejected_fields CHECK (
        entry <> 'rejected'
        OR (payload IS NOT NULL AND pg_catalog.jsonb_typeof(payload) = 'object'
            AND sqlstate ~ '^[0-9A-Z]{5}$' AND reason IS NOT NULL AND resolution IS NULL)),
    CONSTRAINT savings_dead_letters_resolved_fields CHECK (
        entry <> 'resolved'
        OR (request_id IS NOT NULL AND resolution IN ('recorded', 'replayed')
            AND payload IS NULL AND sqlstate IS NULL AND reason IS NULL)),
    CONSTRAINT savings_dead_letters_request_id_length CHECK (char_length(request_id) BETWEEN 1 AND 1000),
    CONSTRAINT savings_dead_letters_reason_length CHECK (char_length(reason) BETWEEN 1 AND 2000),
    CONSTRAINT savings_dead_letters_payload_size CHECK (pg_catalog.pg_column_size(payload) <= 65536)
);

-- A request's rows, in order (status view, replay, a later erasure of the client).
CREATE INDEX savings_dead_letters_request_idx
    ON tessera.savings_dead_letters (client_id, request_id, dead_letter_id);

COMMENT ON TABLE tessera.savings_dead_letters IS
    'Append-only dead letters of tessera.record_requests: each refused measurement (its fields, SQLSTATE and reason) and, once it is in the ledger, a resolved row. Never edited; replayed by tessera.replay_dead_letters (tessera-db savings replay-rejected).';
COMMENT ON COLUMN tessera.savings_dead_letters.client_id IS 'Client named by the element (nil uuid when it named none that parses); no foreign key, so nothing is lost.';
COMMENT ON COLUMN tessera.savings_dead_letters.dead_letter_id IS 'Row id, increasing: the order of attempts.';
COMMENT ON COLUMN tessera.savings_dead_letters.request_id IS 'The element''s request_id when it had one (a request is (client_id, request_id) across rows).';
COMMENT ON COLUMN tessera.savings_dead_letters.entry IS 'rejected: a refused attempt; resolved: the request is in the ledger now.';
COMMENT ON COLUMN tessera.savings_dead_letters.attempted_at IS 'When the attempt (or the resolution) happened.';
COMMENT ON COLUMN tessera.savings_dead_letters.payload IS 'rejected: the element''s record_request fields as sent (unknown keys and personal-data tags dropped, by name only; strings cut at 1000 characters).';
COMMENT ON COLUMN tessera.savings_dead_letters.sqlstate IS 'rejected: the SQLSTATE record_request would have raised.';
COMMENT ON COLUMN tessera.savings_dead_letters.constraint_name IS 'rejected: the constraint behind the refusal, when there is one.';
COMMENT ON COLUMN tessera.savings_dead_letters.reason IS 'rejected: the human reason (the error message).';
COMMENT ON COLUMN tessera.savings_dead_letters.resolution IS 'resolved: recorded (the replay wrote it) or replayed (it was already in the ledger).';
COMMENT ON COLUMN tessera.savings_dead_letters.db_role IS 'Database role that called the writing function (proxy login or service_role).';

SELECT tessera_private.make_append_only('tessera.savings_dead_letters');

-- One row per dead-lettered request. security_invoker: the caller's own row-level
-- security applies (a sponsor folds only their own clients' rows).
CREATE VIEW tessera.savings_dead_letter_status WITH (security_invoker = true) AS
SELECT d.client_id,
       d.request_id,
       pg_catalog.min(d.attempted_at) FILTER (WHERE d.entry = 'rejected') AS first_attempt_at,
       pg_catalog.max(d.attempted_at) FILTER (WHERE d.entry = 'rejected') AS last_attempt_at,
       pg_catalog.count(*) FILTER (WHERE d.entry = 'rejected') AS attempts,
       (pg_catalog.array_agg(d.sqlstate ORDER BY d.dead_letter_id DESC) FILTER (WHERE d.entry = 'rejected'))[1] AS last_sqlstate,
       (pg_catalog.array_agg(d.reason ORDER BY d.dead_letter_id DESC) FILTER (WHERE d.entry = 'rejected'))[1] AS last_reason,
       (pg_catalog.array_agg(d.payload ORDER BY d.dead_letter_id DESC) FILTER (WHERE d.entry = 'rejected'))[1] AS last_payload,
       pg_catalog.max(d.attempted_at) FILTER (WHERE d.entry = 'resolved') AS resolved_at,
       (pg_catalog.array_agg(d.resolution ORDER BY d.dead_letter_id DESC) FILTER (WHERE d.entry = 'resolved'))[1] AS resolution,
       pg_catalog.min(d.dead_letter_id) AS first_dead_letter_id
  FROM tessera.savings_dead_letters AS d
 GROUP BY d.client_id, d.request_id, CASE WHEN d.request_id IS NULL THEN d.dead_letter_id END;

COMMENT ON VIEW tessera.savings_dead_letter_status IS
    'One row per dead-lettered request (client_id, request_id; a row without request_id stands alone): first and last attempt, attempts, last SQLSTATE, reason and payload, and when and how it was resolved (NULL: still open). Under the caller''s RLS (security_invoker).';
