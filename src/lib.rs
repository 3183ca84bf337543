//! Gatehouse: an actix-web application whose login system works and is secure by construction.
//!
//! `main.rs` only reads settings and calls [`cli`]; everything a request touches is built by
//! [`startup::app`], which the tests use too.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod flash;
pub mod mail;
pub mod middleware;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod views;
