-- Delegations of digital identity and legal representation (domain §1, §6).
CREATE TABLE delegations (
    id                TEXT PRIMARY KEY NOT NULL,
    delegator_cf      TEXT NOT NULL,
    delegate_cf       TEXT NOT NULL,
    -- fiducia | tutore | curatore | amministratore_di_sostegno | genitore
    kind              TEXT NOT NULL,
    -- online | online_genitore | sportello_aa08 | sportello_aa09 | sportello_aa10 | pec | web_meeting
    channel           TEXT NOT NULL,
    -- pending_verification | active | revoked | renounced | expired
    status            TEXT NOT NULL,
    starts_at         TIMESTAMP NOT NULL,
    -- the end date chosen at registration (NULL: until revoked)
    ends_at           TIMESTAMP,
    -- online registrations: before this only an operator may revoke (start + 30 days)
    min_end_at        TIMESTAMP,
    -- guardians: the court decree (or self-declaration) reference
    decree_reference  TEXT,
    -- the operator who registered it (desk, PEC, web meeting)
    operator_id       TEXT,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    ended_at          TIMESTAMP,
    -- why it ended: revoked by whom, renounced, end date, eighteenth birthday
    end_reason        TEXT,
    -- the reminder before the end was sent
    end_notice_sent   BOOLEAN NOT NULL
);
CREATE INDEX delegations_delegator ON delegations (delegator_cf, status);
CREATE INDEX delegations_delegate ON delegations (delegate_cf, status);
-- The access check and token exchange look up one (delegate, delegator) pair: one seek even for
-- a representative acting for many people, whatever statistics the planner has.
CREATE INDEX delegations_pair ON delegations (delegate_cf, delegator_cf, status);
CREATE INDEX delegations_status_ends ON delegations (status, ends_at);
-- One fiduciary delegate per delegator (domain §1.3): the database refuses a second.
CREATE UNIQUE INDEX delegations_one_fiducia ON delegations (delegator_cf)
    WHERE kind = 'fiducia' AND status IN ('active', 'pending_verification');

-- Fiduciary delegations a delegate holds, kept beside the rows so the limit (3) is taken with
-- one conditional UPDATE that parallel registrations cannot overtake.
CREATE TABLE delegate_counters (
    delegate_cf       TEXT PRIMARY KEY NOT NULL,
    active_fiducia    BIGINT NOT NULL
);

-- Evidence: PDF forms (AA08, AA09, AA10), certificates, decrees, self-declarations.
CREATE TABLE delegation_documents (
    id               TEXT PRIMARY KEY NOT NULL,
    delegation_id    TEXT NOT NULL REFERENCES delegations (id),
    -- aa08 | aa09 | aa10 | aa11 | id_document | medical_certificate | decree | self_declaration
    kind             TEXT NOT NULL,
    media_type       TEXT NOT NULL,
    sha256           TEXT NOT NULL,
    size_bytes       BIGINT NOT NULL,
    content          BYTEA NOT NULL,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX delegation_documents_delegation_id ON delegation_documents (delegation_id);
