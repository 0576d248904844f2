-- CNS login state shared by every instance (design §5).

-- A card validated on the CNS host (own TLS listener or proxy), waiting to be completed on
-- procura's own host by the browser that owns the login flow; used once, within seconds.
CREATE TABLE cns_tickets (
    -- SHA-256 of the ticket the browser carries from the CNS host to procura's host
    ticket_hash         TEXT PRIMARY KEY,
    flow_id             TEXT NOT NULL,
    codice_fiscale      TEXT NOT NULL,
    given_name          TEXT,
    family_name         TEXT,
    level               TEXT NOT NULL,
    -- SHA-256 of the card's certificate (DER), for the audit trail
    certificate_sha256  TEXT NOT NULL,
    created_at          TIMESTAMP NOT NULL,
    expires_at          TIMESTAMP NOT NULL,
    consumed_at         TIMESTAMP
);
CREATE INDEX cns_tickets_expires ON cns_tickets (expires_at);

-- OCSP answers about card certificates, re-verified on every use and kept until the
-- responder's nextUpdate (or cns.ocsp_cache_max_secs): every instance shares them.
CREATE TABLE cns_ocsp_responses (
    -- hex SHA-256 of the issuer certificate, ':', hex serial number of the card certificate
    cert_id     TEXT PRIMARY KEY,
    response    BLOB NOT NULL,
    fetched_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX cns_ocsp_responses_expires ON cns_ocsp_responses (expires_at);
