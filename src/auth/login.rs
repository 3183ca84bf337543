//! Logging in with a password, throttled (shared ROUTES.md, "Throttling"): failures are counted per
//! login name, known or unknown alike, and per client IP; too many lock the name (or the IP) for a
//! while, and a locked name answers "locked" whatever the password, without checking it. A browser
//! holding a valid device cookie for the account counts on a budget of its own, so somebody guessing
//! a user's name elsewhere cannot lock that user out of their usual browser.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use super::{
    accounts::{self, AuthError},
    password::{Password, PasswordHasher},
    throttle::{self, Key, Limits, Status},
};
use crate::{clock::Clock, db};

/// A verified device cookie: the account it was issued to at a successful login, and its own id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub user_id: i64,
    pub id: String,
}

/// One try at logging in.
pub struct Attempt<'a> {
    pub login: &'a str,
    pub password: Password,
    pub client_ip: Option<&'a str>,
    pub device: Option<Device>,
}

/// How a try ended. `user_id` (when the name is a real account) is for the security log only.
#[derive(Debug)]
pub enum Outcome {
    LoggedIn {
        user: db::users::User,
        /// A lock on this budget had run out (and is now recorded as over).
        lock_ended: bool,
    },
    /// Unknown name, wrong password or deactivated account: one answer for all three.
    Refused {
        user_id: Option<i64>,
        /// This failure locked the name (or device): until when.
        lock_started: Option<DateTime<Utc>>,
        lock_ended: bool,
    },
    /// Locked: nothing was checked. The same for a real and an unknown name.
    Throttled { user_id: Option<i64>, until: DateTime<Utc> },
}

pub async fn log_in(
    db: &DatabaseConnection,
    hasher: &PasswordHasher,
    clock: &Clock,
    limits: &Limits,
    attempt: Attempt<'_>,
) -> Result<Outcome, AuthError> {
    let now = clock.now();
    let login_key = attempt.login.trim().to_lowercase();
    let user = if login_key.is_empty() { None } else { db::users::find_by_login(db, &login_key).await? };
    let user_id = user.as_ref().map(|u| u.id);

    let ip_key = attempt.client_ip.map(Key::login_ip);
    if let Some(ip_key) = &ip_key
        && let Status::Locked { until } = throttle::status(db, ip_key, &limits.login_ip, now).await?
    {
        return Ok(Outcome::Throttled { user_id, until });
    }
    let budget = match attempt.device.filter(|device| Some(device.user_id) == user_id) {
        Some(device) => Key::login_device(&device.id),
        None => Key::login_name(&login_key),
    };
    let lock_ended = match throttle::status(db, &budget, &limits.login, now).await? {
        Status::Locked { until } => return Ok(Outcome::Throttled { user_id, until }),
        Status::Open { lock_ended } => lock_ended,
    };

    match accounts::verify_login(db, hasher, clock, user, attempt.password).await {
        Ok(user) => {
            // Successes never count; this one forgets the failures before it.
            throttle::reset(db, &budget).await?;
            Ok(Outcome::LoggedIn { user, lock_ended })
        }
        Err(AuthError::InvalidCredentials { user_id }) => {
            let lock_started = throttle::record_failure(db, &budget, &limits.login, now).await?;
            if let Some(ip_key) = &ip_key {
                throttle::record_failure(db, ip_key, &limits.login_ip, now).await?;
            }
            Ok(Outcome::Refused { user_id, lock_started, lock_ended })
        }
        Err(error) => Err(error),
    }
}
