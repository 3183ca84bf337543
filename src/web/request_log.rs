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

use crate::{
    auth::{loader, session_store},
    telemetry::{self, REQUEST_ID},
};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

    let result = telemetry::scope_request(
        id.clone(),
        loader::scope_request(session_store::scope_request(next.call(req))),
    )
    .await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    REQUEST_ID.sync_scope(id.clone(), || match &result {
        Ok(res) => log::info!("{method} {path} {} {elapsed_ms:.1}ms", res.status().as_u16()),
        Err(error) => {
            let status = error.as_response_error().status_code().as_u16();
            log::info!("{method} {path} {status} {elapsed_ms:.1}ms");
        }
    });
    let value = HeaderValue::from_str(&id).ok();
    match result {
        Ok(mut res) => {
            if let Some(value) = value {
                res.headers_mut().insert(X_REQUEST_ID, value);
            }
            Ok(res)
        }
        // A middleware failed and took the request with it: its response carries the id too.
        Err(error) => {
            let mut response = error.error_response();
            if let Some(value) = value {
                response.headers_mut().insert(X_REQUEST_ID, value);
            }
            Err(actix_web::error::InternalError::from_response(error, response).into())
        }
    }
}

fn new_request_id() -> String {
    // An id only needs to be unique enough to find a log line; a failure is not worth a 500.
    crate::tokens::random_hex::<8>()
        .unwrap_or_else(|_| format!("{:016x}", Instant::now().elapsed().as_nanos()))
}

/// The path as it may be logged: whatever follows `password-reset/` or `confirm-email/` (a token from
/// an emailed link) is replaced by a placeholder, found on the decoded path, as the router sees it
/// (`/%70assword-reset/<token>`), and wherever it stands (`/x/../password-reset/<token>` does not
/// route, but its token is still a secret).
pub fn loggable_path(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let collapsed = collapse_slashes(&decoded).to_ascii_lowercase();
    // Each marker, with the one path after it that is not a token.
    let secret_follows =
        [("password-reset/", "set-password"), ("confirm-email/", "")].iter().any(|(marker, not_a_token)| {
            collapsed.match_indices(marker).any(|(at, _)| {
                let rest = &collapsed[at + marker.len()..];
                !rest.is_empty() && rest != *not_a_token
            })
        });
    if secret_follows {
        "[a path with a token from an emailed link]".to_owned()
    } else {
        path.chars().take(200).collect()
    }
}

fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn a_reset_token_never_reaches_the_log_however_the_path_is_spelled() {
        for path in [
            "/password-reset/SECRET",
            "/%70assword-reset/SECRET",
            "/password-reset/SECRET/",
            "//password-reset//SECRET",
            "/Password-Reset/SECRET",
            "/password%2Dreset/SECRET",
            "/./password-reset/SECRET",
            "/x/../password-reset/SECRET",
            "/x/%2e%2e/password-reset/SECRET",
            "/confirm-email/SECRET",
            "/%63onfirm-email/SECRET",
            "//confirm-email//SECRET/",
        ] {
            let logged = loggable_path(path);
            assert!(!logged.contains("SECRET"), "{path} logged as {logged}");
        }
    }

    #[test]
    fn other_paths_are_logged_as_sent() {
        assert_eq!(loggable_path("/dashboard"), "/dashboard");
        assert_eq!(loggable_path("/password-reset/set-password"), "/password-reset/set-password");
        assert_eq!(loggable_path("/password-reset"), "/password-reset");
        assert_eq!(loggable_path("/confirm-email"), "/confirm-email");
    }
}
