//! The login system's rules: accounts, passwords and their policy, server-side sessions and their
//! store, the current-user loader, CSRF tokens, password reset and the `next` check. It knows nothing
//! of routes, pages or start-up: `web` wires it into requests.

pub mod accounts;
pub mod admin;
pub mod confirmation;
pub mod csrf;
pub mod housekeeping;
pub mod loader;
pub mod login;
pub mod passkeys;
pub mod password;
pub mod policy;
pub mod reset;
pub mod safe_next;
pub mod session;
pub mod session_store;
pub mod throttle;
pub mod two_factor;

pub use loader::CurrentUser;
