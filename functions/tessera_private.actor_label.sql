-- tessera_private.actor_label(): who is acting, as one short label for the "by" columns
-- of issue 15's tables (kill_switch_engagements.engaged_by / released_by,
-- anomalies.acknowledged_by / resolved_by / reenabled_by): the JWT email (lower-cased),
-- else the JWT sub (service jobs name themselves there), else 'role:<role>' for an
-- API role without claims, else 'db:<login>' for a maintenance session. Never NULL.
-- The audit log records the full actor of the same change (role, email, sub, job).
--
-- Called only as tessera_owner: from the kill-switch trigger and the anomaly guard, both
-- reached through SECURITY DEFINER functions (set_kill_switch, respond_to_anomaly,
-- worker_config_changed); no API role may execute it. It reads nothing but the caller's
-- own settings. The role is the session's SET ROLE (the "role" setting), which a
-- definer function does not change, so the label still names the API role.
CREATE FUNCTION tessera_private.actor_label()
RETURNS text
LANGUAGE sql
STABLE
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
    'The acting identity as one label: JWT email, else JWT sub, else role:<role>, else db:<login>. Called as the owner by the kill-switch trigger and the anomaly guard.';

REVOKE ALL ON FUNCTION tessera_private.actor_label() FROM PUBLIC; -- functions are executable by PUBLIC by default
