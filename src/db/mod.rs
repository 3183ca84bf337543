//! The only place SeaORM queries are written. Functions take a connection and return `DbErr`;
//! callers decide what a failure means for the user.

pub mod audit_events;
pub mod email_confirmation_tokens;
mod handle;
pub mod link_tokens;
pub mod passkeys;
pub mod password_reset_tokens;
pub mod sessions;
pub mod throttle;
pub mod two_factor;
pub mod users;

use std::time::Duration;

use sea_orm::{
    ConnectOptions, Database, DatabaseTransaction, DbErr, RuntimeErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait as _,
};

pub use handle::Db;

/// Opens the pool with the default size. SQL is logged at DEBUG, never at INFO (it would drown the
/// access log). `statement_cache: false` is for a transaction-pooling proxy in front of Postgres
/// (see `Db`).
pub async fn connect(database_url: &str, statement_cache: bool) -> Result<Db, DbErr> {
    connect_sized(database_url, statement_cache, None).await
}

/// `connect` with at most `pool_size` connections (`DATABASE_POOL_SIZE`); `None`: 20 on Postgres,
/// 4 on SQLite (one writer: a small pool avoids "database is locked" under write bursts), 1 for an
/// in-memory SQLite database (each connection would be a database of its own).
pub async fn connect_sized(
    database_url: &str,
    statement_cache: bool,
    pool_size: Option<u32>,
) -> Result<Db, DbErr> {
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
        options.max_connections(if database_url.contains(":memory:") { 1 } else { pool_size.unwrap_or(4) });
    } else {
        // Twenty: on the benchmark's two cores ten served 9% fewer page views (interleaved runs),
        // for 0.5 MB less memory in the app.
        options.max_connections(pool_size.unwrap_or(20)).min_connections(1);
        if !statement_cache {
            options.map_sqlx_postgres_opts(|options| options.statement_cache_capacity(0));
        }
    }
    Ok(Db::new(Database::connect(options).await?, statement_cache))
}

/// Begins a transaction that reads, then writes. SQLite starts it with the write lock (`BEGIN
/// IMMEDIATE`), so two of them wait for each other (sqlx's busy timeout) instead of the second failing
/// at once with "database is locked" when its read turns into a write; Postgres ignores the mode.
pub async fn begin_write(db: &Db) -> Result<DatabaseTransaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    db.begin_with_options(options).await
}

/// True when the error means "the database cannot be reached", as opposed to a bad query:
/// the first is a 503 page, the second a 500.
pub fn is_unavailable(error: &DbErr) -> bool {
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_is_unavailable(e)
        }
        _ => false,
    }
}

fn sqlx_is_unavailable(error: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match error {
        Error::PoolClosed | Error::PoolTimedOut | Error::Io(_) | Error::Tls(_) | Error::WorkerCrashed => true,
        // A connection cut in the middle of a message.
        Error::Protocol(_) => true,
        Error::Database(db) => db.code().is_some_and(|code| is_unavailable_code(&code)),
        _ => false,
    }
}

/// SQLSTATEs (Postgres) and result codes (SQLite) that say "not now", never "bad query".
fn is_unavailable_code(code: &str) -> bool {
    // Postgres: 08 connection exceptions; 57P01..57P05 admin/crash shutdown, cannot connect now,
    // idle session timeout; 53 insufficient resources (too many connections, out of memory, disk full).
    if code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") {
        return true;
    }
    // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6), in their primary or extended form. Postgres
    // codes always have five characters, SQLite's at most four digits.
    code.len() < 5 && code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
}

/// True when an insert or update hit a unique index.
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

#[cfg(test)]
mod tests {
    use super::is_unavailable_code;

    #[test]
    fn outage_codes_are_unavailable_and_query_errors_are_not() {
        for code in ["08006", "08001", "57P01", "57P03", "53300", "5", "517", "6"] {
            assert!(is_unavailable_code(code), "{code}");
        }
        for code in ["23505", "42P01", "22001", "40001", "19", "2067", "1"] {
            assert!(!is_unavailable_code(code), "{code}");
        }
    }
}
