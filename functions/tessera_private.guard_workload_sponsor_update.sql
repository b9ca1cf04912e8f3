-- tessera_private.guard_workload_sponsor_update(): BEFORE UPDATE trigger on
-- tessera.workloads that lets a sponsor change only the mechanic_* opt-in flags.
--
-- Column-level grants cannot do this: operators and sponsors are both the
-- `authenticated` role and operators may change every column. So the row policy
-- decides *which* workloads a sponsor may update, and this guard decides *which
-- columns*. It compares the whole row minus the mechanic_* flags and updated_at, so a
-- column added later is protected without touching this function.
CREATE FUNCTION tessera_private.guard_workload_sponsor_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed text[];
BEGIN
    -- Two separate tests on purpose: the whole IF expression is planned under the
    -- current role, and roles other than authenticated (service_role) have no USAGE on
    -- tessera_private, so is_operator() must not even be parsed for them.
    IF current_user::text <> 'authenticated' THEN
        RETURN NEW;
    END IF;
    IF tessera_private.is_operator() THEN
        RETURN NEW;
    END IF;

    SELECT pg_catalog.array_agg(n.key ORDER BY n.key)
      INTO changed
      FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) AS n
      JOIN pg_catalog.jsonb_each(pg_catalog.to_jsonb(OLD)) AS o USING (key)
     WHERE n.key NOT LIKE 'mechanic\_%'
       AND n.key <> 'updated_at'
       AND n.value IS DISTINCT FROM o.value;

    IF changed IS NOT NULL THEN
        RAISE EXCEPTION 'sponsors may change only the mechanic_* flags of a workload (attempted: %)',
                        pg_catalog.array_to_string(changed, ', ')
            USING ERRCODE = 'insufficient_privilege',
                  TABLE = 'workloads',
                  SCHEMA = 'tessera';
    END IF;
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_workload_sponsor_update() IS
    'BEFORE UPDATE trigger on tessera.workloads: a non-operator authenticated caller may change only mechanic_* columns (SQLSTATE 42501 otherwise).';

REVOKE ALL ON FUNCTION tessera_private.guard_workload_sponsor_update() FROM PUBLIC; -- functions are executable by PUBLIC by default
