-- tessera_private.tag_pii_kind(tag): does a free-text tag look like end-user personal
-- data? Returns 'email', 'phone' or 'card', or NULL when it looks like none of them.
--
-- We never store end-user personal data, and feature_tag / customer_tag are chosen by
-- the client's developers, so this is a tripwire for the obvious mistakes, not a DLP:
--   email  anything@anything.tld
--   card   13 to 19 digits, optionally grouped by single spaces or dashes
--   phone  7 to 15 digits, optionally led by + and separated by spaces, dots, dashes
--          or parentheses (so "2026-11-23" is phone-like too: use "2026_11_23")
-- IMMUTABLE: used in CHECK constraints and by tessera.record_request for its message.
-- PL/pgSQL rather than SQL for speed in those CHECKs (see mechanics_are_valid).
CREATE FUNCTION tessera_private.tag_pii_kind(p_tag text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_tag IS NULL THEN
        RETURN NULL;
    ELSIF p_tag ~* '[^@[:space:]]+@[^@[:space:]]+\.[a-z]{2,}' THEN
        RETURN 'email';
    ELSIF p_tag ~ '(^|[^0-9])[0-9]([ -]?[0-9]){12,18}([^0-9]|$)' THEN
        RETURN 'card';
    ELSIF p_tag ~ '(^|[^0-9])\+?\(?[0-9]([ ().-]{0,2}[0-9]){6,14}([^0-9]|$)' THEN
        RETURN 'phone';
    END IF;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.tag_pii_kind(text) IS
    'Classifies a tag that looks like personal data: email, card or phone; NULL otherwise. Used by CHECKs on tessera.optimize_savings.';

REVOKE ALL ON FUNCTION tessera_private.tag_pii_kind(text) FROM PUBLIC; -- functions are executable by PUBLIC by default
