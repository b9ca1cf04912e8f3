-- Cluster-wide roles for tessera-db (PostgREST / Supabase conventions).
--
-- Roles belong to the cluster, not to one database, so they are created by this
-- bootstrap file rather than by a migration: migrations run *as* tessera_owner, which
-- must therefore exist first. Re-runnable, and fit for a platform that owns the API roles
-- (Supabase creates anon, authenticated, service_role and authenticator itself and gives
-- the project a deploy login with CREATEROLE but not SUPERUSER):
--
--   * a missing role is created;
--   * an existing role is changed only where an attribute is wrong, one attribute per
--     ALTER ROLE, so nothing is sent that only a superuser may run unless the attribute
--     really has to change: REPLICATION, CREATEROLE, CREATEDB, LOGIN on a role that must
--     not log in, BYPASSRLS on anything but service_role (all unsafe), a worker login
--     that cannot log in, service_role without BYPASSRLS, an authenticator that inherits;
--   * NOINHERIT on anon, authenticated and service_role is accepted as it is (Supabase's
--     init scripts create them so): they are members of nothing tessera-db grants;
--   * a role that exists as a superuser is refused (it would bypass every policy);
--   * whatever the connected login may not change stops the bootstrap with one error
--     naming each role, its attribute and the statements a platform admin must run;
--     nothing is changed then (one transaction);
--   * memberships: authenticator gets the three API roles, project roles lose any
--     membership in each other or in a predefined pg_* role, and a membership in a role
--     outside the project (a platform's own admin or pgsodium roles) is reported as a
--     WARNING, neither revoked nor vouched for;
--   * each change is reported as one NOTICE line ("created role ...", "altered role
--     ...: A -> B", "granted ...", "revoked ..."), so `tessera-db migrate` and psql show
--     it in a deployment log.
--
-- Passwords are never set here. `tessera-db dev up` sets throwaway ones on the dev
-- cluster; a deployment sets its own.

DO $roles$
DECLARE
    spec record;
    existing record;
    is_new boolean;
    membership record;
    -- The planned changes, in order: statement, its report line (NULL: not reported),
    -- and what is wrong if the statement is refused.
    stmts text[] := '{}';
    reports text[] := '{}';
    problems text[] := '{}';
    warnings text[] := '{}';
    done text[] := '{}';
    failed text[] := '{}';
    admin_stmts text[] := '{}';
    refusal text;
    attr record;
    project_roles text[] := ARRAY['anon', 'authenticated', 'service_role', 'tessera_owner', 'tessera_proxy',
                                  'tessera_settlement', 'tessera_sealer', 'authenticator'];
    i integer;
BEGIN
    FOR spec IN
        SELECT * FROM (VALUES
            -- role name,           LOGIN, BYPASSRLS, INHERIT (NULL: either), why
            ('tessera_owner',        false, false,     true,
             'Owns every tessera-db object; migrations run as it. Not a superuser, cannot log in, subject to FORCE ROW LEVEL SECURITY.'),
            ('anon',                 false, false,     NULL,
             'API role for unauthenticated requests (PostgREST convention). Reaches only the anonymous surfaces.'),
            ('authenticated',        false, false,     NULL,
             'API role for signed-in operators and sponsors; which one is decided by row-level security from request.jwt.claims.'),
            ('service_role',         false, true,      NULL,
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

        is_new := NOT FOUND;
        IF is_new THEN
            stmts := stmts || pg_catalog.format(
                'CREATE ROLE %I %s %s %s NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION',
                spec.rolname,
                CASE WHEN spec.can_login THEN 'LOGIN' ELSE 'NOLOGIN' END,
                CASE WHEN spec.bypass_rls THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END,
                CASE WHEN COALESCE(spec.inherit, true) THEN 'INHERIT' ELSE 'NOINHERIT' END);
            reports := reports || pg_catalog.format('created role %s', spec.rolname);
            problems := problems || pg_catalog.format('role %s does not exist', spec.rolname);
        ELSIF existing.rolsuper THEN
            RAISE EXCEPTION 'role % exists and is a superuser, which tessera-db refuses to use (it would bypass every policy); a platform admin must run: ALTER ROLE % NOSUPERUSER;',
                spec.rolname, pg_catalog.quote_ident(spec.rolname)
                USING ERRCODE = 'insufficient_privilege';
        ELSE
            -- One ALTER per wrong attribute; REPLICATION first (PostgreSQL 15 lets only a
            -- superuser alter a replication role at all).
            FOR attr IN
                SELECT * FROM (VALUES
                    (1, existing.rolreplication, false,            'REPLICATION', 'NOREPLICATION'),
                    (2, existing.rolcreaterole,  false,            'CREATEROLE',  'NOCREATEROLE'),
                    (3, existing.rolcreatedb,    false,            'CREATEDB',    'NOCREATEDB'),
                    (4, existing.rolcanlogin,    spec.can_login,   'LOGIN',       'NOLOGIN'),
                    (5, existing.rolbypassrls,   spec.bypass_rls,  'BYPASSRLS',   'NOBYPASSRLS'),
                    (6, existing.rolinherit,     spec.inherit,     'INHERIT',     'NOINHERIT')
                ) AS a(ord, has, wanted, yes_word, no_word)
                 WHERE a.wanted IS NOT NULL AND a.has IS DISTINCT FROM a.wanted
                 ORDER BY a.ord
            LOOP
                stmts := stmts || pg_catalog.format('ALTER ROLE %I %s', spec.rolname,
                                                    CASE WHEN attr.wanted THEN attr.yes_word ELSE attr.no_word END);
                reports := reports || pg_catalog.format('altered role %s: %s -> %s', spec.rolname,
                    CASE WHEN attr.has THEN attr.yes_word ELSE attr.no_word END,
                    CASE WHEN attr.wanted THEN attr.yes_word ELSE attr.no_word END);
                problems := problems || pg_catalog.format('role %s has %s', spec.rolname,
                    CASE WHEN attr.has THEN attr.yes_word ELSE attr.no_word END);
            END LOOP;
        END IF;

        -- The project's own roles, and any role created here, carry the project's
        -- description; a platform's API role is left as the platform described it (a
        -- comment is no reason to need more than the platform gave the deploy login).
        IF is_new OR spec.rolname LIKE 'tessera\_%' THEN
            stmts := stmts || pg_catalog.format('COMMENT ON ROLE %I IS %L', spec.rolname, spec.why);
            reports := reports || NULL::text;
            problems := problems || pg_catalog.format('role %s is not described', spec.rolname);
        END IF;
    END LOOP;

    -- The authenticator can switch into the three API roles and nothing else.
    FOR spec IN
        SELECT api.rolname FROM unnest(ARRAY['anon', 'authenticated', 'service_role']) AS api(rolname)
         WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                             JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
                             JOIN pg_catalog.pg_roles u ON u.oid = m.member
                            WHERE g.rolname = api.rolname AND u.rolname = 'authenticator')
    LOOP
        stmts := stmts || pg_catalog.format('GRANT %I TO authenticator', spec.rolname);
        reports := reports || pg_catalog.format('granted %s to authenticator', spec.rolname);
        problems := problems || pg_catalog.format('role authenticator is not a member of %s', spec.rolname);
    END LOOP;

    -- ... and no project role holds a membership it should not: a stray grant (say
    -- tessera_owner to authenticator, or pg_read_all_data to the proxy) would widen it
    -- past its policies. A membership in a role outside the project and the predefined
    -- pg_* roles belongs to the platform: reported, not revoked, not vouched for.
    FOR membership IN
        SELECT g.rolname AS granted, u.rolname AS member, g.rolsuper AS granted_is_superuser,
               (g.rolname = ANY (project_roles) OR g.rolname LIKE 'pg\_%') AS is_stray
          FROM pg_catalog.pg_auth_members m
          JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
          JOIN pg_catalog.pg_roles u ON u.oid = m.member
         WHERE u.rolname = ANY (project_roles)
           AND NOT (u.rolname = 'authenticator' AND g.rolname IN ('anon', 'authenticated', 'service_role'))
         ORDER BY u.rolname, g.rolname
    LOOP
        IF membership.is_stray THEN
            stmts := stmts || pg_catalog.format('REVOKE %I FROM %I', membership.granted, membership.member);
            reports := reports || pg_catalog.format('revoked membership of %s in %s', membership.member,
                                                    membership.granted);
            problems := problems || pg_catalog.format('role %s is a member of %s', membership.member,
                                                      membership.granted);
        ELSE
            warnings := warnings || pg_catalog.format(
                'role %s is a member of %s%s, a role tessera-db does not manage: left in place and not checked; revoke it unless the platform needs it',
                membership.member, membership.granted,
                CASE WHEN membership.granted_is_superuser THEN ' (a superuser)' ELSE '' END);
        END IF;
    END LOOP;

    -- A non-superuser deploy login must be able to SET ROLE tessera_owner to migrate.
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
       AND NOT (EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = 'tessera_owner')
                AND pg_catalog.pg_has_role(current_user, 'tessera_owner', 'MEMBER')) THEN
        stmts := stmts || pg_catalog.format('GRANT tessera_owner TO %I', current_user);
        reports := reports || pg_catalog.format('granted tessera_owner to %s (the deploy login, to run migrations as it)',
                                                current_user);
        problems := problems || pg_catalog.format('the deploy login %s is not a member of tessera_owner', current_user);
    END IF;

    -- Apply the plan. A statement the connected login may not run is collected, and the
    -- whole bootstrap stops with one message listing them (and nothing changed).
    FOR i IN 1 .. COALESCE(pg_catalog.array_length(stmts, 1), 0) LOOP
        BEGIN
            EXECUTE stmts[i];
            IF reports[i] IS NOT NULL THEN
                done := done || reports[i];
            END IF;
        EXCEPTION
            WHEN insufficient_privilege THEN
                failed := failed || problems[i];
                admin_stmts := admin_stmts || (stmts[i] || ';');
                refusal := COALESCE(refusal, SQLERRM);
            WHEN undefined_object THEN
                -- A role an earlier refused statement should have created: the admin
                -- runs this too, after that one (descriptions aside).
                IF pg_catalog.cardinality(failed) = 0 THEN
                    RAISE;
                ELSIF reports[i] IS NOT NULL THEN
                    admin_stmts := admin_stmts || (stmts[i] || ';');
                END IF;
        END;
    END LOOP;

    IF pg_catalog.cardinality(failed) > 0 THEN
        RAISE EXCEPTION '%; the deploy login % may not change this (%); a platform admin must run: %',
            pg_catalog.array_to_string(failed, '; '), current_user, refusal,
            pg_catalog.array_to_string(admin_stmts, ' ')
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    FOR i IN 1 .. COALESCE(pg_catalog.array_length(done, 1), 0) LOOP
        RAISE NOTICE '%', done[i];
    END LOOP;
    FOR i IN 1 .. COALESCE(pg_catalog.array_length(warnings, 1), 0) LOOP
        RAISE WARNING '%', warnings[i];
    END LOOP;
END
$roles$;
