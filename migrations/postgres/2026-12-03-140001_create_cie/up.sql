-- CIE OpenID Connect relying party state, shared by every instance (design §5).

-- Last-known-good trust chain of each CIE OpenID provider: the resolved metadata (after the
-- federation's metadata policies) and the statements it came from, good until the earliest
-- exp of those statements. A failed refresh keeps the row until then.
CREATE TABLE cie_trust_chains (
    provider      TEXT PRIMARY KEY,
    trust_anchor  TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    statements    TEXT NOT NULL,
    expires_at    TIMESTAMP NOT NULL,
    fetched_at    TIMESTAMP NOT NULL
);

-- Authorization requests sent to a provider, waiting for the callback; each is spent once.
CREATE TABLE cie_requests (
    state          TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    code_verifier  TEXT NOT NULL,
    level          TEXT NOT NULL,
    -- SHA-256 of the cookie that binds the request to the browser that started it
    browser_hash   TEXT NOT NULL,
    -- the OpenID Connect login flow waiting for this login; NULL for a direct login
    flow_id        TEXT,
    issued_at      TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    consumed_at    TIMESTAMP
);
CREATE INDEX cie_requests_expires ON cie_requests (expires_at);

-- What logout needs of a browser session started by CIE: the provider's access token,
-- sealed (AES-256-GCM), revoked at the provider when the session ends.
CREATE TABLE cie_sessions (
    browser_session_id  TEXT PRIMARY KEY,
    provider            TEXT NOT NULL,
    access_token        BYTEA NOT NULL,
    created_at          TIMESTAMP NOT NULL,
    expires_at          TIMESTAMP NOT NULL
);
CREATE INDEX cie_sessions_expires ON cie_sessions (expires_at);
