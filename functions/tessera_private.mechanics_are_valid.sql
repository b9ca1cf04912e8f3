-- tessera_private.mechanics_are_valid(mechanics): is this a well-formed mechanics stack?
--
-- True when every element is one of the known mechanics (the mechanic_* columns of
-- tessera.workloads, without the prefix) and the array is sorted and distinct, so that
-- one stack has exactly one spelling and monthly readings can group by it. An empty
-- array (no mechanic fired) is valid; NULL is not (the column is NOT NULL).
-- IMMUTABLE: used in the CHECK constraint optimize_savings_mechanics_known.
CREATE FUNCTION tessera_private.mechanics_are_valid(p_mechanics text[])
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT p_mechanics IS NOT NULL
       AND COALESCE(pg_catalog.array_ndims(p_mechanics), 1) = 1
       AND p_mechanics <@ ARRAY['auto_route', 'prompt_cache_header', 'history_pruning',
                                'json_schema_enforcement', 'batch_routing', 'exact_cache',
                                'semantic_cache']::text[]
       AND p_mechanics = ARRAY(SELECT DISTINCT m COLLATE "C" FROM pg_catalog.unnest(p_mechanics) AS u (m)
                                ORDER BY 1)
$function$;

COMMENT ON FUNCTION tessera_private.mechanics_are_valid(text[]) IS
    'True when the array holds only known mechanics, sorted (C collation) and distinct. Used by a CHECK on tessera.optimize_savings.';

REVOKE ALL ON FUNCTION tessera_private.mechanics_are_valid(text[]) FROM PUBLIC; -- functions are executable by PUBLIC by default
