//! Gatehouse: an actix-web application whose login system works and is secure by construction.
//!
//! Layers, each using only those below it (`.ci/check-layers` enforces it):
//! - bottom: [`config`], [`clock`], [`telemetry`], [`tokens`], [`templates`]
//! - [`db`]: every SeaORM query
//! - domain: [`auth`] (accounts, passwords, sessions, the loader), [`audit`], [`mail`]
//! - [`web`]: state, route names, middleware, extractors, error pages, views
//! - [`routes`]: thin handlers
//! - [`startup`]: the app factory; [`cli`]: the commands of the binary (`main.rs` on top)

pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod mail;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod templates;
pub mod tokens;
pub mod web;
