//! actix-session's `SessionStore` on the `sessions` table, so that logging out, revoking a session
//! or deactivating a user takes effect on the very next request, on every instance.

use std::{cell::Cell, collections::HashMap, time::Duration};

use crate::db::Db;
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use super::session::{self as keys};
use crate::{
    clock::Clock,
    db::{self, sessions::LiveSession},
    tokens::{self, RandomError},
};

tokio::task_local! {
    /// Set when the request's session cookie named a session that is over, so that the answer
    /// removes the cookie (actix-session leaves it alone) and it is logged once, not on every request.
    static SESSION_OVER: Cell<bool>;
}

/// Runs one request's future with a fresh "session over" mark; whatever runs the store must run
/// inside it.
pub async fn scope_request<F: std::future::Future>(future: F) -> F::Output {
    SESSION_OVER.scope(Cell::new(false), future).await
}

/// Whether the current request's session cookie named a session that is over.
pub fn cookie_named_an_ended_session() -> bool {
    SESSION_OVER.try_with(Cell::get).unwrap_or(false)
}

fn mark_session_over() {
    let _ = SESSION_OVER.try_with(|over| over.set(true));
}

/// How long sessions live; enforced here on the server, whatever the cookie says.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    /// A session unused this long is over (not applied to "remember me" sessions).
    pub idle_timeout: Duration,
    /// A session older than this is over.
    pub max_age: Duration,
    /// The absolute lifetime of a "remember me" session.
    pub remember_max_age: Duration,
    /// `last_seen_at` is written at most this often, so a page view is normally read-only. The idle
    /// timeout counts from that write, so an active session can end up to this much early: a tenth
    /// of the timeout at most, and never more than a minute.
    pub touch_interval: Duration,
}

impl SessionPolicy {
    pub const REMEMBER_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
    /// How often an active session's `last_seen_at` is written, unless the idle timeout is short.
    pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

    pub fn new(idle_timeout: Duration, max_age: Duration) -> Self {
        Self {
            idle_timeout,
            max_age,
            remember_max_age: Self::REMEMBER_MAX_AGE,
            touch_interval: (idle_timeout / 10).min(Self::TOUCH_INTERVAL),
        }
    }

    fn is_over(&self, row: &LiveSession, now: DateTime<Utc>) -> bool {
        let idle_for = (now - row.last_seen_at).to_std().unwrap_or_default();
        now >= row.expires_at || (!row.remember && idle_for >= self.idle_timeout)
    }

    fn expiry(&self, remember: bool, now: DateTime<Utc>) -> DateTime<Utc> {
        let lifetime = if remember { self.remember_max_age } else { self.max_age };
        now + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::days(1))
    }
}

/// Why the store failed. actix-session wraps every store error in an opaque 500 of its own, so an
/// `Unavailable` failure also marks the request (`telemetry::mark_database_unavailable`) for the error
/// pages to answer 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session store: the database is unavailable")]
    Unavailable(#[source] DbErr),
    #[error("session store: database error")]
    Database(#[source] DbErr),
    #[error("session store: could not serialise the session state")]
    Serialise(#[source] serde_json::Error),
    #[error("session store: could not generate a session key")]
    Random(#[from] RandomError),
    #[error("session store: actix-session refused the generated key: {0}")]
    Key(String),
}

impl From<DbErr> for StoreError {
    fn from(error: DbErr) -> Self {
        if db::is_unavailable(&error) { Self::Unavailable(error) } else { Self::Database(error) }
    }
}

impl StoreError {
    /// The error as actix-session takes it, after marking the request when the database is down.
    fn reported(self) -> anyhow::Error {
        if matches!(self, Self::Unavailable(_)) {
            crate::telemetry::mark_database_unavailable();
        }
        self.into()
    }
}

/// The store handed to `SessionMiddleware`. The cookie carries a random 256-bit key; the table keeps
/// only its SHA-256, so a copy of the table cannot be replayed as cookies.
#[derive(Clone)]
pub struct DbSessionStore {
    db: Db,
    clock: Clock,
    policy: SessionPolicy,
}

impl DbSessionStore {
    pub fn new(db: Db, clock: Clock, policy: SessionPolicy) -> Self {
        Self { db, clock, policy }
    }

    async fn insert_new(&self, state: &HashMap<String, String>) -> Result<SessionKey, StoreError> {
        let key = generate_key()?;
        let now = self.clock.now();
        let remember = keys::state_flag(state, keys::REMEMBER);
        db::sessions::insert(
            &self.db,
            db::sessions::NewSession {
                key_hash: hash_key(key.as_ref()),
                public_id: tokens::random_hex::<16>()?,
                user_id: user_id_of(state),
                state: serialise(state)?,
                remember,
                now,
                expires_at: self.policy.expiry(remember, now),
                ip: keys::state_value(state, keys::CLIENT_IP),
                user_agent: keys::state_value(state, keys::USER_AGENT),
            },
        )
        .await?;
        Ok(key)
    }

    async fn load_row(&self, key: &SessionKey) -> Result<Option<LiveSession>, StoreError> {
        let key_hash = hash_key(key.as_ref());
        let Some((row, user)) = db::sessions::find_live_with_user(&self.db, &key_hash).await? else {
            // The cookie is ours (it opened with the secret), but its session is over: logged out,
            // revoked, ended with every session of its user, or expired and purged.
            log::warn!("a session cookie named a session that is over; the request continues as anonymous");
            mark_session_over();
            return Ok(None);
        };
        let now = self.clock.now();
        if self.policy.is_over(&row, now) {
            log::info!("session {} expired; treating the request as anonymous", row.id);
            db::sessions::delete_by_id(&self.db, row.id).await?;
            mark_session_over();
            return Ok(None);
        }
        if (now - row.last_seen_at).to_std().unwrap_or_default() >= self.policy.touch_interval {
            db::sessions::touch(&self.db, row.id, now).await?;
        }
        if let Some(user_id) = row.user_id {
            super::loader::hand_over(user_id, user);
        }
        Ok(Some(row))
    }

    async fn update_state(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
    ) -> Result<SessionKey, StoreError> {
        let renew = keys::state_flag(&state, keys::RENEW);
        let state: HashMap<String, String> = state.into_iter().filter(|(k, _)| k != keys::RENEW).collect();
        let serialised = serialise(&state)?;
        let key_hash = hash_key(key.as_ref());
        let new_key = if renew { Some(generate_key()?) } else { None };
        let new_hash = new_key.as_ref().map(|k| hash_key(k.as_ref()));
        let updated = db::sessions::update_state(
            &self.db,
            &key_hash,
            new_hash.as_deref(),
            serialised,
            user_id_of(&state),
            self.clock.now(),
        )
        .await?;
        if updated {
            return Ok(new_key.unwrap_or(key));
        }
        // The row was deleted while this request ran (logout or revocation elsewhere). Writing the
        // identity back would resurrect a revoked login, so only the anonymous part survives.
        let login_keys = [
            keys::USER_ID,
            keys::REMEMBER,
            keys::CSRF_TOKEN,
            keys::CLIENT_IP,
            keys::USER_AGENT,
            keys::EPOCH,
            keys::PENDING_LOGIN,
        ];
        let anonymous: HashMap<String, String> =
            state.into_iter().filter(|(k, _)| !login_keys.contains(&k.as_str())).collect();
        self.insert_new(&anonymous).await
    }
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let Some(row) = self.load_row(key).await.map_err(|e| LoadError::Other(e.reported()))? else {
            return Ok(None);
        };
        let mut state: HashMap<String, String> =
            serde_json::from_str(&row.state).map_err(|e| LoadError::Deserialization(e.into()))?;
        // Handlers learn which row is "this device" without ever seeing the key.
        let public_id = serde_json::to_string(&row.public_id).map_err(|e| LoadError::Other(e.into()))?;
        state.insert(keys::SESSION_ID.to_owned(), public_id);
        Ok(Some(state))
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        _ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        self.insert_new(&state).await.map_err(|e| SaveError::Other(e.reported()))
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        _ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        self.update_state(key, state).await.map_err(|e| UpdateError::Other(e.reported()))
    }

    async fn update_ttl(&self, _key: &SessionKey, _ttl: &CookieDuration) -> Result<(), anyhow::Error> {
        // Lifetimes are enforced from `expires_at` and `last_seen_at` in `load`, not from a TTL.
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        db::sessions::delete_by_key_hash(&self.db, &hash_key(key.as_ref()))
            .await
            .map_err(|e| StoreError::from(e).reported())
    }
}

/// Hex SHA-256 of a session key: what the `sessions` table stores.
pub fn hash_key(key: &str) -> String {
    tokens::sha256_hex(key)
}

/// The state as stored: without the session id, which `load` derives from the row.
fn serialise(state: &HashMap<String, String>) -> Result<String, StoreError> {
    let stored: HashMap<&String, &String> = state.iter().filter(|(k, _)| *k != keys::SESSION_ID).collect();
    serde_json::to_string(&stored).map_err(StoreError::Serialise)
}

fn generate_key() -> Result<SessionKey, StoreError> {
    tokens::random_url_safe::<32>()?
        .try_into()
        .map_err(|e: <SessionKey as TryFrom<String>>::Error| StoreError::Key(e.to_string()))
}

fn user_id_of(state: &HashMap<String, String>) -> Option<i64> {
    keys::state_value(state, keys::USER_ID).and_then(|id| id.parse().ok())
}
