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
