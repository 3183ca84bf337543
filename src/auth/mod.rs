//! The login system: passwords, server-side sessions, the current-user loader, the login guard,
//! CSRF protection and the `next` check. Handlers use these; they never touch their internals.

pub mod accounts;
pub mod csrf;
pub mod current_user;
pub mod guard;
pub mod password;
pub mod policy;
pub mod remember;
pub mod reset;
pub mod safe_next;
pub mod session;
pub mod session_store;

pub use current_user::{CurrentUser, MaybeUser};
