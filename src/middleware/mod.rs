//! The app-wide middleware that is not part of the login system itself.

pub mod error_pages;
pub mod head;
pub mod request_log;
pub mod security_headers;
