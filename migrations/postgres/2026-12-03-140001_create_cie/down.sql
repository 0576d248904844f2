DROP TABLE cie_sessions;
DROP TABLE cie_requests;
DROP TABLE cie_trust_chains;
