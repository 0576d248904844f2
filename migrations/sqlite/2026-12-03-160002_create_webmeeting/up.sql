-- The web-meeting desk (issue 16; seeds 000, 001): the session an operator holds for a
-- booking, with the identity checks and recording consents of delegate and delegator, and the
-- documents received during the call.
CREATE TABLE webmeeting_sessions (
    booking_id                      TEXT PRIMARY KEY NOT NULL REFERENCES bookings (id),
    operator_id                     TEXT NOT NULL,
    -- the room in the video platform's link (procura does not host video)
    room                            TEXT NOT NULL,
    -- in_progress | consent_refused | completed | closed
    status                          TEXT NOT NULL,
    taken_at                        TIMESTAMP NOT NULL,
    delegate_document_type          TEXT,
    delegate_document_number        TEXT,
    delegate_document_expires_on    DATE,
    delegate_checked_at             TIMESTAMP,
    delegator_document_type         TEXT,
    delegator_document_number       TEXT,
    delegator_document_expires_on   DATE,
    delegator_checked_at            TIMESTAMP,
    delegate_consent                BOOLEAN,
    delegate_consent_at             TIMESTAMP,
    delegator_consent               BOOLEAN,
    delegator_consent_at            TIMESTAMP,
    -- the delegation registered at completion (written in the same transaction, before the
    -- delegation row: the check waits for the commit)
    delegation_id                   TEXT REFERENCES delegations (id) DEFERRABLE INITIALLY DEFERRED,
    ended_at                        TIMESTAMP,
    end_reason                      TEXT,
    updated_at                      TIMESTAMP NOT NULL
);
CREATE INDEX webmeeting_sessions_delegation ON webmeeting_sessions (delegation_id);
CREATE INDEX webmeeting_sessions_operator ON webmeeting_sessions (operator_id, status);

-- AA08 and both identity documents (PDF), one of each kind per session; moved to the
-- delegation's evidence at completion.
CREATE TABLE webmeeting_documents (
    id              TEXT PRIMARY KEY NOT NULL,
    booking_id      TEXT NOT NULL REFERENCES webmeeting_sessions (booking_id),
    -- aa08 | delegator_id_document | delegate_id_document
    kind            TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size_bytes      BIGINT NOT NULL,
    content         BLOB NOT NULL,
    uploaded_by     TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    UNIQUE (booking_id, kind)
);
