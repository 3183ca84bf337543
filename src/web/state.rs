//! `AppState`: everything the app shares between workers, registered once as `web::Data<AppState>`.
//! Handlers, extractors and middleware all reach shared state through it and nothing else.

use actix_web::{HttpRequest, cookie::Key, dev::ServiceRequest, web};
use anyhow::Context as _;
use sea_orm::DatabaseConnection;

use crate::{
    auth::{password::PasswordHasher, session_store::SessionPolicy},
    clock::Clock,
    config::Settings,
    mail::Mailer,
    templates::Templates,
};

/// Cloning is cheap: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub settings: Settings,
    pub db: DatabaseConnection,
    pub templates: Templates,
    pub hasher: PasswordHasher,
    pub clock: Clock,
    pub mailer: Mailer,
    /// Signs and encrypts cookies (session, flash); derived from `SESSION_SECRET`.
    pub cookie_key: Key,
}

impl AppState {
    pub fn new(settings: Settings, db: DatabaseConnection, clock: Clock) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            templates: Templates::load().context("loading templates")?,
            hasher: PasswordHasher::default(),
            mailer: Mailer::new(settings.smtp_url.as_deref(), &settings.mail_from)
                .context("configuring email")?,
            cookie_key: Key::from(settings.session_secret.as_bytes()),
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
