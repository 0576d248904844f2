-- The OpenID Connect provider: relying parties, browser sessions, login flows, and the
-- grants (one per login of a person at a client) that authorization codes and refresh
-- tokens belong to. Codes, tokens and cookies are stored only as SHA-256 (hex).

CREATE TABLE oauth_clients (
    client_id                  TEXT PRIMARY KEY NOT NULL,
    display_name               TEXT NOT NULL,
    -- none (public, PKCE) | client_secret_basic | private_key_jwt
    auth_method                TEXT NOT NULL,
    secret_hash                TEXT,
    -- JSON Web Key Set (private_key_jwt)
    jwks                       TEXT,
    -- JSON arrays of exact URIs
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL,
    -- space-separated
    scopes                     TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    created_at                 TIMESTAMP NOT NULL
);

-- jti of private_key_jwt client assertions already used (replay protection).
CREATE TABLE client_assertion_jtis (
    client_id   TEXT NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    jti         TEXT NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertion_jtis_expires_idx ON client_assertion_jtis (expires_at);

-- The stable, opaque `sub` of each person (by codice fiscale) who ever logged in.
CREATE TABLE subjects (
    codice_fiscale  TEXT PRIMARY KEY NOT NULL,
    sub             TEXT NOT NULL UNIQUE,
    created_at      TIMESTAMP NOT NULL
);

CREATE TABLE browser_sessions (
    -- public id (the `sid` claim)
    id              TEXT PRIMARY KEY NOT NULL,
    cookie_hash     TEXT NOT NULL UNIQUE,
    csrf_token      TEXT NOT NULL,
    codice_fiscale  TEXT NOT NULL,
    given_name      TEXT,
    family_name     TEXT,
    method          TEXT NOT NULL,
    acr             TEXT NOT NULL,
    auth_time       TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    ended_at        TIMESTAMP
);
CREATE INDEX browser_sessions_codice_fiscale_idx ON browser_sessions (codice_fiscale);
CREATE INDEX browser_sessions_expires_idx ON browser_sessions (expires_at);

-- An authorization request waiting for the person to log in.
CREATE TABLE login_flows (
    id              TEXT PRIMARY KEY NOT NULL,
    browser_hash    TEXT NOT NULL,
    csrf_token      TEXT NOT NULL,
    client_id       TEXT NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    state           TEXT,
    nonce           TEXT,
    code_challenge  TEXT NOT NULL,
    acr_min         TEXT,
    -- set once a PIN that must be changed was verified: whose, and why
    pending_codice_fiscale  TEXT,
    pending_reason          TEXT,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL
);
CREATE INDEX login_flows_client_id_idx ON login_flows (client_id);
CREATE INDEX login_flows_expires_idx ON login_flows (expires_at);

CREATE TABLE oauth_grants (
    id              TEXT PRIMARY KEY NOT NULL,
    client_id       TEXT NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    session_id      TEXT REFERENCES browser_sessions (id) ON DELETE SET NULL,
    codice_fiscale  TEXT NOT NULL,
    sub             TEXT NOT NULL,
    given_name      TEXT,
    family_name     TEXT,
    scope           TEXT NOT NULL,
    method          TEXT NOT NULL,
    acr             TEXT NOT NULL,
    auth_time       TIMESTAMP NOT NULL,
    nonce           TEXT,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    revoked_at      TIMESTAMP
);
CREATE INDEX oauth_grants_client_id_idx ON oauth_grants (client_id);
CREATE INDEX oauth_grants_session_id_idx ON oauth_grants (session_id);
CREATE INDEX oauth_grants_expires_idx ON oauth_grants (expires_at);

CREATE TABLE authorization_codes (
    code_hash       TEXT PRIMARY KEY NOT NULL,
    grant_id        TEXT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    used_at         TIMESTAMP
);
CREATE INDEX authorization_codes_grant_id_idx ON authorization_codes (grant_id);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    grant_id    TEXT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    created_at  TIMESTAMP NOT NULL,
    rotated_at  TIMESTAMP
);
CREATE INDEX refresh_tokens_grant_id_idx ON refresh_tokens (grant_id);

-- Access tokens revoked one by one (RFC 7009), kept until they would have expired.
CREATE TABLE revoked_access_tokens (
    jti         TEXT PRIMARY KEY NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX revoked_access_tokens_expires_idx ON revoked_access_tokens (expires_at);
