//! One-shot messages shown on the next page ("You have been logged out."), carried in a small signed
//! cookie so they survive a logout, which destroys the session.
//!
//! Written by hand: actix-web-flash-messages' cookie store always sets `Secure` (browsers drop it over
//! plain http in development) and its session store pins an older actix-session.

use actix_web::{
    HttpMessage, HttpRequest,
    body::MessageBody,
    cookie::{Cookie, CookieJar, Key, SameSite, time::Duration},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

const COOKIE_NAME: &str = "gatehouse_flash";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Success,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashMessage {
    pub level: Level,
    pub text: String,
}

/// The key and cookie attributes the flash cookie needs.
struct FlashConfig {
    key: Key,
    secure: bool,
}

#[derive(Default)]
struct Incoming(Vec<FlashMessage>);

#[derive(Default)]
struct Outgoing(Vec<FlashMessage>);

/// Queues a message for the next page this browser sees.
pub fn send(req: &HttpRequest, level: Level, text: impl Into<String>) {
    let mut extensions = req.extensions_mut();
    if extensions.get::<Outgoing>().is_none() {
        extensions.insert(Outgoing::default());
    }
    if let Some(outgoing) = extensions.get_mut::<Outgoing>() {
        outgoing.0.push(FlashMessage { level, text: text.into() });
    }
}

/// The messages that arrived with this request, for the page being rendered.
pub fn incoming(req: &HttpRequest) -> Vec<FlashMessage> {
    req.extensions().get::<Incoming>().map(|i| i.0.clone()).unwrap_or_default()
}

/// Reads the incoming flash cookie, and on the way out writes queued messages or clears shown ones.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = super::AppState::of_service(&req) else {
        return next.call(req).await;
    };
    let config = FlashConfig { key: state.keys.flash.clone(), secure: state.settings.is_https() };
    let arrived = req.cookie(COOKIE_NAME).and_then(|cookie| decode(&config.key, cookie));
    let had_incoming = arrived.is_some();
    req.extensions_mut().insert(Incoming(arrived.unwrap_or_default()));

    let mut res = next.call(req).await?;
    let queued = res.request().extensions_mut().remove::<Outgoing>().unwrap_or_default();
    if !queued.0.is_empty() {
        if let Some(cookie) = encode(&config, &queued.0) {
            res.response_mut().add_cookie(&cookie)?;
        }
    } else if had_incoming && !res.status().is_redirection() {
        // Shown on this page: do not show it again.
        let mut removal = base_cookie(&config, String::new());
        removal.make_removal();
        res.response_mut().add_cookie(&removal)?;
    }
    Ok(res)
}

fn base_cookie(config: &FlashConfig, value: String) -> Cookie<'static> {
    Cookie::build(COOKIE_NAME, value)
        .path("/")
        .http_only(true)
        .secure(config.secure)
        .same_site(SameSite::Lax)
        .max_age(Duration::minutes(5))
        .finish()
}

fn encode(config: &FlashConfig, messages: &[FlashMessage]) -> Option<Cookie<'static>> {
    let json = serde_json::to_vec(messages).ok()?;
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let mut jar = CookieJar::new();
    jar.signed_mut(&config.key).add(base_cookie(config, value));
    jar.get(COOKIE_NAME).cloned()
}

fn decode(key: &Key, cookie: Cookie<'static>) -> Option<Vec<FlashMessage>> {
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    let verified = jar.signed(key).get(COOKIE_NAME)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(verified.value()).ok()?;
    serde_json::from_slice(&json).ok()
}
