-- tessera_private.refuse_append_only_change(): trigger body that refuses UPDATE, DELETE
-- and TRUNCATE on an append-only table, for every role, the owner included.
--
-- Attached by tessera_private.make_append_only() as statement-level triggers (so even
-- an UPDATE that matches or changes nothing is refused) and row-level triggers (cloned
-- to every partition, so a statement aimed at a partition is refused too), all ENABLE
-- ALWAYS so session_replication_role = replica cannot switch them off. Privileges are
-- the first line (no UPDATE/DELETE/TRUNCATE is granted); this is the second.
CREATE FUNCTION tessera_private.refuse_append_only_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RAISE EXCEPTION '% on %.% is refused: the table is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              SCHEMA = TG_TABLE_SCHEMA,
              TABLE = TG_TABLE_NAME,
              HINT = 'Append a correcting row instead of changing history.';
END
$function$;

COMMENT ON FUNCTION tessera_private.refuse_append_only_change() IS
    'Trigger body: refuses UPDATE/DELETE/TRUNCATE on append-only tables (SQLSTATE 42501), for every role.';

REVOKE ALL ON FUNCTION tessera_private.refuse_append_only_change() FROM PUBLIC; -- functions are executable by PUBLIC by default
