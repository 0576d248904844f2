DROP TABLE spid_idp_metadata;
DROP TABLE spid_logout_requests;
DROP TABLE spid_sessions;
DROP TABLE spid_assertions;
DROP TABLE spid_requests;
