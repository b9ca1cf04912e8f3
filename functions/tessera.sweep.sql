-- tessera.sweep(as_of): the retention sweeper behind `tessera-db sweep`.
--
--   * destroys every settlement secret stored more than 48 hours before as_of, whatever
--     its batch's state (a batch that never settles keeps its secret 48 h at most);
--   * purges exact-cache entries expired at as_of;
--   * purges API key failure rows older than 7 days (the audit log keeps the events).
-- Returns how many rows of each were removed.
--
-- as_of is the injectable clock (tests move it forward instead of sleeping); it may not
-- lie in the past (22023), so a wrong clock can only destroy sooner, never keep longer.
-- SECURITY INVOKER, EXECUTE for service_role only (BYPASSRLS, DELETE on those three
-- tables); the deletions of secrets are audited by the batch_secrets audit trigger.
CREATE FUNCTION tessera.sweep(p_as_of timestamptz DEFAULT now())
RETURNS TABLE (secrets_destroyed bigint, cache_entries_purged bigint, key_failures_purged bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    secrets bigint;
    entries bigint;
    failures bigint;
BEGIN
    IF p_as_of IS NULL OR p_as_of < pg_catalog.now() THEN
        RAISE EXCEPTION 'sweep: as_of must be now or later (got %)', p_as_of
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM tessera.batch_secrets AS s WHERE s.created_at <= p_as_of - interval '48 hours';
    GET DIAGNOSTICS secrets = ROW_COUNT;
    DELETE FROM tessera.cache_entries AS e WHERE e.expires_at <= p_as_of;
    GET DIAGNOSTICS entries = ROW_COUNT;
    DELETE FROM tessera.api_key_failures AS f WHERE f.failed_at <= p_as_of - interval '7 days';
    GET DIAGNOSTICS failures = ROW_COUNT;
    RETURN QUERY SELECT secrets, entries, failures;
END
$function$;

COMMENT ON FUNCTION tessera.sweep(timestamptz) IS
    'Retention sweep (service_role): destroy settlement secrets older than 48 h whatever the batch state, purge expired cache entries and week-old key failures. as_of = injectable clock, never in the past.';

REVOKE ALL ON FUNCTION tessera.sweep(timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.sweep(timestamptz) TO service_role;
