-- Frozen migration 0001_foundation: rendered from load.sql; never edit once merged.

-- >>> schema/00_schemas.sql
-- Schemas and the privileges every later object inherits.
--
--   tessera          application tables and the RPC functions the API may expose.
--   tessera_private  helpers (identity, triggers, guards). Never listed in PostgREST's
--                    db-schemas; the API roles get USAGE only so that row-level
--                    security policies can call the helpers while they are evaluated.

CREATE SCHEMA tessera;
COMMENT ON SCHEMA tessera IS
    'tessera-db application schema: tenancy, ledger and audit tables, plus the RPC functions the API exposes.';

CREATE SCHEMA tessera_private;
COMMENT ON SCHEMA tessera_private IS
    'tessera-db helpers (identity, guards, triggers). Never exposed through the API; USAGE is granted only so RLS policies can call the helpers.';

-- Functions are executable by PUBLIC by default. Every function file revokes that
-- explicitly too; this default keeps a forgotten REVOKE from opening a hole.
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- Grouped by grantee (PostgREST fixtures style).

-- Privileges for anonymous: nothing in this issue's tables; USAGE lets the anonymous
-- surfaces (share-token reading, sign-up) be granted function by function later.
GRANT USAGE ON SCHEMA tessera TO anon;

-- Privileges for authenticated (operators and sponsors, told apart by RLS).
GRANT USAGE ON SCHEMA tessera TO authenticated;
GRANT USAGE ON SCHEMA tessera_private TO authenticated;

-- Privileges for server-side jobs.
GRANT USAGE ON SCHEMA tessera TO service_role;

-- The proxy worker and the settlement job reach only the functions granted to them.
GRANT USAGE ON SCHEMA tessera TO tessera_proxy, tessera_settlement;

-- >>> schema/01_extensions.sql
-- Extensions, kept out of the application schemas so the API never exposes their
-- functions. btree_gist lets an exclusion constraint combine equality on text columns
-- with range overlap (tessera.pricing_catalog: no two price periods of one model
-- overlap). It is a trusted extension: tessera_owner may create it without superuser.
CREATE SCHEMA tessera_ext;
COMMENT ON SCHEMA tessera_ext IS
    'Extensions used by tessera-db (btree_gist). Not exposed through the API; no API role has USAGE.';

CREATE EXTENSION btree_gist WITH SCHEMA tessera_ext;

-- >>> functions/tessera_private.jwt_claims.sql
-- tessera_private.jwt_claims(): the caller's JWT claims as a JSON object, or NULL.
--
-- The claims arrive as text in the transaction-local setting request.jwt.claims
-- (PostgREST convention). Missing, empty, malformed or non-object claims all yield NULL,
-- never an error: a policy that calls this must answer "zero rows", not leak why.
-- Not SECURITY DEFINER: it reads only the caller's own setting.
CREATE FUNCTION tessera_private.jwt_claims()
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    raw text := pg_catalog.current_setting('request.jwt.claims', true);
    claims jsonb;
BEGIN
    IF raw IS NULL OR pg_catalog.btrim(raw) = '' THEN
        RETURN NULL;
    END IF;
    BEGIN
        claims := raw::jsonb;
    -- Any data exception: malformed JSON (22P02) but also valid JSON that jsonb cannot
    -- hold, such as \u0000 (22P05) or a number out of range (22003).
    EXCEPTION WHEN data_exception THEN
        RETURN NULL;
    END;
    IF pg_catalog.jsonb_typeof(claims) IS DISTINCT FROM 'object' THEN
        RETURN NULL;
    END IF;
    RETURN claims;
END
$function$;

COMMENT ON FUNCTION tessera_private.jwt_claims() IS
    'The caller''s request.jwt.claims as a JSON object; NULL when missing, malformed or not an object (never raises).';

REVOKE ALL ON FUNCTION tessera_private.jwt_claims() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.jwt_claims() TO authenticated;

-- >>> functions/tessera_private.jwt_email.sql
-- tessera_private.jwt_email(): the caller's email claim, lower-cased and trimmed, or NULL.
--
-- Only a JSON string counts: a number, array or object under "email" is a wrong claim
-- and yields NULL, so policies comparing against it match nothing.
CREATE FUNCTION tessera_private.jwt_email()
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT CASE
               WHEN pg_catalog.jsonb_typeof(c.claims -> 'email') = 'string'
                    AND pg_catalog.btrim(c.claims ->> 'email') <> ''
               THEN pg_catalog.lower(pg_catalog.btrim(c.claims ->> 'email'))
           END
      FROM (SELECT tessera_private.jwt_claims() AS claims) AS c
$function$;

COMMENT ON FUNCTION tessera_private.jwt_email() IS
    'The caller''s JWT email claim, lower-cased; NULL unless it is a non-empty JSON string.';

REVOKE ALL ON FUNCTION tessera_private.jwt_email() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.jwt_email() TO authenticated;

-- >>> functions/tessera_private.touch_updated_at.sql
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

-- >>> functions/tessera_private.refuse_append_only_change.sql
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

-- >>> functions/tessera_private.make_append_only.sql
-- tessera_private.make_append_only(table): the one way a table becomes append-only.
--
-- Called from the table's schema file (and for each new partition), so that every
-- append-only table carries the same three triggers, named after it:
--   <table>_append_only_statement  BEFORE UPDATE OR DELETE OR TRUNCATE, per statement
--   <table>_append_only_row        BEFORE UPDATE OR DELETE, per row (cloned to partitions)
-- both ENABLE ALWAYS. The lints and tests find append-only tables by these triggers.
CREATE FUNCTION tessera_private.make_append_only(p_table regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel_name text;
BEGIN
    SELECT c.relname INTO STRICT rel_name FROM pg_catalog.pg_class c WHERE c.oid = p_table;
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER %I BEFORE UPDATE OR DELETE OR TRUNCATE ON %s '
        'FOR EACH STATEMENT EXECUTE FUNCTION tessera_private.refuse_append_only_change()',
        rel_name || '_append_only_statement', p_table);
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I',
        p_table, rel_name || '_append_only_statement');
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = p_table) THEN
        -- Partitions inherit the parent's row trigger; only the parent creates it.
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %s '
            'FOR EACH ROW EXECUTE FUNCTION tessera_private.refuse_append_only_change()',
            rel_name || '_append_only_row', p_table);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I',
            p_table, rel_name || '_append_only_row');
    END IF;
END
$function$;

COMMENT ON FUNCTION tessera_private.make_append_only(regclass) IS
    'Attaches the append-only triggers (statement + row, ENABLE ALWAYS) to a table or partition. Migration-time only.';

REVOKE ALL ON FUNCTION tessera_private.make_append_only(regclass) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> schema/10_clients.sql
-- tessera.clients: the tenants. client_id is the future Citus distribution column.
CREATE TABLE tessera.clients (
    client_id   uuid        NOT NULL DEFAULT gen_random_uuid(),
    name        text        NOT NULL,
    plan_tier   text        NOT NULL DEFAULT 'free',
    optimisation_kill_switch boolean NOT NULL DEFAULT false,
    contributes_to_cross_customer_intelligence boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clients_pkey PRIMARY KEY (client_id),
    -- Not blank: at least one non-whitespace character (btrim only trims spaces).
    CONSTRAINT clients_name_not_blank CHECK (name ~ '[^[:space:]]'),
    CONSTRAINT clients_name_length CHECK (char_length(name) <= 200),
    -- A CHECK rather than an enum type: a bad value then names this constraint in the
    -- error, and adding a tier is a plain constraint swap in a migration.
    CONSTRAINT clients_plan_tier_known CHECK (plan_tier IN ('hobby', 'free', 'invoiced')),
    CONSTRAINT clients_updated_after_created CHECK (updated_at >= created_at)
);

CREATE TRIGGER clients_touch_updated_at
    BEFORE UPDATE ON tessera.clients
    FOR EACH ROW EXECUTE FUNCTION tessera_private.touch_updated_at();

COMMENT ON TABLE tessera.clients IS
    'Tenants of the proxy. Sponsors read their own row; the kill switch and the cross-customer opt-in change only through tessera.set_kill_switch / tessera.set_cross_customer_intelligence.';
COMMENT ON COLUMN tessera.clients.client_id IS 'Tenant key; leads every tenant table''s primary key (Citus distribution column).';
COMMENT ON COLUMN tessera.clients.name IS 'Display name, 1..200 characters, not blank.';
COMMENT ON COLUMN tessera.clients.plan_tier IS 'hobby | free | invoiced. Never consulted by the kill switch.';
COMMENT ON COLUMN tessera.clients.optimisation_kill_switch IS
    'Client-controlled global pause: true = every workload is pure pass-through. Never gated on balance, plan or seat status.';
COMMENT ON COLUMN tessera.clients.contributes_to_cross_customer_intelligence IS
    'Opt-in to cross-customer aggregation of anonymised prompt fingerprints (off by default).';
COMMENT ON COLUMN tessera.clients.created_at IS 'Row creation time.';
COMMENT ON COLUMN tessera.clients.updated_at IS 'Last change, set by trigger clients_touch_updated_at.';

-- >>> schema/20_workloads.sql
-- tessera.workloads: a client's traffic streams, each with per-mechanic opt-in flags.
--
-- Every optimisation mechanic is a boolean column named mechanic_<name>, off by
-- default. The prefix is load-bearing: the sponsor column guard
-- (tessera_private.guard_workload_sponsor_update) lets sponsors change exactly the
-- columns that carry it.
CREATE TABLE tessera.workloads (
    client_id    uuid        NOT NULL,
    workload_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    name         text        NOT NULL,
    mechanic_auto_route              boolean NOT NULL DEFAULT false,
    mechanic_prompt_cache_header     boolean NOT NULL DEFAULT false,
    mechanic_history_pruning         boolean NOT NULL DEFAULT false,
    mechanic_json_schema_enforcement boolean NOT NULL DEFAULT false,
    mechanic_batch_routing           boolean NOT NULL DEFAULT false,
    mechanic_exact_cache             boolean NOT NULL DEFAULT false,
    mechanic_semantic_cache          boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- client_id first: policies filter on it through this index, and Citus needs the
    -- distribution column in every primary and unique key.
    CONSTRAINT workloads_pkey PRIMARY KEY (client_id, workload_id),
    CONSTRAINT workloads_client_name_key UNIQUE (client_id, name),
    CONSTRAINT workloads_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE RESTRICT,
    -- Not blank: at least one non-whitespace character (btrim only trims spaces).
    CONSTRAINT workloads_name_not_blank CHECK (name ~ '[^[:space:]]'),
    CONSTRAINT workloads_name_length CHECK (char_length(name) <= 200),
    CONSTRAINT workloads_updated_after_created CHECK (updated_at >= created_at)
);

CREATE TRIGGER workloads_touch_updated_at
    BEFORE UPDATE ON tessera.workloads
    FOR EACH ROW EXECUTE FUNCTION tessera_private.touch_updated_at();

COMMENT ON TABLE tessera.workloads IS
    'A client''s workloads. Each optimisation mechanic is opt-in per workload (all off by default); sponsors may flip only the mechanic_* flags of their own workloads.';
COMMENT ON COLUMN tessera.workloads.client_id IS 'Owning client; part of the primary key.';
COMMENT ON COLUMN tessera.workloads.workload_id IS 'Workload key within the client.';
COMMENT ON COLUMN tessera.workloads.name IS 'Display name, unique within the client.';
COMMENT ON COLUMN tessera.workloads.mechanic_auto_route IS 'Opt-in: auto-route to a cheaper model.';
COMMENT ON COLUMN tessera.workloads.mechanic_prompt_cache_header IS 'Opt-in: inject the provider prompt-cache header.';
COMMENT ON COLUMN tessera.workloads.mechanic_history_pruning IS 'Opt-in: prune long conversation history.';
COMMENT ON COLUMN tessera.workloads.mechanic_json_schema_enforcement IS 'Opt-in: enforce a JSON schema on responses.';
COMMENT ON COLUMN tessera.workloads.mechanic_batch_routing IS 'Opt-in: route async-tolerant calls through provider batch APIs.';
COMMENT ON COLUMN tessera.workloads.mechanic_exact_cache IS 'Opt-in: exact-response cache (sha256 of the normalised body).';
COMMENT ON COLUMN tessera.workloads.mechanic_semantic_cache IS 'Opt-in: semantic cache (prompt embedding).';
COMMENT ON COLUMN tessera.workloads.created_at IS 'Row creation time.';
COMMENT ON COLUMN tessera.workloads.updated_at IS 'Last change, set by trigger workloads_touch_updated_at.';

-- >>> schema/30_operators.sql
-- tessera.operators: Tessera staff. A JWT whose email is listed here is an operator.
-- Platform-wide (no client_id): a Citus reference table on the scale-out path.
CREATE TABLE tessera.operators (
    operator_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    email        text        NOT NULL,
    display_name text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT operators_pkey PRIMARY KEY (operator_id),
    CONSTRAINT operators_email_key UNIQUE (email),
    -- Emails are stored lower-case so the JWT comparison is a plain index lookup.
    CONSTRAINT operators_email_lowercase CHECK (email = lower(email)),
    CONSTRAINT operators_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    CONSTRAINT operators_email_length CHECK (char_length(email) <= 320),
    CONSTRAINT operators_display_name_length CHECK (char_length(display_name) <= 200)
);

COMMENT ON TABLE tessera.operators IS
    'Tessera staff. tessera_private.is_operator() is true when the caller''s JWT email is listed here.';
COMMENT ON COLUMN tessera.operators.operator_id IS 'Surrogate key.';
COMMENT ON COLUMN tessera.operators.email IS 'Staff email, lower-case; matched against the JWT email claim.';
COMMENT ON COLUMN tessera.operators.display_name IS 'Optional display name.';
COMMENT ON COLUMN tessera.operators.created_at IS 'Row creation time.';

-- >>> schema/40_client_users.sql
-- tessera.client_users: a client's sponsor contacts. A JWT whose email is listed here
-- for a client is a sponsor of that client (tessera_private.sponsor_client_ids()).
CREATE TABLE tessera.client_users (
    client_id      uuid        NOT NULL,
    client_user_id uuid        NOT NULL DEFAULT gen_random_uuid(),
    email          text        NOT NULL,
    display_name   text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT client_users_pkey PRIMARY KEY (client_id, client_user_id),
    CONSTRAINT client_users_client_email_key UNIQUE (client_id, email),
    CONSTRAINT client_users_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES tessera.clients (client_id) ON DELETE RESTRICT,
    CONSTRAINT client_users_email_lowercase CHECK (email = lower(email)),
    CONSTRAINT client_users_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    CONSTRAINT client_users_email_length CHECK (char_length(email) <= 320),
    CONSTRAINT client_users_display_name_length CHECK (char_length(display_name) <= 200)
);

-- sponsor_client_ids() looks sponsors up by email across clients.
CREATE INDEX client_users_email_idx ON tessera.client_users (email);

COMMENT ON TABLE tessera.client_users IS
    'Sponsor contacts per client. Sponsors see their own clients'' rows only.';
COMMENT ON COLUMN tessera.client_users.client_id IS 'The client this contact sponsors; part of the primary key.';
COMMENT ON COLUMN tessera.client_users.client_user_id IS 'Surrogate key within the client.';
COMMENT ON COLUMN tessera.client_users.email IS 'Sponsor email, lower-case; matched against the JWT email claim.';
COMMENT ON COLUMN tessera.client_users.display_name IS 'Optional display name.';
COMMENT ON COLUMN tessera.client_users.created_at IS 'Row creation time.';

-- >>> functions/tessera_private.is_operator.sql
-- tessera_private.is_operator(): is the caller's JWT email listed in tessera.operators?
--
-- SECURITY DEFINER so that the operator policies on tessera.operators do not recurse
-- into themselves. It runs as tessera_owner, which FORCE ROW LEVEL SECURITY still
-- confines: the owner's only policy on tessera.operators shows the row whose email is
-- the caller's own claim, so even this definer cannot read the staff list.
-- search_path is pinned (pg_temp last) and every reference is schema-qualified, so a
-- caller's temporary or same-named objects cannot stand in for the table or helpers.
CREATE FUNCTION tessera_private.is_operator()
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT EXISTS (
        SELECT 1
          FROM tessera.operators AS o
         WHERE o.email = tessera_private.jwt_email()
    )
$function$;

COMMENT ON FUNCTION tessera_private.is_operator() IS
    'True when the caller''s JWT email is in tessera.operators. SECURITY DEFINER, pinned search_path; false for missing or malformed claims.';

REVOKE ALL ON FUNCTION tessera_private.is_operator() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.is_operator() TO authenticated;

-- >>> functions/tessera_private.sponsor_client_ids.sql
-- tessera_private.sponsor_client_ids(): the clients whose client_users list the caller's
-- JWT email, as an array (empty, never NULL).
--
-- An array rather than SETOF so that policies can write
--     client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[])
-- which PostgreSQL evaluates once per statement (an InitPlan) and serves from the
-- client_id-leading primary key. SECURITY DEFINER for the same reason as is_operator();
-- as tessera_owner it sees only the client_users rows carrying the caller's own email.
CREATE FUNCTION tessera_private.sponsor_client_ids()
RETURNS uuid[]
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT COALESCE(pg_catalog.array_agg(DISTINCT cu.client_id), '{}'::uuid[])
      FROM tessera.client_users AS cu
     WHERE cu.email = tessera_private.jwt_email()
$function$;

COMMENT ON FUNCTION tessera_private.sponsor_client_ids() IS
    'Client ids the caller sponsors (JWT email in tessera.client_users); empty for missing or malformed claims. SECURITY DEFINER, pinned search_path.';

REVOKE ALL ON FUNCTION tessera_private.sponsor_client_ids() FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera_private.sponsor_client_ids() TO authenticated;

-- >>> functions/tessera_private.can_manage_client.sql
-- tessera_private.can_manage_client(client_id): may the caller change this client's
-- portal settings (kill switch, cross-customer opt-in)? Operators always; sponsors for
-- their own clients. Deliberately consults nothing else: the kill switch is
-- contract-codified and must never depend on balance, plan or seat status.
CREATE FUNCTION tessera_private.can_manage_client(p_client_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT p_client_id IS NOT NULL
       AND (tessera_private.is_operator()
            OR p_client_id = ANY (tessera_private.sponsor_client_ids()))
$function$;

COMMENT ON FUNCTION tessera_private.can_manage_client(uuid) IS
    'True when the caller is an operator or a sponsor of the client. Used by the portal-setting functions and by the owner''s policies on tessera.clients.';

REVOKE ALL ON FUNCTION tessera_private.can_manage_client(uuid) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.guard_workload_sponsor_update.sql
-- tessera_private.guard_workload_sponsor_update(): BEFORE UPDATE trigger on
-- tessera.workloads that lets a sponsor change only the mechanic_* opt-in flags.
--
-- Column-level grants cannot do this: operators and sponsors are both the
-- `authenticated` role and operators may change every column. So the row policy
-- decides *which* workloads a sponsor may update, and this guard decides *which
-- columns*. It compares the whole row minus the mechanic_* flags and updated_at, so a
-- column added later is protected without touching this function.
CREATE FUNCTION tessera_private.guard_workload_sponsor_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed text[];
BEGIN
    -- Two separate tests on purpose: the whole IF expression is planned under the
    -- current role, and roles other than authenticated (service_role) have no USAGE on
    -- tessera_private, so is_operator() must not even be parsed for them.
    IF current_user::text <> 'authenticated' THEN
        RETURN NEW;
    END IF;
    IF tessera_private.is_operator() THEN
        RETURN NEW;
    END IF;

    SELECT pg_catalog.array_agg(n.key ORDER BY n.key)
      INTO changed
      FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) AS n
      JOIN pg_catalog.jsonb_each(pg_catalog.to_jsonb(OLD)) AS o USING (key)
     WHERE n.key NOT LIKE 'mechanic\_%'
       AND n.key <> 'updated_at'
       AND n.value IS DISTINCT FROM o.value;

    IF changed IS NOT NULL THEN
        RAISE EXCEPTION 'sponsors may change only the mechanic_* flags of a workload (attempted: %)',
                        pg_catalog.array_to_string(changed, ', ')
            USING ERRCODE = 'insufficient_privilege',
                  TABLE = 'workloads',
                  SCHEMA = 'tessera';
    END IF;
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION tessera_private.guard_workload_sponsor_update() IS
    'BEFORE UPDATE trigger on tessera.workloads: a non-operator authenticated caller may change only mechanic_* columns (SQLSTATE 42501 otherwise).';

REVOKE ALL ON FUNCTION tessera_private.guard_workload_sponsor_update() FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera_private.set_client_setting.sql
-- tessera_private.set_client_setting(client_id, setting, value): the one body behind the
-- client-controlled portal settings (kill switch, cross-customer opt-in).
--
-- Not executable by any API role: it is reached only through the SECURITY DEFINER
-- functions tessera.set_kill_switch / tessera.set_cross_customer_intelligence, and so
-- runs as tessera_owner, whose row policies on tessera.clients again admit only the
-- caller's own clients. The setting name is checked against a fixed list before it is
-- quoted into the statement.
CREATE FUNCTION tessera_private.set_client_setting(p_client_id uuid, p_setting text, p_value boolean)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    new_value boolean;
BEGIN
    IF p_setting IS NULL OR p_setting NOT IN ('optimisation_kill_switch',
                                              'contributes_to_cross_customer_intelligence') THEN
        RAISE EXCEPTION 'unknown client setting %', pg_catalog.quote_nullable(p_setting)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_value IS NULL THEN
        RAISE EXCEPTION '% must be true or false, not null', p_setting
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Same answer for "no such client" and "not yours": nothing about other tenants leaks.
    IF NOT tessera_private.can_manage_client(p_client_id) THEN
        RAISE EXCEPTION 'not permitted to change settings of client %', p_client_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    EXECUTE pg_catalog.format(
        'UPDATE tessera.clients SET %1$I = $1 WHERE client_id = $2 RETURNING %1$I', p_setting)
       INTO new_value
      USING p_value, p_client_id;

    -- EXECUTE does not set FOUND; the columns are NOT NULL, so NULL means no row.
    IF new_value IS NULL THEN
        RAISE EXCEPTION 'client % not found', p_client_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN new_value;
END
$function$;

COMMENT ON FUNCTION tessera_private.set_client_setting(uuid, text, boolean) IS
    'Shared body of the portal-setting functions: checks the caller may manage the client, then sets one whitelisted boolean column.';

REVOKE ALL ON FUNCTION tessera_private.set_client_setting(uuid, text, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default

-- >>> functions/tessera.set_kill_switch.sql
-- tessera.set_kill_switch(client_id, engaged): the client's global optimisation pause.
--
-- Engaged = every workload of the client runs as pure pass-through. Callable by the
-- client's sponsors and by operators. Contract-codified: it never looks at balance,
-- plan tier or seat status, and no other condition may ever be added here.
-- SECURITY DEFINER because sponsors hold no UPDATE privilege on tessera.clients.
CREATE FUNCTION tessera.set_kill_switch(p_client_id uuid, p_engaged boolean)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.set_client_setting(p_client_id, 'optimisation_kill_switch', p_engaged)
$function$;

COMMENT ON FUNCTION tessera.set_kill_switch(uuid, boolean) IS
    'Engage (true) or release (false) the client''s optimisation kill switch; sponsors of the client and operators only; never gated on balance, plan or seats. Returns the new state.';

REVOKE ALL ON FUNCTION tessera.set_kill_switch(uuid, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.set_kill_switch(uuid, boolean) TO authenticated;

-- >>> functions/tessera.set_cross_customer_intelligence.sql
-- tessera.set_cross_customer_intelligence(client_id, opt_in): the client's opt-in to
-- cross-customer aggregation of anonymised prompt fingerprints (Terms §15). Callable by
-- the client's sponsors and by operators; never gated on balance, plan or seats.
CREATE FUNCTION tessera.set_cross_customer_intelligence(p_client_id uuid, p_opt_in boolean)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT tessera_private.set_client_setting(p_client_id, 'contributes_to_cross_customer_intelligence', p_opt_in)
$function$;

COMMENT ON FUNCTION tessera.set_cross_customer_intelligence(uuid, boolean) IS
    'Opt the client in (true) or out (false) of cross-customer intelligence; sponsors of the client and operators only. Returns the new state.';

REVOKE ALL ON FUNCTION tessera.set_cross_customer_intelligence(uuid, boolean) FROM PUBLIC; -- functions are executable by PUBLIC by default
GRANT EXECUTE ON FUNCTION tessera.set_cross_customer_intelligence(uuid, boolean) TO authenticated;

-- >>> policies/clients.sql
-- Row-level security, policies and grants for tessera.clients.
--
--   operator  read/write every client
--   sponsor   read own clients; kill switch and cross-customer opt-in only through
--             tessera.set_kill_switch / tessera.set_cross_customer_intelligence
--   anon      nothing
--   owner     (SECURITY DEFINER functions) only the caller's own clients
ALTER TABLE tessera.clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.clients FORCE ROW LEVEL SECURITY;

CREATE POLICY clients_select_operator_or_sponsor ON tessera.clients
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY clients_insert_operator ON tessera.clients
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY clients_update_operator ON tessera.clients
    FOR UPDATE TO authenticated
    USING ((SELECT tessera_private.is_operator()))
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY clients_delete_operator ON tessera.clients
    FOR DELETE TO authenticated
    USING ((SELECT tessera_private.is_operator()));

-- The portal-setting functions run as tessera_owner; FORCE RLS keeps even them to the
-- clients the JWT caller may manage.
CREATE POLICY clients_select_definer_for_caller ON tessera.clients
    FOR SELECT TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY clients_update_definer_for_caller ON tessera.clients
    FOR UPDATE TO tessera_owner
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

-- Privileges for authenticated: rows are narrowed by the policies above.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.clients TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS). No TRUNCATE for anyone but the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.clients TO service_role;

-- >>> policies/workloads.sql
-- Row-level security, policies and grants for tessera.workloads.
--
--   operator  read/write every workload
--   sponsor   read own clients' workloads; UPDATE of their mechanic_* flags only
--             (rows: policy below; columns: trigger workloads_guard_sponsor_update)
--   anon      nothing
ALTER TABLE tessera.workloads ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.workloads FORCE ROW LEVEL SECURITY;

CREATE POLICY workloads_select_operator_or_sponsor ON tessera.workloads
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY workloads_insert_operator ON tessera.workloads
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

-- WITH CHECK repeats the sponsor test so a sponsor cannot move a workload to a client
-- they do not sponsor (a forged client_id); the column guard refuses that too.
CREATE POLICY workloads_update_operator_or_sponsor ON tessera.workloads
    FOR UPDATE TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]))
    WITH CHECK ((SELECT tessera_private.is_operator())
                OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY workloads_delete_operator ON tessera.workloads
    FOR DELETE TO authenticated
    USING ((SELECT tessera_private.is_operator()));

-- Column half of the sponsor rule: only mechanic_* flags may change.
CREATE TRIGGER workloads_guard_sponsor_update
    BEFORE UPDATE ON tessera.workloads
    FOR EACH ROW EXECUTE FUNCTION tessera_private.guard_workload_sponsor_update();

-- Privileges for authenticated: rows are narrowed by the policies above.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.workloads TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS). No TRUNCATE for anyone but the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.workloads TO service_role;

-- [issue 4, savings ledger] tessera.record_request (SECURITY DEFINER, run by the proxy
-- login) must read the workload's mechanic_* opt-ins. It runs as tessera_owner, which
-- FORCE RLS confines: this policy admits only the workloads of the one client named by
-- the transaction-local setting tessera.recording_client_id, which record_request sets
-- before and clears after its reads. No other definer function reads workloads.
CREATE POLICY workloads_select_definer_recording ON tessera.workloads
    FOR SELECT TO tessera_owner
    USING (client_id = (SELECT NULLIF(pg_catalog.current_setting('tessera.recording_client_id', true), '')::uuid));

-- >>> policies/operators.sql
-- Row-level security, policies and grants for tessera.operators.
--
--   operator  read/write the staff list
--   sponsor   nothing
--   anon      nothing
--   owner     (is_operator(), SECURITY DEFINER) only the row of the caller's own email
ALTER TABLE tessera.operators ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.operators FORCE ROW LEVEL SECURITY;

CREATE POLICY operators_select_operator ON tessera.operators
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator()));

CREATE POLICY operators_insert_operator ON tessera.operators
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY operators_update_operator ON tessera.operators
    FOR UPDATE TO authenticated
    USING ((SELECT tessera_private.is_operator()))
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY operators_delete_operator ON tessera.operators
    FOR DELETE TO authenticated
    USING ((SELECT tessera_private.is_operator()));

-- is_operator() runs as the owner; this is what it may see, and no more.
CREATE POLICY operators_select_definer_own_email ON tessera.operators
    FOR SELECT TO tessera_owner
    USING (email = (SELECT tessera_private.jwt_email()));

-- Privileges for authenticated: rows are narrowed by the policies above.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.operators TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS). No TRUNCATE for anyone but the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.operators TO service_role;

-- >>> policies/client_users.sql
-- Row-level security, policies and grants for tessera.client_users.
--
--   operator  read/write every sponsor contact
--   sponsor   read the contacts of their own clients
--   anon      nothing
--   owner     (sponsor_client_ids(), SECURITY DEFINER) only rows of the caller's email
ALTER TABLE tessera.client_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE tessera.client_users FORCE ROW LEVEL SECURITY;

CREATE POLICY client_users_select_operator_or_sponsor ON tessera.client_users
    FOR SELECT TO authenticated
    USING ((SELECT tessera_private.is_operator())
           OR client_id = ANY ((SELECT tessera_private.sponsor_client_ids())::uuid[]));

CREATE POLICY client_users_insert_operator ON tessera.client_users
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY client_users_update_operator ON tessera.client_users
    FOR UPDATE TO authenticated
    USING ((SELECT tessera_private.is_operator()))
    WITH CHECK ((SELECT tessera_private.is_operator()));

CREATE POLICY client_users_delete_operator ON tessera.client_users
    FOR DELETE TO authenticated
    USING ((SELECT tessera_private.is_operator()));

-- sponsor_client_ids() runs as the owner; this is what it may see, and no more.
CREATE POLICY client_users_select_definer_own_email ON tessera.client_users
    FOR SELECT TO tessera_owner
    USING (email = (SELECT tessera_private.jwt_email()));

-- Privileges for authenticated: rows are narrowed by the policies above.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.client_users TO authenticated;

-- Privileges for server-side jobs (BYPASSRLS). No TRUNCATE for anyone but the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON tessera.client_users TO service_role;
