-- tessera_private.jwt_claims(): the caller's JWT claims as a JSON object, or NULL.
--
-- The claims arrive as text in the transaction-local setting request.jwt.claims
-- (PostgREST convention). Missing, empty, malformed or non-object claims all yield NULL,
-- never an error: a policy that calls this must answer "zero rows", not leak why.
-- Not SECURITY DEFINER: it reads only the caller's own setting.
CREATE FUNCTION tessera_private.jwt_claims()
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    raw text := pg_catalog.current_setting('request.jwt.claims', true);
    claims jsonb;
BEGIN
    IF raw IS NULL OR pg_catalog.btrim(raw) = '' THEN
        RETURN NULL;
    END IF;
    BEGIN
        claims := raw::jsonb;
    -- Any data exception: malformed JSON (22P02) but also valid JSON that jsonb cannot
    -- hold, such as \u0000 (22P05) or a number out of range (22003).
    EXCEPTION WHEN data_exception THEN
        RETURN NULL;
    END;
    IF pg_catalog.jsonb_typeof(claims) IS DISTINCT FROM 'object' THEN
        RETURN NULL;
    END IF;
    RETURN claims;
END
$function$;

COMMENT ON FUNCTION tessera_private.jwt_claims() IS
    'The caller''s request.jwt.claims as a JSON object; NULL when missing, malformed or not an object (never raises).';

REVOKE ALL ON FUNCTION tessera_private.jwt_claims() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.jwt_claims() TO authenticated;
