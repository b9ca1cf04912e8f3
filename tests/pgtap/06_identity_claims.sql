-- 06_identity_claims: what the identity helpers make of the JWT claims.
--
-- Missing, empty, malformed, non-object and wrongly typed claims, and unknown emails,
-- must all give an authenticated caller "nobody": jwt_email() NULL (or the unknown
-- email), is_operator() false, sponsor_client_ids() empty and zero rows in every
-- table -- never an error (tessera_private.jwt_claims promises it never raises). The
-- email claim is trimmed and lower-cased, so an upper-case sponsor or operator email
-- still matches.
--
-- Each case is one assertion on tests.observe_identity(), which gathers all of the above
-- as one jsonb value, or {"error": "<SQLSTATE>: <message>"} if anything raised.
BEGIN;
\ir helpers/act_as.sql
SELECT plan(28);
SELECT tests.create_fixtures();

CREATE FUNCTION tests.observe_identity()
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
AS $function$
DECLARE
    observed jsonb;
BEGIN
    SELECT pg_catalog.jsonb_build_object(
               'claims_null',        tessera_private.jwt_claims() IS NULL,
               'jwt_email',          tessera_private.jwt_email(),
               'is_operator',        tessera_private.is_operator(),
               'sponsor_client_ids', pg_catalog.to_jsonb(tessera_private.sponsor_client_ids()),
               'clients',            (SELECT pg_catalog.count(*) FROM tessera.clients),
               'workloads',          (SELECT pg_catalog.count(*) FROM tessera.workloads),
               'client_users',       (SELECT pg_catalog.count(*) FROM tessera.client_users),
               'operators',          (SELECT pg_catalog.count(*) FROM tessera.operators))
      INTO observed;
    RETURN observed;
EXCEPTION WHEN OTHERS THEN
    RETURN pg_catalog.jsonb_build_object('error', SQLSTATE || ': ' || SQLERRM);
END
$function$;

-- What a caller who is nobody observes.
CREATE FUNCTION tests.nobody(claims_null boolean, email text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
AS $function$
    SELECT pg_catalog.jsonb_build_object(
               'claims_null', claims_null, 'jwt_email', email, 'is_operator', false,
               'sponsor_client_ids', '[]'::jsonb,
               'clients', 0, 'workloads', 0, 'client_users', 0, 'operators', 0)
$function$;

GRANT EXECUTE ON FUNCTION tests.observe_identity(), tests.nobody(boolean, text) TO authenticated;

--- Missing claims (never set in this session) ------------------------------------------
SELECT '# acting as authenticated, request.jwt.claims never set'
  FROM pg_catalog.set_config('role', 'authenticated', true);

SELECT is(pg_catalog.current_setting('request.jwt.claims', true), NULL,
    'precondition: request.jwt.claims was never set in this session');
SELECT is(tests.observe_identity(), tests.nobody(true),
    'missing claims: nobody, zero rows, no error');

--- Empty, blank, malformed, non-object -------------------------------------------------
SELECT tests.set_raw_claims('');
SELECT is(tests.observe_identity(), tests.nobody(true), 'empty claims: nobody, zero rows, no error');

SELECT tests.set_raw_claims(E'  \t\n ');
SELECT is(tests.observe_identity(), tests.nobody(true), 'whitespace-only claims: nobody, zero rows, no error');

SELECT tests.set_raw_claims('{not json');
SELECT is(tests.observe_identity(), tests.nobody(true), 'malformed JSON claims: nobody, zero rows, no error');

SELECT tests.set_raw_claims('{"email": "ops@tessera.example"');
SELECT is(tests.observe_identity(), tests.nobody(true),
    'truncated JSON carrying the operator''s email: nobody, zero rows, no error');

SELECT tests.set_raw_claims('null');
SELECT is(tests.observe_identity(), tests.nobody(true), 'JSON null claims: nobody, zero rows, no error');

SELECT tests.set_raw_claims('"ops@tessera.example"');
SELECT is(tests.observe_identity(), tests.nobody(true),
    'a JSON string (the operator''s email) instead of an object: nobody, zero rows, no error');

SELECT tests.set_raw_claims('[{"email": "ops@tessera.example"}]');
SELECT is(tests.observe_identity(), tests.nobody(true),
    'a JSON array wrapping the operator''s claims: nobody, zero rows, no error');

SELECT tests.set_raw_claims('42');
SELECT is(tests.observe_identity(), tests.nobody(true), 'a JSON number as claims: nobody, zero rows, no error');

-- Valid JSON that PostgreSQL's jsonb cannot hold: jwt_claims() promises NULL, not an error.
SELECT tests.set_raw_claims('{"email": "ops@tessera.example\u0000"}');
SELECT is(tests.observe_identity(), tests.nobody(true),
    'claims with a \u0000 escape (not storable in jsonb): nobody, zero rows, no error');

SELECT tests.set_raw_claims('{"email": "sponsor-a@tenant-a.example", "exp": 1e1000000}');
SELECT is(tests.observe_identity(), tests.nobody(true),
    'claims with a number beyond numeric range: nobody, zero rows, no error');

--- The email claim of the wrong type, empty or absent ----------------------------------
SELECT tests.set_raw_claims('{"email": 42}');
SELECT is(tests.observe_identity(), tests.nobody(false), 'email as a number: nobody, zero rows, no error');

SELECT tests.set_raw_claims('{"email": true}');
SELECT is(tests.observe_identity(), tests.nobody(false), 'email as a boolean: nobody, zero rows, no error');

SELECT tests.set_raw_claims('{"email": null}');
SELECT is(tests.observe_identity(), tests.nobody(false), 'email as JSON null: nobody, zero rows, no error');

SELECT tests.set_raw_claims('{"email": ["ops@tessera.example"]}');
SELECT is(tests.observe_identity(), tests.nobody(false),
    'email as an array holding the operator''s email: nobody, zero rows, no error');

SELECT tests.set_raw_claims('{"email": {"address": "ops@tessera.example"}}');
SELECT is(tests.observe_identity(), tests.nobody(false),
    'email as an object holding the operator''s email: nobody, zero rows, no error');

SELECT tests.set_raw_claims('{"email": ""}');
SELECT is(tests.observe_identity(), tests.nobody(false), 'empty email: nobody, zero rows, no error');

SELECT tests.set_raw_claims('{"email": "   "}');
SELECT is(tests.observe_identity(), tests.nobody(false), 'blank email: nobody, zero rows, no error');

SELECT tests.set_raw_claims('{"sub": "someone", "role": "authenticated"}');
SELECT is(tests.observe_identity(), tests.nobody(false), 'claims without email: nobody, zero rows, no error');

--- Unknown emails ----------------------------------------------------------------------
SELECT tests.act_as('authenticated', 'unknown@nowhere.example');
SELECT is(tests.observe_identity(), tests.nobody(false, 'unknown@nowhere.example'),
    'unknown email: nobody, zero rows, no error');

SELECT tests.set_raw_claims('{"role": "service_role", "email": "unknown@nowhere.example"}');
SELECT is(tests.observe_identity(), tests.nobody(false, 'unknown@nowhere.example'),
    'a role claim of service_role grants nothing to the authenticated role');

SELECT tests.set_raw_claims('{"email": "%@tenant-a.example"}');
SELECT is(tests.observe_identity(), tests.nobody(false, '%@tenant-a.example'),
    'a LIKE wildcard in the email matches nobody');

SELECT tests.set_raw_claims('{"email": "ops@tessera.example", "email": "stranger@nowhere.example"}');
SELECT is(tests.observe_identity(), tests.nobody(false, 'stranger@nowhere.example'),
    'duplicate email keys: the last one counts (jsonb), the operator''s first one grants nothing');

--- Case and whitespace of a known email ------------------------------------------------
SELECT tests.act_as('authenticated', 'SPONSOR-A@Tenant-A.EXAMPLE');
SELECT is(tests.observe_identity(),
          pg_catalog.jsonb_build_object(
              'claims_null', false, 'jwt_email', 'sponsor-a@tenant-a.example', 'is_operator', false,
              'sponsor_client_ids', pg_catalog.jsonb_build_array(tests.client_a()),
              'clients', 1, 'workloads', 1, 'client_users', 1, 'operators', 0),
    'upper-case email of the sponsor of A: lower-cased, sponsor of A, sees A''s rows only');

SELECT tests.act_as('authenticated', '  Ops@Tessera.Example ');
SELECT is(tests.observe_identity(),
          pg_catalog.jsonb_build_object(
              'claims_null', false, 'jwt_email', 'ops@tessera.example', 'is_operator', true,
              'sponsor_client_ids', '[]'::jsonb,
              'clients', 2, 'workloads', 2, 'client_users', 2, 'operators', 1),
    'mixed-case, padded operator email: trimmed and lower-cased, operator, sees every row');

--- The same claims under other database roles ------------------------------------------
-- Claims never lift a role: anon with the operator's email still has no table privilege,
-- and the helpers are not executable for it (anon has USAGE on tessera_private only for
-- the share-token wrapper's body; EXECUTE is granted function by function).
SELECT tests.act_as('anon', 'ops@tessera.example');
SELECT throws_ok($$ SELECT tessera_private.is_operator() $$,
    '42501', 'permission denied for function is_operator',
    'anon with the operator''s email: the identity helpers are out of reach');
SELECT throws_ok($$ SELECT count(*) FROM tessera.clients $$,
    '42501', 'permission denied for table clients',
    'anon with the operator''s email: tessera.clients is still refused');

SELECT tests.clear_identity();
SELECT * FROM finish();
ROLLBACK;
