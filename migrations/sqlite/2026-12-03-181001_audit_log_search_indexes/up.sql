-- The console's audit search: by action (a name or a prefix range) and by time.
CREATE INDEX audit_log_action_idx ON audit_log (action);
CREATE INDEX audit_log_occurred_at_idx ON audit_log (occurred_at);
