DROP TABLE pin_credentials;
