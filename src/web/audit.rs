//! The security log as handlers use it: an extractor that takes the request's metadata (client IP,
//! user agent, request id) once, so recording an event is one line.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpMessage as _, HttpRequest, dev::Payload, web};

use super::{AppError, AppState, client, request_log::RequestId};
use crate::{
    audit::{self, Event, Origin},
    auth::{accounts::PasswordCheck, throttle::Settlement},
};

pub struct Audit {
    state: web::Data<AppState>,
    origin: Origin,
}

impl Audit {
    /// Records `event` about `user_id` (if any), from this request.
    pub async fn record(&self, event: Event, user_id: Option<i64>, detail: Option<String>) {
        audit::record(&self.state.db, &self.state.clock, event, user_id, &self.origin, detail).await;
    }

    /// Records a completed login of `user_id` from this request, settling what a password login
    /// owes the throttle counters (`audit::record_login`).
    pub async fn record_login(
        &self,
        user_id: i64,
        detail: Option<String>,
        settlement: Option<Settlement>,
    ) -> Result<(), sea_orm::DbErr> {
        let settle = settlement.map(Settlement::into_success);
        audit::record_login(&self.state.db, &self.state.clock, user_id, &self.origin, detail, settle).await
    }

    /// Records without making the request wait: for events whose timing must not reveal whether an
    /// account exists.
    pub fn record_in_background(&self, event: Event, user_id: Option<i64>, detail: Option<String>) {
        let (state, origin) = (self.state.clone(), self.origin.clone());
        actix_web::rt::spawn(async move {
            audit::record(&state.db, &state.clock, event, user_id, &origin, detail).await;
        });
    }

    /// What checks a current password typed into a form that asks for it again, recording wrong
    /// ones and locks as this request's.
    pub fn password_check(&self) -> PasswordCheck<'_> {
        let state = &self.state;
        PasswordCheck {
            hasher: &state.hasher,
            clock: &state.clock,
            limits: &state.settings.throttle,
            origin: &self.origin,
        }
    }

    /// Where the request came from, for work that outlives it.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
}

/// Where `req` came from.
pub fn origin_of(req: &HttpRequest, trusted_proxies: &[std::net::IpAddr]) -> Origin {
    Origin {
        ip: client::client_ip(req, trusted_proxies),
        user_agent: client::user_agent(req),
        request_id: req.extensions().get::<RequestId>().map(|id| id.0.clone()),
    }
}

impl FromRequest for Audit {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match AppState::of(req) {
            Some(state) => {
                let origin = origin_of(req, &state.settings.trusted_proxies);
                Ok(Self { state, origin })
            }
            None => Err(AppError::internal(anyhow::anyhow!("the app state is not registered"))),
        })
    }
}
