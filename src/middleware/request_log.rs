//! Gives each request an id, makes it visible to every log line written while serving it, and writes
//! one access line per request: id, method, path, status, latency. Never the query string or a cookie.

use std::time::Instant;

use actix_web::{
    HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
};

use crate::telemetry::REQUEST_ID;

/// The id of the current request, in its extensions, for the 500/503 pages.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = new_request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let started = Instant::now();
    let method = req.method().clone();
    // Routes whose path holds a secret are logged by their pattern, never their value.
    let path = loggable_path(req.path());

    let result = REQUEST_ID.scope(id.clone(), next.call(req)).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    REQUEST_ID.sync_scope(id.clone(), || match &result {
        Ok(res) => log::info!("{method} {path} {} {elapsed_ms:.1}ms", res.status().as_u16()),
        Err(error) => {
            let status = error.as_response_error().status_code().as_u16();
            log::info!("{method} {path} {status} {elapsed_ms:.1}ms");
        }
    });
    let mut res = result?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 8];
    // An id only needs to be unique enough to find a log line; a failure is not worth a 500.
    if getrandom::fill(&mut bytes).is_err() {
        return format!("{:016x}", Instant::now().elapsed().as_nanos());
    }
    hex::encode(bytes)
}

/// The path as it may be logged: a reset token in it is replaced by a placeholder.
pub fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/password-reset/") {
        Some(token) if !token.is_empty() => "/password-reset/[token]".to_owned(),
        _ => path.chars().take(200).collect(),
    }
}
