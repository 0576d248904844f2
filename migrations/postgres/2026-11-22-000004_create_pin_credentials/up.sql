-- PIN credentials (domain §2, §6.6, §6.7): the PIN only as an argon2id PHC string, and the
-- lockout state, which every attempt updates atomically.
CREATE TABLE pin_credentials (
    codice_fiscale  TEXT PRIMARY KEY NOT NULL REFERENCES persons (codice_fiscale),
    pin_hash        TEXT NOT NULL,
    -- true for the issued 16-character PIN, until the person sets a personal one
    initial         BOOLEAN NOT NULL,
    -- ordinario | dispositivo
    pin_type        TEXT NOT NULL,
    -- cittadino | intermediario (validity 180 or 90 days)
    holder          TEXT NOT NULL,
    set_at          TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    last_used_at    TIMESTAMP,
    -- consecutive wrong PINs since the last success (attempts in flight included)
    failures        BIGINT NOT NULL,
    -- locks applied since the last success
    locks           BIGINT NOT NULL,
    locked_until    TIMESTAMP,
    blocked_at      TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL
);
