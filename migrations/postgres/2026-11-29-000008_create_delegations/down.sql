DROP TABLE delegation_documents;
DROP TABLE delegate_counters;
DROP TABLE delegations;
