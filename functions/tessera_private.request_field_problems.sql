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
