-- SPID service provider state, shared by every instance (design §5).

-- AuthnRequests sent and waiting for their Response; each is consumed once.
CREATE TABLE spid_requests (
    id             TEXT PRIMARY KEY,
    idp_entity_id  TEXT NOT NULL,
    acs_url        TEXT NOT NULL,
    level          TEXT NOT NULL,
    issue_instant  TEXT NOT NULL,
    issued_at      TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    -- SHA-256 of the cookie that binds the request to the browser that started it
    browser_hash   TEXT NOT NULL,
    relay_state    TEXT NOT NULL,
    -- the OpenID Connect login flow waiting for this login; NULL for a direct login
    flow_id        TEXT,
    consumed_at    TIMESTAMP
);
CREATE INDEX spid_requests_expires ON spid_requests (expires_at);

-- Assertion IDs already accepted, kept until they expire: a replay is refused everywhere.
CREATE TABLE spid_assertions (
    idp_entity_id  TEXT NOT NULL,
    assertion_id   TEXT NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (idp_entity_id, assertion_id)
);
CREATE INDEX spid_assertions_expires ON spid_assertions (expires_at);

-- What Single Logout needs of a browser session started by SPID.
CREATE TABLE spid_sessions (
    browser_session_id  TEXT PRIMARY KEY,
    idp_entity_id       TEXT NOT NULL,
    name_id             TEXT NOT NULL,
    name_qualifier      TEXT NOT NULL,
    session_index       TEXT,
    created_at          TIMESTAMP NOT NULL
);
CREATE INDEX spid_sessions_name_id ON spid_sessions (idp_entity_id, name_id);

-- LogoutRequests procura sent to an IdP, waiting for the LogoutResponse.
CREATE TABLE spid_logout_requests (
    id             TEXT PRIMARY KEY,
    idp_entity_id  TEXT NOT NULL,
    return_to      TEXT,
    issued_at      TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    consumed_at    TIMESTAMP
);

-- Last-known-good IdP metadata per configured source, so that every instance agrees and a
-- failed refresh keeps the previous copy.
CREATE TABLE spid_idp_metadata (
    source      TEXT PRIMARY KEY,
    xml         TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    fetched_at  TIMESTAMP NOT NULL,
    valid_until TIMESTAMP
);
