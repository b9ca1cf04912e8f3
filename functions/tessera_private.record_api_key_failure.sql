-- tessera_private.record_api_key_failure(source_ip, key_hint, reason, client_id,
-- api_key_id): the bookkeeping of one failed verification, for tessera.verify_api_key().
--
-- Appends a row to tessera.api_key_failures (the throttle's working set) and an
-- auth_failure event to tessera.audit_events (client and key when the presented key
-- matched one; the key hint and reason, never the key). When this failure is the one
-- that brings its source to the limit, also a rate_limited event. Returns the number of
-- failures of the source in the current window (at most the limit + in-flight calls).
--
-- Not SECURITY DEFINER and not executable by any API role: it runs inside
-- verify_api_key() as tessera_owner, whose policies on api_key_failures admit only the
-- source named by tessera.api_key_source (set by verify_api_key).
CREATE FUNCTION tessera_private.record_api_key_failure(p_source_ip inet, p_key_hint text, p_reason text,
                                                        p_client_id uuid DEFAULT NULL,
                                                        p_api_key_id uuid DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    -- Keep in step with tessera.verify_api_key (the refusal side of the throttle).
    limit_failures CONSTANT integer := 20;
    window_length CONSTANT interval := interval '5 minutes';
    src text := COALESCE(pg_catalog.host(p_source_ip), 'unspecified');
    recent integer;
BEGIN
    INSERT INTO tessera.api_key_failures (source, source_ip, key_hint, reason)
    VALUES (src, p_source_ip, p_key_hint, p_reason);

    PERFORM tessera_private.write_audit_event(
        p_client_id, 'api_keys', p_api_key_id::text, 'auth_failure', NULL,
        pg_catalog.jsonb_build_object('reason', p_reason, 'key_hint', p_key_hint, 'source', src),
        NULL, p_source_ip);

    SELECT pg_catalog.count(*) INTO recent
      FROM tessera.api_key_failures AS f
     WHERE f.source = src AND f.failed_at > pg_catalog.now() - window_length;
    IF recent = limit_failures THEN
        PERFORM tessera_private.write_audit_event(
            NULL, 'api_keys', NULL, 'rate_limited', NULL,
            pg_catalog.jsonb_build_object('source', src, 'failures', recent,
                                          'window_seconds', pg_catalog.date_part('epoch', window_length)),
            NULL, p_source_ip);
    END IF;
    RETURN recent;
END
$function$;

COMMENT ON FUNCTION tessera_private.record_api_key_failure(inet, text, text, uuid, uuid) IS
    'Record one failed API key verification (api_key_failures row + auth_failure audit event; rate_limited when the source reaches the limit). Called by tessera.verify_api_key only.';

REVOKE ALL ON FUNCTION tessera_private.record_api_key_failure(inet, text, text, uuid, uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default
