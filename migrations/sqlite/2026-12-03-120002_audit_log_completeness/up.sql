-- Record numbers start at 1: a row numbered 0 or below could only be forged. (SQLite cannot
-- add a CHECK to an existing table; this trigger is the same rule. SQLite has no TRUNCATE,
-- and DELETE is already refused.)
CREATE TRIGGER audit_log_seq_positive BEFORE INSERT ON audit_log
WHEN NEW.seq <= 0
BEGIN SELECT RAISE(ABORT, 'audit_log.seq must be positive'); END;
