-- tessera.record_request(...): record one proxied request in tessera.optimize_savings,
-- pricing it in the database, and return the row's key fields and costs.
--
-- Callers: the proxy login (tessera_proxy), and service_role (spool replay; see the
-- GRANT). SECURITY DEFINER, so the proxy holds
-- no table privilege at all and reads back nothing but what this returns. As
-- tessera_owner it is still bound by FORCE RLS: ingest_requests sets the
-- transaction-local tessera.ingest_client_ids to p_client_id, which the owner's ingest
-- policies on optimize_savings, savings_request_keys and workloads admit (that one
-- client's rows, nothing else), and clears it before returning.
--
-- Idempotency: the key (client_id, request_id) is claimed in tessera.savings_request_keys
-- (INSERT ... ON CONFLICT DO NOTHING; a concurrent claimer is waited for). If it was
-- already claimed, NOTHING is written and the ORIGINAL row is returned with
-- replayed = true, whatever the replay's payload says.
--
-- One request is a batch of one: tessera_private.ingest_requests holds the validation,
-- pricing, idempotency and replay rules for this function and tessera.record_requests
-- alike (the rules, in the order they are checked, are listed there). A refusal here
-- RAISES the SQLSTATE, constraint and message that record_requests reports for a
-- rejected element, writes nothing, and is NOT dead-lettered (the error rolls the
-- caller's transaction back; the caller holds the request). A proxy should call
-- record_requests, which keeps every refusal (docs/usage-buckets.md, README hot path).
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
--
-- Consent (issue 15): p_config_version is the worker config version the proxy acted on
-- (tessera.worker_config().config_version); NULL = unknown, recorded as such. A mechanic
-- that version did not allow, or any mechanic fired under the client's kill switch, is
-- recorded (never refused) in unconsented_mechanics and credited no saving: its part
-- of original_cost_usd equals its part of actual_cost_usd (auto_route: the original is
-- priced at the routed snapshot; prompt_cache_header: at the cache buckets as sent;
-- batch_routing: at batch prices; a cache hit: 0). It opens an unconsented_mechanic
-- anomaly, and kill_switch_late when it fired more than 60 s after the switch was
-- engaged (tessera_private.ingest_requests rule 8, docs/operations.md).
CREATE FUNCTION tessera.record_request(
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
    p_reported_output_tokens      bigint DEFAULT NULL,
    p_config_version              bigint DEFAULT NULL)
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
    o record;
BEGIN
    SELECT * INTO o
      FROM tessera_private.ingest_requests(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
               'client_id', p_client_id, 'workload_id', p_workload_id, 'request_id', p_request_id,
               'occurred_at', p_occurred_at, 'requested_provider', p_requested_provider,
               'requested_model', p_requested_model, 'routed_provider', p_routed_provider,
               'routed_model', p_routed_model, 'uncached_input_tokens', p_uncached_input_tokens,
               'cache_read_input_tokens', p_cache_read_input_tokens,
               'cache_write_5m_input_tokens', p_cache_write_5m_input_tokens,
               'cache_write_1h_input_tokens', p_cache_write_1h_input_tokens,
               'output_tokens', p_output_tokens, 'reasoning_tokens', p_reasoning_tokens, 'batch', p_batch,
               'mechanics', p_mechanics, 'finish_reason', p_finish_reason, 'feature_tag', p_feature_tag,
               'customer_tag', p_customer_tag, 'reported_input_tokens', p_reported_input_tokens,
               'reported_output_tokens', p_reported_output_tokens,
               'config_version', p_config_version)), false) AS r;
    IF o.outcome = 'rejected' THEN
        RAISE EXCEPTION USING ERRCODE = o.sqlstate, MESSAGE = o.message,
                              CONSTRAINT = COALESCE(o.constraint_name, ''),
                              TABLE = COALESCE(o.table_name, ''), SCHEMA = 'tessera';
    END IF;
    client_id := o.client_id;
    request_id := o.request_id;
    occurred_at := o.occurred_at;
    recorded_at := o.recorded_at;
    requested_snapshot_id := o.requested_snapshot_id;
    routed_snapshot_id := o.routed_snapshot_id;
    original_cost_usd := o.original_cost_usd;
    actual_cost_usd := o.actual_cost_usd;
    savings_usd := o.savings_usd;
    mechanics := o.mechanics;
    replayed := (o.outcome = 'replayed');
    RETURN NEXT;
END
$function$;

COMMENT ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint, bigint) IS
    'Record one proxied request in tessera.optimize_savings, priced in the database at the snapshots in force at occurred_at; a replayed (client_id, request_id) writes nothing and returns the original (replayed = true). Proxy login and service_role only.';

REVOKE ALL ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint, bigint) FROM PUBLIC; -- functions are executable by PUBLIC by default
-- The proxy worker records measurements. service_role too, for the one server-side job
-- that has them: replaying the proxy's spooled measurements after an outage (and the
-- demo loader). It can forge no more than the proxy can: costs are computed here from
-- the snapshots, and a replay of a recorded request_id changes nothing.
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint, bigint) TO tessera_proxy;
GRANT EXECUTE ON FUNCTION tessera.record_request(uuid, uuid, text, timestamptz, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, boolean, text[], text, text, text, bigint, bigint, bigint) TO service_role;
