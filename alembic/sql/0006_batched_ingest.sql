-- Frozen migration 0006_batched_ingest: hand-written delta; never edit once merged.
--
-- Issue 12 (hot path, loss-free ingest):
-- 1. tessera.savings_dead_letters (+ view savings_dead_letter_status): append-only,
--    client-scoped record of every refused measurement and its resolution.
-- 2. tessera_private.ingest_requests: the one set-based implementation of recording;
--    tessera.record_request becomes a batch of one over it, tessera.record_requests the
--    batch API (rejections dead-lettered), tessera.replay_dead_letters the replay.
-- 3. The owner's recording policies on optimize_savings and savings_request_keys read the
--    batch's clients (tessera.ingest_client_ids) instead of one client
--    (tessera.recording_client_id), and are renamed *_definer_ingest; workloads gains
--    workloads_select_definer_ingest; pricing_catalog_select_definer_recording reads the
--    new setting.
-- 4. tessera.publish_price: a model's first version may take effect in the past.
-- 5. audit_coverage lists savings_dead_letters (exempt, with its reason).

-- >>> schema/62_savings_dead_letters.sql
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

-- >>> functions/tessera_private.request_fields.sql
-- tessera_private.request_fields(): the fields a request element of tessera.record_requests
-- (and record_request, a batch of one) may carry -- record_request's parameters without
-- p_ -- with the shape each must have, in words, and the pattern its JSON string or
-- number must match where a JSON type alone does not say it:
--   client_id, workload_id  a JSON string holding a uuid (hyphens optional)
--   occurred_at             a JSON string, ISO 8601 date and time WITH a UTC offset (Z or
--                           +hh:mm): never the session's time zone
--   token counts            a JSON integer of at most 18 digits (its sign is checked by the
--                           table's CHECK, so a negative count gets that constraint's name)
--   batch                   true or false; mechanics: an array of strings (nulls are
--                           reported by the mechanic rule); the rest: JSON strings
-- The one list: tessera_private.ingest_requests takes its field names and patterns from
-- here, write_dead_letters the names it keeps, request_field_problems the words.
CREATE FUNCTION tessera_private.request_fields()
RETURNS TABLE (field text, described text, pattern text)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT f.field, f.described,
           CASE f.described
               WHEN 'a uuid string' THEN '^[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}$'
               WHEN 'an ISO 8601 timestamp string with a UTC offset'
                   THEN '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?'
                        '(Z|[+-][0-9]{2}(:?[0-9]{2}(:?[0-9]{2})?)?)$'
               WHEN 'an integer' THEN '^-?[0-9]{1,18}$'
           END
      FROM (VALUES
          ('client_id', 'a uuid string'), ('workload_id', 'a uuid string'),
          ('request_id', 'a string'),
          ('occurred_at', 'an ISO 8601 timestamp string with a UTC offset'),
          ('requested_provider', 'a string'), ('requested_model', 'a string'),
          ('routed_provider', 'a string'), ('routed_model', 'a string'),
          ('uncached_input_tokens', 'an integer'), ('cache_read_input_tokens', 'an integer'),
          ('cache_write_5m_input_tokens', 'an integer'), ('cache_write_1h_input_tokens', 'an integer'),
          ('output_tokens', 'an integer'), ('reasoning_tokens', 'an integer'),
          ('reported_input_tokens', 'an integer'), ('reported_output_tokens', 'an integer'),
          ('batch', 'true or false'), ('mechanics', 'an array of mechanic names'),
          ('finish_reason', 'a string'), ('feature_tag', 'a string'), ('customer_tag', 'a string')
      ) AS f(field, described)
$function$;

COMMENT ON FUNCTION tessera_private.request_fields() IS
    'The fields a request element of tessera.record_requests may carry, the shape each must have (in words) and the pattern of its text where the JSON type is not enough; the one list ingest_requests, write_dead_letters and request_field_problems read.';

REVOKE ALL ON FUNCTION tessera_private.request_fields() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.write_dead_letters.sql
-- tessera_private.write_dead_letters(rejections): append refused measurements to
-- tessera.savings_dead_letters, the one place that builds a dead letter. Each item of the
-- JSON array is {"element": <what the proxy sent>, "sqlstate", "constraint", "reason"}.
-- Returns the client_id and request_id written, in input order.
--
-- What is kept of an element (schema/62_savings_dead_letters.sql): its known fields;
-- unknown keys by name only ("_unknown_fields"), so a replay is refused again; a tag
-- that looks like personal data dropped (by name, "_redacted"), wherever the refusal
-- came from; strings cut at 1000 characters. A client_id that is missing or not a uuid
-- is kept as the nil uuid.
--
-- Runs as tessera_owner inside the definer wrappers (record_requests, via
-- ingest_requests). Its insert policy admits the clients of tessera.ingest_client_ids,
-- which it sets to the clients of the rows it writes and restores afterwards: the
-- record_requests path that isolates a failing element calls it after the element's
-- own subtransaction (and the setting with it) was rolled back.
CREATE FUNCTION tessera_private.write_dead_letters(p_rejections jsonb)
RETURNS TABLE (client_id uuid, request_id text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    fields text[];   -- the names it keeps (tessera_private.request_fields)
    uuid_re text;
    nobody CONSTANT uuid := '00000000-0000-0000-0000-000000000000'::uuid;
    previous text := pg_catalog.current_setting('tessera.ingest_client_ids', true);
    caller text := COALESCE(NULLIF(pg_catalog.current_setting('role'), 'none'), session_user::text);
BEGIN
    SELECT pg_catalog.array_agg(f.field), pg_catalog.max(f.pattern) FILTER (WHERE f.field = 'client_id')
      INTO fields, uuid_re
      FROM tessera_private.request_fields() AS f;

    PERFORM pg_catalog.set_config('tessera.ingest_client_ids',
        (SELECT '{' || pg_catalog.string_agg(DISTINCT x.cid::text, ',') || '}'
           FROM (SELECT COALESCE(CASE WHEN pg_catalog.jsonb_typeof(r.item->'element'->'client_id') = 'string'
                                       AND r.item->'element'->>'client_id' ~ uuid_re
                                      THEN (r.item->'element'->>'client_id')::uuid END, nobody) AS cid
                   FROM pg_catalog.jsonb_array_elements(p_rejections) AS r(item)) AS x),
        true);

    RETURN QUERY
    WITH items AS (
        SELECT r.ord, r.item, r.item->'element' AS j, pg_catalog.jsonb_typeof(r.item->'element') AS jtype
          FROM pg_catalog.jsonb_array_elements(p_rejections) WITH ORDINALITY AS r(item, ord)
    ),
    kept AS (
        SELECT i.ord,
               COALESCE(CASE WHEN pg_catalog.jsonb_typeof(i.j->'client_id') = 'string' AND i.j->>'client_id' ~ uuid_re
                             THEN (i.j->>'client_id')::uuid END, nobody) AS cid,
               CASE WHEN pg_catalog.jsonb_typeof(i.j->'request_id') = 'string' AND i.j->>'request_id' <> ''
                    THEN pg_catalog.left(i.j->>'request_id', 1000) END AS rid,
               CASE WHEN i.jtype IS DISTINCT FROM 'object'
                    THEN pg_catalog.jsonb_build_object('_not_an_object', COALESCE(i.jtype, 'nothing'))
                    ELSE COALESCE(f.known, '{}'::jsonb)
                         || CASE WHEN f.unknown IS NOT NULL THEN pg_catalog.jsonb_build_object('_unknown_fields', f.unknown)
                                 ELSE '{}'::jsonb END
                         || CASE WHEN f.redacted IS NOT NULL THEN pg_catalog.jsonb_build_object('_redacted', f.redacted)
                                 ELSE '{}'::jsonb END
               END AS payload,
               i.item->>'sqlstate' AS st,
               NULLIF(i.item->>'constraint', '') AS con,
               pg_catalog.left(COALESCE(NULLIF(i.item->>'reason', ''), 'refused'), 2000) AS why
          FROM items AS i
          CROSS JOIN LATERAL (
              SELECT pg_catalog.jsonb_object_agg(e.key,
                         CASE WHEN pg_catalog.jsonb_typeof(e.value) = 'string'
                              THEN pg_catalog.to_jsonb(pg_catalog.left(e.value #>> '{}', 1000)) ELSE e.value END)
                         FILTER (WHERE e.key = ANY (fields) AND NOT e.pii) AS known,
                     pg_catalog.jsonb_agg(pg_catalog.left(e.key, 64) ORDER BY e.key) FILTER (WHERE e.key <> ALL (fields)) AS unknown,
                     pg_catalog.jsonb_agg(e.key ORDER BY e.key) FILTER (WHERE e.pii) AS redacted
                FROM (SELECT f.key, f.value,
                             f.key IN ('feature_tag', 'customer_tag') AND pg_catalog.jsonb_typeof(f.value) = 'string'
                             AND tessera_private.tag_pii_kind(f.value #>> '{}') IS NOT NULL AS pii
                        FROM pg_catalog.jsonb_each(CASE WHEN i.jtype = 'object' THEN i.j ELSE '{}'::jsonb END) AS f) AS e
          ) AS f
    ),
    written AS (
        INSERT INTO tessera.savings_dead_letters AS d
               (client_id, request_id, entry, payload, sqlstate, constraint_name, reason, db_role)
        SELECT k.cid, k.rid, 'rejected', k.payload, k.st, k.con, k.why, caller
          FROM kept AS k
         ORDER BY k.ord
        -- No RETURNING: that would need a SELECT policy, and the owner reads dead
        -- letters only while replaying.
    )
    SELECT k.cid, k.rid FROM kept AS k ORDER BY k.ord;

    PERFORM pg_catalog.set_config('tessera.ingest_client_ids', COALESCE(previous, ''), true);
END
$function$;

COMMENT ON FUNCTION tessera_private.write_dead_letters(jsonb) IS
    'Append refused measurements to tessera.savings_dead_letters (known fields only; unknown keys and personal-data tags kept by name only); the one builder of a dead letter. Called inside tessera.record_requests.';

REVOKE ALL ON FUNCTION tessera_private.write_dead_letters(jsonb) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.request_field_problems.sql
-- tessera_private.request_field_problems(fields): why these fields of a request element
-- (tessera.record_requests / record_request) are refused, as one message in field order:
-- "occurred_at must be an ISO 8601 timestamp string with a UTC offset; output_tokens must
-- be an integer".
--
-- tessera_private.ingest_requests decides WHICH fields have the wrong shape (with the
-- patterns of tessera_private.request_fields) and calls this only for an element that
-- has one, to say why: kept out of that statement so its plan, initialised on every
-- call, stays small.
CREATE FUNCTION tessera_private.request_field_problems(p_fields text[])
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.string_agg(f.field || ' must be ' || f.described, '; ' ORDER BY f.field)
      FROM tessera_private.request_fields() AS f
     WHERE f.field = ANY (p_fields)
$function$;

COMMENT ON FUNCTION tessera_private.request_field_problems(text[]) IS
    'Why these fields of a request element have the wrong shape (one message, in the words of tessera_private.request_fields). Called by tessera_private.ingest_requests for an element it refuses under rule 2.';

REVOKE ALL ON FUNCTION tessera_private.request_field_problems(text[]) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.ingest_requests.sql
-- tessera_private.ingest_requests(requests, dead_letter): THE implementation of recording
-- proxied requests in tessera.optimize_savings. tessera.record_request (one request,
-- raises on refusal) and tessera.record_requests (a batch, rejects per element and keeps
-- each rejection in tessera.savings_dead_letters) are thin wrappers over it, so the
-- validation, pricing, idempotency and replay rules exist once.
--
-- requests: a JSON array of objects whose keys are record_request's parameter names
-- without the p_ prefix. Returns one row per element, in input order:
--   recorded  written now (costs of the new row)
--   replayed  its (client_id, request_id) was already in the ledger, from an earlier
--             call or from an earlier element of this batch: nothing written, the
--             ORIGINAL row's figures returned, whatever this element says
--   rejected  refused: sqlstate, constraint_name, table_name and message say why
--             (exactly what record_request raises), and nothing of it is written to the
--             ledger. With dead_letter = true it is appended to savings_dead_letters.
--
-- Set-based: one statement validates every element, reads every workload, key and
-- price snapshot it needs, claims the keys and inserts the rows (data-modifying CTEs);
-- no statement or function call per element except the rules' own helpers
-- (tag_pii_kind for a tag, request_cost for a price).
--
-- The rules, in the order they are checked (the first failing one is reported):
--   1. the element is a JSON object                              22023
--   2. every present field has its type: uuid strings, a string
--      timestamp WITH a UTC offset (never the session's zone),
--      integer token counts, boolean batch, an array of names   22P02
--   3. client_id, workload_id, request_id, occurred_at, both
--      providers and models and uncached_input_tokens present    22004
--   -- (client_id, request_id) already recorded => replayed --
--   4. no other keys (a misspelt "ouput_tokens" is not 0)       22023
--   5. mechanics known (normalised to sorted + distinct)          23514 optimize_savings_mechanics_known
--   6. tags not personal data (tag_pii_kind)                      23514 optimize_savings_*_tag_not_pii
--   7. the workload is the client's                               23503 optimize_savings_workload_fkey
--   8. every mechanic that fired is opted in on the workload:     42501
--      a mechanic turned off while the request was in flight is
--      refused (and so dead-lettered by record_requests; see docs/usage-buckets.md)
--   9. a price in force at occurred_at for the requested, then
--      the routed model (pricing_catalog_select_definer_recording
--      admits closed versions: late measurements)                 P0002
--  10. batch_routing fired => priced as a batch                  23514
--  11. the table's CHECKs, tested here first so a bad element
--      does not abort the statement (request_id and model
--      lengths, tokens >= 0, reported totals = bucket sums,
--      finish_reason and tag lengths); the CHECKs stay the backstop  23514 <the CHECK's name>
-- Pricing (request_cost, the one implementation of the price rules) can still refuse a
-- valid-looking element (a price component the snapshot lacks, a batch above the tier),
-- as can anything the table refuses that is not mirrored above: then this statement
-- raises, and record_requests re-runs the batch one element at a time to isolate it.
--
-- Pricing (documented on tessera.record_request): original_cost_usd is the
-- counterfactual without Tessera (prompt_cache_header fired => every prompt token at the
-- uncached price; batch_routing fired => real-time prices); actual_cost_usd prices the
-- buckets as sent at the routed snapshot, 0 for a Tessera cache hit.
--
-- Row-level security: it runs as tessera_owner (the wrappers are SECURITY DEFINER), which
-- FORCE RLS confines. It sets the transaction-local tessera.ingest_client_ids to the
-- clients named in THIS batch (computed here from the input, never taken from the
-- caller) and clears it before returning; the owner's ingest policies on workloads,
-- savings_request_keys, optimize_savings and savings_dead_letters admit those clients'
-- rows only, and every read below is also keyed on the element's own client_id, so an
-- element never reads another client's workload, key or row. Not SECURITY DEFINER
-- itself, and executable only by its owner (no grant): only the wrappers call it.
CREATE FUNCTION tessera_private.ingest_requests(p_requests jsonb, p_dead_letter boolean)
RETURNS TABLE (ordinality integer, client_id uuid, request_id text, outcome text,
               sqlstate text, constraint_name text, table_name text, message text,
               occurred_at timestamptz, recorded_at timestamptz, requested_snapshot_id uuid,
               routed_snapshot_id uuid, original_cost_usd numeric, actual_cost_usd numeric,
               savings_usd numeric, mechanics text[])
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
-- One generic plan per session for the big statement below: a custom plan would be
-- planned anew on each of a session's first calls, and planning it costs more than
-- running it for a batch (the input is one jsonb parameter either way).
SET plan_cache_mode = force_generic_plan
AS $function$
#variable_conflict use_column
DECLARE
    -- The known mechanics (the mechanic_* columns of tessera.workloads), in C-collation
    -- order: filtering this list yields a stack already sorted and distinct.
    known CONSTANT text[] := ARRAY['auto_route', 'batch_routing', 'exact_cache', 'history_pruning',
                                   'json_schema_enforcement', 'prompt_cache_header', 'semantic_cache'];
    -- The element's vocabulary and the text patterns of its uuids, timestamp and counts
    -- (tessera_private.request_fields, the one list).
    fields text[];
    uuid_re text;
    ts_re text;
    count_re text;
    r record;
    late record;
    rejections jsonb := '[]'::jsonb;
BEGIN
    SELECT pg_catalog.array_agg(f.field),
           pg_catalog.max(f.pattern) FILTER (WHERE f.field = 'client_id'),
           pg_catalog.max(f.pattern) FILTER (WHERE f.field = 'occurred_at'),
           pg_catalog.max(f.pattern) FILTER (WHERE f.field = 'uncached_input_tokens')
      INTO fields, uuid_re, ts_re, count_re
      FROM tessera_private.request_fields() AS f;

    -- The batch's clients, as a uuid[] literal: a JSON array of the well-formed client_id
    -- strings (rule 2 refuses the others), its brackets turned into braces.
    PERFORM pg_catalog.set_config('tessera.ingest_client_ids',
        pg_catalog.translate(pg_catalog.jsonb_path_query_array(p_requests, pg_catalog.format(
            '$[*].client_id ? (@.type() == "string" && @ like_regex "%s")', uuid_re)::jsonpath)::text, '[]', '{}'),
        true);

    FOR r IN
        WITH elems AS (
            SELECT e.ord::integer AS ord, e.j, pg_catalog.jsonb_typeof(e.j) AS jtype
              FROM pg_catalog.jsonb_array_elements(p_requests) WITH ORDINALITY AS e(j, ord)
        ),
        -- Every field typed: NULL when absent, JSON null or of the wrong shape (a wrong
        -- shape is then reported by rule 2). The steps are MATERIALIZED: inlined, each
        -- later reference to a computed column would compute it again.
        typed AS MATERIALIZED (
            SELECT x.ord, x.j, x.jtype,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'client_id') = 'string' AND x.j->>'client_id' ~ uuid_re
                        THEN (x.j->>'client_id')::uuid END AS cid,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'workload_id') = 'string' AND x.j->>'workload_id' ~ uuid_re
                        THEN (x.j->>'workload_id')::uuid END AS wid,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'request_id') = 'string' THEN x.j->>'request_id' END AS rid,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'occurred_at') = 'string' AND x.j->>'occurred_at' ~ ts_re
                        THEN (x.j->>'occurred_at')::timestamptz END AS at,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'requested_provider') = 'string' THEN x.j->>'requested_provider' END AS req_provider,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'requested_model') = 'string' THEN x.j->>'requested_model' END AS req_model,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'routed_provider') = 'string' THEN x.j->>'routed_provider' END AS rte_provider,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'routed_model') = 'string' THEN x.j->>'routed_model' END AS rte_model,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'uncached_input_tokens') = 'number' AND x.j->>'uncached_input_tokens' ~ count_re
                        THEN (x.j->>'uncached_input_tokens')::bigint END AS uncached,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'cache_read_input_tokens') = 'number' AND x.j->>'cache_read_input_tokens' ~ count_re
                        THEN (x.j->>'cache_read_input_tokens')::bigint END AS cache_read_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'cache_write_5m_input_tokens') = 'number' AND x.j->>'cache_write_5m_input_tokens' ~ count_re
                        THEN (x.j->>'cache_write_5m_input_tokens')::bigint END AS cache_5m_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'cache_write_1h_input_tokens') = 'number' AND x.j->>'cache_write_1h_input_tokens' ~ count_re
                        THEN (x.j->>'cache_write_1h_input_tokens')::bigint END AS cache_1h_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'output_tokens') = 'number' AND x.j->>'output_tokens' ~ count_re
                        THEN (x.j->>'output_tokens')::bigint END AS output_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'reasoning_tokens') = 'number' AND x.j->>'reasoning_tokens' ~ count_re
                        THEN (x.j->>'reasoning_tokens')::bigint END AS reasoning,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'reported_input_tokens') = 'number' AND x.j->>'reported_input_tokens' ~ count_re
                        THEN (x.j->>'reported_input_tokens')::bigint END AS rep_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'reported_output_tokens') = 'number' AND x.j->>'reported_output_tokens' ~ count_re
                        THEN (x.j->>'reported_output_tokens')::bigint END AS rep_out,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'batch') = 'boolean' THEN (x.j->>'batch')::boolean END AS batch_in,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'mechanics') = 'array'
                             AND NOT pg_catalog.jsonb_path_exists(x.j->'mechanics', '$[*] ? (@.type() != "string" && @.type() != "null")')
                        THEN ARRAY(SELECT m FROM pg_catalog.jsonb_array_elements_text(x.j->'mechanics') AS m) END AS mech_raw,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'finish_reason') = 'string' THEN x.j->>'finish_reason' END AS finish,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'feature_tag') = 'string' THEN x.j->>'feature_tag' END AS ftag,
                   CASE WHEN pg_catalog.jsonb_typeof(x.j->'customer_tag') = 'string' THEN x.j->>'customer_tag' END AS ctag
              FROM elems AS x
        ),
        -- Rules 1-3, before the replay check (without them there is no key to look up),
        -- and the lookups.
        -- The messages' details are computed only for an element that fails.
        shaped AS MATERIALIZED (
            SELECT t.*,
                   COALESCE(t.cache_read_in, 0) AS cache_read, COALESCE(t.cache_5m_in, 0) AS cache_5m,
                   COALESCE(t.cache_1h_in, 0) AS cache_1h, COALESCE(t.output_in, 0) AS output,
                   COALESCE(t.batch_in, false) AS batch,
                   CASE WHEN t.jtype IS DISTINCT FROM 'object' THEN
                            ARRAY['22023', NULL, NULL, 'each request must be a JSON object, got ' || COALESCE(t.jtype, 'nothing')]
                        WHEN pg_catalog.cardinality(b.bad_fields) > 0 THEN
                            ARRAY['22P02', NULL, NULL, 'invalid request field(s): ' || tessera_private.request_field_problems(b.bad_fields)]
                        WHEN t.cid IS NULL OR t.wid IS NULL OR t.rid IS NULL OR t.at IS NULL OR t.req_provider IS NULL
                             OR t.req_model IS NULL OR t.rte_provider IS NULL OR t.rte_model IS NULL OR t.uncached IS NULL THEN
                            ARRAY['22004', NULL, NULL,
                                  'client, workload, request_id, occurred_at, both models and uncached_input_tokens are required (missing: '
                                  || pg_catalog.concat_ws(', ',
                                         CASE WHEN t.cid IS NULL THEN 'client_id' END, CASE WHEN t.wid IS NULL THEN 'workload_id' END,
                                         CASE WHEN t.rid IS NULL THEN 'request_id' END, CASE WHEN t.at IS NULL THEN 'occurred_at' END,
                                         CASE WHEN t.req_provider IS NULL THEN 'requested_provider' END,
                                         CASE WHEN t.req_model IS NULL THEN 'requested_model' END,
                                         CASE WHEN t.rte_provider IS NULL THEN 'routed_provider' END,
                                         CASE WHEN t.rte_model IS NULL THEN 'routed_model' END,
                                         CASE WHEN t.uncached IS NULL THEN 'uncached_input_tokens' END) || ')']
                   END AS pre,
                   -- Normalised stack: the known list filtered, so sorted and distinct.
                   CASE WHEN t.mech_raw IS NULL OR pg_catalog.cardinality(t.mech_raw) = 0 THEN '{}'::text[]
                        ELSE ARRAY(SELECT k FROM pg_catalog.unnest(known) AS k WHERE k = ANY (t.mech_raw)) END AS mech,
                   CASE WHEN t.ftag IS NOT NULL THEN tessera_private.tag_pii_kind(t.ftag) END AS ftag_pii,
                   CASE WHEN t.ctag IS NOT NULL THEN tessera_private.tag_pii_kind(t.ctag) END AS ctag_pii,
                   -- What the element needs from the tables: its key (replay?), its
                   -- workload's opt-ins (NULL: no such workload of this client) and the two
                   -- snapshots in force at occurred_at. Each is one index probe per element
                   -- (a correlated subquery): a join would let the planner, which expects 100
                   -- elements from any JSON array, hash a whole table instead. An element
                   -- without the fields to look up finds nothing.
                   (SELECT k.occurred_at FROM tessera.savings_request_keys AS k
                         WHERE k.client_id = t.cid AND k.request_id = t.rid) AS key_at,
                   (SELECT pg_catalog.array_remove(ARRAY[
                                   CASE WHEN w.mechanic_auto_route THEN 'auto_route' END,
                                   CASE WHEN w.mechanic_batch_routing THEN 'batch_routing' END,
                                   CASE WHEN w.mechanic_exact_cache THEN 'exact_cache' END,
                                   CASE WHEN w.mechanic_history_pruning THEN 'history_pruning' END,
                                   CASE WHEN w.mechanic_json_schema_enforcement THEN 'json_schema_enforcement' END,
                                   CASE WHEN w.mechanic_prompt_cache_header THEN 'prompt_cache_header' END,
                                   CASE WHEN w.mechanic_semantic_cache THEN 'semantic_cache' END], NULL)
                          FROM tessera.workloads AS w
                         WHERE w.client_id = t.cid AND w.workload_id = t.wid) AS opted_in,
                   (SELECT p FROM tessera.pricing_catalog AS p
                         WHERE p.provider = t.req_provider AND p.model = t.req_model AND p.effective_from <= t.at
                           AND (p.effective_to IS NULL OR t.at < p.effective_to)
                         ORDER BY p.effective_from DESC LIMIT 1) AS req,
                   (SELECT p FROM tessera.pricing_catalog AS p
                         WHERE p.provider = t.rte_provider AND p.model = t.rte_model AND p.effective_from <= t.at
                           AND (p.effective_to IS NULL OR t.at < p.effective_to)
                         ORDER BY p.effective_from DESC LIMIT 1) AS rte
              FROM typed AS t
              -- The present, non-null fields that did not type: rule 2.
              CROSS JOIN LATERAL (SELECT pg_catalog.array_remove(ARRAY[
                       CASE WHEN t.cid IS NULL AND t.j->'client_id' <> 'null'::jsonb THEN 'client_id' END,
                       CASE WHEN t.wid IS NULL AND t.j->'workload_id' <> 'null'::jsonb THEN 'workload_id' END,
                       CASE WHEN t.rid IS NULL AND t.j->'request_id' <> 'null'::jsonb THEN 'request_id' END,
                       CASE WHEN t.at IS NULL AND t.j->'occurred_at' <> 'null'::jsonb THEN 'occurred_at' END,
                       CASE WHEN t.req_provider IS NULL AND t.j->'requested_provider' <> 'null'::jsonb THEN 'requested_provider' END,
                       CASE WHEN t.req_model IS NULL AND t.j->'requested_model' <> 'null'::jsonb THEN 'requested_model' END,
                       CASE WHEN t.rte_provider IS NULL AND t.j->'routed_provider' <> 'null'::jsonb THEN 'routed_provider' END,
                       CASE WHEN t.rte_model IS NULL AND t.j->'routed_model' <> 'null'::jsonb THEN 'routed_model' END,
                       CASE WHEN t.uncached IS NULL AND t.j->'uncached_input_tokens' <> 'null'::jsonb THEN 'uncached_input_tokens' END,
                       CASE WHEN t.cache_read_in IS NULL AND t.j->'cache_read_input_tokens' <> 'null'::jsonb THEN 'cache_read_input_tokens' END,
                       CASE WHEN t.cache_5m_in IS NULL AND t.j->'cache_write_5m_input_tokens' <> 'null'::jsonb THEN 'cache_write_5m_input_tokens' END,
                       CASE WHEN t.cache_1h_in IS NULL AND t.j->'cache_write_1h_input_tokens' <> 'null'::jsonb THEN 'cache_write_1h_input_tokens' END,
                       CASE WHEN t.output_in IS NULL AND t.j->'output_tokens' <> 'null'::jsonb THEN 'output_tokens' END,
                       CASE WHEN t.reasoning IS NULL AND t.j->'reasoning_tokens' <> 'null'::jsonb THEN 'reasoning_tokens' END,
                       CASE WHEN t.rep_in IS NULL AND t.j->'reported_input_tokens' <> 'null'::jsonb THEN 'reported_input_tokens' END,
                       CASE WHEN t.rep_out IS NULL AND t.j->'reported_output_tokens' <> 'null'::jsonb THEN 'reported_output_tokens' END,
                       CASE WHEN t.batch_in IS NULL AND t.j->'batch' <> 'null'::jsonb THEN 'batch' END,
                       CASE WHEN t.mech_raw IS NULL AND t.j->'mechanics' <> 'null'::jsonb THEN 'mechanics' END,
                       CASE WHEN t.finish IS NULL AND t.j->'finish_reason' <> 'null'::jsonb THEN 'finish_reason' END,
                       CASE WHEN t.ftag IS NULL AND t.j->'feature_tag' <> 'null'::jsonb THEN 'feature_tag' END,
                       CASE WHEN t.ctag IS NULL AND t.j->'customer_tag' <> 'null'::jsonb THEN 'customer_tag' END], NULL) AS bad_fields) AS b
        ),
        -- Rules 4-11.
        checked AS MATERIALIZED (
            SELECT l.*, (l.req).pricing_snapshot_id AS req_sid, (l.rte).pricing_snapshot_id AS rte_sid,
                   CASE WHEN l.pre IS NOT NULL OR l.key_at IS NOT NULL THEN NULL
                        WHEN (l.j - fields) <> '{}'::jsonb THEN
                            ARRAY['22023', NULL, NULL, 'unknown request field(s): '
                                  || (SELECT pg_catalog.string_agg(u, ', ' ORDER BY u)
                                        FROM pg_catalog.jsonb_object_keys(l.j - fields) AS u)]
                        WHEN NOT (l.mech_raw <@ known) THEN
                            ARRAY['23514', 'optimize_savings_mechanics_known', 'optimize_savings',
                                  'unknown mechanic(s): '
                                  || (SELECT pg_catalog.string_agg(COALESCE(m, 'NULL'), ', ' ORDER BY n)
                                        FROM pg_catalog.unnest(l.mech_raw) WITH ORDINALITY AS u(m, n)
                                       WHERE m IS NULL OR m <> ALL (known))
                                  || '; known: ' || pg_catalog.array_to_string(known, ', ')]
                        WHEN l.ftag_pii IS NOT NULL OR l.ctag_pii IS NOT NULL THEN
                            ARRAY['23514',
                                  CASE WHEN l.ftag_pii IS NOT NULL THEN 'optimize_savings_feature_tag_not_pii'
                                       ELSE 'optimize_savings_customer_tag_not_pii' END,
                                  'optimize_savings',
                                  CASE WHEN l.ftag_pii IS NOT NULL THEN 'feature_tag' ELSE 'customer_tag' END
                                  || ' looks like '
                                  || CASE COALESCE(l.ftag_pii, l.ctag_pii) WHEN 'email' THEN 'an email address'
                                          WHEN 'phone' THEN 'a phone number' ELSE 'a payment card number' END
                                  || ' (we never store end-user personal data)']
                        WHEN l.opted_in IS NULL THEN
                            ARRAY['23503', 'optimize_savings_workload_fkey', 'optimize_savings',
                                  pg_catalog.format('workload %s does not belong to client %s', l.wid, l.cid)]
                        WHEN NOT (l.mech <@ l.opted_in) THEN
                            ARRAY['42501', NULL, 'optimize_savings',
                                  pg_catalog.format('workload %s has not opted in to mechanic(s): %s', l.wid,
                                      pg_catalog.array_to_string(ARRAY(SELECT m FROM pg_catalog.unnest(l.mech) AS m
                                                                        WHERE m <> ALL (l.opted_in)), ', '))]
                        WHEN (l.req).pricing_snapshot_id IS NULL THEN
                            ARRAY['P0002', NULL, 'pricing_catalog',
                                  pg_catalog.format('no price in force for requested model %s/%s at %s',
                                                    l.req_provider, l.req_model, l.at)]
                        WHEN (l.rte).pricing_snapshot_id IS NULL THEN
                            ARRAY['P0002', NULL, 'pricing_catalog',
                                  pg_catalog.format('no price in force for routed model %s/%s at %s',
                                                    l.rte_provider, l.rte_model, l.at)]
                        WHEN 'batch_routing' = ANY (l.mech) AND NOT l.batch THEN
                            ARRAY['23514', NULL, 'optimize_savings',
                                  'batch_routing fired but the request was not priced as a batch (p_batch is false)']
                        -- The table's CHECKs, in the order they are declared (PostgreSQL's wording).
                        WHEN NOT pg_catalog.char_length(l.rid) BETWEEN 1 AND 200 THEN
                            ARRAY['23514', 'optimize_savings_request_id_length', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_request_id_length"']
                        WHEN NOT (pg_catalog.char_length(l.req_provider) BETWEEN 1 AND 100
                                  AND pg_catalog.char_length(l.req_model) BETWEEN 1 AND 200
                                  AND pg_catalog.char_length(l.rte_provider) BETWEEN 1 AND 100
                                  AND pg_catalog.char_length(l.rte_model) BETWEEN 1 AND 200) THEN
                            ARRAY['23514', 'optimize_savings_models_length', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_models_length"']
                        WHEN NOT (l.uncached >= 0 AND l.cache_read >= 0 AND l.cache_5m >= 0 AND l.cache_1h >= 0
                                  AND l.output >= 0 AND COALESCE(l.reasoning, 0) >= 0) THEN
                            ARRAY['23514', 'optimize_savings_tokens_non_negative', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_tokens_non_negative"']
                        WHEN l.rep_in IS NOT NULL AND l.rep_in <> l.uncached + l.cache_read + l.cache_5m + l.cache_1h THEN
                            ARRAY['23514', 'optimize_savings_input_total_matches', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_input_total_matches"']
                        WHEN l.rep_out IS NOT NULL AND l.rep_out <> l.output + COALESCE(l.reasoning, 0) THEN
                            ARRAY['23514', 'optimize_savings_output_total_matches', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_output_total_matches"']
                        WHEN NOT COALESCE(pg_catalog.char_length(l.finish) BETWEEN 1 AND 64, true) THEN
                            ARRAY['23514', 'optimize_savings_finish_reason_length', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_finish_reason_length"']
                        WHEN NOT COALESCE(pg_catalog.char_length(l.ftag) BETWEEN 1 AND 100, true) THEN
                            ARRAY['23514', 'optimize_savings_feature_tag_length', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_feature_tag_length"']
                        WHEN NOT COALESCE(pg_catalog.char_length(l.ctag) BETWEEN 1 AND 100, true) THEN
                            ARRAY['23514', 'optimize_savings_customer_tag_length', 'optimize_savings',
                                  'new row for relation "optimize_savings" violates check constraint "optimize_savings_customer_tag_length"']
                   END AS post
              FROM shaped AS l
        ),
        -- The first valid occurrence of each new key claims it (a concurrent claimer is
        -- waited for; if it commits, this element is a replay).
        firsts AS (
            SELECT DISTINCT ON (c.cid, c.rid) c.*
              FROM checked AS c
             WHERE c.pre IS NULL AND c.key_at IS NULL AND c.post IS NULL
             ORDER BY c.cid, c.rid, c.ord
        ),
        claimed AS (
            INSERT INTO tessera.savings_request_keys AS k (client_id, request_id, occurred_at)
            SELECT f.cid, f.rid, f.at FROM firsts AS f ORDER BY f.ord
            ON CONFLICT ON CONSTRAINT savings_request_keys_pkey DO NOTHING
            RETURNING k.client_id, k.request_id
        ),
        priced AS (
            SELECT f.*,
                   'prompt_cache_header' = ANY (f.mech) AS cache_credit,
                   'batch_routing' = ANY (f.mech) AS batch_credit,
                   tessera_private.request_cost(f.req,
                       CASE WHEN 'prompt_cache_header' = ANY (f.mech)
                            THEN f.uncached + f.cache_read + f.cache_5m + f.cache_1h ELSE f.uncached END,
                       CASE WHEN 'prompt_cache_header' = ANY (f.mech) THEN 0 ELSE f.cache_read END,
                       CASE WHEN 'prompt_cache_header' = ANY (f.mech) THEN 0 ELSE f.cache_5m END,
                       CASE WHEN 'prompt_cache_header' = ANY (f.mech) THEN 0 ELSE f.cache_1h END,
                       f.output, f.reasoning, f.batch AND NOT 'batch_routing' = ANY (f.mech)) AS orig
              FROM firsts AS f
              JOIN claimed AS cl ON cl.client_id = f.cid AND cl.request_id = f.rid
        ),
        inserted AS (
            INSERT INTO tessera.optimize_savings AS s (
                client_id, workload_id, request_id, occurred_at, requested_provider, requested_model,
                routed_provider, routed_model, requested_snapshot_id, routed_snapshot_id,
                uncached_input_tokens, cache_read_input_tokens, cache_write_5m_input_tokens,
                cache_write_1h_input_tokens, output_tokens, reasoning_tokens, reported_input_tokens,
                reported_output_tokens, batch, original_cost_usd, actual_cost_usd, mechanics,
                finish_reason, feature_tag, customer_tag)
            SELECT p.cid, p.wid, p.rid, p.at, p.req_provider, p.req_model, p.rte_provider, p.rte_model,
                   p.req_sid, p.rte_sid, p.uncached, p.cache_read, p.cache_5m, p.cache_1h, p.output,
                   p.reasoning, p.rep_in, p.rep_out, p.batch, p.orig,
                   CASE WHEN p.mech && ARRAY['exact_cache', 'semantic_cache'] THEN 0
                        WHEN p.rte_sid = p.req_sid AND NOT (p.cache_credit OR p.batch_credit) THEN p.orig
                        ELSE tessera_private.request_cost(p.rte, p.uncached, p.cache_read, p.cache_5m,
                                                          p.cache_1h, p.output, p.reasoning, p.batch) END,
                   p.mech, p.finish, p.ftag, p.ctag
              FROM priced AS p
             ORDER BY p.ord
            RETURNING s.client_id, s.request_id, s.occurred_at, s.recorded_at, s.requested_snapshot_id,
                      s.routed_snapshot_id, s.original_cost_usd, s.actual_cost_usd, s.savings_usd, s.mechanics
        )
        SELECT c.ord, c.cid, c.rid, c.j,
               CASE WHEN c.pre IS NOT NULL THEN 'rejected'
                    WHEN c.key_at IS NOT NULL THEN 'replayed'
                    WHEN i.request_id IS NOT NULL AND c.ord = f.ord THEN 'recorded'
                    WHEN i.request_id IS NOT NULL THEN 'replayed'   -- a later occurrence in this batch
                    WHEN c.post IS NOT NULL THEN 'rejected'
                    ELSE 'replayed'                                 -- its key went to a concurrent writer
               END AS outcome,
               COALESCE(c.pre, c.post) AS why,
               COALESCE(o.occurred_at, i.occurred_at) AS occurred_at,
               COALESCE(o.recorded_at, i.recorded_at) AS recorded_at,
               COALESCE(o.requested_snapshot_id, i.requested_snapshot_id) AS requested_snapshot_id,
               COALESCE(o.routed_snapshot_id, i.routed_snapshot_id) AS routed_snapshot_id,
               COALESCE(o.original_cost_usd, i.original_cost_usd) AS original_cost_usd,
               COALESCE(o.actual_cost_usd, i.actual_cost_usd) AS actual_cost_usd,
               COALESCE(o.savings_usd, i.savings_usd) AS savings_usd,
               COALESCE(o.mechanics, i.mechanics) AS mechanics
          FROM checked AS c
          LEFT JOIN firsts AS f ON f.cid = c.cid AND f.rid = c.rid
          LEFT JOIN inserted AS i ON i.client_id = c.cid AND i.request_id = c.rid
          -- A replay's original: one probe of one partition (LIMIT keeps it a per-element
          -- lookup rather than a join over the whole ledger).
          LEFT JOIN LATERAL (
              SELECT o.occurred_at, o.recorded_at, o.requested_snapshot_id, o.routed_snapshot_id,
                     o.original_cost_usd, o.actual_cost_usd, o.savings_usd, o.mechanics
                FROM tessera.optimize_savings AS o
               WHERE c.pre IS NULL AND c.key_at IS NOT NULL AND o.client_id = c.cid AND o.request_id = c.rid
                 AND o.occurred_at = c.key_at
               LIMIT 1) AS o ON true
         ORDER BY c.ord
    LOOP
        IF r.outcome = 'replayed' AND r.recorded_at IS NULL THEN
            -- Its key was claimed by a writer that committed after this statement began:
            -- a new statement sees the original.
            SELECT s.occurred_at, s.recorded_at, s.requested_snapshot_id, s.routed_snapshot_id,
                   s.original_cost_usd, s.actual_cost_usd, s.savings_usd, s.mechanics
              INTO late
              FROM tessera.savings_request_keys AS k
              JOIN tessera.optimize_savings AS s
                ON s.client_id = k.client_id AND s.request_id = k.request_id AND s.occurred_at = k.occurred_at
             WHERE k.client_id = r.cid AND k.request_id = r.rid;
            r.occurred_at := late.occurred_at;
            r.recorded_at := late.recorded_at;
            r.requested_snapshot_id := late.requested_snapshot_id;
            r.routed_snapshot_id := late.routed_snapshot_id;
            r.original_cost_usd := late.original_cost_usd;
            r.actual_cost_usd := late.actual_cost_usd;
            r.savings_usd := late.savings_usd;
            r.mechanics := late.mechanics;
        END IF;
        IF r.outcome = 'rejected' AND p_dead_letter THEN
            rejections := rejections || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'element', r.j, 'sqlstate', r.why[1], 'constraint', r.why[2], 'reason', r.why[4]));
        END IF;
        ordinality := r.ord;
        client_id := r.cid;
        request_id := r.rid;
        outcome := r.outcome;
        sqlstate := r.why[1];
        constraint_name := r.why[2];
        table_name := r.why[3];
        message := r.why[4];
        occurred_at := r.occurred_at;
        recorded_at := r.recorded_at;
        requested_snapshot_id := r.requested_snapshot_id;
        routed_snapshot_id := r.routed_snapshot_id;
        original_cost_usd := r.original_cost_usd;
        actual_cost_usd := r.actual_cost_usd;
        savings_usd := r.savings_usd;
        mechanics := r.mechanics;
        RETURN NEXT;
    END LOOP;

    IF pg_catalog.jsonb_array_length(rejections) > 0 THEN
        PERFORM tessera_private.write_dead_letters(rejections);
    END IF;
    PERFORM pg_catalog.set_config('tessera.ingest_client_ids', '', true);
END
$function$;

COMMENT ON FUNCTION tessera_private.ingest_requests(jsonb, boolean) IS
    'The one implementation of recording proxied requests (validation, pricing, idempotency, replay), set-based over a JSON array; outcome per element: recorded, replayed or rejected (with SQLSTATE, constraint and message). Called only by tessera.record_request and tessera.record_requests.';

REVOKE ALL ON FUNCTION tessera_private.ingest_requests(jsonb, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- functions/tessera.record_request.sql (replaced)
-- tessera.record_request(...): record one proxied request in tessera.optimize_savings,
-- pricing it in the database, and return the row's key fields and costs.
--
-- Callers: the proxy login (tessera_proxy), and service_role (spool replay; see the
-- GRANT). SECURITY DEFINER, so the proxy holds
-- no table privilege at all and reads back nothing but what this returns. As
-- tessera_owner it is still bound by FORCE RLS: ingest_requests sets the
-- transaction-local tessera.ingest_client_ids to p_client_id, which the owner's ingest
-- policies on optimize_savings, savings_request_keys and workloads admit (that one
-- client's rows, nothing else), and clears it before returning.
--
-- Idempotency: the key (client_id, request_id) is claimed in tessera.savings_request_keys
-- (INSERT ... ON CONFLICT DO NOTHING; a concurrent claimer is waited for). If it was
-- already claimed, NOTHING is written and the ORIGINAL row is returned with
-- replayed = true, whatever the replay's payload says.
--
-- One request is a batch of one: tessera_private.ingest_requests holds the validation,
-- pricing, idempotency and replay rules for this function and tessera.record_requests
-- alike (the rules, in the order they are checked, are listed there). A refusal here
-- RAISES the SQLSTATE, constraint and message that record_requests reports for a
-- rejected element, writes nothing, and is NOT dead-lettered (the error rolls the
-- caller's transaction back; the caller holds the request). A proxy should call
-- record_requests, which keeps every refusal (docs/usage-buckets.md, README hot path).
--
-- Pricing (each model priced at the pricing_catalog version in force at occurred_at:
-- effective_from <= occurred_at < effective_to; none => P0002 no_data_found):
--   prompt = uncached + cache_read + cache_write_5m + cache_write_1h tokens.
--   Above tier: when the snapshot has tier_threshold_tokens and prompt > threshold,
--     uncached input uses above_tier_input, output and reasoning above_tier_output,
--     cache reads above_tier_cache_read; cache writes keep their own prices (no source
--     publishes above-tier cache-write prices).
--   Batch: uncached input uses batch_input, output and reasoning batch_output; a batch
--     request above the tier is refused (no source prices that combination).
--   Cache reads use cache_read (or above_tier_cache_read); cache writes use
--     cache_write_5m / cache_write_1h.
--   A component needed for a non-zero bucket but absent from the snapshot (NULL) is
--     REFUSED with P0002 naming it: we never guess (e.g. charging cache reads at the
--     input price overstates savings from caching).
--   cost = sum(tokens x price), exact numeric, no rounding.
--   original_cost_usd is the counterfactual: the request without Tessera. It prices the
--   buckets at the requested model's snapshot, except that when Tessera itself turned
--   on a cheaper way of paying for the same tokens, the original did not have it:
--     prompt_cache_header fired -> every prompt token at the uncached input price (no
--       cache reads, no cache-write premium);
--     batch_routing fired       -> real-time prices (and p_batch must be true, 23514).
--   actual_cost_usd prices the buckets as sent, at the routed model's snapshot, except
--   that a Tessera cache hit (exact_cache or semantic_cache fired) made no provider
--   call: actual_cost_usd = 0. history_pruning's saving is not credited: the proxy
--   does not report the pre-pruning prompt size, and we never guess it.
-- Rows are never re-priced: they keep the snapshot ids and costs they were written with.
CREATE OR REPLACE FUNCTION tessera.record_request(
    p_client_id                   uuid,
    p_workload_id                 uuid,
    p_request_id                  text,
    p_occurred_at                 timestamptz,
    p_requested_provider          text,
    p_requested_model             text,
    p_routed_provider             text,
    p_routed_model                text,
    p_uncached_input_tokens       bigint,
    p_cache_read_input_tokens     bigint DEFAULT 0,
    p_cache_write_5m_input_tokens bigint DEFAULT 0,
    p_cache_write_1h_input_tokens bigint DEFAULT 0,
    p_output_tokens               bigint DEFAULT 0,
    p_reasoning_tokens            bigint DEFAULT NULL,
    p_batch                       boolean DEFAULT false,
    p_mechanics                   text[] DEFAULT '{}',
    p_finish_reason               text DEFAULT NULL,
    p_feature_tag                 text DEFAULT NULL,
    p_customer_tag                text DEFAULT NULL,
    p_reported_input_tokens       bigint DEFAULT NULL,
    p_reported_output_tokens      bigint DEFAULT NULL)
RETURNS TABLE (client_id uuid, request_id text, occurred_at timestamptz, recorded_at timestamptz,
               requested_snapshot_id uuid, routed_snapshot_id uuid, original_cost_usd numeric,
               actual_cost_usd numeric, savings_usd numeric, mechanics text[], replayed boolean)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    o record;
BEGIN
    SELECT * INTO o
      FROM tessera_private.ingest_requests(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
               'client_id', p_client_id, 'workload_id', p_workload_id, 'request_id', p_request_id,
               'occurred_at', p_occurred_at, 'requested_provider', p_requested_provider,
               'requested_model', p_requested_model, 'routed_provider', p_routed_provider,
               'routed_model', p_routed_model, 'uncached_input_tokens', p_uncached_input_tokens,
               'cache_read_input_tokens', p_cache_read_input_tokens,
               'cache_write_5m_input_tokens', p_cache_write_5m_input_tokens,
               'cache_write_1h_input_tokens', p_cache_write_1h_input_tokens,
               'output_tokens', p_output_tokens, 'reasoning_tokens', p_reasoning_tokens, 'batch', p_batch,
               'mechanics', p_mechanics, 'finish_reason', p_finish_reason, 'feature_tag', p_feature_tag,
               'customer_tag', p_customer_tag, 'reported_input_tokens', p_reported_input_tokens,
               'reported_output_tokens', p_reported_output_tokens)), false) AS r;
    IF o.outcome = 'rejected' THEN
        RAISE EXCEPTION USING ERRCODE = o.sqlstate, MESSAGE = o.message,
                              CONSTRAINT = COALESCE(o.constraint_name, ''),
                              TABLE = COALESCE(o.table_name, ''), SCHEMA = 'tessera';
    END IF;
    client_id := o.client_id;
    request_id := o.request_id;
    occurred_at := o.occurred_at;
    recorded_at := o.recorded_at;
    requested_snapshot_id := o.requested_snapshot_id;
    routed_snapshot_id := o.routed_snapshot_id;
    original_cost_usd := o.original_cost_usd;
    actual_cost_usd := o.actual_cost_usd;
    savings_usd := o.savings_usd;
    mechanics := o.mechanics;
    replayed := (o.outcome = 'replayed');
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) IS
    'Record one proxied request in tessera.optimize_savings, priced in the database at the snapshots in force at occurred_at; a replayed (client_id, request_id) writes nothing and returns the original (replayed = true). Proxy login and service_role only.';

REVOKE ALL ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) FROM PUBLIC; -- functions are executable by PUBLIC by default
-- The proxy worker records measurements. service_role too, for the one server-side job
-- that has them: replaying the proxy's spooled measurements after an outage (and the
-- demo loader). It can forge no more than the proxy can: costs are computed here from
-- the snapshots, and a replay of a recorded request_id changes nothing.
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) TO service_role;

-- >>> functions/tessera.record_requests.sql
-- tessera.record_requests(requests): record a batch of proxied requests; the proxy's hot
-- path (tessera_db.usage.record_many splits and sends them).
--
-- requests: a JSON array of 1 to 1000 objects whose keys are tessera.record_request's
-- parameter names without the p_ prefix (client_id, workload_id, request_id,
-- occurred_at, requested_provider, ... reported_output_tokens; occurred_at as an ISO
-- 8601 string with a UTC offset). Elements may belong to different clients.
--
-- Returns one row per element, in input order: its ordinality (1-based), client_id and
-- request_id as sent, outcome recorded | replayed | rejected, and for a rejection the
-- SQLSTATE and message tessera.record_request would have raised; for the others the
-- costs of the row in the ledger (a replay returns the ORIGINAL row's costs).
--
-- Loss-free: one bad element never fails, blocks or loses the others. A rejected
-- element writes nothing to the ledger and is appended to tessera.savings_dead_letters
-- (its reason and the fields to replay it: tessera.replay_dead_letters). A request_id
-- repeated inside the batch is recorded once; its later occurrences are 'replayed'.
--
-- One implementation: tessera_private.ingest_requests (the same one record_request
-- uses) does the work in one set-based statement. What that statement cannot test
-- element by element before writing (request_cost refusing a snapshot without the
-- price component a bucket needs, an impossible calendar date, anything the table
-- refuses that the core does not mirror) makes the statement fail; the batch is then
-- run again one element at a time, each in its own subtransaction, so the failing
-- element is rejected with the database's own SQLSTATE, constraint and message and the
-- others are recorded. Transient failures (serialization, deadlock, lock timeout,
-- cancellation) are not rejections: they are raised, nothing of the batch is kept, and
-- the caller retries it (replays make a retry safe).
--
-- Errors of the call itself: not a JSON array, or 0 or more than 1000 elements: 22023,
-- nothing written.
--
-- SECURITY DEFINER: the proxy holds no table privilege. EXECUTE for tessera_proxy and
-- service_role (replaying the proxy's spool and the dead letters) only.
CREATE FUNCTION tessera.record_requests(p_requests jsonb)
RETURNS TABLE (ordinality integer, client_id uuid, request_id text, outcome text, sqlstate text,
               message text, original_cost_usd numeric, actual_cost_usd numeric, savings_usd numeric)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    max_elements CONSTANT integer := 1000;
    n integer;
    elem jsonb;
    pos integer;
    err_state text;
    err_message text;
    err_constraint text;
BEGIN
    IF p_requests IS NULL OR pg_catalog.jsonb_typeof(p_requests) <> 'array' THEN
        RAISE EXCEPTION 'record_requests takes a JSON array of request objects'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    n := pg_catalog.jsonb_array_length(p_requests);
    IF n < 1 OR n > max_elements THEN
        RAISE EXCEPTION 'record_requests takes 1 to % requests per call, got %', max_elements, n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    BEGIN
        RETURN QUERY
            SELECT o.ordinality, o.client_id, o.request_id, o.outcome, o.sqlstate, o.message,
                   o.original_cost_usd, o.actual_cost_usd, o.savings_usd
              FROM tessera_private.ingest_requests(p_requests, true) AS o;
        RETURN;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE;
        IF err_state LIKE '40%' OR err_state IN ('55P03', '57014') THEN
            RAISE;
        END IF;
    END;

    -- Isolate the element(s) the set-based statement could not take.
    FOR elem, pos IN
        SELECT e.j, e.ord::integer FROM pg_catalog.jsonb_array_elements(p_requests) WITH ORDINALITY AS e(j, ord)
    LOOP
        BEGIN
            RETURN QUERY
                SELECT pos, o.client_id, o.request_id, o.outcome, o.sqlstate, o.message,
                       o.original_cost_usd, o.actual_cost_usd, o.savings_usd
                  FROM tessera_private.ingest_requests(pg_catalog.jsonb_build_array(elem), true) AS o;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                                    err_constraint = CONSTRAINT_NAME;
            IF err_state LIKE '40%' OR err_state IN ('55P03', '57014') THEN
                RAISE;
            END IF;
            RETURN QUERY
                SELECT pos, NULLIF(w.client_id, '00000000-0000-0000-0000-000000000000'::uuid), w.request_id,
                       'rejected'::text, err_state, err_message, NULL::numeric, NULL::numeric, NULL::numeric
                  FROM tessera_private.write_dead_letters(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                           'element', elem, 'sqlstate', err_state, 'constraint', err_constraint,
                           'reason', err_message))) AS w;
        END;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION tessera.record_requests(jsonb) IS
    'Record a batch (1..1000, JSON array of record_request fields) of proxied requests, possibly of several clients; one outcome row per element in input order: recorded, replayed (original costs) or rejected (SQLSTATE, message; kept in savings_dead_letters). One bad element never fails the others. tessera_proxy and service_role only.';

REVOKE ALL ON FUNCTION tessera.record_requests(jsonb) FROM PUBLIC; -- functions are executable by PUBLIC by default
-- The proxy worker records measurements; service_role replays the proxy's spool and the
-- dead letters (it can forge no more than the proxy: costs are computed here).
GRANT EXECUTE ON FUNCTION tessera.record_requests(jsonb) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.record_requests(jsonb) TO service_role;

-- >>> functions/tessera.replay_dead_letters.sql
-- tessera.replay_dead_letters(client_id, max_requests): retry the open dead letters
-- (tessera-db savings replay-rejected), e.g. after the missing price was published.
--
-- Open = a request (client_id, request_id) with a 'rejected' row and no 'resolved' row.
-- Each is retried once, with the fields of its LATEST rejected row, through
-- tessera.record_requests (the same rules as the proxy's calls; at most 1000 per
-- statement), oldest first, at most max_requests per call (NULL client = every client).
--   recorded / replayed  a 'resolved' row is appended (recorded: written now, exactly
--                        once: the request_id is the idempotency key; replayed: it had
--                        been recorded meanwhile, e.g. the proxy sent it again)
--   rejected again       record_requests appended another 'rejected' row (the last
--                        attempt), with today's reason; it stays open
-- Not retried (they stay visible in tessera.savings_dead_letter_status):
--   * rows without a request_id: they can never be recorded;
--   * requests last refused with 42501, a mechanic the workload had not opted in to
--     (turned off while the request was in flight): recording one later, after the
--     sponsor turned the mechanic back on, would credit a saving the customer had not
--     consented to when the request happened. The operations issue records them with
--     no saving credited instead.
-- Returns one row per request tried: client_id, request_id, outcome, sqlstate, message.
--
-- SECURITY DEFINER, EXECUTE for service_role only (a server-side job). As tessera_owner
-- under FORCE RLS it reads dead letters only while the transaction-local
-- tessera.replaying_dead_letters is 'on' (set here, cleared before returning), and
-- appends 'resolved' rows for the clients it replayed (tessera.ingest_client_ids).
CREATE FUNCTION tessera.replay_dead_letters(p_client_id uuid DEFAULT NULL, p_max_requests integer DEFAULT 1000)
RETURNS TABLE (client_id uuid, request_id text, outcome text, sqlstate text, message text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    chunk_size CONSTANT integer := 1000;
    todo jsonb;
    chunk jsonb;
    done jsonb;
    caller text := COALESCE(NULLIF(pg_catalog.current_setting('role'), 'none'), session_user::text);
BEGIN
    IF p_max_requests IS NULL OR p_max_requests < 1 THEN
        RAISE EXCEPTION 'max_requests must be a positive number' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM pg_catalog.set_config('tessera.replaying_dead_letters', 'on', true);
    SELECT COALESCE(pg_catalog.jsonb_agg(o.payload ORDER BY o.first_id), '[]'::jsonb) INTO todo
      FROM (SELECT l.payload, l.first_id
              FROM (SELECT DISTINCT ON (d.client_id, d.request_id)
                           d.payload, d.sqlstate,
                           pg_catalog.min(d.dead_letter_id) OVER (PARTITION BY d.client_id, d.request_id) AS first_id
                      FROM tessera.savings_dead_letters AS d
                     WHERE d.entry = 'rejected' AND d.request_id IS NOT NULL
                       AND (p_client_id IS NULL OR d.client_id = p_client_id)
                       AND NOT EXISTS (SELECT 1 FROM tessera.savings_dead_letters AS r
                                        WHERE r.client_id = d.client_id AND r.request_id = d.request_id
                                          AND r.entry = 'resolved')
                     ORDER BY d.client_id, d.request_id, d.dead_letter_id DESC) AS l
             WHERE l.sqlstate <> '42501'
             ORDER BY l.first_id
             LIMIT p_max_requests) AS o;
    PERFORM pg_catalog.set_config('tessera.replaying_dead_letters', '', true);

    FOR chunk IN
        SELECT pg_catalog.jsonb_agg(t.item ORDER BY t.ord)
          FROM pg_catalog.jsonb_array_elements(todo) WITH ORDINALITY AS t(item, ord)
         GROUP BY (t.ord - 1) / chunk_size
         ORDER BY (t.ord - 1) / chunk_size
    LOOP
        SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(o) ORDER BY o.ordinality) INTO done
          FROM tessera.record_requests(chunk) AS o;

        -- Resolved rows for what is in the ledger now (their clients admitted by the
        -- insert policy through tessera.ingest_client_ids).
        PERFORM pg_catalog.set_config('tessera.ingest_client_ids',
            COALESCE((SELECT '{' || pg_catalog.string_agg(DISTINCT o.client_id::text, ',') || '}'
                        FROM pg_catalog.jsonb_to_recordset(done) AS o(client_id uuid, outcome text)
                       WHERE o.outcome IN ('recorded', 'replayed')), ''), true);
        INSERT INTO tessera.savings_dead_letters AS d (client_id, request_id, entry, resolution, db_role)
        SELECT o.client_id, o.request_id, 'resolved', o.outcome, caller
          FROM pg_catalog.jsonb_to_recordset(done) AS o(ordinality integer, client_id uuid, request_id text, outcome text)
         WHERE o.outcome IN ('recorded', 'replayed')
         ORDER BY o.ordinality;
        PERFORM pg_catalog.set_config('tessera.ingest_client_ids', '', true);

        RETURN QUERY
            SELECT o.client_id, o.request_id, o.outcome, o.sqlstate, o.message
              FROM pg_catalog.jsonb_to_recordset(done)
                   AS o(ordinality integer, client_id uuid, request_id text, outcome text, sqlstate text, message text)
             ORDER BY o.ordinality;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION tessera.replay_dead_letters(uuid, integer) IS
    'Retry open dead letters of tessera.record_requests (oldest first, one client or all): recorded or already-recorded ones get an appended resolved row, the rest another rejected row. service_role only (tessera-db savings replay-rejected).';

REVOKE ALL ON FUNCTION tessera.replay_dead_letters(uuid, integer) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.replay_dead_letters(uuid, integer) TO service_role;

-- functions/tessera.publish_price.sql (replaced)
-- tessera.publish_price(...): the one writer of tessera.pricing_catalog.
--
-- In one transaction: serialise publishers of this (provider, model) with a
-- transaction-scoped advisory lock (it also covers the first version, when there is no
-- row to lock), lock the current row (effective_to IS NULL) FOR UPDATE, and then
--   * every component equal (numerically, NULL = NULL) -> no write; returns the current
--     snapshot id with outcome 'unchanged';
--   * otherwise close the current row at p_effective_from and insert the new version from
--     p_effective_from -> outcome 'changed' ('created' when there was no current row).
-- Never backdated: p_effective_from >= now(). Requests already recorded were priced with
-- the snapshot in force when they happened; a backdated version would make the catalog
-- disagree with the ledger. One exception: a model's FIRST version may take effect in
-- the past. No request can have been recorded against a model that never had a price
-- (record_request refuses it), so no ledger row can disagree; requests the proxy sent
-- before the model's price was known are kept as dead letters (no price in force), and
-- publishing the first version from their time lets `tessera-db savings replay-rejected`
-- record them.
--
-- Why SECURITY DEFINER, EXECUTE for service_role only: no role holds INSERT or UPDATE on
-- the catalog (not even service_role, which bypasses RLS), so this function is the only
-- path to a price row and always closes-then-inserts under the lock. It runs as
-- tessera_owner, which FORCE RLS keeps to open or not-yet-ended rows
-- (policies/pricing_catalog.sql), and the guard triggers bind it like everyone else.
CREATE OR REPLACE FUNCTION tessera.publish_price(
    p_provider                text,
    p_model                   text,
    p_input                   numeric,
    p_output                  numeric,
    p_cache_read              numeric     DEFAULT NULL,
    p_cache_write_5m          numeric     DEFAULT NULL,
    p_cache_write_1h          numeric     DEFAULT NULL,
    p_batch_input             numeric     DEFAULT NULL,
    p_batch_output            numeric     DEFAULT NULL,
    p_tier_threshold_tokens   integer     DEFAULT NULL,
    p_above_tier_input        numeric     DEFAULT NULL,
    p_above_tier_output       numeric     DEFAULT NULL,
    p_above_tier_cache_read   numeric     DEFAULT NULL,
    p_effective_from          timestamptz DEFAULT now())
RETURNS TABLE (pricing_snapshot_id uuid, outcome text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    cur tessera.pricing_catalog;
    new_id uuid := gen_random_uuid();
BEGIN
    IF p_effective_from IS NULL THEN
        RAISE EXCEPTION 'a price version needs an effective_from' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('tessera.pricing_catalog:' || p_provider || '/' || p_model, 0));

    SELECT c.* INTO cur
      FROM tessera.pricing_catalog AS c
     WHERE c.provider = p_provider AND c.model = p_model AND c.effective_to IS NULL
       FOR UPDATE;

    IF FOUND AND p_effective_from < now() THEN
        RAISE EXCEPTION 'a price version takes effect now or later, never backdated (effective_from %)', p_effective_from
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'only the first version of a model may take effect in the past';
    END IF;
    IF FOUND THEN
        IF  cur.input_usd_per_token                 IS NOT DISTINCT FROM p_input
        AND cur.output_usd_per_token                IS NOT DISTINCT FROM p_output
        AND cur.cache_read_usd_per_token            IS NOT DISTINCT FROM p_cache_read
        AND cur.cache_write_5m_usd_per_token        IS NOT DISTINCT FROM p_cache_write_5m
        AND cur.cache_write_1h_usd_per_token        IS NOT DISTINCT FROM p_cache_write_1h
        AND cur.batch_input_usd_per_token           IS NOT DISTINCT FROM p_batch_input
        AND cur.batch_output_usd_per_token          IS NOT DISTINCT FROM p_batch_output
        AND cur.tier_threshold_tokens               IS NOT DISTINCT FROM p_tier_threshold_tokens
        AND cur.above_tier_input_usd_per_token      IS NOT DISTINCT FROM p_above_tier_input
        AND cur.above_tier_output_usd_per_token     IS NOT DISTINCT FROM p_above_tier_output
        AND cur.above_tier_cache_read_usd_per_token IS NOT DISTINCT FROM p_above_tier_cache_read
        THEN
            RETURN QUERY SELECT cur.pricing_snapshot_id, 'unchanged'::text;
            RETURN;
        END IF;
        IF p_effective_from < cur.effective_from THEN
            RAISE EXCEPTION 'the current price of %/% takes effect at %; a new version cannot start before it (%)',
                            p_provider, p_model, cur.effective_from, p_effective_from
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        UPDATE tessera.pricing_catalog AS c
           SET effective_to = p_effective_from
         WHERE c.pricing_snapshot_id = cur.pricing_snapshot_id;
    END IF;

    INSERT INTO tessera.pricing_catalog (
        pricing_snapshot_id, provider, model, input_usd_per_token, output_usd_per_token,
        cache_read_usd_per_token, cache_write_5m_usd_per_token, cache_write_1h_usd_per_token,
        batch_input_usd_per_token, batch_output_usd_per_token, tier_threshold_tokens,
        above_tier_input_usd_per_token, above_tier_output_usd_per_token,
        above_tier_cache_read_usd_per_token, effective_from)
    VALUES (
        new_id, p_provider, p_model, p_input, p_output,
        p_cache_read, p_cache_write_5m, p_cache_write_1h,
        p_batch_input, p_batch_output, p_tier_threshold_tokens,
        p_above_tier_input, p_above_tier_output,
        p_above_tier_cache_read, p_effective_from);

    RETURN QUERY SELECT new_id, CASE WHEN cur.pricing_snapshot_id IS NULL THEN 'created' ELSE 'changed' END;
END
$function$;

COMMENT ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) IS
    'Publishes a model price: identical components -> current snapshot, ''unchanged''; otherwise closes the current row and inserts a new version (''changed''/''created'') in one transaction. SECURITY DEFINER, service_role only.';

REVOKE ALL ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) TO service_role;

-- policies: the recording policies read the batch's clients (3)
DROP POLICY optimize_savings_select_definer_recording ON tessera.optimize_savings;
DROP POLICY optimize_savings_insert_definer_recording ON tessera.optimize_savings;
DROP POLICY savings_request_keys_select_definer_recording ON tessera.savings_request_keys;
DROP POLICY savings_request_keys_insert_definer_recording ON tessera.savings_request_keys;
CREATE POLICY optimize_savings_select_definer_ingest ON tessera.optimize_savings
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));
CREATE POLICY optimize_savings_insert_definer_ingest ON tessera.optimize_savings
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));
CREATE POLICY savings_request_keys_select_definer_ingest ON tessera.savings_request_keys
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));
CREATE POLICY savings_request_keys_insert_definer_ingest ON tessera.savings_request_keys
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));
CREATE POLICY workloads_select_definer_ingest ON tessera.workloads
    FOR SELECT TO tessera_owner
    USING (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));
ALTER POLICY pricing_catalog_select_definer_recording ON tessera.pricing_catalog
    USING (NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '') IS NOT NULL);

-- >>> policies/savings_dead_letters.sql
-- Row-level security, policies and grants for tessera.savings_dead_letters (and so for
-- the view tessera.savings_dead_letter_status, which is security_invoker).
--
--   operator       read every client's dead letters (and the nil-uuid ones: elements
--                  that named no client)
--   sponsor        read own clients' dead letters
--   service_role   read (BYPASSRLS); replays through tessera.replay_dead_letters()
--   tessera_proxy  nothing directly: record_requests() writes its rejections here
--   owner          (definer functions) append rows for the clients of the batch being
--                  recorded (tessera.ingest_client_ids, set by ingest_requests /
--                  write_dead_letters / replay_dead_letters from their own input), and
--                  read only while replay_dead_letters replays
--                  (tessera.replaying_dead_letters = 'on')
--   anon           nothing
--   nobody         UPDATE, DELETE or TRUNCATE: append-only (make_append_only triggers)
ALTER TABLE tessera.savings_dead_letters ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.savings_dead_letters FORCE ROW LEVEL SECURITY;

CREATE POLICY savings_dead_letters_select_operator_or_sponsor ON tessera.savings_dead_letters
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY (ARRAY(SELECT pg_catalog.unnest(tessera_private.sponsor_client_ids()))));

CREATE POLICY savings_dead_letters_insert_definer_ingest ON tessera.savings_dead_letters
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = ANY (ARRAY(SELECT pg_catalog.unnest(
        NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '')::uuid[]))));

CREATE POLICY savings_dead_letters_select_definer_replaying ON tessera.savings_dead_letters
    FOR SELECT TO tessera_owner
    USING (NULLIF((SELECT pg_catalog.current_setting('tessera.replaying_dead_letters', true)), '') = 'on');

-- Privileges for authenticated: rows narrowed by the policy above. Read only.
GRANT SELECT ON tessera.savings_dead_letters TO authenticated;
GRANT SELECT ON tessera.savings_dead_letter_status TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read only.
GRANT SELECT ON tessera.savings_dead_letters TO service_role;
GRANT SELECT ON tessera.savings_dead_letter_status TO service_role;

-- functions/tessera_private.audit_coverage.sql (replaced)
-- tessera_private.audit_coverage(): THE list of which tessera tables are audited, which
-- of their columns are secret, and which tables are exempt and why. One line per table;
-- a reviewer reads this file and nothing else to know what the audit log covers.
--
--   audited = true   tessera_private.audit_row_change() is attached as <table>_audit
--                    and <table>_audit_truncate (ENABLE ALWAYS): every INSERT, UPDATE,
--                    DELETE and TRUNCATE writes tessera.audit_events rows with the
--                    changed columns, minus the secret columns named here (never copied
--                    into an event, not even as a before/after value).
--   audited = false  exempt: the reason is required and says why.
--
-- Adding a table is a one-line change: add its row below (and, in a migration, re-create
-- this function and run SELECT tessera_private.apply_audit_coverage()). The lint
-- tests/lints/0013_table_not_audited.sql fails while any table in schema tessera is
-- missing from this list, while a listed table lacks its triggers (or they are not
-- ENABLE ALWAYS, or carry other secret columns), or while an exemption has no reason.
--
-- IMMUTABLE: a constant list, read by apply_audit_coverage() and by the lint.
CREATE OR REPLACE FUNCTION tessera_private.audit_coverage()
RETURNS TABLE (table_name name, audited boolean, secret_columns name[], exempt_reason text)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    VALUES
    --  table                    audited  secret columns   exempt: why
    -- Tenancy (issue 3): clients incl. kill switch and cross-customer opt-in, workloads
    -- incl. mechanic toggles, staff and sponsor contacts.
        ('clients'::name,          true,  '{}'::name[],    NULL::text),
        ('workloads',              true,  '{}',            NULL),
        ('operators',              true,  '{}',            NULL),
        ('client_users',           true,  '{}',            NULL),
    -- Money ledger (issue 4): prices, their provenance, balances, issued readings.
        ('pricing_catalog',        true,  '{}',            NULL),
        ('price_sources',          true,  '{}',            NULL),
        ('price_import_runs',      true,  '{}',            NULL),
        ('balance_transactions',   true,  '{}',            NULL),
        ('monthly_readings',       true,  '{}',            NULL),
        ('reading_share_tokens',   true,  '{token_sha256}', NULL),
    -- Keys, settlement secrets and worker config (issue 6): key creation, revocation and
    -- rotation; batch transitions; a secret's storing, resealing and destruction (never
    -- the sealed value).
        ('api_keys',               true,  '{key_sha256}',  NULL),
        ('batches',                true,  '{}',            NULL),
        ('batch_secrets',          true,  '{sealed}',      NULL),
    -- Exempt.
        ('api_key_failures',       false, NULL,
         'The throttle''s short-lived working set (purged after 7 days): tessera.verify_api_key writes each failure to audit_events itself (auth_failure, and rate_limited when a source reaches the limit), with key hint and source IP.'),
        ('workload_settings',      false, NULL,
         'Its config_version is a derived counter bumped by triggers on workloads and clients, whose changes are audited there (auditing it too would turn one mechanic toggle into two events); its one setting, the exact-cache TTL, changes only through tessera.set_exact_cache_ttl, which writes that audit event itself.'),
        ('cache_entries',          false, NULL,
         'UNLOGGED exact cache, rewritten on the request path and emptied by crashes: a copy the provider can recompute, not a state transition; a sponsor''s flush is audited by tessera.flush_cache itself.'),
        ('price_observations',     false, NULL,
         'Append-only raw copies of public price files, thousands of rows per import; each import is audited as its tessera.price_import_runs row (file name, SHA-256, importer), which the observations reference.'),
        ('optimize_savings',       false, NULL,
         'One append-only row per proxied request: the per-request measurement is itself the audit-grade money record (pricing snapshot, costs, request_id), refused UPDATE/DELETE/TRUNCATE for every role; auditing it would double the proxy''s write path.'),
        ('savings_request_keys',   false, NULL,
         'Append-only idempotency key of optimize_savings (one row per proxied request), written only by tessera.record_request; it carries no state beyond the measurement row.'),
        ('savings_dead_letters',   false, NULL,
         'Append-only record of refused measurements and their resolutions, written only by tessera.record_requests / replay_dead_letters: each row is itself the event (what was refused, why, when, by which role); auditing it would double the hot path''s refusals.'),
        ('audit_events',           false, NULL,
         'The audit log itself: append-only, hash-stamped and sealed into signed checkpoints; auditing it would recurse.'),
        ('audit_checkpoints',      false, NULL,
         'The signed seal over audit_events, append-only and checked by tessera-db audit verify; auditing it would add an event per seal, so the log would never be fully sealed.')
$function$;

COMMENT ON FUNCTION tessera_private.audit_coverage() IS
    'The declarative audit coverage list: every tessera table, audited (with its secret columns) or exempt (with a reason). Applied by tessera_private.apply_audit_coverage(); checked by lint 0013_table_not_audited.';

REVOKE ALL ON FUNCTION tessera_private.audit_coverage() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- Attach the triggers the list asks for (every table above exists by now: this file is
-- loaded after all of them, see load.sql).
SELECT tessera_private.apply_audit_coverage();
