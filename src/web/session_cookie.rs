//! The session cookie on its way in and out, around actix-session:
//! - rotating `SESSION_SECRET` without logging everybody out: while `SESSION_SECRET_PREVIOUS` is
//!   set, a session cookie sealed with the previous secret's key is opened with it, handed to
//!   actix-session re-sealed with the current key, and sent back to the browser re-sealed. (The
//!   app's own small cookies read the previous key themselves: `web::cookies::open`.)
//! - a cookie whose session is over (logged out elsewhere, revoked, expired) is removed by the
//!   answer. Left in place, it would be looked up, and warned about, on every request the browser
//!   makes.
//!
//! Both are one layer, since both only add the session cookie's Set-Cookie when the answer sets
//! none of its own (a login sets a new one).

use actix_web::{
    body::MessageBody,
    cookie::{Cookie, CookieJar, Key},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{COOKIE, HeaderValue},
    middleware::Next,
};

use super::{AppState, cookies, session::session_cookie_name};
use crate::auth::session_store;

/// Between the session middleware (inside) and the remember-me cookie lifetime (outside), which
/// gives a re-sealed remembered cookie its 30 days again.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = AppState::of_service(&req) else {
        return next.call(req).await;
    };
    let name = session_cookie_name(&state.settings);
    let resealed = reseal_with_current_key(&mut req, &state, name);

    let mut res = next.call(req).await?;
    if cookies::is_set_by(&res, name) {
        return Ok(res);
    }
    // Read after the call: the store notes it while actix-session loads the session.
    let cookie = if session_store::cookie_named_an_ended_session() {
        let mut removal = cookies::session_like(&state.settings, name, String::new());
        removal.make_removal();
        removal
    } else if let Some(resealed) = resealed {
        cookies::session_like(&state.settings, name, resealed)
    } else {
        return Ok(res);
    };
    res.response_mut().add_cookie(&cookie)?;
    Ok(res)
}

/// A session cookie that only the previous key opens is replaced in the request by the same
/// session key sealed with the current one, which is returned for the answer to send back.
fn reseal_with_current_key(req: &mut ServiceRequest, state: &AppState, name: &str) -> Option<String> {
    let previous = state.previous_keys.as_ref()?;
    // The header is read by hand: `req.cookie()` would cache the old value for actix-session.
    let sealed = raw_cookie(req, name)?;
    if open(name, &sealed, &state.keys.session).is_some() {
        return None;
    }
    let session_key = open(name, &sealed, &previous.session)?;
    let resealed = seal(name, session_key, &state.keys.session);
    replace_cookie(req, name, resealed.value());
    Some(resealed.value().to_owned())
}

/// The request's cookies, parsed as actix-web parses them (percent-decoded).
fn request_cookies(req: &ServiceRequest) -> Vec<Cookie<'static>> {
    req.headers()
        .get_all(COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| Cookie::parse_encoded(pair.trim().to_owned()).ok())
        .collect()
}

fn raw_cookie(req: &ServiceRequest, name: &str) -> Option<String> {
    request_cookies(req).into_iter().find(|c| c.name() == name).map(|c| c.value().to_owned())
}

fn replace_cookie(req: &mut ServiceRequest, name: &str, new: &str) {
    let header: Vec<String> = request_cookies(req)
        .into_iter()
        .map(|mut cookie| {
            if cookie.name() == name {
                cookie.set_value(new.to_owned());
            }
            cookie.encoded().to_string()
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&header.join("; ")) {
        req.headers_mut().insert(COOKIE, value);
    }
}

fn open(name: &str, sealed: &str, key: &Key) -> Option<String> {
    let mut jar = CookieJar::new();
    jar.add_original(Cookie::new(name.to_owned(), sealed.to_owned()));
    jar.private(key).get(name).map(|c| c.value().to_owned())
}

fn seal(name: &str, value: String, key: &Key) -> Cookie<'static> {
    let mut jar = CookieJar::new();
    jar.private_mut(key).add(Cookie::new(name.to_owned(), value));
    jar.get(name).cloned().unwrap_or_else(|| Cookie::new(name.to_owned(), String::new()))
}
