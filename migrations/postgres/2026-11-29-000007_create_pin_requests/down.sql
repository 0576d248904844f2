DROP TABLE phone_pins;
DROP TABLE pin_request_documents;
DROP TABLE pin_requests;
