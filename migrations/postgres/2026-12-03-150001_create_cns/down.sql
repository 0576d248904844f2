DROP TABLE cns_ocsp_responses;
DROP TABLE cns_tickets;
