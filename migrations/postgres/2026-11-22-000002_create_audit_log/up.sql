-- Append-only security log. Each record's hash is HMAC(key, previous hash || record), so
-- editing, deleting or reordering records breaks the chain. audit_head holds the tip; its
-- single row is locked by every append, which keeps the chain linear under concurrency.
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY NOT NULL,
    occurred_at  TIMESTAMP NOT NULL,
    actor        TEXT NOT NULL,
    subject      TEXT,
    action       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    request_id   TEXT,
    detail       TEXT,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor);
CREATE INDEX audit_log_subject_idx ON audit_log (subject);

CREATE TABLE audit_head (
    id         BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    last_seq   BIGINT NOT NULL,
    last_hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only, enforced by the database too: the application never updates or deletes.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
