-- tessera.audit_latest_checkpoint(): the newest checkpoint (tree_size largest), or no row
-- before the first seal. What the sealer extends.
--
-- SECURITY DEFINER, EXECUTE for tessera_sealer only, so the sealer login holds no table
-- privilege of its own. It runs as tessera_owner under FORCE RLS; the owner's policy
-- audit_checkpoints_select_definer_sealer admits rows only in a session whose login is
-- tessera_sealer (operators, sponsors and service_role read the table directly).
CREATE FUNCTION tessera.audit_latest_checkpoint()
RETURNS SETOF tessera.audit_checkpoints
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT c.*
      FROM tessera.audit_checkpoints AS c
     ORDER BY c.tree_size DESC
     LIMIT 1
$function$;

COMMENT ON FUNCTION tessera.audit_latest_checkpoint() IS
    'The newest audit checkpoint (or no row): what the sealer extends. tessera_sealer only (definer).';

REVOKE ALL ON FUNCTION tessera.audit_latest_checkpoint() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.audit_latest_checkpoint() TO tessera_sealer;
