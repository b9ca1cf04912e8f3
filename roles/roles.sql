-- Cluster-wide roles for tessera-db (PostgREST / Supabase conventions).
--
-- Roles belong to the cluster, not to one database, so they are created by this
-- bootstrap file rather than by a migration: migrations run *as* tessera_owner, which
-- must therefore exist first. Re-runnable: a missing role is created, an existing one is
-- brought to the attributes below, and a role that exists as a superuser is refused
-- (a superuser would silently bypass every policy in this project).
--
-- Passwords are never set here. `tessera-db dev up` sets throwaway ones on the dev
-- cluster; a deployment sets its own.

DO $roles$
DECLARE
    spec record;
    existing record;
BEGIN
    FOR spec IN
        SELECT * FROM (VALUES
            -- role name,           LOGIN, BYPASSRLS, INHERIT, why
            ('tessera_owner',        false, false,     true,
             'Owns every tessera-db object; migrations run as it. Not a superuser, cannot log in, subject to FORCE ROW LEVEL SECURITY.'),
            ('anon',                 false, false,     true,
             'API role for unauthenticated requests (PostgREST convention). Reaches only the anonymous surfaces.'),
            ('authenticated',        false, false,     true,
             'API role for signed-in operators and sponsors; which one is decided by row-level security from request.jwt.claims.'),
            ('service_role',         false, true,      true,
             'Server-side jobs only (PostgREST/Supabase convention): bypasses row-level security, never handed to a browser.'),
            ('tessera_proxy',        true,  false,     true,
             'The proxy worker: may only call the write functions it needs, reads nothing back beyond what they return.'),
            ('tessera_settlement',   true,  false,     true,
             'The batch settlement job: may only call the settlement functions.'),
            ('tessera_sealer',       true,  false,     true,
             'The audit sealer (tessera-db audit seal): may only call the three audit sealing functions; holds no table privilege.'),
            ('authenticator',        true,  false,     false,
             'The API login role: NOINHERIT, holds no privilege of its own and can only SET ROLE into anon, authenticated or service_role.')
        ) AS t(rolname, can_login, bypass_rls, inherit, why)
    LOOP
        SELECT r.rolsuper, r.rolcanlogin, r.rolbypassrls, r.rolinherit, r.rolcreaterole, r.rolcreatedb,
               r.rolreplication
          INTO existing
          FROM pg_catalog.pg_roles r
         WHERE r.rolname = spec.rolname;

        IF NOT FOUND THEN
            EXECUTE pg_catalog.format(
                'CREATE ROLE %I %s %s %s NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION',
                spec.rolname,
                CASE WHEN spec.can_login THEN 'LOGIN' ELSE 'NOLOGIN' END,
                CASE WHEN spec.bypass_rls THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END,
                CASE WHEN spec.inherit THEN 'INHERIT' ELSE 'NOINHERIT' END);
        ELSIF existing.rolsuper THEN
            RAISE EXCEPTION 'role % exists and is a superuser; tessera-db refuses to use it', spec.rolname
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'ALTER ROLE ... NOSUPERUSER, or use a fresh cluster.';
        ELSIF existing.rolcanlogin IS DISTINCT FROM spec.can_login
           OR existing.rolbypassrls IS DISTINCT FROM spec.bypass_rls
           OR existing.rolinherit IS DISTINCT FROM spec.inherit
           OR existing.rolcreaterole OR existing.rolcreatedb OR existing.rolreplication THEN
            -- NOREPLICATION matters: a replication login streams the whole database
            -- past every policy.
            EXECUTE pg_catalog.format(
                'ALTER ROLE %I %s %s %s NOCREATEDB NOCREATEROLE NOREPLICATION',
                spec.rolname,
                CASE WHEN spec.can_login THEN 'LOGIN' ELSE 'NOLOGIN' END,
                CASE WHEN spec.bypass_rls THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END,
                CASE WHEN spec.inherit THEN 'INHERIT' ELSE 'NOINHERIT' END);
        END IF;

        EXECUTE pg_catalog.format('COMMENT ON ROLE %I IS %L', spec.rolname, spec.why);
    END LOOP;

    -- The authenticator can switch into the three API roles and nothing else.
    IF NOT pg_catalog.pg_has_role('authenticator', 'anon', 'MEMBER') THEN
        GRANT anon TO authenticator;
    END IF;
    IF NOT pg_catalog.pg_has_role('authenticator', 'authenticated', 'MEMBER') THEN
        GRANT authenticated TO authenticator;
    END IF;
    IF NOT pg_catalog.pg_has_role('authenticator', 'service_role', 'MEMBER') THEN
        GRANT service_role TO authenticator;
    END IF;

    -- ... and no project role holds a membership it should not: a stray grant (say
    -- tessera_owner to authenticator, or pg_read_all_data to the proxy) would widen it
    -- past its policies. Memberships in roles outside the project and the predefined
    -- pg_* roles are left alone, so a shared cluster's own set-up is not disturbed.
    FOR spec IN
        SELECT m.roleid::regrole::text AS granted, m.member::regrole::text AS member
          FROM pg_catalog.pg_auth_members m
         WHERE m.member::regrole::text IN ('anon', 'authenticated', 'service_role', 'tessera_owner',
                                           'tessera_proxy', 'tessera_settlement', 'tessera_sealer',
                                           'authenticator')
           AND (m.roleid::regrole::text IN ('anon', 'authenticated', 'service_role', 'tessera_owner',
                                            'tessera_proxy', 'tessera_settlement', 'tessera_sealer',
                                            'authenticator')
                OR m.roleid::regrole::text LIKE 'pg\_%')
           AND NOT (m.member::regrole::text = 'authenticator'
                    AND m.roleid::regrole::text IN ('anon', 'authenticated', 'service_role'))
    LOOP
        EXECUTE pg_catalog.format('REVOKE %I FROM %I', spec.granted, spec.member);
    END LOOP;

    -- A non-superuser deploy login must be able to SET ROLE tessera_owner to migrate.
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
       AND NOT pg_catalog.pg_has_role(current_user, 'tessera_owner', 'MEMBER') THEN
        EXECUTE pg_catalog.format('GRANT tessera_owner TO %I', current_user);
    END IF;
END
$roles$;
