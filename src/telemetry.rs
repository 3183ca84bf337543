//! Logging: env_logger, with the id of the request being served on every line logged while serving it.

use std::io::Write as _;

use std::cell::Cell;

tokio::task_local! {
    /// The id of the request whose future is being polled; set by `middleware::request_log`.
    pub static REQUEST_ID: String;
    /// Set when a database call made for the current request found the database unreachable.
    /// actix-session wraps its store's errors in an opaque 500 whose cause cannot be downcast, so the
    /// store reports the kind of its failure here and the error pages answer 503 from it.
    static DATABASE_UNAVAILABLE: Cell<bool>;
}

/// Runs one request's future with its id and a fresh "database unavailable" mark.
pub async fn scope_request<F: std::future::Future>(id: String, future: F) -> F::Output {
    REQUEST_ID.scope(id, DATABASE_UNAVAILABLE.scope(Cell::new(false), future)).await
}

/// Records that the database was unreachable while serving the current request.
pub fn mark_database_unavailable() {
    let _ = DATABASE_UNAVAILABLE.try_with(|flag| flag.set(true));
}

/// Whether the database was found unreachable while serving the current request.
pub fn database_was_unavailable() -> bool {
    DATABASE_UNAVAILABLE.try_with(Cell::get).unwrap_or(false)
}

/// Installs env_logger (`RUST_LOG`, default `info`). SQL is logged at DEBUG by the pool itself.
pub fn init_logging() {
    let mut builder = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    builder.format(|buf, record| {
        let request_id = REQUEST_ID.try_with(|id| id.clone()).ok();
        let timestamp = buf.timestamp_millis();
        match request_id {
            Some(id) => writeln!(
                buf,
                "{timestamp} {:<5} {} [req {id}] {}",
                record.level(),
                record.target(),
                record.args()
            ),
            None => writeln!(buf, "{timestamp} {:<5} {} {}", record.level(), record.target(), record.args()),
        }
    });
    // A second init (tests) is harmless.
    let _ = builder.try_init();
}

/// The current request's id, if a request is being served.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// An error and every `source()` below it on one line, for a log line about an error that is
/// handled where it happens rather than answered as an error page.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
