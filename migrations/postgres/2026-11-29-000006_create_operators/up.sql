-- Operators of the contact centre, the branch desks and the web-meeting desk. An operator
-- logs in through the login broker like anyone else; this row is what gives that person
-- roles. Disabling keeps the row (the audit log names operators by id).
CREATE TABLE operators (
    id              TEXT PRIMARY KEY NOT NULL,
    codice_fiscale  TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    -- space-separated: sportello contact_center web_meeting admin
    roles           TEXT NOT NULL,
    -- the INPS office (sede) the operator works at, when there is one
    office          TEXT,
    active          BOOLEAN NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    disabled_at     TIMESTAMP
);
