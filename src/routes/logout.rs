use actix_identity::Identity;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::{
    audit::{self, Event},
    auth::MaybeUser,
    error::AppError,
    flash, routes,
    startup::AppState,
};

/// Ends this session on the server: the row is deleted, so the old cookie is worthless even replayed.
pub async fn submit(
    req: HttpRequest,
    identity: Option<Identity>,
    user: MaybeUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if let Some(identity) = identity {
        identity.logout();
    }
    if let Some(user) = user.0 {
        let origin = audit::Origin::of(&req, &state.settings.trusted_proxies);
        audit::record(&state.db, &state.clock, Event::LoggedOut, Some(user.id), &origin, None).await;
    }
    flash::send(&req, flash::Level::Info, "You have been logged out.");
    routes::see_other(&req, "login")
}
