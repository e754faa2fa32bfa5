-- tower-users schema, version 1. `{s}` is the schema, `{p}` the table
-- prefix (both configurable). Applied once, in one transaction.

-- One row per account. Apps may reference `{s}.{p}users (id)` with a
-- foreign key (ON DELETE CASCADE or SET NULL, so deleting a user still works).
CREATE TABLE {s}.{p}users (
    id uuid PRIMARY KEY,
    -- Already normalized by tower-users (`Email::parse`), so a
    -- plain unique index is uniqueness of the normalized address.
    email text NOT NULL,
    password_hash text NOT NULL,
    password_version bigint NOT NULL CHECK (password_version >= 0),
    is_active boolean NOT NULL,
    is_verified boolean NOT NULL,
    is_superuser boolean NOT NULL,
    created_at timestamptz NOT NULL,
    pending_email text,
    -- The app's own profile fields, as one JSON object. `json`, not `jsonb`:
    -- jsonb refuses the escape \u0000, which a field's value may hold.
    profile json NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX {p}users_email_key ON {s}.{p}users (email);
CREATE INDEX {p}users_active_superusers ON {s}.{p}users (id)
    WHERE is_active AND is_superuser;

-- One row per login session (one device's refresh chain).
CREATE TABLE {s}.{p}sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES {s}.{p}users (id) ON DELETE CASCADE,
    password_version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX {p}sessions_user_id ON {s}.{p}sessions (user_id);
CREATE INDEX {p}sessions_expires_at ON {s}.{p}sessions (expires_at);

-- SHA-256 digests of refresh tokens. Spent ones stay until their session
-- goes, so that a replay is recognised and ends the session.
CREATE TABLE {s}.{p}refresh_tokens (
    digest bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES {s}.{p}sessions (id) ON DELETE CASCADE,
    spent boolean NOT NULL
);
CREATE INDEX {p}refresh_tokens_session_id ON {s}.{p}refresh_tokens (session_id);

-- Single-use tokens (verification, reset, email change) already spent, kept
-- until they would have expired anyway.
CREATE TABLE {s}.{p}spent_tokens (
    id uuid PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX {p}spent_tokens_expires_at ON {s}.{p}spent_tokens (expires_at);

-- Emails waiting to be sent, written in the transaction that caused them.
CREATE TABLE {s}.{p}outbox (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    recipient text NOT NULL,
    subject text NOT NULL,
    text_body text NOT NULL,
    html_body text NOT NULL,
    link text NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts bigint NOT NULL,
    created_at timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    last_error text,
    decoy boolean NOT NULL
);
CREATE INDEX {p}outbox_due ON {s}.{p}outbox (next_attempt_at, id);

-- Emails given up on, with the reason in last_error.
CREATE TABLE {s}.{p}dead_letters (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    recipient text NOT NULL,
    subject text NOT NULL,
    text_body text NOT NULL,
    html_body text NOT NULL,
    link text NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts bigint NOT NULL,
    created_at timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    last_error text,
    decoy boolean NOT NULL,
    dead_at timestamptz NOT NULL DEFAULT now()
);

-- Consecutive failed logins per counter key: the normalized email, alone or
-- with the client. UTF-8 bytes, as the keys hold NUL separators, which
-- PostgreSQL's text cannot.
CREATE TABLE {s}.{p}login_failures (
    key bytea PRIMARY KEY,
    failures bigint NOT NULL,
    last_failure timestamptz NOT NULL
);
CREATE INDEX {p}login_failures_last_failure ON {s}.{p}login_failures (last_failure);

-- Small named values: the generated token-signing secret.
CREATE TABLE {s}.{p}secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
