use actix_identity::Identity;
use actix_web::{HttpRequest, HttpResponse};

use crate::{
    audit::Event,
    web::{AppError, MaybeUser, Route, audit::Audit, flash, see_other},
};

/// Ends this session on the server: the row is deleted, so the old cookie is worthless even replayed.
pub async fn submit(
    req: HttpRequest,
    identity: Option<Identity>,
    user: MaybeUser,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    if let Some(identity) = identity {
        identity.logout();
    }
    if let Some(user) = user.0 {
        audit.record(Event::LoggedOut, Some(user.id), None).await;
    }
    flash::send(&req, flash::Level::Info, "You have been logged out.");
    Ok(see_other(Route::Login))
}
