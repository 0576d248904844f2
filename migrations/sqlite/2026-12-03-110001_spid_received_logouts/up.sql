-- LogoutRequests received from IdPs, by ID, kept while their IssueInstant is still within the
-- clock skew: each is accepted once, by whichever instance gets it first (issue 11 §4).
CREATE TABLE spid_received_logouts (
    idp_entity_id  TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    received_at    TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (idp_entity_id, request_id)
);
CREATE INDEX spid_received_logouts_expires ON spid_received_logouts (expires_at);
