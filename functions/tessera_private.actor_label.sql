-- tessera_private.actor_label(): who is acting, as one short label for the "by" columns
-- of issue 15's tables (kill_switch_engagements.engaged_by / released_by,
-- anomalies.acknowledged_by / resolved_by / reenabled_by): the JWT email (lower-cased),
-- else the JWT sub (service jobs name themselves there), else 'role:<role>' for an
-- API role without claims, else 'db:<login>' for a maintenance session. Never NULL.
-- The audit log records the full actor of the same change (role, email, sub, job).
--
-- SECURITY DEFINER so that any caller of the guarded paths (the kill-switch trigger, the
-- anomaly guard, run by sponsors, operators, service_role or the proxy) can read its own
-- claims through tessera_private.jwt_claims (granted to authenticated only); it reads
-- nothing but the caller's own settings. The role is the session's SET ROLE (the
-- "role" setting), which a definer function does not change.
CREATE FUNCTION tessera_private.actor_label()
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT COALESCE(
        CASE WHEN pg_catalog.jsonb_typeof(c.claims -> 'email') = 'string' AND c.claims ->> 'email' ~ '[^[:space:]]'
             THEN pg_catalog.lower(c.claims ->> 'email') END,
        CASE WHEN pg_catalog.jsonb_typeof(c.claims -> 'sub') = 'string' AND c.claims ->> 'sub' ~ '[^[:space:]]'
             THEN c.claims ->> 'sub' END,
        CASE WHEN pg_catalog.current_setting('role') NOT IN ('none', '')
             THEN 'role:' || pg_catalog.current_setting('role') END,
        'db:' || session_user::text)
      FROM (SELECT tessera_private.jwt_claims() AS claims) AS c
$function$;

COMMENT ON FUNCTION tessera_private.actor_label() IS
    'The acting identity as one label: JWT email, else JWT sub, else role:<role>, else db:<login>. SECURITY DEFINER (reads only the caller''s own settings), pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.actor_label() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.actor_label() TO authenticated, service_role, tessera_proxy;
