-- tessera_private.jwt_claims(): the caller's JWT claims as a JSON object, or NULL.
--
-- The claims arrive as text in the transaction-local setting request.jwt.claims
-- (PostgREST convention). Missing, empty, malformed or non-object claims all yield NULL,
-- never an error: a policy that calls this must answer "zero rows", not leak why.
-- Not SECURITY DEFINER: it reads only the caller's own setting.
--
-- No exception block, on purpose. The obvious body -- raw::jsonb inside BEGIN ...
-- EXCEPTION WHEN data_exception -- opens a subtransaction on every call, and PostgreSQL
-- refuses subtransactions in parallel mode ("cannot start subtransactions during a
-- parallel operation"): the RLS helpers built on this function (jwt_email(),
-- is_operator(), sponsor_client_ids()) could then never run in a parallel worker, and
-- every call would pay for a subtransaction. PostgreSQL 15 has no pg_input_is_valid()
-- nor IS JSON, so the text is validated here with regular expressions, and raw::jsonb
-- runs only when the validator says the jsonb cast will accept it:
--   1. escapes: every escape jsonb accepts becomes chr(3) -- \" \\ \/ \b \f \n \r \t and
--      \uXXXX, but never \u0000 (22P05), a high surrogate only immediately followed by a
--      low one (the pair is one escape), no lone surrogate, and in a non-UTF8 database
--      no \u escape above \u007F. A backslash left over means invalid;
--   2. strings: every double quote now opens or closes a string, so the text splits on
--      them; each string becomes chr(1), and its contents must hold no raw control
--      character (raw tab, LF and CR are allowed outside strings only, every other
--      control character nowhere, which also keeps the placeholders out of the input);
--   3. numbers (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) and true/false/null
--      become chr(2), a value; then JSON whitespace (space, tab, LF, CR) is dropped;
--   4. a string followed by ":" becomes a key (chr(4)), any other string a value; then,
--      pass after pass, a key followed by a value becomes a pair (chr(5)) and innermost
--      arrays ([] or [V,...]) and objects ({} or {P,...}) collapse into a value. The text
--      is valid when it collapses to a single value and its first non-blank character
--      is "{". Any other leftover (stray characters, chr(3) outside a string, two
--      adjacent values, a key out of place) never collapses.
-- Caps, beyond which the claims are NULL although jsonb might accept them (failing
-- closed, never raising): at most 65536 characters; at most 64 collapse passes, so
-- nesting up to 64 levels is always accepted and deeper nesting may be refused (always
-- beyond 128); in a number no run of more than 200 digits and an exponent of at most 3
-- digits, so numeric input can never overflow (it refuses a weight beyond 131072
-- integer digits or 16383 fraction digits). The regular expressions are dollar-quoted
-- and backslash is written chr(92), so standard_conforming_strings cannot change them.
-- Cost (PostgreSQL 15, one call): about 20 us on a typical 330-byte Supabase claims
-- object, 30 us on a 490-byte one with escapes, against 5-7 us for the exception-block
-- version; paid once per statement, since the policies wrap the helpers in (SELECT ...).
CREATE FUNCTION tessera_private.jwt_claims()
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    max_length CONSTANT integer := 65536;
    max_depth  CONSTANT integer := 64;
    string_mark CONSTANT text := pg_catalog.chr(1);
    value_mark  CONSTANT text := pg_catalog.chr(2);
    escape_mark CONSTANT text := pg_catalog.chr(3);
    key_mark    CONSTANT text := pg_catalog.chr(4);
    pair_mark   CONSTANT text := pg_catalog.chr(5);
    raw text := pg_catalog.current_setting('request.jwt.claims', true);
    has_control boolean;
    s text;
    parts text[];
    n integer;
    skeleton text;
    contents text := '';
    reduced text;
BEGIN
    -- Claims must be an object: the first non-blank character is "{".
    IF raw IS NULL OR pg_catalog.length(raw) > max_length
       OR pg_catalog.ltrim(raw, E' \t\n\r') NOT LIKE '{%' THEN
        RETURN NULL;
    END IF;
    -- Raw control characters: only JSON whitespace (tab, LF, CR), and only outside
    -- strings (checked in step 2). This also keeps the placeholders chr(1) to chr(5) out
    -- of the input.
    has_control := raw ~ $re$[\u0001-\u001f]$re$;
    IF has_control AND raw ~ $re$[\u0001-\u0008\u000b\u000c\u000e-\u001f]$re$ THEN
        RETURN NULL;
    END IF;

    -- 1. Escapes -> chr(3): every escape jsonb accepts (chr(3) outside a string is left
    -- over and so invalid); a backslash left over is invalid. Afterwards every double
    -- quote opens or closes a string.
    s := raw;
    IF pg_catalog.strpos(s, pg_catalog.chr(92)) > 0 THEN
        -- Matched from the left, as the JSON lexer does, so a run of backslashes pairs up
        -- from its start; the \u escapes are rarer and their pattern costlier.
        s := pg_catalog.regexp_replace(s, $re$\\["\\/bfnrt]$re$, escape_mark, 'g');
        IF pg_catalog.strpos(s, pg_catalog.chr(92)) > 0 THEN
            IF pg_catalog.getdatabaseencoding() = 'UTF8' THEN
                s := pg_catalog.regexp_replace(s,
                    $re$\\u(?:0(?:0(?:0[1-9a-fA-F]|[1-9a-fA-F][0-9a-fA-F])|[1-9a-fA-F][0-9a-fA-F]{2})|[1-9a-cA-CeEfF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}|[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})$re$,
                    escape_mark, 'g');
            ELSE
                -- Outside UTF8, jsonb refuses every \u escape above \u007F.
                s := pg_catalog.regexp_replace(s,
                    $re$\\u00(?:0[1-9a-fA-F]|[1-7][0-9a-fA-F])$re$, escape_mark, 'g');
            END IF;
            IF pg_catalog.strpos(s, pg_catalog.chr(92)) > 0 THEN
                RETURN NULL;
            END IF;
        END IF;
    END IF;

    -- 2. Strings -> chr(1): the even pieces between double quotes are string contents,
    -- which must hold no raw tab, LF or CR.
    parts := pg_catalog.string_to_array(s, '"');
    n := pg_catalog.array_length(parts, 1);
    IF n % 2 = 0 THEN
        RETURN NULL;
    END IF;
    skeleton := parts[1];
    FOR i IN 2..n - 1 BY 2 LOOP
        skeleton := skeleton || string_mark || parts[i + 1];
    END LOOP;
    IF has_control THEN
        FOR i IN 2..n - 1 BY 2 LOOP
            contents := contents || parts[i];
        END LOOP;
        IF contents ~ $re$[\t\n\r]$re$ THEN
            RETURN NULL;
        END IF;
    END IF;

    -- 3. Numbers and literals -> chr(2) (a value), then JSON whitespace dropped (only now: it may
    -- separate two tokens). Number caps, failing closed: a run of more than 200 digits is
    -- refused, and the pattern takes at most 3 exponent digits, so a longer exponent
    -- leaves two adjacent values, which never collapse.
    IF pg_catalog.length(skeleton) > 200 AND skeleton ~ $re$[0-9]{201}$re$ THEN
        RETURN NULL;
    END IF;
    skeleton := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(skeleton,
                    'true', value_mark), 'false', value_mark), 'null', value_mark);
    skeleton := pg_catalog.regexp_replace(skeleton,
        $re$-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]{1,3})?$re$, value_mark, 'g');
    IF has_control OR pg_catalog.strpos(skeleton, ' ') > 0 THEN
        skeleton := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(skeleton,
                        ' ', ''), E'\t', ''), E'\n', ''), E'\r', '');
    END IF;

    -- 4. A string followed by ":" is a key -> chr(4), every other string a value -> chr(2).
    -- Then, pass after pass, a key and its value become a pair (chr(5)), and innermost
    -- arrays [] / [V,...] and objects {} / {P,...} collapse into a value, until only one
    -- value is left (valid: the text started with "{") or nothing changes (invalid).
    skeleton := pg_catalog.replace(pg_catalog.replace(skeleton,
                    string_mark || ':', key_mark), string_mark, value_mark);
    FOR pass IN 1..max_depth LOOP
        skeleton := pg_catalog.replace(skeleton, key_mark || value_mark, pair_mark);
        reduced := skeleton;
        IF pg_catalog.strpos(reduced, '[') > 0 THEN
            reduced := pg_catalog.replace(pg_catalog.regexp_replace(reduced,
                $re$\[(?:\u0002(?:,\u0002)*)?\]$re$, value_mark, 'g'), key_mark || value_mark, pair_mark);
        END IF;
        reduced := pg_catalog.regexp_replace(reduced,
            $re$\{(?:\u0005(?:,\u0005)*)?\}$re$, value_mark, 'g');
        IF reduced = value_mark THEN
            RETURN raw::jsonb;
        END IF;
        IF reduced = skeleton THEN
            RETURN NULL;
        END IF;
        skeleton := reduced;
    END LOOP;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION tessera_private.jwt_claims() IS
    'The caller''s request.jwt.claims as a JSON object; NULL when missing, malformed, not an object or beyond the caps (65536 characters, nesting 64, numbers of 200 digits / 3-digit exponents). Validated without an exception block, so it is parallel safe and never raises.';

REVOKE ALL ON FUNCTION tessera_private.jwt_claims() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.jwt_claims() TO authenticated;
