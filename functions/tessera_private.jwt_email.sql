-- tessera_private.jwt_email(): the caller's email claim, lower-cased and trimmed, or NULL.
--
-- Only a JSON string counts: a number, array or object under "email" is a wrong claim
-- and yields NULL, so policies comparing against it match nothing.
CREATE FUNCTION tessera_private.jwt_email()
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT CASE
               WHEN pg_catalog.jsonb_typeof(c.claims -> 'email') = 'string'
                    AND pg_catalog.btrim(c.claims ->> 'email') <> ''
               THEN pg_catalog.lower(pg_catalog.btrim(c.claims ->> 'email'))
           END
      FROM (SELECT tessera_private.jwt_claims() AS claims) AS c
$function$;

COMMENT ON FUNCTION tessera_private.jwt_email() IS
    'The caller''s JWT email claim, lower-cased; NULL unless it is a non-empty JSON string.';

REVOKE ALL ON FUNCTION tessera_private.jwt_email() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.jwt_email() TO authenticated;
