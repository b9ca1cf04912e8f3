-- pgTAP helper, included at the top of every tests/pgtap/NN_<concern>.sql file right
-- after BEGIN (`\ir helpers/act_as.sql`), so everything here lives and dies with the
-- test's transaction (each file ends in ROLLBACK). Run as the session superuser.
--
-- Provides, in schema `tests`:
--
--   tests.act_as(actor, email)  transaction-local identity switch: the database role
--                                (set_config('role', ..., true)) plus the PostgREST claims
--                                (set_config('request.jwt.claims', ..., true)). Actors:
--                                  anon, authenticated (give the email), service_role,
--                                  tessera_proxy, tessera_settlement, tessera_owner
--                                and the fixture shorthands (all `authenticated`):
--                                  sponsor_a, sponsor_b, operator, stranger
--   tests.clear_identity()       back to the session superuser, no claims.
--   tests.set_raw_claims(raw)    put any text (malformed JSON included) in the claims.
--   tests.create_fixtures()      the fixture tenants, created as the superuser:
--                                  client A ('Tenant A', plan free), workload a-chat,
--                                    sponsor sponsor-a@tenant-a.example
--                                  client B ('Tenant B', plan invoiced), workload b-batch,
--                                    sponsor sponsor-b@tenant-b.example: the negative
--                                    control, which A's sponsor must never reach
--                                  operator ops@tessera.example
--                                  stranger@nowhere.example is listed nowhere.
--   tests.client_a(), tests.client_b(), tests.workload_a(), tests.workload_b()
--                                the fixture ids, so test SQL can name them.
--
-- act_as(), clear_identity(), set_raw_claims() and the fixture ids are callable by every
-- role a test acts as (granted below, rolled back with the test): switching from, say,
-- `authenticated` to `anon` runs act_as() *as* authenticated. create_fixtures() is for
-- the superuser only. Role switches are checked against the session user (the superuser), so
-- any actor can be reached from any other; act_as() still resets to the session user
-- first (set_config('role', 'none')), like RESET ROLE.
--
-- act_as() carries no SET clause: what it sets must stay in force after it returns. Its
-- function calls are schema-qualified but its operators are not, so switch identity
-- before putting hostile objects on the search_path (07_search_path_hijack does).
-- It returns a TAP comment line ("# acting as ..."), which pg_prove shows with --verbose.

CREATE EXTENSION IF NOT EXISTS pgtap;

CREATE SCHEMA tests;
COMMENT ON SCHEMA tests IS 'pgTAP helpers; created inside each test transaction and rolled back with it.';

-- Fixture ids ------------------------------------------------------------------------

CREATE FUNCTION tests.client_a() RETURNS uuid LANGUAGE sql IMMUTABLE
    AS $$ SELECT 'a0000000-0000-4000-8000-00000000000a'::uuid $$;
CREATE FUNCTION tests.client_b() RETURNS uuid LANGUAGE sql IMMUTABLE
    AS $$ SELECT 'b0000000-0000-4000-8000-00000000000b'::uuid $$;
CREATE FUNCTION tests.workload_a() RETURNS uuid LANGUAGE sql IMMUTABLE
    AS $$ SELECT 'a0000000-0000-4000-8000-0000000000a1'::uuid $$;
CREATE FUNCTION tests.workload_b() RETURNS uuid LANGUAGE sql IMMUTABLE
    AS $$ SELECT 'b0000000-0000-4000-8000-0000000000b1'::uuid $$;

-- Identity ---------------------------------------------------------------------------

CREATE FUNCTION tests.act_as(actor text, email text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
VOLATILE
AS $function$
DECLARE
    db_role text;
    claim_email text := email;
    claims jsonb;
BEGIN
    CASE actor
        WHEN 'sponsor_a' THEN db_role := 'authenticated';
                              claim_email := COALESCE(email, 'sponsor-a@tenant-a.example');
        WHEN 'sponsor_b' THEN db_role := 'authenticated';
                              claim_email := COALESCE(email, 'sponsor-b@tenant-b.example');
        WHEN 'operator'  THEN db_role := 'authenticated';
                              claim_email := COALESCE(email, 'ops@tessera.example');
        WHEN 'stranger'  THEN db_role := 'authenticated';
                              claim_email := COALESCE(email, 'stranger@nowhere.example');
        WHEN 'anon', 'authenticated', 'service_role', 'tessera_proxy', 'tessera_settlement',
             'tessera_owner' THEN
            db_role := actor;
        ELSE
            RAISE EXCEPTION 'tests.act_as: unknown actor %', pg_catalog.quote_nullable(actor)
                USING ERRCODE = 'invalid_parameter_value';
    END CASE;

    IF db_role = 'authenticated' AND claim_email IS NULL THEN
        RAISE EXCEPTION 'tests.act_as: authenticated needs an email (sponsor or operator)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    claims := pg_catalog.jsonb_build_object('role', db_role, 'sub', 'tests:' || COALESCE(claim_email, db_role));
    IF claim_email IS NOT NULL THEN
        claims := claims || pg_catalog.jsonb_build_object('email', claim_email);
    END IF;

    PERFORM pg_catalog.set_config('role', 'none', true);
    PERFORM pg_catalog.set_config('request.jwt.claims', claims::text, true);
    PERFORM pg_catalog.set_config('role', db_role, true);
    RETURN pg_catalog.format('# acting as %s (role %s, claims %s)', actor, db_role, claims);
END
$function$;

CREATE FUNCTION tests.clear_identity()
RETURNS text
LANGUAGE plpgsql
VOLATILE
AS $function$
BEGIN
    PERFORM pg_catalog.set_config('role', 'none', true);
    PERFORM pg_catalog.set_config('request.jwt.claims', '', true);
    RETURN pg_catalog.format('# acting as session user %s (no claims)', session_user);
END
$function$;

CREATE FUNCTION tests.set_raw_claims(raw text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
AS $function$
BEGIN
    PERFORM pg_catalog.set_config('request.jwt.claims', raw, true);
    RETURN pg_catalog.format('# claims set to %s as role %s', COALESCE(pg_catalog.to_json(raw)::text, 'NULL'), current_user);
END
$function$;

-- Fixtures ---------------------------------------------------------------------------

CREATE FUNCTION tests.create_fixtures()
RETURNS text
LANGUAGE plpgsql
VOLATILE
AS $function$
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'tests.create_fixtures() runs as the superuser (call tests.clear_identity() first)';
    END IF;

    INSERT INTO tessera.clients (client_id, name, plan_tier) VALUES
        (tests.client_a(), 'Tenant A', 'free'),
        (tests.client_b(), 'Tenant B', 'invoiced');

    INSERT INTO tessera.workloads (client_id, workload_id, name) VALUES
        (tests.client_a(), tests.workload_a(), 'a-chat'),
        (tests.client_b(), tests.workload_b(), 'b-batch');

    INSERT INTO tessera.client_users (client_id, email, display_name) VALUES
        (tests.client_a(), 'sponsor-a@tenant-a.example', 'Sponsor A'),
        (tests.client_b(), 'sponsor-b@tenant-b.example', 'Sponsor B');

    INSERT INTO tessera.operators (email, display_name) VALUES
        ('ops@tessera.example', 'Operator');

    RETURN '# fixtures: client A (sponsor-a@tenant-a.example), client B (sponsor-b@tenant-b.example), operator ops@tessera.example';
END
$function$;

-- Privileges: every role a test acts as may call the helpers (rolled back with the test).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tests FROM PUBLIC;
GRANT USAGE ON SCHEMA tests
    TO anon, authenticated, service_role, tessera_proxy, tessera_settlement, tessera_owner;
GRANT EXECUTE ON FUNCTION
      tests.act_as(text, text)
    , tests.clear_identity()
    , tests.set_raw_claims(text)
    , tests.client_a()
    , tests.client_b()
    , tests.workload_a()
    , tests.workload_b()
    TO anon, authenticated, service_role, tessera_proxy, tessera_settlement, tessera_owner;
