use actix_identity::Identity;
use actix_session::SessionExt as _;
use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
};

use crate::{
    audit::Event,
    web::{
        AppError, MaybeUser, Route,
        audit::Audit,
        csrf,
        error_body::{json_refusal, wants_json},
        flash, see_other, views,
    },
};

/// Ends this session on the server: the row is deleted, so the old cookie is worthless even replayed.
pub async fn submit(
    req: HttpRequest,
    identity: Option<Identity>,
    user: MaybeUser,
    audit: Audit,
) -> Result<HttpResponse, AppError> {
    match identity {
        Some(identity) => identity.logout(),
        // Not logged in, but a session may still hold a login waiting for its second factor: it
        // ends here too (the row is deleted), so the code page is no longer reachable.
        None => req.get_session().purge(),
    }
    if let Some(user) = user.0 {
        audit.record(Event::LoggedOut, Some(user.id), None).await;
    }
    flash::send(&req, flash::Level::Info, "You have been logged out.");
    Ok(see_other(Route::Login))
}

/// `GET /logout` (a typed or bookmarked address) stays a 405: logging out by GET would let any page
/// log a visitor out with an image tag. But the page offers the button that does it, so whoever came
/// here to log out can.
pub async fn page(req: HttpRequest, user: MaybeUser) -> Result<HttpResponse, AppError> {
    let mut res = if wants_json(req.headers()) {
        json_refusal(&req, StatusCode::METHOD_NOT_ALLOWED, "Log out with POST /logout.".to_owned(), false)
    } else {
        if user.0.is_some() {
            csrf::form_token(&req)?;
        }
        views::render(&req, StatusCode::METHOD_NOT_ALLOWED, "logout.html", tera::Context::new())?
    };
    res.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    Ok(res)
}
