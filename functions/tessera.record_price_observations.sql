-- tessera.record_price_observations(source, file, sha256, observed_at, observations):
-- the one writer of tessera.price_import_runs and tessera.price_observations.
--
-- p_observations is a JSON array of objects
--     {"provider": ..., "model": ..., "source_model": ..., "component": ..., "raw_value": "1.25e-06"}
-- raw_value is the source's own text; it is parsed here with ::numeric (exact decimal,
-- never through a float) and kept beside the value. Returns the new import_run_id.
--
-- SECURITY DEFINER, EXECUTE for service_role only (the import job): no role holds INSERT
-- on either table, so every observation arrives with its run, its source and the caller
-- recorded, and nothing can be rewritten afterwards (both tables are append-only).
CREATE FUNCTION tessera.record_price_observations(
    p_source        text,
    p_file_name     text,
    p_file_sha256   text,
    p_observed_at   timestamptz,
    p_observations  jsonb)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    run_id uuid := gen_random_uuid();
    claims jsonb := tessera_private.jwt_claims();
BEGIN
    IF p_observed_at IS NULL OR p_observed_at > now() THEN
        RAISE EXCEPTION 'observed_at % is in the future', p_observed_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.jsonb_typeof(p_observations) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'observations must be a JSON array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO tessera.price_import_runs (import_run_id, source, file_name, file_sha256, observed_at, imported_by)
    VALUES (run_id, p_source, p_file_name, p_file_sha256, p_observed_at,
            COALESCE(NULLIF(claims ->> 'sub', ''), NULLIF(claims ->> 'email', ''), session_user::text));

    INSERT INTO tessera.price_observations (import_run_id, source, provider, model, source_model,
                                            component, value, raw_value, observed_at)
    SELECT run_id, p_source, o.provider, o.model, o.source_model, o.component,
           o.raw_value::numeric, o.raw_value, p_observed_at
      FROM pg_catalog.jsonb_to_recordset(p_observations)
           AS o (provider text, model text, source_model text, component text, raw_value text);

    RETURN run_id;
END
$function$;

COMMENT ON FUNCTION tessera.record_price_observations(text, text, text, timestamptz, jsonb) IS
    'Records one imported price file: an import run plus its observations (raw text kept, parsed as exact numeric). SECURITY DEFINER, service_role only.';

REVOKE ALL ON FUNCTION tessera.record_price_observations(text, text, text, timestamptz, jsonb) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.record_price_observations(text, text, text, timestamptz, jsonb) TO service_role;
