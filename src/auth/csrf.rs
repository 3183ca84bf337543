//! CSRF protection: a synchronizer token kept in the session, checked with the `Origin` header on
//! every unsafe request before any handler runs, so a handler cannot forget it.

use actix_session::{Session, SessionExt};
use actix_web::{
    HttpMessage,
    body::{EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
    web::{self, Bytes, BytesMut},
};
use futures_util::StreamExt as _;
use subtle::ConstantTimeEq as _;

use super::session::CSRF_TOKEN;
use crate::{config::Settings, error::AppError, middleware::request_log::loggable_path};

/// The form field every state-changing form carries.
pub const FORM_FIELD: &str = "csrf_token";
/// The header non-form clients may send instead.
pub const HEADER: &str = "x-csrf-token";

/// The session's token, if it has one.
pub fn current_token(session: &Session) -> Option<String> {
    session.get::<String>(CSRF_TOKEN).ok().flatten()
}

/// The session's token, created if needed; call it before rendering a form.
pub fn ensure_token(session: &Session) -> Result<String, AppError> {
    match current_token(session) {
        Some(token) => Ok(token),
        None => rotate(session),
    }
}

/// A new token; login calls it, so a token seen before login is worthless after.
pub fn rotate(session: &Session) -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::internal(anyhow::anyhow!("getrandom: {e}")))?;
    let token = hex::encode(bytes);
    session.insert(CSRF_TOKEN, &token)?;
    Ok(token)
}

/// Refuses unsafe requests from another origin or without the session's token (403), and bodies over
/// the form limit (413). The body it reads is handed on to the handler unchanged.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    // A path no route matches gets the router's 404, not a CSRF refusal.
    if !req.resource_map().has_resource(req.path()) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let settings = req.app_data::<web::Data<Settings>>().cloned();
    let Some(settings) = settings else {
        return Err(AppError::internal(anyhow::anyhow!("settings are not registered")).into());
    };

    if let Err(reason) = check_origin(&req, &settings.public_origin) {
        log::warn!("CSRF: refused {} {}: {reason}", req.method(), loggable_path(req.path()));
        return Ok(req.error_response(AppError::CsrfRejected).map_into_right_body());
    }

    let body = match read_body(&mut req, settings.form_limit_bytes).await {
        Ok(body) => body,
        Err(error) => return Ok(req.error_response(error).map_into_right_body()),
    };
    let submitted = submitted_token(&req, &body);
    let expected = current_token(&req.get_session());
    let valid = match (&submitted, &expected) {
        (Some(submitted), Some(expected)) => bool::from(submitted.as_bytes().ct_eq(expected.as_bytes())),
        _ => false,
    };
    if !valid {
        let reason = match (submitted, expected) {
            (None, _) => "no token submitted",
            (Some(_), None) => "the session has no token (expired or cookie missing)",
            (Some(_), Some(_)) => "the token does not match the session's",
        };
        log::warn!("CSRF: refused {} {}: {reason}", req.method(), loggable_path(req.path()));
        return Ok(req.error_response(AppError::CsrfRejected).map_into_right_body());
    }

    req.set_payload(Payload::from(body));
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// A present `Origin` must be ours; without it a present `Referer` must be; with neither (old
/// clients, curl) the token alone decides.
fn check_origin(req: &ServiceRequest, public_origin: &str) -> Result<(), String> {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("<not text>");
        return if origin.eq_ignore_ascii_case(public_origin) {
            Ok(())
        } else {
            Err(format!("Origin `{origin}` is not `{public_origin}`"))
        };
    }
    if let Some(referer) = req.headers().get(header::REFERER) {
        let referer = referer.to_str().unwrap_or_default();
        let same = referer.len() >= public_origin.len()
            && referer[..public_origin.len()].eq_ignore_ascii_case(public_origin)
            && matches!(referer.as_bytes().get(public_origin.len()), None | Some(b'/'));
        return if same { Ok(()) } else { Err("Referer is another site".to_owned()) };
    }
    Ok(())
}

async fn read_body(req: &mut ServiceRequest, limit: usize) -> Result<Bytes, AppError> {
    if let Some(length) = req.headers().get(header::CONTENT_LENGTH)
        && length.to_str().ok().and_then(|l| l.parse::<usize>().ok()).is_some_and(|l| l > limit)
    {
        return Err(AppError::PayloadTooLarge);
    }
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| AppError::BadRequest)?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn submitted_token(req: &ServiceRequest, body: &Bytes) -> Option<String> {
    if let Some(token) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        return Some(token.to_owned());
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return None;
    }
    // A malformed body is not ours to judge here: the handler's form extractor answers it with 400.
    form_urlencoded_pairs(body).find(|(name, _)| name == FORM_FIELD).map(|(_, value)| value)
}

fn form_urlencoded_pairs(body: &Bytes) -> impl Iterator<Item = (String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default().into_iter()
}
