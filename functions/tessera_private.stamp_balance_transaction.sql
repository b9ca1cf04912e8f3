-- tessera_private.stamp_balance_transaction(): BEFORE INSERT trigger on
-- tessera.balance_transactions that sets who and when, whatever the INSERT supplied:
--   actor       the JWT email (lower-cased) or, failing that, the JWT sub (service jobs
--               name themselves there: Database.as_service("nightly-job")); for a
--               maintenance session without claims, 'db:' || session_user
--   db_role     the database role that ran the INSERT (current_user)
--   created_at  now()
-- An API role (anon, authenticated, service_role) without an email or sub in its claims
-- is refused (42501): every money movement names someone. A maintenance session with no
-- claims (superuser or owner in psql) is named 'db:<login>'. Not SECURITY DEFINER: it
-- reads only the caller's own setting, so current_user is the caller's role.
CREATE FUNCTION tessera_private.stamp_balance_transaction()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    raw text := pg_catalog.current_setting('request.jwt.claims', true);
    claims jsonb;
    who text;
BEGIN
    BEGIN
        claims := NULLIF(pg_catalog.btrim(raw), '')::jsonb;
    EXCEPTION WHEN data_exception THEN
        claims := NULL;
    END;
    IF pg_catalog.jsonb_typeof(claims) = 'object' THEN
        IF pg_catalog.jsonb_typeof(claims -> 'email') = 'string' AND claims ->> 'email' ~ '[^[:space:]]' THEN
            who := pg_catalog.lower(claims ->> 'email');
        ELSIF pg_catalog.jsonb_typeof(claims -> 'sub') = 'string' AND claims ->> 'sub' ~ '[^[:space:]]' THEN
            who := claims ->> 'sub';
        END IF;
    END IF;
    -- Maintenance sessions (a superuser or the owner in psql, no API claims) are named
    -- by their login; the API roles must say who they are.
    IF who IS NULL AND current_user::text NOT IN ('anon', 'authenticated', 'service_role') THEN
        who := 'db:' || session_user::text;
    END IF;
    IF who IS NULL THEN
        RAISE EXCEPTION 'a balance transaction needs an actor: request.jwt.claims must carry an email or sub'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.actor := pg_catalog.left(who, 320);
    NEW.db_role := current_user::text;
    NEW.created_at := pg_catalog.now();
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.stamp_balance_transaction() IS
    'BEFORE INSERT trigger on tessera.balance_transactions: stamps actor (JWT email or sub), db_role and created_at; refuses a write without an actor.';

REVOKE ALL ON FUNCTION tessera_private.stamp_balance_transaction() FROM PUBLIC; -- functions are executable by PUBLIC by default
