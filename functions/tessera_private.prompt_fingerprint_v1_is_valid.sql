-- tessera_private.prompt_fingerprint_v1_is_valid(fingerprint): the shape CHECK of
-- tessera.audit_events.prompt_fingerprint_v1 (seed: "Prompt fingerprint v1").
--
-- NULL is valid (no fingerprint). Otherwise a JSON object that holds all three v1 keys:
--   structural_signature  a string: role letters in order, consecutive same-role turns
--                         collapsed, '.'-separated, then the code-fence, JSON-block and
--                         tool-use markers (0/1) and the coarse turn-count band, e.g.
--                         's.u.a/c=1/j=0/t=0/b=2'. Pattern:
--                         ^[a-z](\.[a-z]){0,63}/c=[01]/j=[01]/t=[01]/b=[0-9]{1,2}$
--   token_count_band      an integer 1..6 (<=512, 513-2k, 2k-8k, 8k-32k, 32k-128k, 128k+)
--   embedding_cluster_id  null (no cluster assigned yet) or an integer >= 1
-- Wrong types, out-of-range bands, a cluster id of 0 or a fraction are refused. Other
-- keys are allowed: the seed's versioning rule adds fields to v1 as additive JSONB keys
-- (issue 5: "unknown extra keys allowed"); the whole value is capped at 2 kB so a key
-- can never smuggle a prompt in.
--
-- IMMUTABLE (used in a CHECK constraint): it reads nothing but its argument.
CREATE FUNCTION tessera_private.prompt_fingerprint_v1_is_valid(p_fingerprint jsonb)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_fingerprint IS NULL THEN
        RETURN true;
    END IF;
    IF pg_catalog.jsonb_typeof(p_fingerprint) IS DISTINCT FROM 'object'
       OR pg_catalog.octet_length(p_fingerprint::text) > 2048 THEN
        RETURN false;
    END IF;
    IF NOT (p_fingerprint ? 'structural_signature' AND p_fingerprint ? 'token_count_band'
            AND p_fingerprint ? 'embedding_cluster_id') THEN
        RETURN false;
    END IF;
    IF pg_catalog.jsonb_typeof(p_fingerprint -> 'structural_signature') IS DISTINCT FROM 'string'
       OR (p_fingerprint ->> 'structural_signature')
          !~ '^[a-z](\.[a-z]){0,63}/c=[01]/j=[01]/t=[01]/b=[0-9]{1,2}$' THEN
        RETURN false;
    END IF;
    -- Numbers are checked on their JSON text: 3.0, 3e0 and "3" are not integers here.
    IF pg_catalog.jsonb_typeof(p_fingerprint -> 'token_count_band') IS DISTINCT FROM 'number'
       OR (p_fingerprint -> 'token_count_band')::text !~ '^[1-6]$' THEN
        RETURN false;
    END IF;
    IF pg_catalog.jsonb_typeof(p_fingerprint -> 'embedding_cluster_id') = 'null' THEN
        RETURN true;
    END IF;
    RETURN pg_catalog.jsonb_typeof(p_fingerprint -> 'embedding_cluster_id') = 'number'
       AND (p_fingerprint -> 'embedding_cluster_id')::text ~ '^[1-9][0-9]{0,17}$';
END
$function$;

COMMENT ON FUNCTION tessera_private.prompt_fingerprint_v1_is_valid(jsonb) IS
    'Shape check of prompt_fingerprint_v1: NULL, or an object with structural_signature (pattern s.u.a/c=1/j=0/t=0/b=2), token_count_band 1..6 and embedding_cluster_id null or >= 1; extra keys allowed (additive v1), 2 kB cap.';

REVOKE ALL ON FUNCTION tessera_private.prompt_fingerprint_v1_is_valid(jsonb) FROM PUBLIC; -- functions are executable by PUBLIC by default
