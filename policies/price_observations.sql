-- Row-level security, policies and grants for tessera.price_observations.
--
--   operator, sponsor  read: copies of public price files, and what
--                      tessera.price_confidence (SECURITY INVOKER) re-derives a
--                      sponsor's confidence figures from
--   stranger, anon     nothing
--   service_role       read; writes only through tessera.record_price_observations()
--   tessera_proxy      nothing
--   owner              (record_price_observations) insert observations not from the future
ALTER TABLE tessera.price_observations ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.price_observations FORCE ROW LEVEL SECURITY;

CREATE POLICY price_observations_select_operator_or_sponsor ON tessera.price_observations
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR (SELECT pg_catalog.cardinality(tessera_private.sponsor_client_ids()) > 0));

CREATE POLICY price_observations_insert_definer ON tessera.price_observations
    FOR INSERT TO tessera_owner
    WITH CHECK (observed_at <= now());

-- Privileges for authenticated: rows narrowed by the policy above.
GRANT SELECT ON tessera.price_observations TO authenticated;

-- Privileges for server-side jobs.
GRANT SELECT ON tessera.price_observations TO service_role;
