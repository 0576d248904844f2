-- PIN requests (domain §2.3, messaggio 4590/2016) through the desk, online and the contact
-- centre, with the contact-centre call-back queue. What the requester typed is kept as typed;
-- letters go to the address in the persons registry, never to this one.
CREATE TABLE pin_requests (
    id                   TEXT PRIMARY KEY NOT NULL,
    -- the reference printed on letters and read on the phone
    reference            TEXT NOT NULL UNIQUE,
    -- sportello | online | contact_center
    channel              TEXT NOT NULL,
    -- the person the PIN is for
    codice_fiscale       TEXT NOT NULL,
    -- a legal representative asking for the represented person (else NULL)
    representative_cf    TEXT,
    -- tutore | curatore | amministratore_di_sostegno | genitore
    representation       TEXT,
    -- decree or self-declaration reference
    representation_ref   TEXT,
    given_name           TEXT NOT NULL,
    family_name          TEXT NOT NULL,
    birth_date           DATE NOT NULL,
    address              TEXT NOT NULL,
    postal_code          TEXT NOT NULL,
    municipality         TEXT NOT NULL,
    province             TEXT NOT NULL,
    mobile               TEXT,
    email                TEXT,
    pec                  TEXT,
    -- where the first half goes: sms | email | pec (NULL at the desk: the whole PIN at once)
    first_half_channel   TEXT,
    -- ordinario | dispositivo
    pin_type             TEXT NOT NULL,
    -- queued (waiting for the contact centre; claimed while claimed_until is ahead) |
    -- issued | rejected | closed (no answer after the last call-back)
    status               TEXT NOT NULL,
    -- space-separated reasons the automatic check failed (for the call-back)
    check_failures       TEXT,
    claimed_by           TEXT,
    claimed_until        TIMESTAMP,
    call_attempts        BIGINT NOT NULL,
    next_call_at         TIMESTAMP,
    outcome_reason       TEXT,
    -- the operator who took the request or decided it
    operator_id          TEXT,
    created_at           TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL,
    decided_at           TIMESTAMP
);
CREATE INDEX pin_requests_queue ON pin_requests (status, created_at);
CREATE INDEX pin_requests_codice_fiscale ON pin_requests (codice_fiscale);
-- One open request per person: a second is refused by the database, not by a check first.
CREATE UNIQUE INDEX pin_requests_one_open ON pin_requests (codice_fiscale) WHERE status = 'queued';

-- Evidence archived with a request (messaggio 4590/2016: the MV35 form and the ID document
-- scan): the bytes, their checked media type and SHA-256.
CREATE TABLE pin_request_documents (
    id              TEXT PRIMARY KEY NOT NULL,
    request_id      TEXT NOT NULL REFERENCES pin_requests (id),
    -- mv35 | id_document | self_declaration | decree
    kind            TEXT NOT NULL,
    media_type      TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size_bytes      BIGINT NOT NULL,
    content         BYTEA NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX pin_request_documents_request_id ON pin_request_documents (request_id);

-- Temporary telephone PIN (domain §2.6): one per person, a new one replaces the old.
-- Wrong codes count in `failures`; at the limit the phone PIN stops working.
CREATE TABLE phone_pins (
    codice_fiscale  TEXT PRIMARY KEY NOT NULL,
    pin_hash        TEXT NOT NULL,
    failures        BIGINT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL
);
