//! Throttling of guesses: failures are counted per key (a login name, a device, a client IP, a reset
//! address) in the database, so every instance counts together, and too many lock the key for a
//! while. Keys are built here, from normalised values, so an unknown name is counted exactly like a
//! real one and a lockout never tells whether an account exists.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

pub use crate::config::{Limit, Limits};
use crate::db;

/// What one key is throttled as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    /// A login name as typed: trimmed and case-folded, the way it is looked up.
    pub fn login_name(login: &str) -> Self {
        Self(format!("login-name:{}", login.trim().to_lowercase()))
    }

    /// A browser that holds a device cookie (its random id) for the account it names.
    pub fn login_device(device_id: &str) -> Self {
        Self(format!("login-device:{device_id}"))
    }

    pub fn login_ip(ip: &str) -> Self {
        Self(format!("login-ip:{ip}"))
    }

    pub fn reset_email(email: &str) -> Self {
        Self(format!("reset-mail:{}", email.trim().to_lowercase()))
    }

    pub fn reset_ip(ip: &str) -> Self {
        Self(format!("reset-ip:{ip}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key's state at the start of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Open {
        /// A lock had run out and this check cleared it: the end of a lockout, to record once.
        lock_ended: bool,
    },
    Locked {
        until: DateTime<Utc>,
    },
}

/// Whether `key` may try now. Read-only unless a lock has just run out.
pub async fn status(
    db: &DatabaseConnection,
    key: &Key,
    limit: &Limit,
    now: DateTime<Utc>,
) -> Result<Status, DbErr> {
    if limit.is_off() {
        return Ok(Status::Open { lock_ended: false });
    }
    let Some(counter) = db::throttle::find(db, key.as_str()).await? else {
        return Ok(Status::Open { lock_ended: false });
    };
    match counter.locked_until {
        Some(until) if until > now => Ok(Status::Locked { until }),
        Some(_) => {
            Ok(Status::Open { lock_ended: db::throttle::clear_expired_lock(db, key.as_str(), now).await? })
        }
        None => Ok(Status::Open { lock_ended: false }),
    }
}

/// Counts a failure; `Some(until)` when it started a lock (for this caller to record).
pub async fn record_failure(
    db: &DatabaseConnection,
    key: &Key,
    limit: &Limit,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    if limit.is_off() {
        return Ok(None);
    }
    let counter = db::throttle::count_failure(db, key.as_str(), now - to_chrono(limit.window), now).await?;
    if u32::try_from(counter.failures).unwrap_or(0) < limit.max_failures {
        return Ok(None);
    }
    let until = now + to_chrono(limit.lock_for(u32::try_from(counter.locks).unwrap_or(0)));
    Ok(db::throttle::start_lock(db, key.as_str(), until, now).await?.then_some(until))
}

/// Takes one use of a budget of `max_failures` per window (e.g. reset emails per hour). `Err(until)`
/// when the budget is spent, with when it renews.
pub async fn take(
    db: &DatabaseConnection,
    key: &Key,
    limit: &Limit,
    now: DateTime<Utc>,
) -> Result<Result<(), DateTime<Utc>>, DbErr> {
    if limit.is_off() {
        return Ok(Ok(()));
    }
    let counter = db::throttle::count_failure(db, key.as_str(), now - to_chrono(limit.window), now).await?;
    if u32::try_from(counter.failures).unwrap_or(u32::MAX) <= limit.max_failures {
        Ok(Ok(()))
    } else {
        Ok(Err(counter.window_started_at + to_chrono(limit.window)))
    }
}

/// Forgets `key`: a successful login resets its count and lock history.
pub async fn reset(db: &DatabaseConnection, key: &Key) -> Result<(), DbErr> {
    db::throttle::delete(db, key.as_str()).await
}

/// Deletes counters nobody has touched for longer than any window or lock lasts.
pub async fn purge(db: &DatabaseConnection, limits: &Limits, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let longest = [limits.login, limits.login_ip, limits.reset_emails, limits.reset_ip]
        .iter()
        .map(|l| l.window.max(l.max_lock))
        .max()
        .unwrap_or_default();
    // Twice the longest span, so a lock history survives the quiet between two rounds of guessing.
    db::throttle::purge(db, now - to_chrono(longest * 2), now).await
}

/// Seconds until `until`, at least 1: a `Retry-After` value.
pub fn retry_after_seconds(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((until - now).num_seconds()).unwrap_or(0).max(1)
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn locks_double_up_to_the_maximum() {
        let limit = Limit { max_failures: 10, window: 15 * MINUTE, lock: 15 * MINUTE, max_lock: 60 * MINUTE };
        assert_eq!(limit.lock_for(0), 15 * MINUTE);
        assert_eq!(limit.lock_for(1), 30 * MINUTE);
        assert_eq!(limit.lock_for(2), 60 * MINUTE);
        assert_eq!(limit.lock_for(3), 60 * MINUTE);
        assert_eq!(limit.lock_for(u32::MAX), 60 * MINUTE);
    }

    #[test]
    fn names_are_keyed_as_they_are_looked_up() {
        assert_eq!(Key::login_name("  Alice "), Key::login_name("alice"));
        assert_eq!(Key::reset_email("A@Example.com"), Key::reset_email("a@example.com"));
        assert_ne!(Key::login_name("alice"), Key::login_ip("alice"));
    }
}
