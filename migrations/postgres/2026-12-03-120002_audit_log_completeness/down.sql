DROP TRIGGER audit_head_no_truncate ON audit_head;
DROP TRIGGER audit_log_no_truncate ON audit_log;
DROP FUNCTION audit_log_no_truncate();
ALTER TABLE audit_log DROP CONSTRAINT audit_log_seq_positive;
