//! Integration tests: the service as a client meets it, through HTTP, each test on a
//! throwaway database (SQLite by default, PostgreSQL when TEST_DATABASE_URL is set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod audit;
mod cli;
mod codice_fiscale;
mod errors;
mod helpers;
mod migrations;
mod openapi;
mod ops;
mod persons_import;
