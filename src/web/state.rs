//! `AppState`: everything the app shares between workers, registered once as `web::Data<AppState>`.
//! Handlers, extractors and middleware all reach shared state through it and nothing else.

use crate::db::Db;
use actix_web::{HttpRequest, cookie::Key, dev::ServiceRequest, web};
use anyhow::Context as _;

use crate::{
    auth::{
        passkeys::RelyingParty, password::PasswordHasher, session_store::SessionPolicy,
        two_factor::SecretKeys,
    },
    clock::Clock,
    config::{SessionSecret, Settings},
    mail::Mailer,
    templates::Templates,
    tokens,
};

/// Cloning is cheap: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub settings: Settings,
    pub db: Db,
    pub templates: Templates,
    pub hasher: PasswordHasher,
    pub clock: Clock,
    pub mailer: Mailer,
    /// The keys of every cookie, derived from `SESSION_SECRET`.
    pub keys: CookieKeys,
    /// The same from `SESSION_SECRET_PREVIOUS` while a secret is being rotated out.
    pub previous_keys: Option<CookieKeys>,
    /// Seal TOTP secrets at rest, derived from `SESSION_SECRET` (and its previous value).
    pub two_factor_keys: SecretKeys,
    /// This site as a WebAuthn relying party; `None` (passkeys off, said at start-up) when the public
    /// origin's host is an IP address.
    pub passkeys: Option<RelyingParty>,
}

/// One key per cookie, each derived from the whole secret for its purpose alone.
#[derive(Clone)]
pub struct CookieKeys {
    /// Encrypts the session cookie (which holds only the random session key).
    pub session: Key,
    /// Signs the CSRF cookie of visitors who are not logged in.
    pub csrf: Key,
    /// Encrypts the flash-message cookie (a message may name an address).
    pub flash: Key,
    /// Encrypts the device cookie that exempts a known browser from others' failed logins; during the
    /// change from signed device cookies, also verifies the older ones.
    pub device: Key,
    /// Encrypts the cookie that carries a reset link's token hash from the link to the form.
    pub reset: Key,
    /// Encrypts the cookie that holds a passkey sign-in's challenge and state for five minutes.
    pub passkey: Key,
}

impl CookieKeys {
    pub fn derive(secret: &SessionSecret) -> Self {
        let key = |purpose| Key::from(&tokens::derive_key(secret.as_bytes(), purpose));
        Self {
            session: key("session cookie"),
            csrf: key("csrf cookie"),
            flash: key("flash cookie"),
            device: key("device cookie"),
            reset: key("reset cookie"),
            passkey: key("passkey cookie"),
        }
    }
}

impl AppState {
    pub fn new(settings: Settings, db: Db, clock: Clock) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            templates: Templates::load().context("loading templates")?,
            hasher: PasswordHasher::new(settings.hash_threads, settings.hash_queue_limit),
            mailer: Mailer::new(settings.smtp_url.as_deref(), &settings.mail_from)
                .context("configuring email")?,
            keys: CookieKeys::derive(&settings.session_secret),
            previous_keys: settings.session_secret_previous.as_ref().map(CookieKeys::derive),
            two_factor_keys: SecretKeys::derive(
                &settings.session_secret,
                settings.session_secret_previous.as_ref(),
            ),
            passkeys: match RelyingParty::new(&settings.public_origin) {
                Ok(rp) => Some(rp),
                Err(error) => {
                    log::warn!("{error}");
                    None
                }
            },
            settings,
            clock,
        })
    }

    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy::new(self.settings.session_idle_timeout, self.settings.session_max_age)
    }

    /// The state of the app serving `req`; `None` only in an app built without `startup::app`.
    pub fn of(req: &HttpRequest) -> Option<web::Data<Self>> {
        req.app_data::<web::Data<Self>>().cloned()
    }

    /// The same, from inside a middleware.
    pub fn of_service(req: &ServiceRequest) -> Option<web::Data<Self>> {
        req.app_data::<web::Data<Self>>().cloned()
    }
}
