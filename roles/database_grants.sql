-- Per-database bootstrap, run (like roles.sql) by a superuser or deploy login before the
-- first migration: the owner role needs CREATE on the target database to create the
-- project's schemas, and the login roles need CONNECT.
DO $grants$
BEGIN
    EXECUTE pg_catalog.format('GRANT CONNECT, CREATE ON DATABASE %I TO tessera_owner', current_database());
    EXECUTE pg_catalog.format(
        'GRANT CONNECT ON DATABASE %I TO authenticator, tessera_proxy, tessera_settlement, tessera_sealer',
        current_database());
END
$grants$;
