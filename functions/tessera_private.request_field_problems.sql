-- tessera_private.request_field_problems(element): why the fields of one request element
-- (tessera.record_requests / record_request) have the wrong type, as one message:
-- "occurred_at must be an ISO 8601 timestamp string with a UTC offset; output_tokens must
-- be an integer". NULL when every present field has its type.
--
-- tessera_private.ingest_requests decides THAT an element is malformed with plain
-- expressions over every element; it calls this only for an element that is, to say
-- why. Kept out of that statement so its plan (initialised on every call) stays small.
-- The shapes are the ones ingest_requests accepts (keep the two in step):
--   uuid   a JSON string holding a uuid (hyphens optional)
--   text   a JSON string
--   time   a JSON string, ISO 8601 date and time WITH a UTC offset (Z or +hh:mm)
--   count  a JSON integer (at most 18 digits)
--   bool   true or false
--   names  a JSON array of strings (or nulls, reported by the mechanic rule)
CREATE FUNCTION tessera_private.request_field_problems(p_element jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.string_agg(f.key || ' must be ' || s.wanted, '; ' ORDER BY f.key)
      FROM pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(p_element) = 'object' THEN p_element
                                      ELSE '{}'::jsonb END) AS f
      JOIN (VALUES
          ('client_id', 'uuid', 'a uuid string'), ('workload_id', 'uuid', 'a uuid string'),
          ('request_id', 'text', 'a string'),
          ('occurred_at', 'time', 'an ISO 8601 timestamp string with a UTC offset'),
          ('requested_provider', 'text', 'a string'), ('requested_model', 'text', 'a string'),
          ('routed_provider', 'text', 'a string'), ('routed_model', 'text', 'a string'),
          ('uncached_input_tokens', 'count', 'an integer'), ('cache_read_input_tokens', 'count', 'an integer'),
          ('cache_write_5m_input_tokens', 'count', 'an integer'), ('cache_write_1h_input_tokens', 'count', 'an integer'),
          ('output_tokens', 'count', 'an integer'), ('reasoning_tokens', 'count', 'an integer'),
          ('reported_input_tokens', 'count', 'an integer'), ('reported_output_tokens', 'count', 'an integer'),
          ('batch', 'bool', 'true or false'), ('mechanics', 'names', 'an array of mechanic names'),
          ('finish_reason', 'text', 'a string'), ('feature_tag', 'text', 'a string'),
          ('customer_tag', 'text', 'a string')
      ) AS s(key, kind, wanted) ON s.key = f.key
     WHERE f.value <> 'null'::jsonb
       AND NOT CASE s.kind
           WHEN 'uuid' THEN pg_catalog.jsonb_typeof(f.value) = 'string'
                AND f.value #>> '{}' ~ '^[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}$'
           WHEN 'text' THEN pg_catalog.jsonb_typeof(f.value) = 'string'
           WHEN 'time' THEN pg_catalog.jsonb_typeof(f.value) = 'string'
                AND f.value #>> '{}' ~ ('^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?'
                                        '(Z|[+-][0-9]{2}(:?[0-9]{2}(:?[0-9]{2})?)?)$')
           WHEN 'count' THEN pg_catalog.jsonb_typeof(f.value) = 'number' AND f.value::text ~ '^-?[0-9]{1,18}$'
           WHEN 'bool' THEN pg_catalog.jsonb_typeof(f.value) = 'boolean'
           ELSE pg_catalog.jsonb_typeof(f.value) = 'array'
                AND NOT pg_catalog.jsonb_path_exists(f.value, '$[*] ? (@.type() != "string" && @.type() != "null")')
       END
$function$;

COMMENT ON FUNCTION tessera_private.request_field_problems(jsonb) IS
    'Why a request element''s fields have the wrong type (one message; NULL: none). Called by tessera_private.ingest_requests for an element it refuses under rule 2.';

REVOKE ALL ON FUNCTION tessera_private.request_field_problems(jsonb) FROM PUBLIC; -- functions are executable by PUBLIC by default
