DROP TABLE pin_issuance_guards;
