DROP INDEX audit_log_occurred_at_idx;
DROP INDEX audit_log_action_idx;
