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
