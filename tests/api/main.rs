//! Integration tests: the real app factory, a real database per test.
//! `cargo test` uses in-memory SQLite; `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
//! cargo test` runs the same tests each on a fresh Postgres database.

mod account;
mod account_sessions;
mod admin;
mod blocklist;
mod cli;
mod compose;
mod confirmation;
mod csrf;
mod errors;
mod helpers;
mod loader;
mod login;
mod logout;
mod mail;
mod outage;
mod pages;
mod passkeys;
mod password_reset;
mod pgbouncer;
mod races;
mod register;
mod remember;
mod routes;
mod secrets;
mod sessions;
mod throttle;
mod two_factor;
mod wire;
