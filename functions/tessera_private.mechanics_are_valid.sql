-- tessera_private.mechanics_are_valid(mechanics): is this a well-formed mechanics stack?
--
-- True when every element is one of the known mechanics (the mechanic_* columns of
-- tessera.workloads, without the prefix) and the array is sorted and distinct, so that
-- one stack has exactly one spelling and monthly readings can group by it. An empty
-- array (no mechanic fired) is valid; NULL is not (the column is NOT NULL).
-- IMMUTABLE: used in the CHECK constraint optimize_savings_mechanics_known.
-- PL/pgSQL, not SQL: a SQL function with SET search_path is never inlined, so a CHECK
-- calling it re-parses and re-plans its body on every INSERT statement (about 30 us per
-- call, measured); PL/pgSQL caches its plans for the session. Sorted + distinct is
-- checked as "strictly ascending in C collation", one pass, no sort.
CREATE FUNCTION tessera_private.mechanics_are_valid(p_mechanics text[])
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    previous text;
    mechanic text;
BEGIN
    IF p_mechanics IS NULL OR COALESCE(pg_catalog.array_ndims(p_mechanics), 1) <> 1 THEN
        RETURN false;
    END IF;
    FOREACH mechanic IN ARRAY p_mechanics LOOP
        IF mechanic IS NULL
           OR mechanic <> ALL (ARRAY['auto_route', 'prompt_cache_header', 'history_pruning',
                                     'json_schema_enforcement', 'batch_routing', 'exact_cache',
                                     'semantic_cache']::text[])
           OR (previous IS NOT NULL AND mechanic COLLATE "C" <= previous COLLATE "C") THEN
            RETURN false;  -- unknown, or not strictly ascending (unsorted or repeated)
        END IF;
        previous := mechanic;
    END LOOP;
    RETURN true;
END
$function$;

COMMENT ON FUNCTION tessera_private.mechanics_are_valid(text[]) IS
    'True when the array holds only known mechanics, sorted (C collation) and distinct. Used by a CHECK on tessera.optimize_savings.';

REVOKE ALL ON FUNCTION tessera_private.mechanics_are_valid(text[]) FROM PUBLIC; -- functions are executable by PUBLIC by default
