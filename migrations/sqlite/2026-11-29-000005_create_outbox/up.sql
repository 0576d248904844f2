-- Transactional outbox (design §3): messages are written in the transaction of the state
-- change that causes them and sent afterwards by the dispatcher, which claims due rows with a
-- lease. The idempotency key goes to the provider (gateway header, Message-ID, spool file
-- name), so a resend after a crash between hand-over and bookkeeping is recognised there.
CREATE TABLE outbox_messages (
    id                TEXT PRIMARY KEY NOT NULL,
    idempotency_key   TEXT NOT NULL UNIQUE,
    -- sms | email | pec | post
    channel           TEXT NOT NULL,
    -- phone number, e-mail address, or the addressee's name for post
    recipient         TEXT NOT NULL,
    -- the Italian template to render (notify::Template)
    template          TEXT NOT NULL,
    -- JSON of the template's non-secret parameters (reference, names, postal address)
    params            TEXT NOT NULL,
    -- a PIN half, AES-256-GCM sealed with the outbox key; erased once handed over
    sealed_secret     BLOB,
    -- pending | sent | failed
    status            TEXT NOT NULL,
    attempts          BIGINT NOT NULL,
    next_attempt_at   TIMESTAMP NOT NULL,
    -- the dispatcher's lease: another dispatcher leaves the row alone until then
    claimed_until     TIMESTAMP,
    last_error        TEXT,
    -- the record this message belongs to (a PIN request), for the operator's view
    source_ref        TEXT,
    created_at        TIMESTAMP NOT NULL,
    sent_at           TIMESTAMP
);
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_source_ref ON outbox_messages (source_ref);
