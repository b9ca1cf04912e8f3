-- Frozen downgrade of 0001_foundation: removes every object 0001 created.
-- Cluster roles stay (they belong to the cluster and may serve other databases).
DROP SCHEMA tessera CASCADE;
DROP SCHEMA tessera_private CASCADE;
DROP EXTENSION btree_gist;
DROP SCHEMA tessera_ext;
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
