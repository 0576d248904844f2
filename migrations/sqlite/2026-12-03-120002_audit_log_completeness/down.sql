DROP TRIGGER audit_log_seq_positive;
