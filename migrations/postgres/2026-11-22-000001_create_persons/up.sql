-- The institute's archive of people: what later features check requests against.
CREATE TABLE persons (
    codice_fiscale  TEXT PRIMARY KEY NOT NULL,
    given_name      TEXT NOT NULL,
    family_name     TEXT NOT NULL,
    birth_date      DATE NOT NULL,
    sex             TEXT NOT NULL CHECK (sex IN ('M', 'F')),
    address         TEXT NOT NULL,
    postal_code     TEXT NOT NULL,
    municipality    TEXT NOT NULL,
    province        TEXT NOT NULL,
    mobile          TEXT,
    email           TEXT,
    pec             TEXT,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
