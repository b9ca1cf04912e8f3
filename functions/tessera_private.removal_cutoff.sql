-- tessera_private.removal_cutoff(table): what the owner's removal policies compare a
-- row's time column with. While tessera.retention_run runs (it sets tessera.removal to
-- 'retention' around its statements) this is tessera_private.retention_cutoff(table);
-- otherwise NULL, and a comparison with NULL admits nothing. The setting only switches
-- the path on: the window itself is the database's (retention_cutoff), so a forged
-- setting can reach nothing a retention run could not.
CREATE FUNCTION tessera_private.removal_cutoff(p_table name)
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT CASE WHEN pg_catalog.current_setting('tessera.removal', true) = 'retention'
                THEN tessera_private.retention_cutoff(p_table) END
$function$;

COMMENT ON FUNCTION tessera_private.removal_cutoff(name) IS
    'Inside tessera.retention_run: the table''s retention cutoff by the database clock; otherwise NULL. Used by the owner''s *_definer_removal policies.';

REVOKE ALL ON FUNCTION tessera_private.removal_cutoff(name) FROM PUBLIC; -- functions are executable by PUBLIC by default
