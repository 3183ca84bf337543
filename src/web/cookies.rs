//! The app's own small cookies (visitors' CSRF token, the device cookie, the reset-link cookie, flash
//! messages): one set of attributes for all (HttpOnly, SameSite=Lax, Path=/, and under https `Secure`
//! with the `__Host-` prefix), each signed or encrypted with a key of its own, and read with the
//! previous secret's key too while a secret is rotated out.

use actix_web::{
    HttpRequest,
    cookie::{Cookie, CookieJar, Key, SameSite, time::Duration},
};

use crate::config::Settings;

/// The name a cookie has on this site: `__Host-` prefixed under https.
pub fn name(settings: &Settings, base: &str) -> String {
    if settings.is_https() { format!("__Host-{base}") } else { base.to_owned() }
}

/// A cookie with the app's attributes; `max_age: None` ends with the browser session.
pub fn build(settings: &Settings, base: &str, value: String, max_age: Option<Duration>) -> Cookie<'static> {
    let mut cookie = Cookie::build(name(settings, base), value)
        .path("/")
        .http_only(true)
        .secure(settings.is_https())
        .same_site(SameSite::Lax)
        .finish();
    if let Some(max_age) = max_age {
        cookie.set_max_age(max_age);
    }
    cookie
}

/// The session cookie's attributes (the name is the session's own, `__Host-` included), for a
/// session cookie the app re-seals itself: HttpOnly, SameSite=Lax, Path=/, Secure under https, and
/// a browser-session lifetime (`web::remember` lengthens a remembered one).
pub fn session_like(settings: &Settings, full_name: &str, value: String) -> Cookie<'static> {
    Cookie::build(full_name.to_owned(), value)
        .path("/")
        .http_only(true)
        .secure(settings.is_https())
        .same_site(SameSite::Lax)
        .finish()
}

/// Whether the answer already sets the cookie `full_name` (a middleware must not set it twice).
pub fn is_set_by<B>(res: &actix_web::dev::ServiceResponse<B>, full_name: &str) -> bool {
    res.response().cookies().any(|cookie| cookie.name() == full_name)
}

/// Tells the browser to drop the cookie.
pub fn removal(settings: &Settings, base: &str) -> Cookie<'static> {
    let mut cookie = build(settings, base, String::new(), None);
    cookie.make_removal();
    cookie
}

/// How a cookie is protected.
#[derive(Clone, Copy, Debug)]
pub enum Protection {
    /// Readable, but any change breaks its signature.
    Signed,
    /// Unreadable and unchangeable without the key.
    Private,
}

/// `value` signed or encrypted with `key`, in a cookie with the app's attributes.
pub fn sealed(
    settings: &Settings,
    base: &str,
    value: String,
    max_age: Option<Duration>,
    key: &Key,
    protection: Protection,
) -> Cookie<'static> {
    let cookie = build(settings, base, value, max_age);
    let cookie_name = cookie.name().to_owned();
    let mut jar = CookieJar::new();
    match protection {
        Protection::Signed => jar.signed_mut(key).add(cookie),
        Protection::Private => jar.private_mut(key).add(cookie),
    }
    jar.get(&cookie_name).cloned().unwrap_or_else(|| removal(settings, base))
}

/// What a sealed cookie held, if it verifies with `key`, or else with `previous`.
pub struct Opened {
    pub value: String,
    /// Sealed with the previous secret's key: re-seal it with the current one.
    pub with_previous_key: bool,
}

/// Opens the sealed cookie `base` of `req`; `None` when absent, forged, or sealed with another key.
pub fn open(
    req: &HttpRequest,
    settings: &Settings,
    base: &str,
    key: &Key,
    previous: Option<&Key>,
    protection: Protection,
) -> Option<Opened> {
    let cookie = req.cookie(&name(settings, base))?;
    let unseal = |key: &Key| {
        let mut jar = CookieJar::new();
        jar.add_original(cookie.clone());
        match protection {
            Protection::Signed => jar.signed(key).get(cookie.name()),
            Protection::Private => jar.private(key).get(cookie.name()),
        }
        .map(|c| c.value().to_owned())
    };
    if let Some(value) = unseal(key) {
        return Some(Opened { value, with_previous_key: false });
    }
    previous.and_then(unseal).map(|value| Opened { value, with_previous_key: true })
}
