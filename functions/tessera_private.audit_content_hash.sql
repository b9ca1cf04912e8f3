-- tessera_private.audit_content_hash(event): the content hash of an audit row, canonical
-- byte encoding v1. Computed by the insert trigger (tessera_private.stamp_audit_event);
-- re-implemented independently by the verifier (tessera_db/audit/encoding.py); the two
-- must agree byte for byte. Documented in docs/audit.md ("Encoding v1").
--
--   content_hash = sha256( 'tessera.audit_events.v1'        (23 ASCII bytes, no terminator)
--                          || f(event_id) || f(occurred_at) || f(txid) || f(client_id)
--                          || f(entity) || f(entity_id) || f(action) || f(before)
--                          || f(after) || f(actor_role) || f(actor_session_role)
--                          || f(actor_email) || f(actor_sub) || f(actor_job)
--                          || f(request_id) || f(reason) || f(source_ip)
--                          || f(prompt_fingerprint_v1) )
--   f(NULL) = the 4 bytes FF FF FF FF
--   f(v)    = int4send(octet_length(b)) || b   (4-byte big-endian length, then b), where
--             b is the UTF-8 of v's canonical text:
--               bigint, xid8  decimal digits                    '42'
--               timestamptz   to_char(v AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
--                                                               '2026-11-23T21:05:03.123456Z'
--               uuid          lower-case, hyphenated (uuid::text)
--               text          as is
--               inet          host(v) || '/' || masklen(v)     '10.0.0.1/32'
--               jsonb         v::text (PostgreSQL's canonical jsonb rendering)
-- content_hash itself is not an input. A NULL and an empty string differ (FF FF FF FF
-- versus 00 00 00 00), and the length prefixes make the concatenation unambiguous.
--
-- IMMUTABLE: the result depends only on the row (the formats above name no locale or
-- time zone setting). The database encoding is UTF-8 (convert_to makes that explicit).
CREATE FUNCTION tessera_private.audit_content_hash(p_event tessera.audit_events)
RETURNS bytea
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.sha256(
        pg_catalog.convert_to('tessera.audit_events.v1', 'UTF8')
        || pg_catalog.string_agg(
               COALESCE(pg_catalog.int4send(pg_catalog.octet_length(pg_catalog.convert_to(f.v, 'UTF8')))
                        || pg_catalog.convert_to(f.v, 'UTF8'),
                        '\xffffffff'::bytea),
               ''::bytea ORDER BY f.n))
      FROM (VALUES
          (1,  p_event.event_id::text),
          (2,  pg_catalog.to_char(p_event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
          (3,  p_event.txid::text),
          (4,  p_event.client_id::text),
          (5,  p_event.entity),
          (6,  p_event.entity_id),
          (7,  p_event.action),
          (8,  p_event.before::text),
          (9,  p_event.after::text),
          (10, p_event.actor_role),
          (11, p_event.actor_session_role),
          (12, p_event.actor_email),
          (13, p_event.actor_sub),
          (14, p_event.actor_job),
          (15, p_event.request_id),
          (16, p_event.reason),
          (17, pg_catalog.host(p_event.source_ip) || '/' || pg_catalog.masklen(p_event.source_ip)),
          (18, p_event.prompt_fingerprint_v1::text)
      ) AS f (n, v)
$function$;

COMMENT ON FUNCTION tessera_private.audit_content_hash(tessera.audit_events) IS
    'SHA-256 of an audit row under canonical encoding v1: ''tessera.audit_events.v1'' then 18 fields in column order (content_hash excluded), each FF FF FF FF for NULL or 4-byte big-endian length || UTF-8 canonical text (decimal ints, UTC ISO-8601 microsecond timestamps with Z, lower-case uuid, host/masklen inet, jsonb::text).';

REVOKE ALL ON FUNCTION tessera_private.audit_content_hash(tessera.audit_events) FROM PUBLIC; -- functions are executable by PUBLIC by default
