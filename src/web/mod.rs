//! The HTTP layer around the login system: shared state, route names, middleware, extractors, error
//! pages and views. It knows `auth`, `db` and the bottom layer; handlers (`routes`) build on it.

pub mod audit;
pub mod client;
pub mod cookies;
pub mod csrf;
pub mod current_user;
pub mod device;
pub mod error;
pub mod error_body;
pub mod error_pages;
pub mod flash;
pub mod guard;
pub mod remember;
pub mod request_log;
pub mod request_shape;
pub mod route;
pub mod security_headers;
pub mod session;
pub mod session_cookie;
pub mod state;
pub mod views;

pub use current_user::MaybeUser;
pub use error::AppError;
pub use route::{Route, see_other};
pub use state::AppState;
