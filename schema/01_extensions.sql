-- Extensions, kept out of the application schemas so the API never exposes their
-- functions. btree_gist lets an exclusion constraint combine equality on text columns
-- with range overlap (tessera.pricing_catalog: no two price periods of one model
-- overlap). It is a trusted extension: tessera_owner may create it without superuser.
CREATE SCHEMA tessera_ext;
COMMENT ON SCHEMA tessera_ext IS
    'Extensions used by tessera-db (btree_gist). Not exposed through the API; no API role has USAGE.';

CREATE EXTENSION btree_gist WITH SCHEMA tessera_ext;
