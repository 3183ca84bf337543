//! Database migrations, one file per migration, applied in the order listed here.
//!
//! `gatehouse migrate` (and `gatehouse serve`, before it listens) runs `Migrator::up`; so does every test
//! database. `cargo run -p migration -- <command>` exposes the full SeaORM migration CLI.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_users;
mod m20261127_000002_create_sessions;
mod m20261127_000003_create_password_reset_tokens;
mod m20261127_000004_create_audit_events;
mod m20261130_000005_create_throttle_counters;
mod m20261130_000006_add_session_epoch_to_users;
mod m20261201_000007_add_email_confirmed_at_to_users;
mod m20261201_000008_create_email_confirmation_tokens;
mod m20261203_000009_create_two_factor;
mod m20261203_000010_create_passkeys;
mod m20261203_000011_drop_throttle_updated_at_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_users::Migration),
            Box::new(m20261127_000002_create_sessions::Migration),
            Box::new(m20261127_000003_create_password_reset_tokens::Migration),
            Box::new(m20261127_000004_create_audit_events::Migration),
            Box::new(m20261130_000005_create_throttle_counters::Migration),
            Box::new(m20261130_000006_add_session_epoch_to_users::Migration),
            Box::new(m20261201_000007_add_email_confirmed_at_to_users::Migration),
            Box::new(m20261201_000008_create_email_confirmation_tokens::Migration),
            Box::new(m20261203_000009_create_two_factor::Migration),
            Box::new(m20261203_000010_create_passkeys::Migration),
            Box::new(m20261203_000011_drop_throttle_updated_at_index::Migration),
        ]
    }
}
