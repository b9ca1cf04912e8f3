-- tessera_private.guard_pricing_catalog_update(): keeps tessera.pricing_catalog
-- append-only except for the one close a price change needs.
--
-- Attached (policies/pricing_catalog.sql, all ENABLE ALWAYS so that
-- session_replication_role = replica cannot switch them off) as:
--   pricing_catalog_guard_update            BEFORE UPDATE, per row: the only change
--       allowed is effective_to from NULL to a value >= effective_from, once. Every other
--       column must keep its exact stored text (1.0 -> 1.00 is a change too).
--   pricing_catalog_guard_update_statement  BEFORE UPDATE OF <every other column>, per
--       statement: refuses a statement that SETs any other column even when it matches no
--       row (RLS may hide every row from the caller; the refusal must not depend on it).
--   pricing_catalog_refuse_delete_truncate  BEFORE DELETE OR TRUNCATE, per statement.
-- Every refusal is SQLSTATE 42501, for every role: the owner and superusers included.
CREATE FUNCTION tessera_private.guard_pricing_catalog_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    kept tessera.pricing_catalog;
BEGIN
    IF TG_OP <> 'UPDATE' OR TG_LEVEL = 'STATEMENT' THEN
        RAISE EXCEPTION '% on tessera.pricing_catalog is refused: prices are append-only; only effective_to may be set, once',
                        CASE WHEN TG_OP = 'UPDATE' THEN 'UPDATE of a column other than effective_to' ELSE TG_OP END
            USING ERRCODE = 'insufficient_privilege', SCHEMA = 'tessera', TABLE = 'pricing_catalog',
                  HINT = 'Publish a new version with tessera.publish_price().';
    END IF;

    -- Every column but effective_to must be byte-for-byte what it was.
    kept := NEW;
    kept.effective_to := OLD.effective_to;
    IF kept::text IS DISTINCT FROM OLD::text THEN
        RAISE EXCEPTION 'UPDATE of tessera.pricing_catalog may change only effective_to (snapshot %)', OLD.pricing_snapshot_id
            USING ERRCODE = 'insufficient_privilege', SCHEMA = 'tessera', TABLE = 'pricing_catalog',
                  HINT = 'Publish a new version with tessera.publish_price().';
    END IF;
    IF OLD.effective_to IS NOT NULL THEN
        RAISE EXCEPTION 'pricing snapshot % is already closed (effective_to %); a period is closed once', OLD.pricing_snapshot_id, OLD.effective_to
            USING ERRCODE = 'insufficient_privilege', SCHEMA = 'tessera', TABLE = 'pricing_catalog';
    END IF;
    IF NEW.effective_to IS NULL OR NEW.effective_to < NEW.effective_from THEN
        RAISE EXCEPTION 'pricing snapshot % may only be closed at a time not before its effective_from %', OLD.pricing_snapshot_id, OLD.effective_from
            USING ERRCODE = 'insufficient_privilege', SCHEMA = 'tessera', TABLE = 'pricing_catalog';
    END IF;
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_pricing_catalog_update() IS
    'Trigger body for tessera.pricing_catalog: allows only effective_to NULL -> value >= effective_from, once; refuses every other UPDATE, DELETE and TRUNCATE (SQLSTATE 42501), for every role.';

REVOKE ALL ON FUNCTION tessera_private.guard_pricing_catalog_update() FROM PUBLIC; -- functions are executable by PUBLIC by default
