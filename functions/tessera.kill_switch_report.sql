-- tessera.kill_switch_report(client, from, to): was the kill-switch contract kept?
-- (issue 15; seed: the kill switch takes effect within the next KV refresh, <= 60 s.)
--
-- One row per engagement of the client's kill switch (tessera.kill_switch_engagements)
-- engaged in [from, to) (either bound NULL = open): when it was engaged and released
-- and by whom, how many recorded requests fired a mechanic while it was engaged, when
-- the last of them fired and how long after the engagement, and contract_held: no
-- mechanic fired more than 60 s after the engagement. (Each late request has also
-- opened a kill_switch_late anomaly; every request fired under the switch is recorded
-- with no saving credited to its mechanics, in optimize_savings.unconsented_mechanics.)
--
-- SECURITY INVOKER: the caller's own RLS applies (a sponsor reports on their own
-- clients, an operator or service_role on any; anyone else gets no rows).
CREATE FUNCTION tessera.kill_switch_report(p_client_id uuid, p_from timestamptz DEFAULT NULL,
                                           p_to timestamptz DEFAULT NULL)
RETURNS TABLE (engagement_id uuid, engaged_at timestamptz, engaged_by text, released_at timestamptz,
               released_by text, requests_with_mechanics bigint, last_mechanic_at timestamptz,
               seconds_after_engagement numeric, contract_held boolean)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT e.engagement_id, e.engaged_at, e.engaged_by, e.released_at, e.released_by,
           f.n, f.last_at,
           pg_catalog.date_part('epoch', f.last_at - e.engaged_at)::numeric,
           f.last_at IS NULL OR f.last_at <= e.engaged_at + interval '60 seconds'
      FROM tessera.kill_switch_engagements AS e
     CROSS JOIN LATERAL (
           SELECT pg_catalog.count(*) AS n, pg_catalog.max(s.occurred_at) AS last_at
             FROM tessera.optimize_savings AS s
            WHERE s.client_id = e.client_id
              AND s.occurred_at >= e.engaged_at
              AND (e.released_at IS NULL OR s.occurred_at < e.released_at)
              AND pg_catalog.cardinality(s.mechanics) > 0) AS f
     WHERE e.client_id = p_client_id
       AND (p_from IS NULL OR e.engaged_at >= p_from)
       AND (p_to IS NULL OR e.engaged_at < p_to)
     ORDER BY e.engaged_at
$function$;

COMMENT ON FUNCTION tessera.kill_switch_report(uuid, timestamptz, timestamptz) IS
    'Per kill-switch engagement of a client: engaged/released (by whom), requests that fired a mechanic while engaged, the last one and its delay, and whether the 60 s contract held. Invoker rights (RLS applies).';

REVOKE ALL ON FUNCTION tessera.kill_switch_report(uuid, timestamptz, timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.kill_switch_report(uuid, timestamptz, timestamptz) TO authenticated, service_role;
