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
--   config_version          (issue 15) the worker config version the proxy acted on, a
--                           JSON integer; absent or null = unknown
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
          ('finish_reason', 'a string'), ('feature_tag', 'a string'), ('customer_tag', 'a string'),
          ('config_version', 'an integer')
      ) AS f(field, described)
$function$;

COMMENT ON FUNCTION tessera_private.request_fields() IS
    'The fields a request element of tessera.record_requests may carry, the shape each must have (in words) and the pattern of its text where the JSON type is not enough; the one list ingest_requests, write_dead_letters and request_field_problems read.';

REVOKE ALL ON FUNCTION tessera_private.request_fields() FROM PUBLIC; -- functions are executable by PUBLIC by default
