DROP TABLE webmeeting_documents;
DROP TABLE webmeeting_sessions;
