//! Rotating `SESSION_SECRET` without logging everybody out: while `SESSION_SECRET_PREVIOUS` is set,
//! a session cookie sealed with the previous secret's key is opened with it, handed to actix-session
//! re-sealed with the current key, and sent back to the browser re-sealed. (The app's own small
//! cookies read the previous key themselves: `web::cookies::open`.)

use actix_web::{
    body::MessageBody,
    cookie::{Cookie, CookieJar, Key},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{COOKIE, HeaderValue},
    middleware::Next,
};

use super::{AppState, cookies, session::session_cookie_name};

/// Between the session middleware (inside) and the remember-me cookie lifetime (outside), which
/// gives a re-sealed remembered cookie its 30 days again.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = AppState::of_service(&req) else {
        return next.call(req).await;
    };
    let Some(previous) = state.previous_keys.as_ref().map(|keys| keys.session.clone()) else {
        return next.call(req).await;
    };
    let name = session_cookie_name(&state.settings);
    // The header is read by hand: `req.cookie()` would cache the old value for actix-session.
    let Some(sealed) = raw_cookie(&req, name) else {
        return next.call(req).await;
    };
    if open(name, &sealed, &state.keys.session).is_some() {
        return next.call(req).await;
    }
    let Some(session_key) = open(name, &sealed, &previous) else {
        return next.call(req).await;
    };
    let resealed = seal(name, session_key, &state.keys.session);
    replace_cookie(&mut req, name, resealed.value());

    let mut res = next.call(req).await?;
    if !cookies::is_set_by(&res, name) {
        let cookie = cookies::session_like(&state.settings, name, resealed.value().to_owned());
        res.response_mut().add_cookie(&cookie)?;
    }
    Ok(res)
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
