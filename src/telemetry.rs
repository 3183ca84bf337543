//! Logging: env_logger, with the id of the request being served on every line logged while serving it.

use std::io::Write as _;

tokio::task_local! {
    /// The id of the request whose future is being polled; set by `middleware::request_log`.
    pub static REQUEST_ID: String;
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
