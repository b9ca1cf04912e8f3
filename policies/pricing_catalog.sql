-- Row-level security, policies, guard triggers and grants for tessera.pricing_catalog.
--
--   operator, sponsor  read every price (public reference data: what providers charge)
--   stranger, anon     nothing (authenticated without an operator or sponsor listing)
--   service_role       read; writes only through tessera.publish_price()
--   tessera_proxy      nothing directly; the ledger's definer function reads prices
--   owner (definer functions: publish_price, the ledger's record_request)
--                      open or not-yet-ended rows only; insert open rows; close an open
--                      row at now or later. History already closed is invisible to them,
--                      except to record_request while it records (late measurements).
--   everyone, owner and superusers included: the guard triggers below.
ALTER TABLE tessera.pricing_catalog ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.pricing_catalog FORCE ROW LEVEL SECURITY;

CREATE POLICY pricing_catalog_select_operator_or_sponsor ON tessera.pricing_catalog
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR (SELECT pg_catalog.cardinality(tessera_private.sponsor_client_ids()) > 0));

-- Definer functions need the version in force (to price a request, or to close it when
-- publishing); a closed-in-the-past row is never what they should price with.
CREATE POLICY pricing_catalog_select_definer_current ON tessera.pricing_catalog
    FOR SELECT TO tessera_owner
    USING (effective_to IS NULL OR effective_to >= now());

-- tessera_private.ingest_requests (record_request / record_requests) prices a
-- measurement at the version in force when the request happened, and a late
-- measurement (spooled by the proxy during an outage, or a dead letter replayed) can
-- fall in a period that has closed since. While it records (the transaction-local
-- tessera.ingest_client_ids is set) it may read every version: prices are public
-- reference data, and the catalog's history is exactly what it must price against.
CREATE POLICY pricing_catalog_select_definer_recording ON tessera.pricing_catalog
    FOR SELECT TO tessera_owner
    USING (NULLIF((SELECT pg_catalog.current_setting('tessera.ingest_client_ids', true)), '') IS NOT NULL);

CREATE POLICY pricing_catalog_insert_definer_open ON tessera.pricing_catalog
    FOR INSERT TO tessera_owner
    WITH CHECK (effective_to IS NULL);

-- The rows it may read; the guard trigger then allows only the one close, and this
-- WITH CHECK keeps that close at now or later (never re-describing the past).
CREATE POLICY pricing_catalog_update_definer_close ON tessera.pricing_catalog
    FOR UPDATE TO tessera_owner
    USING (effective_to IS NULL OR effective_to >= now())
    WITH CHECK (effective_to >= now());

-- The second line of defence, for every role (RLS does not bind superusers, and owners
-- hold every privilege). ENABLE ALWAYS: session_replication_role = replica skips
-- ordinary triggers. Function: functions/tessera_private.guard_pricing_catalog_update.sql.
CREATE TRIGGER pricing_catalog_guard_update
    BEFORE UPDATE ON tessera.pricing_catalog
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_pricing_catalog_update();
ALTER TABLE tessera.pricing_catalog ENABLE ALWAYS TRIGGER pricing_catalog_guard_update;

-- Every column except effective_to: a statement SETting one is refused even if it
-- matches no row.
CREATE TRIGGER pricing_catalog_guard_update_statement
    BEFORE UPDATE OF pricing_snapshot_id, provider, model, input_usd_per_token, output_usd_per_token,
        cache_read_usd_per_token, cache_write_5m_usd_per_token, cache_write_1h_usd_per_token,
        batch_input_usd_per_token, batch_output_usd_per_token, tier_threshold_tokens,
        above_tier_input_usd_per_token, above_tier_output_usd_per_token,
        above_tier_cache_read_usd_per_token, effective_from, published_at
    ON tessera.pricing_catalog
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_private.guard_pricing_catalog_update();
ALTER TABLE tessera.pricing_catalog ENABLE ALWAYS TRIGGER pricing_catalog_guard_update_statement;

CREATE TRIGGER pricing_catalog_refuse_delete_truncate
    BEFORE DELETE OR TRUNCATE ON tessera.pricing_catalog
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_private.guard_pricing_catalog_update();
ALTER TABLE tessera.pricing_catalog ENABLE ALWAYS TRIGGER pricing_catalog_refuse_delete_truncate;

-- Privileges for authenticated: rows narrowed by the policy above. No writes.
GRANT SELECT ON tessera.pricing_catalog TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS): read only; publishing goes through
-- tessera.publish_price().
GRANT SELECT ON tessera.pricing_catalog TO service_role;
