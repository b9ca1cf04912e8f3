-- Frozen downgrade of 0006_batched_ingest: restores the 0005 definitions.

DROP FUNCTION tessera.replay_dead_letters(uuid, integer);
DROP FUNCTION tessera.record_requests(jsonb);

-- functions/tessera.record_request.sql (0005)
-- tessera.record_request(...): record one proxied request in tessera.optimize_savings,
-- pricing it in the database, and return the row's key fields and costs.
--
-- Callers: the proxy login (tessera_proxy), and service_role (spool replay; see the GRANT). SECURITY DEFINER, so the proxy holds
-- no table privilege at all and reads back nothing but what this returns. As
-- tessera_owner it is still bound by FORCE RLS: it sets the transaction-local setting
-- tessera.recording_client_id to p_client_id, which the owner-only policies on
-- optimize_savings, savings_request_keys and workloads admit (that one client's rows,
-- nothing else), and clears it before returning.
--
-- Idempotency: the key (client_id, request_id) is claimed in tessera.savings_request_keys
-- (INSERT ... ON CONFLICT DO NOTHING; a concurrent claimer is waited for). If it was
-- already claimed, NOTHING is written and the ORIGINAL row is returned with
-- replayed = true, whatever the replay's payload says.
--
-- Validation (all refusals write nothing):
--   * the workload must belong to the client (23503 foreign_key_violation);
--   * mechanics must be known, and are normalised to sorted + distinct (23514);
--   * every mechanic that fired must be opted in on the workload: REFUSED (42501), not
--     recorded. A mechanic the customer did not consent to is a proxy bug; recording it
--     would credit savings to it in the customer's reading. The proxy must fail loudly.
--   * feature_tag / customer_tag that look like an email, phone or card number (23514,
--     message names which), longer than 100 characters, or blank (23514);
--   * token buckets >= 0, and reported totals equal to the bucket sums (23514).
--
-- Pricing (each model priced at the pricing_catalog version in force at occurred_at:
-- effective_from <= occurred_at < effective_to; none => P0002 no_data_found):
--   prompt = uncached + cache_read + cache_write_5m + cache_write_1h tokens.
--   Above tier: when the snapshot has tier_threshold_tokens and prompt > threshold,
--     uncached input uses above_tier_input, output and reasoning above_tier_output,
--     cache reads above_tier_cache_read; cache writes keep their own prices (no source
--     publishes above-tier cache-write prices).
--   Batch: uncached input uses batch_input, output and reasoning batch_output; a batch
--     request above the tier is refused (no source prices that combination).
--   Cache reads use cache_read (or above_tier_cache_read); cache writes use
--     cache_write_5m / cache_write_1h.
--   A component needed for a non-zero bucket but absent from the snapshot (NULL) is
--     REFUSED with P0002 naming it: we never guess (e.g. charging cache reads at the
--     input price overstates savings from caching).
--   cost = sum(tokens x price), exact numeric, no rounding.
--   original_cost_usd is the counterfactual: the request without Tessera. It prices the
--   buckets at the requested model's snapshot, except that when Tessera itself turned
--   on a cheaper way of paying for the same tokens, the original did not have it:
--     prompt_cache_header fired -> every prompt token at the uncached input price (no
--       cache reads, no cache-write premium);
--     batch_routing fired       -> real-time prices (and p_batch must be true, 23514).
--   actual_cost_usd prices the buckets as sent, at the routed model's snapshot, except
--   that a Tessera cache hit (exact_cache or semantic_cache fired) made no provider
--   call: actual_cost_usd = 0. history_pruning's saving is not credited: the proxy
--   does not report the pre-pruning prompt size, and we never guess it.
-- Rows are never re-priced: they keep the snapshot ids and costs they were written with.
CREATE OR REPLACE FUNCTION tessera.record_request(
    p_client_id                   uuid,
    p_workload_id                 uuid,
    p_request_id                  text,
    p_occurred_at                 timestamptz,
    p_requested_provider          text,
    p_requested_model             text,
    p_routed_provider             text,
    p_routed_model                text,
    p_uncached_input_tokens       bigint,
    p_cache_read_input_tokens     bigint DEFAULT 0,
    p_cache_write_5m_input_tokens bigint DEFAULT 0,
    p_cache_write_1h_input_tokens bigint DEFAULT 0,
    p_output_tokens               bigint DEFAULT 0,
    p_reasoning_tokens            bigint DEFAULT NULL,
    p_batch                       boolean DEFAULT false,
    p_mechanics                   text[] DEFAULT '{}',
    p_finish_reason               text DEFAULT NULL,
    p_feature_tag                 text DEFAULT NULL,
    p_customer_tag                text DEFAULT NULL,
    p_reported_input_tokens       bigint DEFAULT NULL,
    p_reported_output_tokens      bigint DEFAULT NULL)
RETURNS TABLE (client_id uuid, request_id text, occurred_at timestamptz, recorded_at timestamptz,
               requested_snapshot_id uuid, routed_snapshot_id uuid, original_cost_usd numeric,
               actual_cost_usd numeric, savings_usd numeric, mechanics text[], replayed boolean)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    -- The known mechanics (the mechanic_* columns of tessera.workloads), in C-collation
    -- order: walking this list yields a stack already sorted and distinct.
    known CONSTANT text[] := ARRAY['auto_route', 'batch_routing', 'exact_cache', 'history_pruning',
                                   'json_schema_enforcement', 'prompt_cache_header', 'semantic_cache'];
    mechanic text;
    mech text[] := '{}'::text[];
    bad text[] := '{}'::text[];
    tag_column text;
    tag_kind text;
    opted_in boolean;
    looked_up record;
    wl tessera.workloads;
    req tessera.pricing_catalog;
    rte tessera.pricing_catalog;
    key_occurred timestamptz;
    orig numeric;
    cache_credit boolean;
    batch_credit boolean;
    saved tessera.optimize_savings;
BEGIN
    -- Hot path: one call per proxied request. Validation below uses plain PL/pgSQL
    -- expressions, not SQL queries; the only statements are the key claim, one lookup
    -- (workload and both snapshots) and the insert (see docs/benchmarks.md).
    IF p_client_id IS NULL OR p_workload_id IS NULL OR p_request_id IS NULL OR p_occurred_at IS NULL
       OR p_requested_provider IS NULL OR p_requested_model IS NULL
       OR p_routed_provider IS NULL OR p_routed_model IS NULL OR p_uncached_input_tokens IS NULL THEN
        RAISE EXCEPTION 'record_request: client, workload, request_id, occurred_at, both models and uncached_input_tokens are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.set_config('tessera.recording_client_id', p_client_id::text, true);

    -- Replay? Claim the key; if someone holds it, return the original and write nothing.
    INSERT INTO tessera.savings_request_keys AS k (client_id, request_id, occurred_at)
    VALUES (p_client_id, p_request_id, p_occurred_at)
    ON CONFLICT ON CONSTRAINT savings_request_keys_pkey DO NOTHING;
    IF NOT FOUND THEN
        SELECT k.occurred_at INTO STRICT key_occurred
          FROM tessera.savings_request_keys AS k
         WHERE k.client_id = p_client_id AND k.request_id = p_request_id;
        RETURN QUERY
            SELECT s.client_id, s.request_id, s.occurred_at, s.recorded_at, s.requested_snapshot_id,
                   s.routed_snapshot_id, s.original_cost_usd, s.actual_cost_usd, s.savings_usd,
                   s.mechanics, true
              FROM tessera.optimize_savings AS s
             WHERE s.client_id = p_client_id AND s.request_id = p_request_id
               AND s.occurred_at = key_occurred;
        PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
        RETURN;
    END IF;

    -- Mechanics: known, then normalised (sorted, distinct).
    FOREACH mechanic IN ARRAY COALESCE(p_mechanics, '{}') LOOP
        IF mechanic IS NULL OR mechanic <> ALL (known) THEN
            bad := bad || COALESCE(mechanic, 'NULL');
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(bad) > 0 THEN
        RAISE EXCEPTION 'unknown mechanic(s): %; known: %', pg_catalog.array_to_string(bad, ', '),
                        pg_catalog.array_to_string(known, ', ')
            USING ERRCODE = 'check_violation', CONSTRAINT = 'optimize_savings_mechanics_known',
                  TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END IF;
    FOREACH mechanic IN ARRAY known LOOP
        IF mechanic = ANY (p_mechanics) THEN
            mech := mech || mechanic;
        END IF;
    END LOOP;

    -- Tags: no personal data.
    FOREACH tag_column IN ARRAY ARRAY['feature_tag', 'customer_tag'] LOOP
        tag_kind := CASE WHEN tag_column = 'feature_tag' AND p_feature_tag IS NOT NULL
                              THEN tessera_private.tag_pii_kind(p_feature_tag)
                         WHEN tag_column = 'customer_tag' AND p_customer_tag IS NOT NULL
                              THEN tessera_private.tag_pii_kind(p_customer_tag) END;
        IF tag_kind IS NOT NULL THEN
            RAISE EXCEPTION '% looks like % (we never store end-user personal data)', tag_column,
                CASE tag_kind WHEN 'email' THEN 'an email address' WHEN 'phone' THEN 'a phone number'
                              ELSE 'a payment card number' END
                USING ERRCODE = 'check_violation', CONSTRAINT = 'optimize_savings_' || tag_column || '_not_pii',
                      TABLE = 'optimize_savings', SCHEMA = 'tessera';
        END IF;
    END LOOP;

    -- One statement reads the workload and the snapshots in force at occurred_at (a late
    -- measurement is priced at the version in force then, closed or not: policy
    -- pricing_catalog_select_definer_recording). Each is checked below, in this order.
    SELECT w AS wl, req_p AS req, rte_p AS rte INTO looked_up
      FROM (SELECT) AS one
      LEFT JOIN tessera.workloads AS w
             ON w.client_id = p_client_id AND w.workload_id = p_workload_id
      LEFT JOIN tessera.pricing_catalog AS req_p
             ON req_p.provider = p_requested_provider AND req_p.model = p_requested_model
            AND req_p.effective_from <= p_occurred_at
            AND (req_p.effective_to IS NULL OR p_occurred_at < req_p.effective_to)
      LEFT JOIN tessera.pricing_catalog AS rte_p
             ON rte_p.provider = p_routed_provider AND rte_p.model = p_routed_model
            AND rte_p.effective_from <= p_occurred_at
            AND (rte_p.effective_to IS NULL OR p_occurred_at < rte_p.effective_to);
    wl := looked_up.wl;
    req := looked_up.req;
    rte := looked_up.rte;

    -- The workload: this client's, and opted in to every mechanic that fired.
    IF wl.workload_id IS NULL THEN
        RAISE EXCEPTION 'workload % does not belong to client %', p_workload_id, p_client_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'optimize_savings_workload_fkey',
                  TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END IF;
    FOREACH mechanic IN ARRAY mech LOOP
        opted_in := CASE mechanic
                        WHEN 'auto_route' THEN wl.mechanic_auto_route
                        WHEN 'prompt_cache_header' THEN wl.mechanic_prompt_cache_header
                        WHEN 'history_pruning' THEN wl.mechanic_history_pruning
                        WHEN 'json_schema_enforcement' THEN wl.mechanic_json_schema_enforcement
                        WHEN 'batch_routing' THEN wl.mechanic_batch_routing
                        WHEN 'exact_cache' THEN wl.mechanic_exact_cache
                        WHEN 'semantic_cache' THEN wl.mechanic_semantic_cache
                    END;
        IF NOT opted_in THEN
            bad := bad || mechanic;
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(bad) > 0 THEN
        RAISE EXCEPTION 'workload % has not opted in to mechanic(s): %', p_workload_id,
                        pg_catalog.array_to_string(bad, ', ')
            USING ERRCODE = 'insufficient_privilege', TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END IF;

    IF req.pricing_snapshot_id IS NULL THEN
        RAISE EXCEPTION 'no price in force for requested model %/% at %', p_requested_provider, p_requested_model, p_occurred_at
            USING ERRCODE = 'no_data_found', TABLE = 'pricing_catalog', SCHEMA = 'tessera';
    END IF;
    IF rte.pricing_snapshot_id IS NULL THEN
        RAISE EXCEPTION 'no price in force for routed model %/% at %', p_routed_provider, p_routed_model, p_occurred_at
            USING ERRCODE = 'no_data_found', TABLE = 'pricing_catalog', SCHEMA = 'tessera';
    END IF;

    -- original_cost_usd is what the request would have cost without Tessera: the requested
    -- model, and no prompt caching or batching that Tessera itself switched on.
    cache_credit := 'prompt_cache_header' = ANY (mech);
    batch_credit := 'batch_routing' = ANY (mech);
    IF batch_credit AND NOT COALESCE(p_batch, false) THEN
        RAISE EXCEPTION 'batch_routing fired but the request was not priced as a batch (p_batch is false)'
            USING ERRCODE = 'check_violation', TABLE = 'optimize_savings', SCHEMA = 'tessera';
    END IF;
    orig := tessera_private.request_cost(req,
                CASE WHEN cache_credit
                     THEN p_uncached_input_tokens + COALESCE(p_cache_read_input_tokens, 0)
                          + COALESCE(p_cache_write_5m_input_tokens, 0) + COALESCE(p_cache_write_1h_input_tokens, 0)
                     ELSE p_uncached_input_tokens END,
                CASE WHEN cache_credit THEN 0 ELSE COALESCE(p_cache_read_input_tokens, 0) END,
                CASE WHEN cache_credit THEN 0 ELSE COALESCE(p_cache_write_5m_input_tokens, 0) END,
                CASE WHEN cache_credit THEN 0 ELSE COALESCE(p_cache_write_1h_input_tokens, 0) END,
                COALESCE(p_output_tokens, 0), p_reasoning_tokens, COALESCE(p_batch, false) AND NOT batch_credit);

    INSERT INTO tessera.optimize_savings AS s (
        client_id, workload_id, request_id, occurred_at, requested_provider, requested_model,
        routed_provider, routed_model, requested_snapshot_id, routed_snapshot_id,
        uncached_input_tokens, cache_read_input_tokens, cache_write_5m_input_tokens,
        cache_write_1h_input_tokens, output_tokens, reasoning_tokens, reported_input_tokens,
        reported_output_tokens, batch, original_cost_usd, actual_cost_usd, mechanics,
        finish_reason, feature_tag, customer_tag)
    VALUES (
        p_client_id, p_workload_id, p_request_id, p_occurred_at, p_requested_provider, p_requested_model,
        p_routed_provider, p_routed_model, req.pricing_snapshot_id, rte.pricing_snapshot_id,
        p_uncached_input_tokens, COALESCE(p_cache_read_input_tokens, 0), COALESCE(p_cache_write_5m_input_tokens, 0),
        COALESCE(p_cache_write_1h_input_tokens, 0), COALESCE(p_output_tokens, 0), p_reasoning_tokens,
        p_reported_input_tokens, p_reported_output_tokens, COALESCE(p_batch, false), orig,
        CASE WHEN mech && ARRAY['exact_cache', 'semantic_cache'] THEN 0
             WHEN rte.pricing_snapshot_id = req.pricing_snapshot_id AND NOT (cache_credit OR batch_credit)
                  THEN orig
             ELSE tessera_private.request_cost(rte, p_uncached_input_tokens,
                      COALESCE(p_cache_read_input_tokens, 0), COALESCE(p_cache_write_5m_input_tokens, 0),
                      COALESCE(p_cache_write_1h_input_tokens, 0), COALESCE(p_output_tokens, 0),
                      p_reasoning_tokens, COALESCE(p_batch, false)) END,
        mech, p_finish_reason, p_feature_tag, p_customer_tag)
    RETURNING * INTO saved;

    PERFORM pg_catalog.set_config('tessera.recording_client_id', '', true);
    client_id := saved.client_id;
    request_id := saved.request_id;
    occurred_at := saved.occurred_at;
    recorded_at := saved.recorded_at;
    requested_snapshot_id := saved.requested_snapshot_id;
    routed_snapshot_id := saved.routed_snapshot_id;
    original_cost_usd := saved.original_cost_usd;
    actual_cost_usd := saved.actual_cost_usd;
    savings_usd := saved.savings_usd;
    mechanics := saved.mechanics;
    replayed := false;
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) IS
    'Record one proxied request in tessera.optimize_savings, priced in the database at the snapshots in force at occurred_at; a replayed (client_id, request_id) writes nothing and returns the original (replayed = true). Proxy login and service_role only.';

REVOKE ALL ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) FROM PUBLIC; -- functions are executable by PUBLIC by default
-- The proxy worker records measurements. service_role too, for the one server-side job
-- that has them: replaying the proxy's spooled measurements after an outage (and the
-- demo loader). It can forge no more than the proxy can: costs are computed here from
-- the snapshots, and a replay of a recorded request_id changes nothing.
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint) TO service_role;

DROP FUNCTION tessera_private.ingest_requests(jsonb, boolean);
DROP FUNCTION tessera_private.request_field_problems(text[]);
DROP FUNCTION tessera_private.request_fields();
DROP FUNCTION tessera_private.write_dead_letters(jsonb);
DROP VIEW tessera.savings_dead_letter_status;
DROP TABLE tessera.savings_dead_letters;

-- functions/tessera.publish_price.sql (0005)
-- tessera.publish_price(...): the one writer of tessera.pricing_catalog.
--
-- In one transaction: serialise publishers of this (provider, model) with a
-- transaction-scoped advisory lock (it also covers the first version, when there is no
-- row to lock), lock the current row (effective_to IS NULL) FOR UPDATE, and then
--   * every component equal (numerically, NULL = NULL) -> no write; returns the current
--     snapshot id with outcome 'unchanged';
--   * otherwise close the current row at p_effective_from and insert the new version from
--     p_effective_from -> outcome 'changed' ('created' when there was no current row).
-- Never backdated: p_effective_from >= now(). Requests already recorded were priced with
-- the snapshot in force when they happened; a backdated version would make the catalog
-- disagree with the ledger.
--
-- Why SECURITY DEFINER, EXECUTE for service_role only: no role holds INSERT or UPDATE on
-- the catalog (not even service_role, which bypasses RLS), so this function is the only
-- path to a price row and always closes-then-inserts under the lock. It runs as
-- tessera_owner, which FORCE RLS keeps to open or not-yet-ended rows
-- (policies/pricing_catalog.sql), and the guard triggers bind it like everyone else.
CREATE OR REPLACE FUNCTION tessera.publish_price(
    p_provider                text,
    p_model                   text,
    p_input                   numeric,
    p_output                  numeric,
    p_cache_read              numeric     DEFAULT NULL,
    p_cache_write_5m          numeric     DEFAULT NULL,
    p_cache_write_1h          numeric     DEFAULT NULL,
    p_batch_input             numeric     DEFAULT NULL,
    p_batch_output            numeric     DEFAULT NULL,
    p_tier_threshold_tokens   integer     DEFAULT NULL,
    p_above_tier_input        numeric     DEFAULT NULL,
    p_above_tier_output       numeric     DEFAULT NULL,
    p_above_tier_cache_read   numeric     DEFAULT NULL,
    p_effective_from          timestamptz DEFAULT now())
RETURNS TABLE (pricing_snapshot_id uuid, outcome text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    cur tessera.pricing_catalog;
    new_id uuid := gen_random_uuid();
BEGIN
    IF p_effective_from IS NULL OR p_effective_from < now() THEN
        RAISE EXCEPTION 'a price version takes effect now or later, never backdated (effective_from %)', p_effective_from
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('tessera.pricing_catalog:' || p_provider || '/' || p_model, 0));

    SELECT c.* INTO cur
      FROM tessera.pricing_catalog AS c
     WHERE c.provider = p_provider AND c.model = p_model AND c.effective_to IS NULL
       FOR UPDATE;

    IF FOUND THEN
        IF  cur.input_usd_per_token                 IS NOT DISTINCT FROM p_input
        AND cur.output_usd_per_token                IS NOT DISTINCT FROM p_output
        AND cur.cache_read_usd_per_token            IS NOT DISTINCT FROM p_cache_read
        AND cur.cache_write_5m_usd_per_token        IS NOT DISTINCT FROM p_cache_write_5m
        AND cur.cache_write_1h_usd_per_token        IS NOT DISTINCT FROM p_cache_write_1h
        AND cur.batch_input_usd_per_token           IS NOT DISTINCT FROM p_batch_input
        AND cur.batch_output_usd_per_token          IS NOT DISTINCT FROM p_batch_output
        AND cur.tier_threshold_tokens               IS NOT DISTINCT FROM p_tier_threshold_tokens
        AND cur.above_tier_input_usd_per_token      IS NOT DISTINCT FROM p_above_tier_input
        AND cur.above_tier_output_usd_per_token     IS NOT DISTINCT FROM p_above_tier_output
        AND cur.above_tier_cache_read_usd_per_token IS NOT DISTINCT FROM p_above_tier_cache_read
        THEN
            RETURN QUERY SELECT cur.pricing_snapshot_id, 'unchanged'::text;
            RETURN;
        END IF;
        IF p_effective_from < cur.effective_from THEN
            RAISE EXCEPTION 'the current price of %/% takes effect at %; a new version cannot start before it (%)',
                            p_provider, p_model, cur.effective_from, p_effective_from
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        UPDATE tessera.pricing_catalog AS c
           SET effective_to = p_effective_from
         WHERE c.pricing_snapshot_id = cur.pricing_snapshot_id;
    END IF;

    INSERT INTO tessera.pricing_catalog (
        pricing_snapshot_id, provider, model, input_usd_per_token, output_usd_per_token,
        cache_read_usd_per_token, cache_write_5m_usd_per_token, cache_write_1h_usd_per_token,
        batch_input_usd_per_token, batch_output_usd_per_token, tier_threshold_tokens,
        above_tier_input_usd_per_token, above_tier_output_usd_per_token,
        above_tier_cache_read_usd_per_token, effective_from)
    VALUES (
        new_id, p_provider, p_model, p_input, p_output,
        p_cache_read, p_cache_write_5m, p_cache_write_1h,
        p_batch_input, p_batch_output, p_tier_threshold_tokens,
        p_above_tier_input, p_above_tier_output,
        p_above_tier_cache_read, p_effective_from);

    RETURN QUERY SELECT new_id, CASE WHEN cur.pricing_snapshot_id IS NULL THEN 'created' ELSE 'changed' END;
END
$function$;

COMMENT ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) IS
    'Publishes a model price: identical components -> current snapshot, ''unchanged''; otherwise closes the current row and inserts a new version (''changed''/''created'') in one transaction. SECURITY DEFINER, service_role only.';

REVOKE ALL ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.publish_price(text, text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, integer, numeric, numeric, numeric, timestamptz) TO service_role;

-- policies (0005)
DROP POLICY optimize_savings_select_definer_ingest ON tessera.optimize_savings;
DROP POLICY optimize_savings_insert_definer_ingest ON tessera.optimize_savings;
DROP POLICY savings_request_keys_select_definer_ingest ON tessera.savings_request_keys;
DROP POLICY savings_request_keys_insert_definer_ingest ON tessera.savings_request_keys;
DROP POLICY workloads_select_definer_ingest ON tessera.workloads;
CREATE POLICY optimize_savings_select_definer_recording ON tessera.optimize_savings
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
CREATE POLICY optimize_savings_insert_definer_recording ON tessera.optimize_savings
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
CREATE POLICY savings_request_keys_select_definer_recording ON tessera.savings_request_keys
    FOR SELECT TO tessera_owner
    USING (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
CREATE POLICY savings_request_keys_insert_definer_recording ON tessera.savings_request_keys
    FOR INSERT TO tessera_owner
    WITH CHECK (client_id = NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '')::uuid);
ALTER POLICY pricing_catalog_select_definer_recording ON tessera.pricing_catalog
    USING (NULLIF((SELECT pg_catalog.current_setting('tessera.recording_client_id', true)), '') IS NOT NULL);

-- functions/tessera_private.audit_coverage.sql (0005)
-- tessera_private.audit_coverage(): THE list of which tessera tables are audited, which
-- of their columns are secret, and which tables are exempt and why. One line per table;
-- a reviewer reads this file and nothing else to know what the audit log covers.
--
--   audited = true   tessera_private.audit_row_change() is attached as <table>_audit
--                    and <table>_audit_truncate (ENABLE ALWAYS): every INSERT, UPDATE,
--                    DELETE and TRUNCATE writes tessera.audit_events rows with the
--                    changed columns, minus the secret columns named here (never copied
--                    into an event, not even as a before/after value).
--   audited = false  exempt: the reason is required and says why.
--
-- Adding a table is a one-line change: add its row below (and, in a migration, re-create
-- this function and run SELECT tessera_private.apply_audit_coverage()). The lint
-- tests/lints/0013_table_not_audited.sql fails while any table in schema tessera is
-- missing from this list, while a listed table lacks its triggers (or they are not
-- ENABLE ALWAYS, or carry other secret columns), or while an exemption has no reason.
--
-- IMMUTABLE: a constant list, read by apply_audit_coverage() and by the lint.
CREATE OR REPLACE FUNCTION tessera_private.audit_coverage()
RETURNS TABLE (table_name name, audited boolean, secret_columns name[], exempt_reason text)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    VALUES
    --  table                    audited  secret columns   exempt: why
    -- Tenancy (issue 3): clients incl. kill switch and cross-customer opt-in, workloads
    -- incl. mechanic toggles, staff and sponsor contacts.
        ('clients'::name,          true,  '{}'::name[],    NULL::text),
        ('workloads',              true,  '{}',            NULL),
        ('operators',              true,  '{}',            NULL),
        ('client_users',           true,  '{}',            NULL),
    -- Money ledger (issue 4): prices, their provenance, balances, issued readings.
        ('pricing_catalog',        true,  '{}',            NULL),
        ('price_sources',          true,  '{}',            NULL),
        ('price_import_runs',      true,  '{}',            NULL),
        ('balance_transactions',   true,  '{}',            NULL),
        ('monthly_readings',       true,  '{}',            NULL),
        ('reading_share_tokens',   true,  '{token_sha256}', NULL),
    -- Keys, settlement secrets and worker config (issue 6): key creation, revocation and
    -- rotation; batch transitions; a secret's storing, resealing and destruction (never
    -- the sealed value).
        ('api_keys',               true,  '{key_sha256}',  NULL),
        ('batches',                true,  '{}',            NULL),
        ('batch_secrets',          true,  '{sealed}',      NULL),
    -- Exempt.
        ('api_key_failures',       false, NULL,
         'The throttle''s short-lived working set (purged after 7 days): tessera.verify_api_key writes each failure to audit_events itself (auth_failure, and rate_limited when a source reaches the limit), with key hint and source IP.'),
        ('workload_settings',      false, NULL,
         'Its config_version is a derived counter bumped by triggers on workloads and clients, whose changes are audited there (auditing it too would turn one mechanic toggle into two events); its one setting, the exact-cache TTL, changes only through tessera.set_exact_cache_ttl, which writes that audit event itself.'),
        ('cache_entries',          false, NULL,
         'UNLOGGED exact cache, rewritten on the request path and emptied by crashes: a copy the provider can recompute, not a state transition; a sponsor''s flush is audited by tessera.flush_cache itself.'),
        ('price_observations',     false, NULL,
         'Append-only raw copies of public price files, thousands of rows per import; each import is audited as its tessera.price_import_runs row (file name, SHA-256, importer), which the observations reference.'),
        ('optimize_savings',       false, NULL,
         'One append-only row per proxied request: the per-request measurement is itself the audit-grade money record (pricing snapshot, costs, request_id), refused UPDATE/DELETE/TRUNCATE for every role; auditing it would double the proxy''s write path.'),
        ('savings_request_keys',   false, NULL,
         'Append-only idempotency key of optimize_savings (one row per proxied request), written only by tessera.record_request; it carries no state beyond the measurement row.'),
        ('audit_events',           false, NULL,
         'The audit log itself: append-only, hash-stamped and sealed into signed checkpoints; auditing it would recurse.'),
        ('audit_checkpoints',      false, NULL,
         'The signed seal over audit_events, append-only and checked by tessera-db audit verify; auditing it would add an event per seal, so the log would never be fully sealed.')
$function$;

COMMENT ON FUNCTION tessera_private.audit_coverage() IS
    'The declarative audit coverage list: every tessera table, audited (with its secret columns) or exempt (with a reason). Applied by tessera_private.apply_audit_coverage(); checked by lint 0013_table_not_audited.';

REVOKE ALL ON FUNCTION tessera_private.audit_coverage() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- Attach the triggers the list asks for (every table above exists by now: this file is
-- loaded after all of them, see load.sql).
SELECT tessera_private.apply_audit_coverage();
