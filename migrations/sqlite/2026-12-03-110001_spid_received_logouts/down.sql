DROP TABLE spid_received_logouts;
