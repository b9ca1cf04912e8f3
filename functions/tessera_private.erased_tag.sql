-- tessera_private.erased_tag(salt, tag): the pseudonym that replaces a free-text tag
-- (feature_tag, customer_tag) of an erased invoiced client: 'erased-' and the first 16
-- hex digits of SHA-256(salt || tag), written with letters only (0-9 as g-p), so that
-- no pseudonym looks like a phone or card number to the tags' personal-data CHECKs. tessera.erase_client draws one random salt per
-- erasure and forgets it, so the same tag gets the same pseudonym in every row of that
-- erasure (the readings' per-tag groups still add up) while nobody, the database
-- included, can recompute a pseudonym from a guessed tag afterwards.
CREATE FUNCTION tessera_private.erased_tag(p_salt bytea, p_tag text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT 'erased-' || pg_catalog.translate(pg_catalog.left(pg_catalog.encode(
        pg_catalog.sha256(p_salt || pg_catalog.convert_to(p_tag, 'UTF8')), 'hex'), 16), '0123456789', 'ghijklmnop')
$function$;

COMMENT ON FUNCTION tessera_private.erased_tag(bytea, text) IS
    'Pseudonym of a tag of an erased invoiced client: erased- and 16 hex digits (as letters) of SHA-256(per-erasure random salt || tag).';

REVOKE ALL ON FUNCTION tessera_private.erased_tag(bytea, text) FROM PUBLIC; -- functions are executable by PUBLIC by default
