//! The names of everything Gatehouse keeps in a session, in one place, with typed accessors, so no
//! handler spells a session key.

use actix_session::Session;

use crate::tokens::RandomError;

/// Why a value could not be put into the session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("could not generate a token")]
    Random(#[from] RandomError),
    #[error("could not write to the session: {0}")]
    Insert(String),
}

impl From<actix_session::SessionInsertError> for SessionError {
    fn from(error: actix_session::SessionInsertError) -> Self {
        Self::Insert(error.to_string())
    }
}

/// The logged-in user's id, set as actix-identity's `id_key` so it does not depend on that crate's default.
pub const USER_ID: &str = "gh.uid";
pub const CSRF_TOKEN: &str = "gh.csrf";
pub const CLIENT_IP: &str = "gh.ip";
pub const USER_AGENT: &str = "gh.ua";
pub const REMEMBER: &str = "gh.remember";
/// The user's session epoch when this session was authenticated (see `users.session_epoch`).
pub const EPOCH: &str = "gh.epoch";
/// Asks the store for a new key on this request's save: one atomic update of the row, so a
/// revocation racing the renewal cannot be undone by it (actix-session's own renewal is a delete
/// and an insert). The store strips the flag.
pub const RENEW: &str = "gh.renew";
/// The session row's public id, put into the state by the store on load (never stored in it).
pub const SESSION_ID: &str = "gh.sid";
/// A passkey registration under way (`auth::passkeys::PendingRegistration`), taken when it ends.
pub const PASSKEY_REGISTRATION: &str = "gh.passkey_reg";

/// The epoch recorded at login (sessions from before epochs existed count as epoch 0).
pub fn recorded_epoch(session: &Session) -> i64 {
    session.get::<i64>(EPOCH).ok().flatten().unwrap_or(0)
}

/// Records the user's current epoch in this session: at login, and after this session changed the
/// credentials itself.
pub fn record_epoch(session: &Session, epoch: i64) -> Result<(), SessionError> {
    Ok(session.insert(EPOCH, epoch)?)
}

/// A new key for this session at the end of the request, the row and everything else kept.
pub fn renew_key(session: &Session) -> Result<(), SessionError> {
    Ok(session.insert(RENEW, true)?)
}

/// The public id of the current session's row, when it has one.
pub fn current_session_id(session: &Session) -> Option<String> {
    session.get::<String>(SESSION_ID).ok().flatten()
}

/// Where the session store reads a value it mirrors into its own columns.
pub(crate) fn state_value(state: &std::collections::HashMap<String, String>, key: &str) -> Option<String> {
    state.get(key).and_then(|raw| serde_json::from_str::<String>(raw).ok())
}

pub(crate) fn state_flag(state: &std::collections::HashMap<String, String>, key: &str) -> bool {
    state.get(key).and_then(|raw| serde_json::from_str::<bool>(raw).ok()).unwrap_or(false)
}

/// Records which device this login came from, for the sessions list; the store copies it to columns.
pub fn record_device(
    session: &Session,
    ip: Option<&str>,
    user_agent: Option<&str>,
    remember: bool,
) -> Result<(), SessionError> {
    if let Some(ip) = ip {
        session.insert(CLIENT_IP, ip)?;
    }
    if let Some(user_agent) = user_agent {
        let truncated: String = user_agent.chars().take(512).collect();
        session.insert(USER_AGENT, truncated)?;
    }
    Ok(session.insert(REMEMBER, remember)?)
}

/// A login waiting for its second factor: the password was right, but the session is not logged in
/// (no `USER_ID`, so the store records no user for it and every page treats it as anonymous).
pub const PENDING_LOGIN: &str = "gh.pending";

/// What the password step leaves for the second: whose login it is, that user's session epoch then (a
/// password change or reset in between voids it), when it began, and what the login form asked for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingLogin {
    pub user_id: i64,
    pub epoch: i64,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub remember: bool,
    pub next: Option<String>,
}

pub fn record_pending_login(session: &Session, pending: &PendingLogin) -> Result<(), SessionError> {
    Ok(session.insert(PENDING_LOGIN, pending)?)
}

pub fn pending_login(session: &Session) -> Option<PendingLogin> {
    session.get::<PendingLogin>(PENDING_LOGIN).ok().flatten()
}

pub fn forget_pending_login(session: &Session) {
    session.remove(PENDING_LOGIN);
}

/// Keeps a passkey registration's state until the browser answers (a newer one replaces it).
pub fn store_passkey_registration(
    session: &Session,
    pending: &super::passkeys::PendingRegistration,
) -> Result<(), SessionError> {
    Ok(session.insert(PASSKEY_REGISTRATION, pending)?)
}

/// Takes the registration under way out of the session: each one is answered once.
pub fn take_passkey_registration(session: &Session) -> Option<super::passkeys::PendingRegistration> {
    session.remove_as::<super::passkeys::PendingRegistration>(PASSKEY_REGISTRATION).and_then(Result::ok)
}
