-- The operator console's sessions (issue 18): after a login through procura's broker, the
-- console keeps its own server-side session. The cookie carries a random token; only its
-- SHA-256 is kept. Ends at logout, after `console.idle_timeout_secs` without a request, or
-- at `console.max_age_secs`.
CREATE TABLE console_sessions (
    id              TEXT PRIMARY KEY NOT NULL,
    csrf_token      TEXT NOT NULL,
    operator_id     TEXT NOT NULL,
    codice_fiscale  TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    -- the `roles` claim of the access token the console received (space-separated)
    roles           TEXT NOT NULL,
    acr             TEXT NOT NULL,
    grant_id        TEXT NOT NULL,
    access_jti      TEXT NOT NULL,
    -- the ID token, as the hint of the broker logout
    id_token        TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    last_seen_at    TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    ended_at        TIMESTAMP
);
CREATE INDEX console_sessions_operator ON console_sessions (operator_id);
