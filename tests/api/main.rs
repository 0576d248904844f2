//! Integration tests: the service as a client meets it, through HTTP, each test on a
//! throwaway database (SQLite by default, PostgreSQL when TEST_DATABASE_URL is set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod acting;
mod acting_support;
mod audit;
mod auth_support;
mod booking;
mod booking_support;
mod browser;
mod browser_support;
mod cie_interop;
mod cie_login;
mod cie_support;
mod cli;
mod clients;
mod cns_login;
mod cns_support;
mod cns_tsl;
mod codice_fiscale;
mod console;
mod console_browser;
mod console_support;
mod delegation;
mod errors;
mod helpers;
mod keys;
mod migrations;
mod notify;
mod oauth_cleanup;
mod oidc_flow;
mod oidc_refusals;
mod oidc_support;
mod openapi;
mod operators;
mod ops;
mod persons_import;
mod pin_credential;
mod pin_http;
mod pin_issuance;
mod pin_login;
mod spid_login;
mod spid_logout;
mod spid_registry;
mod spid_support;
mod web_pages;
mod webmeeting;
