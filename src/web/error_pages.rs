//! Every 4xx/5xx that a handler did not render itself gets the app's own error page here (or JSON for
//! clients that accept only JSON), with the right status and no internals. Server errors are logged
//! here, once, with their cause chain and the request id that the page shows.

use actix_web::{
    HttpMessage, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{StatusCode, header},
    middleware::Next,
};

use super::{
    AppError, AppState,
    error_body::{ErrorPage, wants_json},
    request_log::RequestId,
    security_headers,
    views::base_context,
};
use crate::{telemetry, templates::Templates};

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Holding a clone of the request across `next.call` would stop the router from matching it, so
    // what the failure path needs is copied out first.
    let templates = AppState::of_service(&req).map(|state| state.templates.clone());
    let json = wants_json(req.headers());
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    let res = match next.call(req).await {
        Ok(res) => res.map_into_boxed_body(),
        // A middleware (the session store) failed and the request is gone: answer without it.
        Err(error) => return Err(page_without_request(&error, templates, json, request_id)),
    };
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_rendered(&res) {
        return Ok(res);
    }

    let error = res.response().error();
    let status = effective_status(status, error);
    if status.is_server_error() {
        log_server_error(status, error);
    }
    let app_error = error.and_then(|e| e.as_error::<AppError>());
    let csrf_refusal = app_error.filter(|e| matches!(e, AppError::CsrfRejected));
    // Refusals whose own words say what happened and what to do; other errors get the status's page.
    let message = app_error
        .filter(|e| matches!(e, AppError::CsrfRejected | AppError::PasswordChecksLocked { .. }))
        .map(ToString::to_string);

    let mut page = ErrorPage::new(status, message, request_id);
    // Locked re-checks: the way out is the one the login's 429 page offers, a password reset.
    page.offer_reset = app_error.is_some_and(|e| matches!(e, AppError::PasswordChecksLocked { .. }));
    if csrf_refusal.is_some() {
        // Reloading a refused POST would send it again, refused again: link back to the form instead.
        page.back = Some(form_page(res.request()));
    }
    let (content_type, body) = if json {
        page.json()
    } else {
        let mut context = base_context(res.request());
        page.fill(&mut context);
        page.html(templates.as_ref(), &context)
    };
    let mut response = HttpResponse::build(status);
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.append_header((name.clone(), value.clone()));
        }
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
    }
    let response = response.content_type(content_type).body(body);
    let (request, _) = res.into_parts();
    Ok(ServiceResponse::new(request, response))
}

/// actix-session turns every store failure into an opaque 500 whose cause cannot be downcast; the
/// store marks the request when its failure was the database being unreachable (see `telemetry`).
/// A typed `AppError` already chose its own status and is left alone.
fn effective_status(status: StatusCode, error: Option<&actix_web::Error>) -> StatusCode {
    let typed = error.is_some_and(|e| e.as_error::<AppError>().is_some());
    if status == StatusCode::INTERNAL_SERVER_ERROR && !typed && telemetry::database_was_unavailable() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        status
    }
}

/// How long a client should wait before retrying after a 503: long enough for a failover.
const RETRY_AFTER_SECONDS: &str = "5";

fn log_server_error(status: StatusCode, error: Option<&actix_web::Error>) {
    let cause = error.map_or_else(|| "no error attached".to_owned(), |e| format!("{e:?}"));
    log::error!("answered {}: {cause}", status.as_u16());
}

/// The page for a failure that left no request behind: same look, no user-specific parts.
fn page_without_request(
    error: &actix_web::Error,
    templates: Option<Templates>,
    json: bool,
    request_id: Option<String>,
) -> actix_web::Error {
    let status = effective_status(error.as_response_error().status_code(), Some(error));
    if status.is_server_error() {
        log_server_error(status, Some(error));
    }
    let page = ErrorPage::new(status, None, request_id);
    let (content_type, body) = if json {
        page.json()
    } else {
        let mut context = tera::Context::new();
        context.insert("current_user", &None::<()>);
        context.insert("flashes", &Vec::<()>::new());
        context.insert("csrf_token", "");
        context.insert("form_failed", &false);
        page.fill(&mut context);
        page.html(templates.as_ref(), &context)
    };
    let mut response = HttpResponse::build(status);
    response.content_type(content_type);
    for (name, value) in security_headers::FIXED {
        response.insert_header((name, value));
    }
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
    }
    actix_web::error::InternalError::from_response(page.title, response.body(body)).into()
}

/// The page a refused form came from: the `Referer`'s path when it is one of ours and a safe relative
/// path, else the home page.
fn form_page(req: &actix_web::HttpRequest) -> String {
    let settings = AppState::of(req).map(|state| state.settings.allowed_origins.clone()).unwrap_or_default();
    req.headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|referer| settings.iter().find_map(|origin| referer.strip_prefix(origin.as_str())))
        .and_then(crate::auth::safe_next::safe_next)
        .unwrap_or_else(|| "/".to_owned())
}

fn is_rendered(res: &ServiceResponse<BoxBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html") || ct.starts_with("application/json"))
}
