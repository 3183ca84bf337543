//! The only place SeaORM queries are written. Functions take a connection and return `DbErr`;
//! callers decide what a failure means for the user.

pub mod audit_events;
pub mod password_reset_tokens;
pub mod sessions;
pub mod users;

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr};

/// Opens the pool. SQL is logged at DEBUG, never at INFO (it would drown the access log).
pub async fn connect(database_url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(database_url.to_owned());
    options
        .sqlx_logging(true)
        .sqlx_logging_level(log::LevelFilter::Debug)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection it hands out by default: a round trip per query. Only a
        // connection idle long enough to have been dropped (a database restart) is checked first;
        // a broken busy one fails its query, which is answered 503 and retried on the next request.
        .test_before_acquire_if_idle_for(Duration::from_secs(30));
    if database_url.starts_with("sqlite:") {
        // SQLite has one writer; a small pool avoids "database is locked" under write bursts.
        options.max_connections(if database_url.contains(":memory:") { 1 } else { 4 });
    } else {
        options.max_connections(20).min_connections(1);
    }
    Database::connect(options).await
}

/// True when the error means "the database cannot be reached", as opposed to a bad query:
/// the first is a 503 page, the second a 500.
pub fn is_unavailable(error: &DbErr) -> bool {
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => matches!(
            e.as_ref(),
            sea_orm::sqlx::Error::PoolClosed
                | sea_orm::sqlx::Error::PoolTimedOut
                | sea_orm::sqlx::Error::Io(_)
                | sea_orm::sqlx::Error::Tls(_)
        ),
        _ => false,
    }
}

/// True when an insert or update hit a unique index.
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}
