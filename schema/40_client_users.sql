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
