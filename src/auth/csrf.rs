//! CSRF tokens: a synchronizer token kept in the session, rotated at login. `web::csrf` checks it on
//! every unsafe request before any handler runs, so a handler cannot forget it.

use actix_session::Session;

use super::session::{CSRF_TOKEN, SessionError};
use crate::tokens;

/// The form field every state-changing form carries.
pub const FORM_FIELD: &str = "csrf_token";
/// The header non-form clients may send instead.
pub const HEADER: &str = "x-csrf-token";

/// The session's token, if it has one.
pub fn current_token(session: &Session) -> Option<String> {
    session.get::<String>(CSRF_TOKEN).ok().flatten()
}

/// The session's token, created if needed; call it before rendering a form.
pub fn ensure_token(session: &Session) -> Result<String, SessionError> {
    match current_token(session) {
        Some(token) => Ok(token),
        None => rotate(session),
    }
}

/// A new token; login calls it, so a token seen before login is worthless after.
pub fn rotate(session: &Session) -> Result<String, SessionError> {
    let token = tokens::random_hex::<32>()?;
    session.insert(CSRF_TOKEN, &token)?;
    Ok(token)
}

/// Whether `submitted` is the session's token (`expected`), compared in constant time.
pub fn matches(submitted: &str, expected: &str) -> bool {
    tokens::constant_time_eq(submitted, expected)
}
