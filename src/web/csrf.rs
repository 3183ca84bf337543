//! The CSRF check: every unsafe request, whatever its path, before any handler runs.

use actix_session::SessionExt as _;
use actix_web::{
    HttpMessage as _,
    body::{EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
    web::{Bytes, BytesMut},
};
use futures_util::StreamExt as _;

use super::{AppError, AppState, request_log::loggable_path};
use crate::auth::csrf::{self, FORM_FIELD, HEADER};

/// Refuses unsafe requests from another origin or without the session's token (403), bodies over
/// the form limit (413) and form bodies that are not well-formed urlencoded UTF-8 (400). The body it
/// reads is handed on to the handler unchanged.
///
/// Every unsafe method is checked, whatever its path: the router matches the percent-*decoded* path,
/// so any decision taken here on the path (raw or decoded) could be routed around (`/%6cogout`).
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if is_safe(req.method()) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let Some(state) = AppState::of_service(&req) else {
        return Err(AppError::internal(anyhow::anyhow!("the app state is not registered")).into());
    };
    let settings = &state.settings;

    if let Err(reason) = check_origin(&req, &settings.allowed_origins) {
        log::warn!("CSRF: refused {} {}: {reason}", req.method(), loggable_path(req.path()));
        return Ok(req.error_response(AppError::CsrfRejected).map_into_right_body());
    }

    let body = match read_body(&mut req, settings.form_limit_bytes).await {
        Ok(body) => body,
        Err(error) => return Ok(req.error_response(error).map_into_right_body()),
    };
    let is_form = is_form(&req);
    if is_form && !is_well_formed_form(&body) {
        log::info!(
            "refused {} {}: the form body is not urlencoded UTF-8",
            req.method(),
            loggable_path(req.path())
        );
        return Ok(req.error_response(AppError::BadRequest).map_into_right_body());
    }
    let submitted = submitted_token(&req, is_form, &body);
    let expected = csrf::current_token(&req.get_session());
    let valid = match (&submitted, &expected) {
        (Some(submitted), Some(expected)) => csrf::matches(submitted, expected),
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

/// Methods that must not change anything (RFC 9110 §9.2.1); every other method is checked.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// A present `Origin` must be one of ours; without it a present `Referer` must be; with neither (old
/// clients, curl) the token alone decides.
fn check_origin(req: &ServiceRequest, allowed: &[String]) -> Result<(), String> {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("<not text>");
        return if allowed.iter().any(|ours| origin.eq_ignore_ascii_case(ours)) {
            Ok(())
        } else {
            Err(format!("Origin `{origin}` is not one of {allowed:?}"))
        };
    }
    if let Some(referer) = req.headers().get(header::REFERER) {
        let referer = referer.to_str().unwrap_or_default();
        let same = allowed.iter().any(|ours| {
            referer.len() >= ours.len()
                && referer.as_bytes()[..ours.len()].eq_ignore_ascii_case(ours.as_bytes())
                && matches!(referer.as_bytes().get(ours.len()), None | Some(b'/'))
        });
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

fn is_form(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
}

fn submitted_token(req: &ServiceRequest, is_form: bool, body: &Bytes) -> Option<String> {
    if let Some(token) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        return Some(token.to_owned());
    }
    if !is_form {
        return None;
    }
    form_urlencoded_pairs(body).find(|(name, _)| name == FORM_FIELD).map(|(_, value)| value)
}

fn form_urlencoded_pairs(body: &Bytes) -> impl Iterator<Item = (String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default().into_iter()
}

/// True when every `%` starts an escape of two hex digits and every name and value decodes to UTF-8.
/// The usual parsers repair such bodies silently (U+FFFD, a literal `%`), which would turn garbage
/// into a validation message instead of the 400 it is.
pub fn is_well_formed_form(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').flat_map(|pair| pair.split(|b| *b == b'=')).all(|part| {
        let mut decoded = Vec::with_capacity(part.len());
        let mut bytes = part.iter();
        while let Some(&byte) = bytes.next() {
            match byte {
                b'%' => {
                    let (Some(high), Some(low)) = (bytes.next(), bytes.next()) else { return false };
                    let (Some(high), Some(low)) = (hex_value(*high), hex_value(*low)) else { return false };
                    decoded.push(high << 4 | low);
                }
                b'+' => decoded.push(b' '),
                other => decoded.push(other),
            }
        }
        std::str::from_utf8(&decoded).is_ok()
    })
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).and_then(|v| u8::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::is_well_formed_form;

    #[test]
    fn well_formed_forms_pass() {
        for body in ["", "a=b", "a=b&c=", "name=J%C3%BCrgen+M", "x=%2F%2f", "flag", "a=b&&c=d"] {
            assert!(is_well_formed_form(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn broken_escapes_and_invalid_utf8_fail() {
        for body in [&b"a=%zz"[..], b"a=%4", b"a=%", b"a=%ff", b"a=%C3", b"a=\xff", b"%80=x", b"a=b&c=%e2%82"]
        {
            assert!(!is_well_formed_form(body), "{}", String::from_utf8_lossy(body));
        }
        assert!(!is_well_formed_form(&[b'a', b'=', 0xff]));
    }
}
