//! The loader as the web layer runs it: once per request, before the CSRF check and the routes, leaving
//! a `CurrentUser` in the request's extensions for the guard, the handlers and the layout.

use std::future::{Ready, ready};

use actix_identity::IdentityExt as _;
use actix_session::SessionExt as _;
use actix_web::{
    FromRequest, HttpMessage, HttpRequest,
    body::{EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    middleware::Next,
};

use super::{AppError, AppState};
use crate::auth::{
    loader::{CurrentUser, LoadOutcome, load},
    session,
};

/// Middleware: runs the loader and leaves a `CurrentUser` in the request's extensions when logged in.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let identity = req.get_identity().ok();
    let user_id = identity.as_ref().and_then(|identity| identity.id().ok());
    let Some(state) = AppState::of_service(&req) else {
        return Err(AppError::internal(anyhow::anyhow!("the app state is not registered")).into());
    };
    let session_epoch = session::recorded_epoch(&req.get_session());
    match load(&state.db, user_id, session_epoch).await {
        Ok(LoadOutcome::LoggedIn(user)) => {
            req.extensions_mut().insert(user);
        }
        Ok(LoadOutcome::Anonymous) => {}
        Ok(LoadOutcome::Rejected { user_id, reason }) => {
            log::warn!("logged out the session of user {user_id}: {reason}");
            if let Some(identity) = identity {
                identity.logout();
            }
        }
        Err(error) => {
            return Ok(req.error_response(AppError::from(error)).map_into_right_body());
        }
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// Extractor for handlers in the protected scope. The guard has already proven there is a user; this
/// only reads what the loader left, so a page view costs one user query.
impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<CurrentUser>().cloned().ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "CurrentUser extracted outside the login guard: register the route in the protected scope"
            ))
        }))
    }
}

/// Extractor for public pages that look different when someone is logged in.
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequest for MaybeUser {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(MaybeUser(req.extensions().get::<CurrentUser>().cloned())))
    }
}
