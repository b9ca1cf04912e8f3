-- tessera_private.touch_updated_at(): BEFORE UPDATE trigger keeping updated_at honest.
-- The caller cannot choose updated_at; the database sets it to the transaction time.
CREATE FUNCTION tessera_private.touch_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    NEW.updated_at := pg_catalog.now();
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.touch_updated_at() IS
    'BEFORE UPDATE trigger: sets updated_at to now(); attached to every table with an updated_at column.';

REVOKE ALL ON FUNCTION tessera_private.touch_updated_at() FROM PUBLIC; -- functions are executable by PUBLIC by default
