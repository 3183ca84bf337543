//! Logging in with a password, throttled (shared ROUTES.md, "Throttling"): failures are counted per
//! login name, known or unknown alike, and per client IP; too many lock the name (or the IP) for a
//! while, and a locked name answers "locked" whatever the password, without checking it. A browser
//! holding a valid device cookie for the account counts on a budget of its own, so somebody guessing
//! a user's name elsewhere cannot lock that user out of their usual browser.

use crate::db::Db;
use chrono::{DateTime, Utc};

use super::{
    accounts::{self, AuthError},
    confirmation,
    password::{Password, PasswordError, PasswordHasher},
    throttle::{self, Key, Limits, Reservation, Settlement},
};
use crate::{clock::Clock, db};

/// A verified device cookie: the account it was issued to at a successful login, that account's
/// session epoch then (a password change or reset voids every device cookie before it), and its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub user_id: i64,
    pub epoch: i64,
    pub id: String,
}

/// One try at logging in.
pub struct Attempt<'a> {
    pub login: &'a str,
    pub password: Password,
    pub client_ip: Option<&'a str>,
    pub device: Option<Device>,
}

/// How a try ended. `user_id` (when the name is a real account) is for the security log only. In
/// the three outcomes of a right password, `lock_ended` says a lock on this budget had run out (and
/// is now recorded as over); the user row is boxed, being most of the outcome's size.
#[derive(Debug)]
pub enum Outcome {
    /// The password proves who the user is: the caller completes the login, and settles what the
    /// success owes the counters in the statement that records it (`audit::record_login`).
    LoggedIn { user: Box<db::users::User>, lock_ended: bool, settlement: Settlement },
    /// TOTP is on: the password was only the first step. Nobody is logged in yet; settled.
    SecondFactorNeeded { user: Box<db::users::User>, lock_ended: bool },
    /// `REQUIRE_CONFIRMED_EMAIL` and the address is not confirmed yet: nobody is logged in; settled.
    ConfirmationNeeded { user: Box<db::users::User>, lock_ended: bool },
    /// Unknown name, wrong password or deactivated account: one answer for all three.
    Refused {
        user_id: Option<i64>,
        /// This failure locked the name (or device): until when.
        lock_started: Option<DateTime<Utc>>,
        lock_ended: bool,
    },
    /// Locked: nothing was checked. The same for a real and an unknown name. `lock_ended`: the
    /// client IP was refused, but the name's (or device's) own lock had run out.
    Throttled { user_id: Option<i64>, until: DateTime<Utc>, lock_ended: bool },
    /// The password could not be checked (the hashing queue was full, or its pool gone): no attempt
    /// was made and none is counted. A lock this attempt found run out is over all the same.
    Busy { user_id: Option<i64>, lock_ended: bool, error: PasswordError },
}

impl Outcome {
    /// The user whose lock on this budget had run out and was cleared by this attempt, whatever the
    /// attempt's own outcome: no later attempt will see that lock end, so it is recorded now.
    pub fn ended_lock_of(&self) -> Option<i64> {
        match self {
            Self::LoggedIn { user, lock_ended: true, .. }
            | Self::SecondFactorNeeded { user, lock_ended: true }
            | Self::ConfirmationNeeded { user, lock_ended: true } => Some(user.id),
            Self::Refused { user_id, lock_ended: true, .. }
            | Self::Throttled { user_id, lock_ended: true, .. }
            | Self::Busy { user_id, lock_ended: true, .. } => *user_id,
            _ => None,
        }
    }
}

pub async fn log_in(
    db: &Db,
    hasher: &PasswordHasher,
    clock: &Clock,
    limits: &Limits,
    require_confirmed_email: bool,
    attempt: Attempt<'_>,
) -> Result<Outcome, AuthError> {
    let now = clock.now();
    let login_key = attempt.login.trim().to_lowercase();
    // The user and their TOTP row in one statement.
    let found =
        if login_key.is_empty() { None } else { db::two_factor::find_user_by_login(db, &login_key).await? };
    let second_factor =
        found.as_ref().is_some_and(|(_, totp)| totp.as_ref().is_some_and(|t| t.enabled_at.is_some()));
    let user = found.map(|(user, _)| user);
    let user_id = user.as_ref().map(|u| u.id);

    // Every attempt is counted before the password is checked (the name or device and the IP in one
    // statement), so a burst of parallel guesses gets at most the budget's worth of checks, never
    // one per request.
    let device = attempt.device.filter(|device| {
        user.as_ref().is_some_and(|u| u.id == device.user_id && u.session_epoch == device.epoch)
    });
    let budget = match device {
        Some(device) => Key::login_device(&device.id),
        None => Key::login_name(&login_key),
    };
    let ip_key = attempt.client_ip.map(Key::login_ip);
    let mut budgets = vec![(&budget, &limits.login)];
    if let Some(ip_key) = &ip_key {
        budgets.push((ip_key, &limits.login_ip));
    }
    let reservations = throttle::reserve_all(db, &budgets, now).await?;
    let reservation = reservations[0];
    let ip_reservation = reservations.get(1).copied();
    if let Some(Reservation::Refused { until }) = ip_reservation {
        // Refused for the IP: the name's budget does not pay for an attempt that was never made.
        throttle::give_back(db, &budget, &reservation).await?;
        let lock_ended = matches!(reservation, Reservation::Allowed { lock_ended: true, .. });
        return Ok(Outcome::Throttled { user_id, until, lock_ended });
    }
    let lock_ended = match reservation {
        Reservation::Refused { until } => {
            // Refused for the name (or device): no password was checked, so the IP's budget, which
            // counts failed logins, does not pay either. Otherwise one client retrying a locked
            // account would lock out everybody behind the same address.
            // A database error here leaves one count too many (bounded by the budget), and must not
            // turn the 429 into an error page.
            if let (Some(key), Some(ip_reservation)) = (&ip_key, &ip_reservation)
                && let Err(error) = throttle::give_back(db, key, ip_reservation).await
            {
                log::error!("could not give back a locked name's IP reservation: {error:?}");
            }
            return Ok(Outcome::Throttled { user_id, until, lock_ended: false });
        }
        Reservation::Allowed { lock_ended, .. } => lock_ended,
    };

    match accounts::verify_login(db, hasher, clock, user, attempt.password).await {
        Ok(user) => {
            // Successes never count: the budget is whole again, and the IP gets its attempt back.
            let ip_budget = ip_key.as_ref().zip(ip_reservation.as_ref());
            let settlement = Settlement::new(&budget, ip_budget);
            let user = Box::new(user);
            if !confirmation::may_log_in(&user, require_confirmed_email) {
                throttle::settle(db, settlement, now).await?;
                return Ok(Outcome::ConfirmationNeeded { user, lock_ended });
            }
            if second_factor {
                throttle::settle(db, settlement, now).await?;
                return Ok(Outcome::SecondFactorNeeded { user, lock_ended });
            }
            Ok(Outcome::LoggedIn { user, lock_ended, settlement })
        }
        Err(AuthError::InvalidCredentials { user_id }) => {
            let lock_started = throttle::failed(db, &budget, &limits.login, &reservation, now).await?;
            if let (Some(key), Some(ip_reservation)) = (&ip_key, &ip_reservation) {
                throttle::failed(db, key, &limits.login_ip, ip_reservation, now).await?;
            }
            Ok(Outcome::Refused { user_id, lock_started, lock_ended })
        }
        Err(AuthError::Hashing(error)) => {
            // The password was never checked (the hashing queue was full, or its pool gone): no
            // attempt was made, so neither budget pays for one. Under a login storm a busy answer
            // would otherwise use up a real user's budget without a guess being tried.
            // A database error here leaves one count too many (bounded by the budget), and must
            // not turn the busy answer, and the lock's end it carries, into an error.
            let mut given_back = vec![throttle::give_back(db, &budget, &reservation).await];
            if let (Some(key), Some(ip_reservation)) = (&ip_key, &ip_reservation) {
                given_back.push(throttle::give_back(db, key, ip_reservation).await);
            }
            for error in given_back.into_iter().filter_map(Result::err) {
                log::error!("could not give back a busy login's throttle reservation: {error:?}");
            }
            Ok(Outcome::Busy { user_id, lock_ended, error })
        }
        Err(error) => Err(error),
    }
}
