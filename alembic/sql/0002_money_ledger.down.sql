-- Frozen downgrade of 0002_money_ledger: removes the money ledger (pricing, savings,
-- balance, monthly readings). Tables first (CASCADE takes their policies, triggers,
-- partitions, the client_balances view and the foreign keys between them), then the
-- functions that only they used.
DROP TABLE tessera.reading_share_tokens, tessera.monthly_readings,
           tessera.balance_transactions, tessera.savings_request_keys, tessera.optimize_savings,
           tessera.price_observations, tessera.price_import_runs, tessera.price_sources,
           tessera.pricing_catalog CASCADE;

DROP FUNCTION IF EXISTS tessera.reading_by_share_token, tessera.revoke_reading_share_token,
              tessera.create_reading_share_token, tessera.rederive_monthly_reading,
              tessera.issue_monthly_reading, tessera.monthly_reading_figures,
              tessera_private.presented_share_token_sha256, tessera_private.guard_share_token_update,
              tessera.record_balance_transaction, tessera.record_request, tessera_private.request_cost,
              tessera_private.stamp_balance_transaction, tessera_private.create_savings_partitions,
              tessera_private.tag_pii_kind, tessera_private.mechanics_are_valid,
              tessera.price_confidence, tessera.record_price_observations, tessera.publish_price,
              tessera_private.guard_pricing_catalog_update;
