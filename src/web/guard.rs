//! The login guard on the protected scope: the one place that decides "logged in or not".

use actix_web::{
    HttpMessage, HttpResponse,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{AppError, Route, error_body::wants_json, flash};
use crate::auth::CurrentUser;

/// What a `next` value may leave unescaped: unreserved characters and `/`.
const NEXT_ENCODE_SET: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

pub const LOGIN_REQUIRED_MESSAGE: &str = "Please log in to access this page.";

/// Lets logged-in requests through; sends anonymous ones to the login page with `next` and a flash.
pub async fn require_login(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if req.extensions().get::<CurrentUser>().is_some() {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    // A program asking for JSON gets a status it can act on, not a login page.
    if wants_json(req.headers()) {
        return Ok(req.error_response(AppError::Unauthorized).map_into_right_body());
    }
    let location = format!("{}?next={}", Route::Login.path(), encode_next(req.uri()));
    flash::send(req.request(), flash::Level::Info, LOGIN_REQUIRED_MESSAGE);
    let response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish();
    Ok(req.into_response(response).map_into_right_body())
}

/// The path and query the visitor asked for, percent-encoded as one query value.
fn encode_next(uri: &actix_web::http::Uri) -> String {
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    utf8_percent_encode(path_and_query, NEXT_ENCODE_SET).to_string()
}

/// Inside `require_login` on the admin scope: a logged-in user who is not an administrator gets the
/// 403 page (or JSON).
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let is_admin = req.extensions().get::<CurrentUser>().is_some_and(CurrentUser::is_admin);
    if is_admin {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    Ok(req.error_response(AppError::Forbidden).map_into_right_body())
}
