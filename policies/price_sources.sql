-- Row-level security, policies and grants for tessera.price_sources.
--
--   operator, sponsor  read (public provenance: which file a price came from, and whose
--                      numbers it copies; tessera.price_confidence runs with the
--                      caller's rights and needs it)
--   stranger, anon     nothing
--   service_role       read (the importer)
--   tessera_proxy      nothing
--   writes             none: the rows are inserted by schema/51_price_sources.sql before
--                      RLS is enabled; a new source comes with its own migration.
--                      Append-only triggers refuse UPDATE/DELETE/TRUNCATE for everyone.
ALTER TABLE tessera.price_sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.price_sources FORCE ROW LEVEL SECURITY;

CREATE POLICY price_sources_select_operator_or_sponsor ON tessera.price_sources
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR (SELECT pg_catalog.cardinality(tessera_private.sponsor_client_ids()) > 0));

-- Privileges for authenticated: rows narrowed by the policy above.
GRANT SELECT ON tessera.price_sources TO authenticated;

-- Privileges for server-side jobs.
GRANT SELECT ON tessera.price_sources TO service_role;
