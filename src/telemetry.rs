//! Logging: env_logger, with the id of the request being served on every line logged while serving it,
//! and actix-http's lines about clients' malformed requests at INFO rather than ERROR.

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

/// Installs env_logger (`RUST_LOG`, default `info`) behind `ClientFaultsAtInfo`. SQL is logged at
/// DEBUG by the pool itself.
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
    let logger = builder.build();
    let max_level = logger.filter();
    // A second init (tests) is harmless.
    if log::set_boxed_logger(Box::new(ClientFaultsAtInfo(logger))).is_ok() {
        log::set_max_level(max_level);
    }
}

/// The target of actix-http's connection handler, which logs every connection it drops at ERROR.
const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// Logs actix-http's "stream error" lines at INFO, as the app logs its own 4xx answers. They name a
/// malformed request, an oversized head or a client that hung up: the client's doing, answered
/// before the app sees the request. At ERROR anybody could fill an operator's alerts with them at
/// will. The dispatcher's own internal errors are logged on lines of their own and stay ERROR.
struct ClientFaultsAtInfo<L>(L);

fn is_client_fault(record: &log::Record<'_>) -> bool {
    record.level() == log::Level::Error
        && record.target() == DISPATCHER
        && record.args().to_string().starts_with("stream error:")
}

impl<L: log::Log> log::Log for ClientFaultsAtInfo<L> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !is_client_fault(record) {
            return self.0.log(record);
        }
        let demoted = log::Record::builder()
            .level(log::Level::Info)
            .target(record.target())
            .args(*record.args())
            .module_path(record.module_path())
            .file(record.file())
            .line(record.line())
            .build();
        if self.0.enabled(demoted.metadata()) {
            self.0.log(&demoted);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use log::{Level, Log as _};

    use super::*;

    /// Keeps what reaches it, at INFO and above.
    #[derive(Default)]
    struct Kept(Mutex<Vec<(Level, String)>>);

    impl log::Log for Kept {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= Level::Info
        }
        // Filters in `log` itself, as env_logger's does.
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                self.0.lock().unwrap().push((record.level(), record.args().to_string()));
            }
        }
        fn flush(&self) {}
    }

    fn log_through(
        logger: &ClientFaultsAtInfo<Kept>,
        level: Level,
        target: &str,
        args: std::fmt::Arguments<'_>,
    ) {
        logger.log(&log::Record::builder().level(level).target(target).args(args).build());
    }

    #[test]
    fn a_dropped_connection_is_the_clients_doing_and_logged_at_info() {
        let logger = ClientFaultsAtInfo(Kept::default());
        let error = "request parse error: invalid Header provided";
        log_through(&logger, Level::Error, DISPATCHER, format_args!("stream error: {error}"));
        assert_eq!(*logger.0.0.lock().unwrap(), [(Level::Info, format!("stream error: {error}"))]);
    }

    #[test]
    fn every_other_error_stays_an_error() {
        let logger = ClientFaultsAtInfo(Kept::default());
        log_through(&logger, Level::Error, DISPATCHER, format_args!("Internal server error: unexpected eof"));
        log_through(
            &logger,
            Level::Error,
            "gatehouse::web::error_pages",
            format_args!("stream error: not ours"),
        );
        log_through(&logger, Level::Debug, DISPATCHER, format_args!("stream error: below the filter"));
        let kept = logger.0.0.lock().unwrap();
        assert_eq!(
            *kept,
            [
                (Level::Error, "Internal server error: unexpected eof".to_owned()),
                (Level::Error, "stream error: not ours".to_owned()),
            ]
        );
    }

    #[test]
    fn a_demoted_line_is_dropped_when_the_filter_is_above_info() {
        struct WarningsOnly(Kept);
        impl log::Log for WarningsOnly {
            fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
                metadata.level() <= Level::Warn
            }
            fn log(&self, record: &log::Record<'_>) {
                self.0.log(record);
            }
            fn flush(&self) {}
        }
        let logger = ClientFaultsAtInfo(WarningsOnly(Kept::default()));
        logger.log(
            &log::Record::builder()
                .level(Level::Error)
                .target(DISPATCHER)
                .args(format_args!("stream error: {}", "connection reset"))
                .build(),
        );
        assert!(logger.0.0.0.lock().unwrap().is_empty());
    }
}
