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
-- PL/pgSQL, not SQL: a SQL function with a SET clause is never inlined, so its query
-- (VALUES + string_agg) was planned afresh in every transaction that wrote an audit row;
-- PL/pgSQL keeps its expressions prepared for the session (migration 0005; the bytes
-- are unchanged, which the verifier's tests and the tamper suite check).
CREATE FUNCTION tessera_private.audit_content_hash(p_event tessera.audit_events)
RETURNS bytea
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    field text;
    field_bytes bytea;
    encoded bytea := pg_catalog.convert_to('tessera.audit_events.v1', 'UTF8');
BEGIN
    FOREACH field IN ARRAY ARRAY[
            p_event.event_id::text,
            pg_catalog.to_char(p_event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            p_event.txid::text,
            p_event.client_id::text,
            p_event.entity,
            p_event.entity_id,
            p_event.action,
            p_event.before::text,
            p_event.after::text,
            p_event.actor_role,
            p_event.actor_session_role,
            p_event.actor_email,
            p_event.actor_sub,
            p_event.actor_job,
            p_event.request_id,
            p_event.reason,
            pg_catalog.host(p_event.source_ip) || '/' || pg_catalog.masklen(p_event.source_ip),
            p_event.prompt_fingerprint_v1::text]
    LOOP
        IF field IS NULL THEN
            encoded := encoded || '\xffffffff'::bytea;
        ELSE
            field_bytes := pg_catalog.convert_to(field, 'UTF8');
            encoded := encoded || pg_catalog.int4send(pg_catalog.octet_length(field_bytes)) || field_bytes;
        END IF;
    END LOOP;
    RETURN pg_catalog.sha256(encoded);
END
$function$;

COMMENT ON FUNCTION tessera_private.audit_content_hash(tessera.audit_events) IS
    'SHA-256 of an audit row under canonical encoding v1: ''tessera.audit_events.v1'' then 18 fields in column order (content_hash excluded), each FF FF FF FF for NULL or 4-byte big-endian length || UTF-8 canonical text (decimal ints, UTC ISO-8601 microsecond timestamps with Z, lower-case uuid, host/masklen inet, jsonb::text).';

REVOKE ALL ON FUNCTION tessera_private.audit_content_hash(tessera.audit_events) FROM PUBLIC; -- functions are executable by PUBLIC by default
