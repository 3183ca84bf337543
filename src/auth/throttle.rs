//! Throttling of guesses: failures are counted per key (a login name, a device, a client IP, a reset
//! address) in the database, so every instance counts together, and too many lock the key for a
//! while. Keys are built here, from normalised values, so an unknown name is counted exactly like a
//! real one and a lockout never tells whether an account exists.

use std::time::Duration;

use crate::db::Db;
use chrono::{DateTime, Utc};
use sea_orm::DbErr;

pub use crate::config::{Limit, Limits};
use crate::{db, tokens};

/// The part of a client's address that one budget covers: an IPv4 address, or an IPv6 address's
/// /64 network, which one subscriber or host usually holds whole: keyed by the full address, a
/// single IPv6 client would have 2^64 budgets. An IPv4 client that a translator brings to an
/// IPv6-only site under NAT64's well-known prefix counts as its IPv4 address: otherwise all of them
/// would share one /64, and so one budget.
fn network_of(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(std::net::IpAddr::V6(v6)) => match translated_ipv4(v6) {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
        Ok(v4) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// The IPv4 client inside an address from a stateless translator (SIIT, RFC 7915): NAT64's
/// well-known prefix `64:ff9b::/96` (RFC 6052) or the IPv4-translated form `::ffff:0:a.b.c.d`.
/// Only for an IPv4 address that could be a client on the internet: RFC 6052 §3.1 rules out the
/// others under that prefix, and keyed as themselves they would share a budget with the site's own
/// network (a proxy's `10.0.0.2`). Forms whose route a third party can announce (6to4, Teredo) are
/// left as /64s for the same reason. (IPv4-mapped `::ffff:a.b.c.d` is IPv4 through `to_canonical`.)
fn translated_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let v4 = match v6.segments() {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0, 0, 0, 0, 0xffff, 0, hi, lo] => {
            std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
        }
        _ => return None,
    };
    let [a, b, ..] = v4.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier-grade NAT (RFC 6598)
    let local = v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified();
    (!local && !shared && !v4.is_broadcast() && !v4.is_multicast() && a != 0).then_some(v4)
}

/// What one key is throttled as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    /// A login name as typed: trimmed and case-folded, the way it is looked up.
    /// Hashed, so the key has a fixed length and a password typed into the name field is not kept
    /// in the clear.
    pub fn login_name(login: &str) -> Self {
        Self(format!("login-name:{}", tokens::sha256_hex(&login.trim().to_lowercase())))
    }

    /// A browser that holds a device cookie (its random id) for the account it names.
    pub fn login_device(device_id: &str) -> Self {
        Self(format!("login-device:{device_id}"))
    }

    /// Second-factor codes typed for one account (after its password was right).
    pub fn two_factor_user(user_id: i64) -> Self {
        Self(format!("two-factor:{user_id}"))
    }

    /// Current passwords typed for one account into the forms that ask for it again (a change of
    /// password, email, second factor or passkeys, or deleting the account).
    pub fn reauth_user(user_id: i64) -> Self {
        Self(format!("reauth:{user_id}"))
    }

    pub fn login_ip(ip: &str) -> Self {
        Self(format!("login-ip:{}", network_of(ip)))
    }

    pub fn reset_email(email: &str) -> Self {
        Self(format!("reset-mail:{}", tokens::sha256_hex(&email.trim().to_lowercase())))
    }

    pub fn reset_ip(ip: &str) -> Self {
        Self(format!("reset-ip:{}", network_of(ip)))
    }

    /// Confirmation emails to one address (the account's own, or a new one it is changing to).
    pub fn confirm_email(email: &str) -> Self {
        Self(format!("confirm-mail:{}", tokens::sha256_hex(&email.trim().to_lowercase())))
    }

    /// Changes of address asked for by one account: counted per account, not per new address, so
    /// somebody else's requests cannot use up the confirmation emails of an address they do not own.
    pub fn confirm_change_by(user_id: i64) -> Self {
        Self(format!("confirm-change:{user_id}"))
    }

    /// Registration attempts from one client IP.
    pub fn register_ip(ip: &str) -> Self {
        Self(format!("register-ip:{}", network_of(ip)))
    }

    /// Anonymous requests for a confirmation link from one client IP.
    pub fn confirm_ip(ip: &str) -> Self {
        Self(format!("confirm-ip:{}", network_of(ip)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a key's budget says about one more attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// Go ahead: this is attempt `count` in the window. Report a failure with `failed`, or settle a
    /// success (`Settlement`, `settle`).
    Allowed {
        count: u32,
        /// A lock had run out and this attempt cleared it: the end of a lockout, to record once.
        lock_ended: bool,
        /// When the window this attempt was counted in started (`None`: nothing was counted, the
        /// limit is off). Giving the attempt back touches that window only.
        window: Option<DateTime<Utc>>,
    },
    /// Locked, or the budget is spent: do not even try.
    Refused { until: DateTime<Utc> },
}

/// Counts one attempt against `key` *before* the work it guards, in one statement, so parallel
/// attempts cannot all pass a check made before any of them is counted: at most `max_failures`
/// attempts per window are ever allowed.
pub async fn reserve(db: &Db, key: &Key, limit: &Limit, now: DateTime<Utc>) -> Result<Reservation, DbErr> {
    let mut reservations = reserve_all(db, &[(key, limit)], now).await?;
    Ok(reservations.pop().unwrap_or(Reservation::Allowed { count: 0, lock_ended: false, window: None }))
}

/// `reserve` on several budgets at once (a login's name and client IP), counted in one statement.
/// The reservations come back in the order of `budgets`.
pub async fn reserve_all(
    db: &Db,
    budgets: &[(&Key, &Limit)],
    now: DateTime<Utc>,
) -> Result<Vec<Reservation>, DbErr> {
    let counted: Vec<(&str, DateTime<Utc>)> = budgets
        .iter()
        .filter(|(_, limit)| !limit.is_off())
        .map(|(key, limit)| (key.as_str(), now - to_chrono(limit.window)))
        .collect();
    let counters = db::throttle::count_failures(db, &counted, now).await?;
    let mut reservations = Vec::with_capacity(budgets.len());
    for (key, limit) in budgets {
        let counter = counters.iter().find(|counter| counter.key == key.as_str());
        let reservation = match counter {
            Some(counter) if !limit.is_off() => judge(db, key, limit, counter, now).await?,
            _ => Reservation::Allowed { count: 0, lock_ended: false, window: None },
        };
        reservations.push(reservation);
    }
    Ok(reservations)
}

/// What a counter that has just counted this attempt allows.
async fn judge(
    db: &Db,
    key: &Key,
    limit: &Limit,
    counter: &db::throttle::Counter,
    now: DateTime<Utc>,
) -> Result<Reservation, DbErr> {
    if let Some(until) = counter.locked_until.filter(|until| *until > now) {
        return Ok(Reservation::Refused { until });
    }
    let count = u32::try_from(counter.failures).unwrap_or(u32::MAX);
    if count > limit.max_failures {
        // Over budget in a burst that outran the lock: lock now (if nobody has) and refuse.
        let until = now + to_chrono(limit.lock_for(u32::try_from(counter.locks).unwrap_or(0)));
        db::throttle::start_lock(db, key.as_str(), until, now).await?;
        let until = db::throttle::find(db, key.as_str()).await?.and_then(|c| c.locked_until).unwrap_or(until);
        return Ok(Reservation::Refused { until });
    }
    let lock_ended =
        counter.locked_until.is_some() && db::throttle::clear_expired_lock(db, key.as_str(), now).await?;
    Ok(Reservation::Allowed { count, lock_ended, window: Some(counter.window_started_at) })
}

/// The reserved attempt failed. At the limit it locks the key: `Some(until)` when this call
/// started the lock (for the caller to record).
pub async fn failed(
    db: &Db,
    key: &Key,
    limit: &Limit,
    reservation: &Reservation,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let Reservation::Allowed { count, .. } = reservation else {
        return Ok(None);
    };
    if limit.is_off() || *count < limit.max_failures {
        return Ok(None);
    }
    let locks =
        db::throttle::find(db, key.as_str()).await?.map_or(0, |c| u32::try_from(c.locks).unwrap_or(0));
    let until = now + to_chrono(limit.lock_for(locks));
    Ok(db::throttle::start_lock(db, key.as_str(), until, now).await?.then_some(until))
}

/// The reserved attempt was not an attempt after all (the password was never checked, or another
/// budget refused it). Only the window it was counted in gets it back: once that window has rolled
/// over (or a lock has started), the new window's count is not the caller's to lower.
pub async fn give_back(db: &Db, key: &Key, reservation: &Reservation) -> Result<(), DbErr> {
    match reservation {
        Reservation::Allowed { window: Some(window), .. } => {
            db::throttle::uncount(db, key.as_str(), *window).await
        }
        _ => Ok(()),
    }
}

/// Takes one use of a budget of `max_failures` per window (e.g. reset emails per hour). `Err(until)`
/// when the budget is spent, with when it renews.
pub async fn take(
    db: &Db,
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

/// What a success owes the counters: its own budget forgets its count and lock history, and the
/// attempt counted on the other one (the client IP) is given back, in one statement. A password
/// login that completes settles it with the login's record (`audit::record_login`); every other
/// success settles it on its own (`settle`). Unsettled, the success would count as a failure.
#[must_use = "a success that is never settled counts as a failure"]
#[derive(Debug)]
pub struct Settlement(db::throttle::SuccessSettlement);

impl Settlement {
    /// `give_back`: the other budget and its reservation; as with `give_back`, only the window the
    /// attempt was counted in gets it back.
    pub fn new(budget: &Key, give_back: Option<(&Key, &Reservation)>) -> Self {
        let give_back = give_back.and_then(|(key, reservation)| match reservation {
            Reservation::Allowed { window: Some(window), .. } => Some(db::throttle::CountedAttempt {
                key: key.as_str().to_owned(),
                window_started_at: *window,
            }),
            _ => None,
        });
        Self(db::throttle::SuccessSettlement { forget: budget.as_str().to_owned(), give_back })
    }

    /// For the statement that settles it together with more.
    pub fn into_success(self) -> db::throttle::SuccessSettlement {
        self.0
    }
}

/// Settles a success by itself (`Settlement`).
pub async fn settle(db: &Db, settlement: Settlement, now: DateTime<Utc>) -> Result<(), DbErr> {
    db::throttle::settle_success(db, &settlement.0, now).await
}

/// Deletes counters nobody has touched for longer than any window or lock lasts.
pub async fn purge(db: &Db, limits: &Limits, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let longest = [
        limits.login,
        limits.login_ip,
        limits.reset_emails,
        limits.reset_ip,
        limits.confirm_emails,
        limits.register_ip,
    ]
    .iter()
    .map(|l| l.window.max(l.max_lock))
    .max()
    .unwrap_or_default();
    // Twice the longest span, so a lock history survives the quiet between two rounds of guessing.
    db::throttle::purge(db, now - to_chrono(longest * 2), now).await
}

/// Whole seconds until `until`, rounded up and at least 1: a `Retry-After` that is never early.
pub fn retry_after_seconds(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = u64::try_from((until - now).num_milliseconds()).unwrap_or(0);
    millis.div_ceil(1000).max(1)
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_ipv6_client_is_counted_by_its_64_network_and_an_ipv4_one_by_its_address() {
        use super::Key;
        let key = |ip| Key::login_ip(ip).as_str().to_owned();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_eq!(key("2001:db8:1:2::9"), "login-ip:2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("198.51.100.7"), "login-ip:198.51.100.7");
        assert_ne!(key("198.51.100.7"), key("198.51.100.8"));
        assert_eq!(key("::ffff:198.51.100.7"), key("198.51.100.7"), "a mapped address is its IPv4");
        // An IPv4 client brought by a translator counts as that client, not as one shared /64.
        assert_eq!(key("64:ff9b::198.51.100.7"), key("198.51.100.7"), "NAT64's well-known prefix");
        assert_ne!(key("64:ff9b::198.51.100.7"), key("64:ff9b::198.51.100.8"));
        assert_eq!(key("::ffff:0:198.51.100.7"), key("198.51.100.7"), "IPv4-translated");
        // Not where the address is the site's own network's, or a route anybody may announce.
        assert_eq!(key("64:ff9b::10.0.0.2"), "login-ip:64:ff9b:0:0::/64", "not a proxy's address");
        assert_eq!(key("64:ff9b::100.64.0.1"), "login-ip:64:ff9b:0:0::/64");
        assert_eq!(key("64:ff9b::127.0.0.1"), "login-ip:64:ff9b:0:0::/64");
        assert_eq!(key("2002:c633:6407:1::1"), "login-ip:2002:c633:6407:1::/64", "6to4 stays a /64");
        assert_eq!(key("2001:0:4136:e378:8000:63bf:39cc:9bf8"), "login-ip:2001:0:4136:e378::/64", "Teredo");
        assert_eq!(key("::198.51.100.7"), "login-ip:0:0:0:0::/64", "IPv4-compatible is long deprecated");
        assert_eq!(key("64:ff9b:1::1"), "login-ip:64:ff9b:1:0::/64", "a local-use prefix stays a /64");
        for make in [Key::reset_ip, Key::confirm_ip, Key::register_ip] {
            assert_eq!(make("2001:db8:1:2::1"), make("2001:db8:1:2::2"));
        }
    }

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
    fn retry_after_rounds_up() {
        let now = Utc::now();
        assert_eq!(retry_after_seconds(now + chrono::Duration::milliseconds(4_500), now), 5);
        assert_eq!(retry_after_seconds(now + chrono::Duration::seconds(5), now), 5);
        assert_eq!(retry_after_seconds(now - chrono::Duration::seconds(5), now), 1);
    }

    #[test]
    fn keys_have_a_fixed_length_and_keep_no_name_in_the_clear() {
        let long = "a".repeat(400);
        assert!(Key::login_name(&long).as_str().len() < 100);
        assert!(!Key::login_name("secret passphrase").as_str().contains("secret"));
    }

    #[test]
    fn names_are_keyed_as_they_are_looked_up() {
        assert_eq!(Key::login_name("  Alice "), Key::login_name("alice"));
        assert_eq!(Key::reset_email("A@Example.com"), Key::reset_email("a@example.com"));
        assert_ne!(Key::login_name("alice"), Key::login_ip("alice"));
    }
}
