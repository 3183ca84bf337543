//! "Remember me": such a session's cookie lasts 30 days instead of ending with the browser. It stays a
//! server-side session (listed, revocable, ended by logout); only the cookie's lifetime differs.
//! actix-session's cookie lifetime is one setting for all sessions, so this adjusts it per response.

use actix_session::SessionExt as _;
use actix_web::{
    HttpMessage as _,
    body::MessageBody,
    cookie::{Cookie, time::Duration},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderValue, SET_COOKIE},
    middleware::Next,
};

use super::{AppState, session::session_cookie_name};
use crate::auth::{session::REMEMBER, session_store::SessionPolicy};

/// Marks, in the request, that its session is a remember-me one.
struct Remembered;

/// Inside the session middleware: notes whether the session (as the handler left it) is remembered.
pub async fn mark(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let res = next.call(req).await?;
    if res.request().get_session().get::<bool>(REMEMBER).ok().flatten() == Some(true) {
        res.request().extensions_mut().insert(Remembered);
    }
    Ok(res)
}

/// Outside the session middleware: gives a remembered session's new cookie a 30-day `Max-Age`.
pub async fn extend_cookie(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let cookie_name = AppState::of_service(&req).map(|state| session_cookie_name(&state.settings));
    let mut res = next.call(req).await?;
    let remembered = res.request().extensions().get::<Remembered>().is_some();
    let Some(cookie_name) = cookie_name.filter(|_| remembered) else {
        return Ok(res);
    };
    let headers = res.headers_mut();
    let set_cookies: Vec<HeaderValue> = headers.get_all(SET_COOKIE).cloned().collect();
    headers.remove(SET_COOKIE);
    let max_age = Duration::seconds(SessionPolicy::REMEMBER_MAX_AGE.as_secs().try_into().unwrap_or(i64::MAX));
    for value in set_cookies {
        let adjusted =
            value.to_str().ok().and_then(|raw| Cookie::parse(raw.to_owned()).ok()).and_then(|mut c| {
                let is_removal = c.max_age().is_some_and(|age| age.is_zero());
                (c.name() == cookie_name && !is_removal).then(|| {
                    c.set_max_age(max_age);
                    c.to_string()
                })
            });
        match adjusted.and_then(|c| HeaderValue::from_str(&c).ok()) {
            Some(longer) => headers.append(SET_COOKIE, longer),
            None => headers.append(SET_COOKIE, value),
        }
    }
    Ok(res)
}
