use actix_identity::Identity;
use actix_web::{HttpRequest, HttpResponse};

use crate::{error::AppError, flash, routes};

/// Ends this session on the server: the row is deleted, so the old cookie is worthless even replayed.
pub async fn submit(req: HttpRequest, identity: Option<Identity>) -> Result<HttpResponse, AppError> {
    if let Some(identity) = identity {
        identity.logout();
    }
    flash::send(&req, flash::Level::Info, "You have been logged out.");
    routes::see_other(&req, "login")
}
