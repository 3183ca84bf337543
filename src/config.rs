//! Settings from the environment (and `.env`), validated once at start-up.

use std::{fmt, net::IpAddr, path::PathBuf, time::Duration};

/// Everything the app reads from its environment. `Debug` never prints the secret.
#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub bind_addr: String,
    /// `scheme://host[:port]` with no trailing slash: the origin links in pages and emails use.
    pub public_origin: String,
    /// The origins a POST may come from: `PUBLIC_URL` alone when it is set, else the loopback
    /// origins of the bound port (a newcomer may open `localhost` as well as `127.0.0.1`).
    pub allowed_origins: Vec<String>,
    pub session_secret: SessionSecret,
    pub smtp_url: Option<String>,
    /// The `From:` of every email.
    pub mail_from: String,
    pub password_min_length: usize,
    pub session_idle_timeout: Duration,
    pub session_max_age: Duration,
    pub trusted_proxies: Vec<IpAddr>,
    pub form_limit_bytes: usize,
    pub production: bool,
    /// The secret being rotated out: cookies made with it still open, and are re-made.
    pub session_secret_previous: Option<SessionSecret>,
    pub throttle: Limits,
    /// Password hashes allowed to wait for a hashing thread; past it, logins answer 503 at once.
    pub hash_queue_limit: usize,
    /// Threads that hash passwords; each holds one 19 MiB argon2 block while logins keep coming.
    pub hash_threads: usize,
    /// `false` when migrations run separately (`gatehouse migrate` with a direct connection).
    pub migrate_on_start: bool,
    /// `false` behind a transaction-pooling proxy (PgBouncer before 1.21): see `db::Db`.
    pub statement_cache: bool,
    /// Most connections the pool opens; `None`: the backend's default (`db::connect`).
    pub pool_size: Option<u32>,
    /// A correct password logs in only once the account's email address is confirmed.
    pub require_confirmed_email: bool,
}

impl Settings {
    /// Over `https://` cookies are `Secure` and the session cookie takes the `__Host-` prefix.
    pub fn is_https(&self) -> bool {
        self.public_origin.starts_with("https://")
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url_password(&self.database_url))
            .field("bind_addr", &self.bind_addr)
            .field("public_origin", &self.public_origin)
            .field("allowed_origins", &self.allowed_origins)
            .field("session_secret", &self.session_secret)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url_password))
            .field("mail_from", &self.mail_from)
            .field("password_min_length", &self.password_min_length)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("session_max_age", &self.session_max_age)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("form_limit_bytes", &self.form_limit_bytes)
            .field("production", &self.production)
            .field("session_secret_previous", &self.session_secret_previous)
            .field("throttle", &self.throttle)
            .field("hash_queue_limit", &self.hash_queue_limit)
            .field("hash_threads", &self.hash_threads)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("statement_cache", &self.statement_cache)
            .field("pool_size", &self.pool_size)
            .field("require_confirmed_email", &self.require_confirmed_email)
            .finish()
    }
}

/// Throttling (`auth::throttle` applies it): how many failures a key may have in a window, and how long the lock that follows lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// `0` turns the limit off.
    pub max_failures: u32,
    pub window: Duration,
    /// The first lock; each lock that follows before the key is forgotten lasts twice as long.
    pub lock: Duration,
    pub max_lock: Duration,
}

impl Limit {
    pub fn is_off(&self) -> bool {
        self.max_failures == 0
    }

    /// The lock after `previous_locks` locks in a row: doubling, capped.
    pub fn lock_for(&self, previous_locks: u32) -> Duration {
        let factor = 2u32.saturating_pow(previous_locks.min(16));
        self.lock.saturating_mul(factor).min(self.max_lock.max(self.lock))
    }
}

/// Every throttling limit, from the settings.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Failed logins per login name, and per device (each device has a budget of its own).
    pub login: Limit,
    /// Failed logins per client IP.
    pub login_ip: Limit,
    /// Reset emails per address.
    pub reset_emails: Limit,
    /// Reset requests per client IP (anonymous requests for a confirmation link are counted apart,
    /// under the same limit).
    pub reset_ip: Limit,
    /// Confirmation emails per address.
    pub confirm_emails: Limit,
    /// Registration attempts per client IP: mass sign-ups, and probing which addresses have an
    /// account (a registration says when an address is taken, as Django's and Devise's do).
    pub register_ip: Limit,
}

/// The key material for cookies; at least 64 bytes.
#[derive(Clone)]
pub struct SessionSecret(Vec<u8>);

impl SessionSecret {
    pub const MIN_BYTES: usize = 64;

    pub fn new(bytes: Vec<u8>) -> Result<Self, ConfigError> {
        if bytes.len() < Self::MIN_BYTES {
            return Err(ConfigError::ShortSecret { len: bytes.len() });
        }
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A secret of few distinct characters (`aaaa…`) or a short piece repeated (`abab…`, a word or
    /// `0123456789` over and over) has far less entropy than its length suggests. Hex from
    /// `openssl rand -hex 64` passes.
    pub fn looks_guessable(&self) -> bool {
        let distinct: std::collections::HashSet<u8> = self.0.iter().copied().collect();
        let repeats_a_short_piece = (1..=16).any(|period| {
            self.0.len() > period && self.0.iter().skip(period).zip(&self.0).all(|(a, b)| a == b)
        });
        distinct.len() < 8 || repeats_a_short_piece
    }
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionSecret([redacted; {} bytes])", self.0.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error(
        "SESSION_SECRET must be at least 64 bytes (it has {len}); generate one with `openssl rand -hex 64`"
    )]
    ShortSecret { len: usize },
    #[error(
        "SESSION_SECRET is required when APP_ENV=production (at least 64 bytes; `openssl rand -hex 64` makes one)"
    )]
    MissingSecretInProduction,
    #[error(
        "{name} looks guessable (too few different characters); generate one with `openssl rand -hex 64`"
    )]
    GuessableSecret { name: &'static str },
    #[error(
        "SMTP_URL is required when APP_ENV=production: without it password reset links would be written to the log"
    )]
    MissingSmtpInProduction,
    #[error("could not read or create the development key file {path}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where development keeps its generated secret, so that a restart does not log everybody out.
pub const DEV_KEY_FILE: &str = ".gatehouse-session-secret";

const DEFAULT_DATABASE_URL: &str = "sqlite://gatehouse.db?mode=rwc";
const DEFAULT_BIND_ADDR: &str = "127.0.0.1:8080";
const DEFAULT_MAIL_FROM: &str = "Gatehouse <no-reply@localhost>";
const DEFAULT_PASSWORD_MIN_LENGTH: &str = "15";
const DEFAULT_SESSION_IDLE_TIMEOUT: &str = "12h";
const DEFAULT_SESSION_MAX_AGE: &str = "24h";
const DEFAULT_FORM_LIMIT_BYTES: &str = "65536";
const DEFAULT_THROTTLE_LOGIN_FAILURES: &str = "10";
const DEFAULT_THROTTLE_LOGIN_WINDOW: &str = "15m";
const DEFAULT_THROTTLE_LOGIN_LOCK: &str = "15m";
const DEFAULT_THROTTLE_LOGIN_MAX_LOCK: &str = "1h";
const DEFAULT_THROTTLE_LOGIN_IP_FAILURES: &str = "100";
const DEFAULT_THROTTLE_RESET_EMAILS: &str = "3";
const DEFAULT_THROTTLE_RESET_IP: &str = "50";
const DEFAULT_THROTTLE_CONFIRM_EMAILS: &str = "3";
const DEFAULT_THROTTLE_REGISTER_IP: &str = "50";
const DEFAULT_HASH_QUEUE_LIMIT: &str = "64";
/// The window of both password-reset limits.
const RESET_WINDOW: Duration = Duration::from_secs(3600);

/// Every setting as read by clap: from its environment variable (the usual way; `.env` is loaded
/// first) or a flag of the same name. `gatehouse --help` lists them with their defaults. Values are
/// checked and typed by `Settings::from_args`; an empty value counts as unset.
#[derive(Clone, clap::Args)]
#[command(next_help_heading = "Settings (environment variables; flags override them)")]
pub struct SettingsArgs {
    /// `postgres://…` or `sqlite://…`
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true, global = true)]
    database_url: Option<String>,
    /// The address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = DEFAULT_BIND_ADDR, global = true)]
    bind_addr: Option<String>,
    /// The origin users see, and the only one forms are accepted from; `https://` makes cookies
    /// Secure. Unset: the loopback origins of BIND_ADDR's port.
    #[arg(long, env = "PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// At least 64 bytes, shared by every instance. Development generates one into a key file.
    #[arg(long, env = "SESSION_SECRET", hide_env_values = true, global = true)]
    session_secret: Option<String>,
    /// `development` or `production` (which requires SESSION_SECRET).
    #[arg(long, env = "APP_ENV", default_value = "development", global = true)]
    app_env: Option<String>,
    /// e.g. `smtp://127.0.0.1:1025`. Unset: emails are written to the log.
    #[arg(long, env = "SMTP_URL", hide_env_values = true, global = true)]
    smtp_url: Option<String>,
    /// The `From:` of every email.
    #[arg(long, env = "MAIL_FROM", default_value = DEFAULT_MAIL_FROM, global = true)]
    mail_from: Option<String>,
    /// The shortest password accepted, 8 or more.
    #[arg(long, env = "PASSWORD_MIN_LENGTH", default_value = DEFAULT_PASSWORD_MIN_LENGTH, global = true)]
    password_min_length: Option<String>,
    /// A session unused this long is over (e.g. 30m, 12h, 7d).
    #[arg(long, env = "SESSION_IDLE_TIMEOUT", default_value = DEFAULT_SESSION_IDLE_TIMEOUT, global = true)]
    session_idle_timeout: Option<String>,
    /// A session older than this is over.
    #[arg(long, env = "SESSION_MAX_AGE", default_value = DEFAULT_SESSION_MAX_AGE, global = true)]
    session_max_age: Option<String>,
    /// Comma-separated proxy addresses whose X-Forwarded-For is believed.
    #[arg(long, env = "TRUSTED_PROXIES", global = true)]
    trusted_proxies: Option<String>,
    /// Larger request bodies are refused with 413.
    #[arg(long, env = "FORM_LIMIT_BYTES", default_value = DEFAULT_FORM_LIMIT_BYTES, global = true)]
    form_limit_bytes: Option<String>,
    /// The previous SESSION_SECRET while rotating: its cookies still open and are re-made.
    #[arg(long, env = "SESSION_SECRET_PREVIOUS", hide_env_values = true, global = true)]
    session_secret_previous: Option<String>,
    /// Failed logins per login name (or per remembered device) before it is locked; 0 = off.
    #[arg(long, env = "THROTTLE_LOGIN_FAILURES", default_value = DEFAULT_THROTTLE_LOGIN_FAILURES, global = true)]
    throttle_login_failures: Option<String>,
    /// The window those failures are counted in.
    #[arg(long, env = "THROTTLE_LOGIN_WINDOW", default_value = DEFAULT_THROTTLE_LOGIN_WINDOW, global = true)]
    throttle_login_window: Option<String>,
    /// The first lock; it doubles while failures go on.
    #[arg(long, env = "THROTTLE_LOGIN_LOCK", default_value = DEFAULT_THROTTLE_LOGIN_LOCK, global = true)]
    throttle_login_lock: Option<String>,
    /// The longest lock.
    #[arg(long, env = "THROTTLE_LOGIN_MAX_LOCK", default_value = DEFAULT_THROTTLE_LOGIN_MAX_LOCK, global = true)]
    throttle_login_max_lock: Option<String>,
    /// Failed logins per client IP in the window before that IP is locked out of login; 0 = off.
    #[arg(long, env = "THROTTLE_LOGIN_IP_FAILURES", default_value = DEFAULT_THROTTLE_LOGIN_IP_FAILURES, global = true)]
    throttle_login_ip_failures: Option<String>,
    /// Password reset emails per address per hour; 0 = off.
    #[arg(long, env = "THROTTLE_RESET_EMAILS", default_value = DEFAULT_THROTTLE_RESET_EMAILS, global = true)]
    throttle_reset_emails: Option<String>,
    /// Password reset requests per client IP per hour; 0 = off.
    #[arg(long, env = "THROTTLE_RESET_IP", default_value = DEFAULT_THROTTLE_RESET_IP, global = true)]
    throttle_reset_ip: Option<String>,
    /// Registration attempts per client IP per hour; 0 = off.
    #[arg(long, env = "THROTTLE_REGISTER_IP", default_value = DEFAULT_THROTTLE_REGISTER_IP, global = true)]
    throttle_register_ip: Option<String>,
    /// Email confirmation links per address per hour; 0 = off.
    #[arg(long, env = "THROTTLE_CONFIRM_EMAILS", default_value = DEFAULT_THROTTLE_CONFIRM_EMAILS, global = true)]
    throttle_confirm_emails: Option<String>,
    /// Password hashes that may wait for a hashing thread; more answer 503 at once. 0 = no bound.
    #[arg(long, env = "HASH_QUEUE_LIMIT", default_value = DEFAULT_HASH_QUEUE_LIMIT, global = true)]
    hash_queue_limit: Option<String>,
    /// Password hashing threads, each holding a 19 MiB argon2 block while logins keep coming: peak memory
    /// grows by that much per thread. Default: one per core.
    #[arg(long, env = "HASH_THREADS", global = true)]
    hash_threads: Option<String>,
    /// `false` when migrations run separately (`gatehouse migrate` with a direct DATABASE_URL).
    #[arg(long, env = "MIGRATE_ON_START", default_value = "true", global = true)]
    migrate_on_start: Option<String>,
    /// `off` behind a transaction-pooling proxy in front of Postgres (PgBouncer before 1.21 cannot
    /// carry named prepared statements from one transaction to the next).
    #[arg(long, env = "DATABASE_STATEMENT_CACHE", default_value = "on", global = true)]
    database_statement_cache: Option<String>,
    /// Most database connections this instance opens (1-1000). Default: 20 on Postgres, 4 on SQLite.
    #[arg(long, env = "DATABASE_POOL_SIZE", global = true)]
    database_pool_size: Option<String>,
    /// `true`: a correct password logs in only once the account's email address is confirmed.
    #[arg(long, env = "REQUIRE_CONFIRMED_EMAIL", default_value = "false", global = true)]
    require_confirmed_email: Option<String>,
}

impl fmt::Debug for SettingsArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // May hold the secret and passwords in URLs; `Settings`' own Debug redacts them.
        f.write_str("SettingsArgs { .. }")
    }
}

impl SettingsArgs {
    /// The listen address as given, unchecked: all `gatehouse healthcheck` needs.
    pub fn bind_addr(&self) -> &str {
        non_empty(&self.bind_addr).unwrap_or(DEFAULT_BIND_ADDR)
    }
}

/// Settings alone, for reading them outside the command line.
#[derive(clap::Parser)]
struct SettingsOnly {
    #[command(flatten)]
    settings: SettingsArgs,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

impl Settings {
    /// Builds settings from any variable lookup instead of the process environment (tests pass a
    /// map): the same clap definitions with their environment reading turned off.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let mut argv = vec!["gatehouse".to_owned()];
        for arg in SettingsOnly::command().get_arguments() {
            let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else { continue };
            if let Some(value) = env.to_str().and_then(&get) {
                argv.push(format!("--{long}={value}"));
            }
        }
        let command = SettingsOnly::command().mut_args(|arg| arg.env(None::<&'static str>));
        let invalid = |e: clap::Error| ConfigError::Invalid { name: "settings", reason: e.to_string() };
        let matches = command.try_get_matches_from(argv).map_err(invalid)?;
        Self::from_args(SettingsOnly::from_arg_matches(&matches).map_err(invalid)?.settings)
    }

    /// Checks every setting once and gives each its type; names the variable in every error.
    pub fn from_args(args: SettingsArgs) -> Result<Self, ConfigError> {
        let production = match non_empty(&args.app_env) {
            None | Some("development") | Some("dev") | Some("test") => false,
            Some("production") | Some("prod") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "APP_ENV",
                    reason: format!("`{other}` is neither `development` nor `production`"),
                });
            }
        };
        let bind_addr = args.bind_addr().to_owned();
        let bound = bind_addr.parse::<std::net::SocketAddr>().map_err(|e| ConfigError::Invalid {
            name: "BIND_ADDR",
            reason: format!("`{bind_addr}` is not host:port ({e})"),
        })?;
        let (public_origin, allowed_origins) = match non_empty(&args.public_url) {
            Some(url) => {
                let origin = parse_origin(url)?;
                (origin.clone(), vec![origin])
            }
            None => {
                let port = bound.port();
                let loopback =
                    ["localhost", "127.0.0.1", "[::1]"].map(|host| format!("http://{host}:{port}"));
                (loopback[0].clone(), loopback.to_vec())
            }
        };
        let session_secret = match non_empty(&args.session_secret) {
            Some(secret) => SessionSecret::new(secret.as_bytes().to_vec())?,
            None if production => return Err(ConfigError::MissingSecretInProduction),
            None => dev_secret_from_key_file(DEV_KEY_FILE.as_ref())?,
        };
        let session_secret_previous = non_empty(&args.session_secret_previous)
            .map(|s| SessionSecret::new(s.as_bytes().to_vec()))
            .transpose()?;
        if production {
            for (name, secret) in [
                ("SESSION_SECRET", Some(&session_secret)),
                ("SESSION_SECRET_PREVIOUS", session_secret_previous.as_ref()),
            ] {
                if let Some(secret) = secret
                    && secret.looks_guessable()
                {
                    return Err(ConfigError::GuessableSecret { name });
                }
            }
        }
        let smtp_url = non_empty(&args.smtp_url).map(str::to_owned);
        if production && smtp_url.is_none() {
            return Err(ConfigError::MissingSmtpInProduction);
        }
        let login_window =
            duration(&args.throttle_login_window, "THROTTLE_LOGIN_WINDOW", DEFAULT_THROTTLE_LOGIN_WINDOW)?;
        let login_lock =
            duration(&args.throttle_login_lock, "THROTTLE_LOGIN_LOCK", DEFAULT_THROTTLE_LOGIN_LOCK)?;
        let login_max_lock = duration(
            &args.throttle_login_max_lock,
            "THROTTLE_LOGIN_MAX_LOCK",
            DEFAULT_THROTTLE_LOGIN_MAX_LOCK,
        )?;
        let per_hour = |max_failures| Limit {
            max_failures,
            window: RESET_WINDOW,
            lock: RESET_WINDOW,
            max_lock: RESET_WINDOW,
        };
        let throttle = Limits {
            login: Limit {
                max_failures: count(
                    &args.throttle_login_failures,
                    "THROTTLE_LOGIN_FAILURES",
                    DEFAULT_THROTTLE_LOGIN_FAILURES,
                )?,
                window: login_window,
                lock: login_lock,
                max_lock: login_max_lock,
            },
            login_ip: Limit {
                max_failures: count(
                    &args.throttle_login_ip_failures,
                    "THROTTLE_LOGIN_IP_FAILURES",
                    DEFAULT_THROTTLE_LOGIN_IP_FAILURES,
                )?,
                window: login_window,
                lock: login_window,
                max_lock: login_window,
            },
            reset_emails: per_hour(count(
                &args.throttle_reset_emails,
                "THROTTLE_RESET_EMAILS",
                DEFAULT_THROTTLE_RESET_EMAILS,
            )?),
            reset_ip: per_hour(count(
                &args.throttle_reset_ip,
                "THROTTLE_RESET_IP",
                DEFAULT_THROTTLE_RESET_IP,
            )?),
            confirm_emails: per_hour(count(
                &args.throttle_confirm_emails,
                "THROTTLE_CONFIRM_EMAILS",
                DEFAULT_THROTTLE_CONFIRM_EMAILS,
            )?),
            register_ip: per_hour(count(
                &args.throttle_register_ip,
                "THROTTLE_REGISTER_IP",
                DEFAULT_THROTTLE_REGISTER_IP,
            )?),
        };
        let hash_queue_limit = count(&args.hash_queue_limit, "HASH_QUEUE_LIMIT", DEFAULT_HASH_QUEUE_LIMIT)?;
        let hash_threads = match non_empty(&args.hash_threads) {
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
            Some(raw) => whole_number_in(raw, "HASH_THREADS", 1..=256)?,
        };
        let pool_size = non_empty(&args.database_pool_size)
            .map(|raw| whole_number_in(raw, "DATABASE_POOL_SIZE", 1..=1000))
            .transpose()?
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let raw_min = non_empty(&args.password_min_length).unwrap_or(DEFAULT_PASSWORD_MIN_LENGTH);
        let password_min_length = match raw_min.parse::<usize>() {
            Ok(n) if (8..=1024).contains(&n) => n,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "PASSWORD_MIN_LENGTH",
                    reason: format!("`{raw_min}` is not a whole number from 8 to 1024"),
                });
            }
        };
        let trusted_proxies = non_empty(&args.trusted_proxies)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                // Canonical (`::ffff:10.0.0.2` is 10.0.0.2), as the client's address is compared.
                s.parse::<IpAddr>().map(|ip| ip.to_canonical()).map_err(|_| ConfigError::Invalid {
                    name: "TRUSTED_PROXIES",
                    reason: format!("`{s}` is not an IP address"),
                })
            })
            .collect::<Result<_, _>>()?;
        let raw_limit = non_empty(&args.form_limit_bytes).unwrap_or(DEFAULT_FORM_LIMIT_BYTES);
        let form_limit_bytes =
            raw_limit.parse::<usize>().ok().filter(|n| *n >= 1024).ok_or_else(|| ConfigError::Invalid {
                name: "FORM_LIMIT_BYTES",
                reason: format!("`{raw_limit}` is not a whole number of at least 1024"),
            })?;
        Ok(Self {
            database_url: non_empty(&args.database_url).unwrap_or(DEFAULT_DATABASE_URL).to_owned(),
            bind_addr,
            public_origin,
            allowed_origins,
            session_secret,
            smtp_url,
            mail_from: non_empty(&args.mail_from).unwrap_or(DEFAULT_MAIL_FROM).to_owned(),
            password_min_length,
            session_idle_timeout: duration(
                &args.session_idle_timeout,
                "SESSION_IDLE_TIMEOUT",
                DEFAULT_SESSION_IDLE_TIMEOUT,
            )?,
            session_max_age: duration(&args.session_max_age, "SESSION_MAX_AGE", DEFAULT_SESSION_MAX_AGE)?,
            trusted_proxies,
            form_limit_bytes,
            production,
            session_secret_previous,
            throttle,
            hash_queue_limit: usize::try_from(hash_queue_limit).unwrap_or(usize::MAX),
            hash_threads,
            migrate_on_start: switch(&args.migrate_on_start, "MIGRATE_ON_START", true)?,
            statement_cache: switch(&args.database_statement_cache, "DATABASE_STATEMENT_CACHE", true)?,
            pool_size,
            require_confirmed_email: switch(&args.require_confirmed_email, "REQUIRE_CONFIRMED_EMAIL", false)?,
        })
    }
}

/// Loads `.env` into the environment; a missing file is the normal case, a broken one an error.
pub fn load_dotenv() -> Result<(), ConfigError> {
    match dotenvy::dotenv() {
        Err(error) if !error.not_found() => {
            Err(ConfigError::Invalid { name: ".env", reason: error.to_string() })
        }
        _ => Ok(()),
    }
}

/// On or off: `on`/`off`, `true`/`false`, `yes`/`no`, `1`/`0`.
fn switch(value: &Option<String>, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match non_empty(value).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "on" | "true" | "yes" | "1") => Ok(true),
        Some(v) if matches!(v.as_str(), "off" | "false" | "no" | "0") => Ok(false),
        Some(v) => Err(ConfigError::Invalid { name, reason: format!("`{v}` is neither on nor off") }),
    }
}

/// A whole number of at least 0 (`0` turns a limit off).
fn count(value: &Option<String>, name: &'static str, default: &str) -> Result<u32, ConfigError> {
    let raw = non_empty(value).unwrap_or(default);
    raw.trim().parse::<u32>().map_err(|_| ConfigError::Invalid {
        name,
        reason: format!("`{raw}` is not a whole number (0 turns it off)"),
    })
}

/// A whole number within `range`, surrounding spaces allowed.
fn whole_number_in(
    raw: &str,
    name: &'static str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ConfigError> {
    match raw.trim().parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            name,
            reason: format!("`{raw}` is not a whole number from {} to {}", range.start(), range.end()),
        }),
    }
}

fn duration(value: &Option<String>, name: &'static str, default: &str) -> Result<Duration, ConfigError> {
    let raw = non_empty(value).unwrap_or(default);
    match humantime::parse_duration(raw) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(ConfigError::Invalid {
            name,
            reason: format!("`{raw}` is not a positive duration such as 30m, 12h or 7d"),
        }),
    }
}

fn parse_origin(url: &str) -> Result<String, ConfigError> {
    let invalid =
        |reason: &str| ConfigError::Invalid { name: "PUBLIC_URL", reason: format!("`{url}` {reason}") };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("has no scheme"))?;
    if scheme != "http" && scheme != "https" {
        return Err(invalid("must start with http:// or https://"));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase();
    if host.is_empty() || host.contains('@') {
        return Err(invalid("has no host"));
    }
    // Browsers leave the default port out of `Origin`; so must we, or every POST would be refused.
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let host = host.strip_suffix(default_port).unwrap_or(&host);
    Ok(format!("{scheme}://{host}"))
}

/// Development only: a secret generated on first start and kept in a git-ignored file.
fn dev_secret_from_key_file(path: &std::path::Path) -> Result<SessionSecret, ConfigError> {
    let key_file_error = |source| ConfigError::KeyFile { path: path.to_owned(), source };
    if let Ok(existing) = std::fs::read_to_string(path)
        && existing.trim().len() >= SessionSecret::MIN_BYTES
    {
        return SessionSecret::new(existing.trim().as_bytes().to_vec());
    }
    let secret = crate::tokens::random_hex::<64>().map_err(|e| key_file_error(std::io::Error::other(e)))?;
    write_private_file(path, &secret).map_err(key_file_error)?;
    log::warn!(
        "SESSION_SECRET is not set: generated one into {} for development. \
         Set SESSION_SECRET (64+ bytes) and APP_ENV=production in production.",
        path.display()
    );
    SessionSecret::new(secret.into_bytes())
}

fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}

fn redact_url_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:[redacted]{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    const SECRET: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a089f86d081884c7d65";

    #[test]
    fn hash_threads_default_to_one_per_core_and_take_one_to_256() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert_eq!(Settings::from_lookup(lookup(&[])).unwrap().hash_threads, cores);
        assert_eq!(Settings::from_lookup(lookup(&[("HASH_THREADS", "3")])).unwrap().hash_threads, 3);
        for bad in ["0", "257", "two", "-1"] {
            let err = Settings::from_lookup(lookup(&[("HASH_THREADS", bad)])).unwrap_err();
            assert!(err.to_string().contains("HASH_THREADS"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_pool_size_defaults_per_backend_and_takes_one_to_a_thousand() {
        assert_eq!(Settings::from_lookup(lookup(&[])).unwrap().pool_size, None);
        let set = Settings::from_lookup(lookup(&[("DATABASE_POOL_SIZE", " 12 ")])).unwrap();
        assert_eq!(set.pool_size, Some(12));
        for bad in ["0", "1001", "ten", "-3"] {
            let err = Settings::from_lookup(lookup(&[("DATABASE_POOL_SIZE", bad)])).unwrap_err();
            assert!(err.to_string().contains("DATABASE_POOL_SIZE"), "{bad}: {err}");
        }
    }

    #[test]
    fn production_without_a_secret_refuses_to_start() {
        let err = Settings::from_lookup(lookup(&[("APP_ENV", "production")])).unwrap_err();
        assert!(matches!(err, ConfigError::MissingSecretInProduction), "{err}");
    }

    #[test]
    fn production_refuses_a_guessable_secret_and_a_missing_smtp_url() {
        let repeated = "a".repeat(80);
        let err = Settings::from_lookup(lookup(&[("APP_ENV", "production"), ("SESSION_SECRET", &repeated)]))
            .unwrap_err();
        assert!(matches!(err, ConfigError::GuessableSecret { name: "SESSION_SECRET" }), "{err}");
        let word = "0123456789".repeat(8);
        let err = Settings::from_lookup(lookup(&[("APP_ENV", "production"), ("SESSION_SECRET", &word)]))
            .unwrap_err();
        assert!(matches!(err, ConfigError::GuessableSecret { .. }), "{err}");

        let err = Settings::from_lookup(lookup(&[("APP_ENV", "production"), ("SESSION_SECRET", SECRET)]))
            .unwrap_err();
        assert!(matches!(err, ConfigError::MissingSmtpInProduction), "{err}");
        assert!(err.to_string().contains("SMTP_URL"));

        let ok = Settings::from_lookup(lookup(&[
            ("APP_ENV", "production"),
            ("SESSION_SECRET", SECRET),
            ("SMTP_URL", "smtp://127.0.0.1:25"),
        ]));
        assert!(ok.is_ok(), "{:?}", ok.err());
    }

    #[test]
    fn trusted_proxies_are_kept_canonical() {
        let s = Settings::from_lookup(lookup(&[
            ("SESSION_SECRET", SECRET),
            ("TRUSTED_PROXIES", "::ffff:10.0.0.2, 10.0.0.3,2001:db8::7"),
        ]))
        .unwrap();
        let expected: Vec<IpAddr> =
            ["10.0.0.2", "10.0.0.3", "2001:db8::7"].iter().map(|ip| ip.parse().unwrap()).collect();
        assert_eq!(s.trusted_proxies, expected);
    }

    #[test]
    fn throttle_limits_default_to_the_contract_and_zero_turns_one_off() {
        let s = Settings::from_lookup(lookup(&[("SESSION_SECRET", SECRET)])).unwrap();
        assert_eq!(s.throttle.login.max_failures, 10);
        assert_eq!(s.throttle.login.window, Duration::from_secs(15 * 60));
        assert_eq!(s.throttle.login.lock, Duration::from_secs(15 * 60));
        assert_eq!(s.throttle.login.max_lock, Duration::from_secs(3600));
        assert_eq!(s.throttle.login_ip.max_failures, 100);
        assert_eq!(s.throttle.reset_emails.max_failures, 3);
        assert_eq!(s.throttle.reset_emails.window, Duration::from_secs(3600));
        assert_eq!(s.throttle.reset_ip.max_failures, 50);
        assert_eq!(s.throttle.register_ip.max_failures, 50);
        assert_eq!(s.throttle.register_ip.window, Duration::from_secs(3600));
        assert_eq!(s.throttle.confirm_emails.max_failures, 3);
        assert_eq!(s.throttle.confirm_emails.window, Duration::from_secs(3600));
        let off =
            Settings::from_lookup(lookup(&[("SESSION_SECRET", SECRET), ("THROTTLE_LOGIN_FAILURES", "0")]))
                .unwrap();
        assert!(off.throttle.login.is_off());
        let err = Settings::from_lookup(lookup(&[("SESSION_SECRET", SECRET), ("THROTTLE_RESET_IP", "lots")]))
            .unwrap_err();
        assert!(err.to_string().contains("THROTTLE_RESET_IP"), "{err}");
    }

    #[test]
    fn a_short_secret_is_refused_with_its_length() {
        let err = Settings::from_lookup(lookup(&[("SESSION_SECRET", "short")])).unwrap_err();
        assert!(err.to_string().contains("at least 64 bytes"), "{err}");
    }

    #[test]
    fn defaults_follow_the_operating_contract() {
        let s = Settings::from_lookup(lookup(&[("SESSION_SECRET", SECRET)])).unwrap();
        assert_eq!(s.database_url, "sqlite://gatehouse.db?mode=rwc");
        assert_eq!(s.bind_addr, "127.0.0.1:8080");
        assert_eq!(s.public_origin, "http://localhost:8080");
        assert_eq!(
            s.allowed_origins,
            ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080"]
        );
        assert_eq!(s.password_min_length, 15);
        assert_eq!(s.session_idle_timeout, Duration::from_secs(12 * 3600));
        assert_eq!(s.session_max_age, Duration::from_secs(24 * 3600));
        assert!(!s.is_https());
        assert!(!s.require_confirmed_email, "`cargo run` logs in right after registering");
    }

    #[test]
    fn require_confirmed_email_is_a_switch_named_in_its_error() {
        let on =
            Settings::from_lookup(lookup(&[("SESSION_SECRET", SECRET), ("REQUIRE_CONFIRMED_EMAIL", "true")]))
                .unwrap();
        assert!(on.require_confirmed_email);
        let err = Settings::from_lookup(lookup(&[
            ("SESSION_SECRET", SECRET),
            ("REQUIRE_CONFIRMED_EMAIL", "maybe"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("REQUIRE_CONFIRMED_EMAIL"), "{err}");
    }

    #[test]
    fn without_public_url_every_loopback_origin_of_the_bound_port_may_post() {
        let s = Settings::from_lookup(lookup(&[("SESSION_SECRET", SECRET), ("BIND_ADDR", "0.0.0.0:3000")]))
            .unwrap();
        assert_eq!(s.public_origin, "http://localhost:3000");
        assert!(s.allowed_origins.contains(&"http://127.0.0.1:3000".to_owned()));
        assert!(s.allowed_origins.contains(&"http://[::1]:3000".to_owned()));
        assert!(!s.allowed_origins.iter().any(|o| o.contains("0.0.0.0")));
    }

    #[test]
    fn password_min_length_below_eight_is_refused() {
        let err = Settings::from_lookup(lookup(&[("SESSION_SECRET", SECRET), ("PASSWORD_MIN_LENGTH", "7")]))
            .unwrap_err();
        assert!(err.to_string().contains("PASSWORD_MIN_LENGTH"), "{err}");
    }

    #[test]
    fn public_url_is_reduced_to_its_origin() {
        let s = Settings::from_lookup(lookup(&[
            ("SESSION_SECRET", SECRET),
            ("PUBLIC_URL", "https://Example.COM/app/"),
        ]))
        .unwrap();
        assert_eq!(s.public_origin, "https://example.com");
        assert_eq!(s.allowed_origins, ["https://example.com"]);
        assert!(s.is_https());
        let with_port = Settings::from_lookup(lookup(&[
            ("SESSION_SECRET", SECRET),
            ("PUBLIC_URL", "https://example.com:443/?x"),
        ]))
        .unwrap();
        assert_eq!(with_port.public_origin, "https://example.com");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let s = Settings::from_lookup(lookup(&[
            ("SESSION_SECRET", SECRET),
            ("DATABASE_URL", "postgres://app:hunter2@db/gatehouse"),
        ]))
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains(SECRET));
        assert!(!printed.contains("hunter2"));
        assert!(printed.contains("postgres://app:[redacted]@db/gatehouse"));
    }

    #[test]
    fn a_development_key_file_is_generated_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("gatehouse-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        let first = dev_secret_from_key_file(&path).unwrap();
        let second = dev_secret_from_key_file(&path).unwrap();
        assert_eq!(first.as_bytes(), second.as_bytes());
        assert!(first.as_bytes().len() >= SessionSecret::MIN_BYTES);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
