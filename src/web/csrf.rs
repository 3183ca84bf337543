//! The CSRF check: every unsafe request, whatever its path, before any handler runs.
//!
//! A logged-in user's token lives in their server-side session. A visitor who is not logged in has no
//! session (looking at the login form must not write to the database): their token lives in a
//! signed cookie of its own, and is replaced by the session's at login.

use actix_session::SessionExt as _;
use actix_web::{
    HttpMessage as _, HttpRequest,
    body::{EitherBody, MessageBody},
    cookie::Cookie,
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
    web::{Bytes, BytesMut},
};
use futures_util::StreamExt as _;

use super::{
    AppError, AppState,
    cookies::{self, Protection},
    request_log::loggable_path,
};
use crate::{
    auth::{
        CurrentUser,
        csrf::{self, FORM_FIELD, HEADER},
    },
    tokens,
};

/// How long a client may take to send a form body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The cookie that holds a visitor's token (signed with the CSRF key).
const VISITOR_COOKIE: &str = "gatehouse_csrf";

/// A visitor token to set on the way out: new, or re-sealed with the current key.
struct VisitorTokenToSet(String);

/// Set by `web::session::begin_login`: the visitor token is replaced by the session's.
pub struct LoggedInNow;

fn logged_in(req: &HttpRequest) -> bool {
    req.extensions().get::<CurrentUser>().is_some()
}

/// The visitor token of this request: one queued for setting, or the cookie's.
fn visitor_token(req: &HttpRequest, state: &AppState) -> Option<String> {
    if let Some(queued) = req.extensions().get::<VisitorTokenToSet>() {
        return Some(queued.0.clone());
    }
    let previous = state.previous_keys.as_ref().map(|keys| &keys.csrf);
    let opened =
        cookies::open(req, &state.settings, VISITOR_COOKIE, &state.keys.csrf, previous, Protection::Signed)?;
    if opened.with_previous_key {
        req.extensions_mut().insert(VisitorTokenToSet(opened.value.clone()));
    }
    Some(opened.value)
}

/// The token this request's forms must carry, if it has one yet (for the layout).
pub fn current_form_token(req: &HttpRequest) -> Option<String> {
    if logged_in(req) {
        return csrf::current_token(&req.get_session());
    }
    AppState::of(req).and_then(|state| visitor_token(req, &state))
}

/// The token for a form about to be rendered, created when needed.
pub fn form_token(req: &HttpRequest) -> Result<String, AppError> {
    if logged_in(req) {
        return Ok(csrf::ensure_token(&req.get_session())?);
    }
    let state = AppState::of(req)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the app state is not registered")))?;
    if let Some(token) = visitor_token(req, &state) {
        return Ok(token);
    }
    let token = tokens::random_hex::<32>()?;
    req.extensions_mut().insert(VisitorTokenToSet(token.clone()));
    Ok(token)
}

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
        return with_visitor_cookie(next.call(req).await?).map(ServiceResponse::map_into_left_body);
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
    let expected = if logged_in(req.request()) {
        csrf::current_token(&req.get_session())
    } else {
        visitor_token(req.request(), &state)
    };
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
    with_visitor_cookie(next.call(req).await?).map(ServiceResponse::map_into_left_body)
}

/// Sets a new (or re-sealed) visitor token, or removes it once the request has logged in.
fn with_visitor_cookie<B>(mut res: ServiceResponse<B>) -> Result<ServiceResponse<B>, actix_web::Error> {
    let Some(state) = AppState::of(res.request()) else {
        return Ok(res);
    };
    let logged_in_now = res.request().extensions().get::<LoggedInNow>().is_some();
    let cookie: Option<Cookie<'static>> = if logged_in_now {
        let had_one = res.request().cookie(&cookies::name(&state.settings, VISITOR_COOKIE)).is_some();
        had_one.then(|| cookies::removal(&state.settings, VISITOR_COOKIE))
    } else {
        let to_set = res.request().extensions_mut().remove::<VisitorTokenToSet>();
        to_set.map(|VisitorTokenToSet(token)| {
            cookies::sealed(
                &state.settings,
                VISITOR_COOKIE,
                token,
                None,
                &state.keys.csrf,
                Protection::Signed,
            )
        })
    };
    if let Some(cookie) = cookie {
        res.response_mut().add_cookie(&cookie)?;
    }
    Ok(res)
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
    let read = async move {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| AppError::BadRequest)?;
            if body.len() + chunk.len() > limit {
                return Err(AppError::PayloadTooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    // A client that announces a body and sends it slowly (or never) must not hold a worker's slot.
    actix_web::rt::time::timeout(BODY_TIMEOUT, read).await.map_err(|_| AppError::RequestTimeout)?
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
        // A NUL is valid UTF-8 but no field of ours takes one, and Postgres refuses it in text.
        std::str::from_utf8(&decoded).is_ok() && !decoded.contains(&0)
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
        for body in [
            &b"a=%00"[..],
            b"a=b%00c",
            b"a=%zz",
            b"a=%4",
            b"a=%",
            b"a=%ff",
            b"a=%C3",
            b"a=\xff",
            b"%80=x",
            b"a=b&c=%e2%82",
        ] {
            assert!(!is_well_formed_form(body), "{}", String::from_utf8_lossy(body));
        }
        assert!(!is_well_formed_form(&[b'a', b'=', 0xff]));
    }
}
