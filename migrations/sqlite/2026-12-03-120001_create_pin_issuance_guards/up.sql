-- One row per person who has ever had a PIN issued or recovered. Every issuance channel
-- (online, contact centre, call-back, desk, recovery) locks this row first in its
-- transaction, so at most one issuance per person is in flight: the next one waits, then
-- sees the PIN the first one stored and is refused.
CREATE TABLE pin_issuance_guards (
    codice_fiscale TEXT PRIMARY KEY NOT NULL,
    taken_at       TIMESTAMP NOT NULL
);
