-- 07_search_path_hijack: a caller's search_path cannot redirect the identity helpers.
--
-- Planted as the superuser in schema public: functions named like those the helpers
-- use (jwt_email(), jwt_claims(), is_operator(), sponsor_client_ids(), lower(), btrim(),
-- current_setting(), jsonb_typeof()), operators =(text,text) and =(uuid,uuid) that are
-- always true and ->>(jsonb,text) that always yields the operator's email, and tables
-- operators / client_users that list the attacker. Planted by the sponsor of A itself:
-- temporary tables operators / client_users and a temporary jwt_email().
-- Then, with search_path = pg_temp, public, pg_catalog (the shadows first), the sponsor
-- of A calls the helpers, reads tessera.clients and tries the kill switch of B.
--
-- Nothing may change: the helpers pin search_path = pg_catalog, pg_temp and qualify
-- their references. The results are captured with \gset while the hostile search_path
-- is in force and asserted afterwards under the normal one, because pgTAP's own
-- functions do not pin their search_path and would meet the planted operators too.
BEGIN;
\ir helpers/act_as.sql
SELECT plan(15);
SELECT tests.create_fixtures();

--- Planted by the superuser in schema public -------------------------------------------
CREATE FUNCTION public.jwt_claims() RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"email": "ops@tessera.example"}'::jsonb $$;
CREATE FUNCTION public.jwt_email() RETURNS text LANGUAGE sql
    AS $$ SELECT 'ops@tessera.example'::text $$;
CREATE FUNCTION public.is_operator() RETURNS boolean LANGUAGE sql
    AS $$ SELECT true $$;
CREATE FUNCTION public.sponsor_client_ids() RETURNS uuid[] LANGUAGE sql
    AS $$ SELECT ARRAY[tests.client_a(), tests.client_b()] $$;
CREATE FUNCTION public.can_manage_client(uuid) RETURNS boolean LANGUAGE sql
    AS $$ SELECT true $$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql
    AS $$ SELECT 'ops@tessera.example'::text $$;
CREATE FUNCTION public.btrim(text) RETURNS text LANGUAGE sql
    AS $$ SELECT 'ops@tessera.example'::text $$;
CREATE FUNCTION public.current_setting(text, boolean) RETURNS text LANGUAGE sql
    AS $$ SELECT '{"email": "ops@tessera.example"}'::text $$;
CREATE FUNCTION public.jsonb_typeof(jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT 'string'::text $$;

CREATE FUNCTION public.hijack_text_eq(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hijack_text_eq);
CREATE FUNCTION public.hijack_uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = public.hijack_uuid_eq);
CREATE FUNCTION public.hijack_get_text(jsonb, text) RETURNS text LANGUAGE sql
    AS $$ SELECT 'ops@tessera.example'::text $$;
CREATE OPERATOR public.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = public.hijack_get_text);

CREATE TABLE public.operators (email text);
INSERT INTO public.operators VALUES ('sponsor-a@tenant-a.example');
CREATE TABLE public.client_users (client_id uuid, email text);
INSERT INTO public.client_users VALUES (tests.client_b(), 'sponsor-a@tenant-a.example');
GRANT SELECT ON public.operators, public.client_users TO authenticated;

-- Calls the kill switch and reports the SQLSTATE, without an operator of its own in
-- the body (so the planted ones cannot disturb the wrapper itself) and without a SET
-- clause (so the caller's hostile search_path is what set_kill_switch is called with).
CREATE FUNCTION tests.try_kill_switch(p_client uuid, p_value boolean) RETURNS text
LANGUAGE plpgsql AS $function$
BEGIN
    PERFORM tessera.set_kill_switch(p_client, p_value);
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$function$;
GRANT EXECUTE ON FUNCTION tests.try_kill_switch(uuid, boolean) TO authenticated;

--- Acting as the sponsor of A, who plants temporary shadows too ------------------------
SELECT tests.act_as('sponsor_a');

CREATE TEMPORARY TABLE operators (email text);
INSERT INTO pg_temp.operators VALUES ('sponsor-a@tenant-a.example');
CREATE TEMPORARY TABLE client_users (client_id uuid, email text);
INSERT INTO pg_temp.client_users VALUES (tests.client_b(), 'sponsor-a@tenant-a.example');
CREATE FUNCTION pg_temp.jwt_email() RETURNS text LANGUAGE sql
    AS $$ SELECT 'ops@tessera.example'::text $$;

-- The hostile window: shadows first. Only plain SELECTs run here; \gset keeps the results.
SELECT pg_catalog.set_config('search_path', 'pg_temp, public, pg_catalog', true) AS hostile_search_path \gset

-- The shadows are live (otherwise this file would prove nothing).
SELECT jwt_email()                        AS shadow_jwt_email,
       lower('Sponsor-A@Tenant-A.Example') AS shadow_lower,
       ('a'::text = 'b'::text)             AS shadow_text_eq,
       (SELECT count(*) FROM operators)    AS shadow_operators
\gset

-- The helpers, policies and RPCs under attack.
SELECT tessera_private.is_operator()        AS hijack_is_operator,
       tessera_private.sponsor_client_ids() AS hijack_sponsor_client_ids,
       tessera_private.jwt_email()          AS hijack_jwt_email,
       tessera_private.jwt_claims()         AS hijack_jwt_claims,
       (SELECT pg_catalog.array_agg(c.client_id ORDER BY c.client_id) FROM tessera.clients c)
                                            AS hijack_visible_clients,
       (SELECT pg_catalog.count(*) FROM tessera.operators)
                                            AS hijack_visible_operators,
       tests.try_kill_switch(tests.client_b(), true)
                                            AS hijack_kill_switch_b
\gset

-- End of the hostile window.
SELECT pg_catalog.set_config('search_path', '"$user", public', true) AS normal_search_path \gset

SELECT is(:'hostile_search_path'::text, 'pg_temp, public, pg_catalog',
    'the hostile search_path (pg_temp, public, pg_catalog) was in force for the calls');
SELECT is(:'shadow_jwt_email'::text, 'ops@tessera.example',
    'sanity: unqualified jwt_email() resolved to the temporary shadow');
SELECT is(:'shadow_lower'::text, 'ops@tessera.example',
    'sanity: unqualified lower() resolved to the shadow in public');
SELECT is(:'shadow_text_eq'::boolean, true,
    'sanity: the planted always-true =(text, text) was in force');
SELECT is(:'shadow_operators'::bigint, 1::bigint,
    'sanity: unqualified operators resolved to the temporary table listing the attacker');

SELECT is(:'hijack_is_operator'::boolean, false,
    'sponsor of A under the hostile search_path: is_operator() is still false');
SELECT is(:'hijack_sponsor_client_ids'::uuid[], ARRAY[tests.client_a()],
    'sponsor of A under the hostile search_path: sponsor_client_ids() is still exactly {A}');
SELECT is(:'hijack_jwt_email'::text, 'sponsor-a@tenant-a.example',
    'sponsor of A under the hostile search_path: jwt_email() still reads the real claim');
SELECT is(:'hijack_jwt_claims'::jsonb ->> 'email', 'sponsor-a@tenant-a.example'::text,
    'sponsor of A under the hostile search_path: jwt_claims() still reads the real setting');
SELECT is(:'hijack_visible_clients'::uuid[], ARRAY[tests.client_a()],
    'sponsor of A under the hostile search_path: tessera.clients still shows client A only');
SELECT is(:'hijack_visible_operators'::bigint, 0::bigint,
    'sponsor of A under the hostile search_path: tessera.operators still shows nothing');
SELECT is(:'hijack_kill_switch_b'::text, '42501',
    'sponsor of A under the hostile search_path: the kill switch of B is still refused (42501)');

-- Back to normal: the same calls agree, and B's switch never moved.
SELECT is(tessera_private.is_operator(), false,
    'sponsor of A, normal search_path: is_operator() is false');
SELECT is(tessera_private.sponsor_client_ids(), ARRAY[tests.client_a()],
    'sponsor of A, normal search_path: sponsor_client_ids() is {A}');

SELECT tests.clear_identity();
SELECT is((SELECT optimisation_kill_switch FROM tessera.clients WHERE client_id = tests.client_b()), false,
    'superuser: the kill switch of client B is untouched');

SELECT * FROM finish();
ROLLBACK;
