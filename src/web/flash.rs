//! One-shot messages shown on the next page ("You have been logged out."), carried in a small
//! encrypted cookie (with its expiry sealed inside) so they survive a logout, which destroys the
//! session. Encrypted, not only signed: a message may name an email address ("We sent a link to …").
//!
//! Written by hand: actix-web-flash-messages' cookie store always sets `Secure` (browsers drop it over
//! plain http in development) and its session store pins an older actix-session.

use actix_web::{
    HttpMessage, HttpRequest,
    body::MessageBody,
    cookie::time::Duration,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{
    AppState,
    cookies::{self, Protection},
};

const COOKIE_NAME: &str = "gatehouse_flash";
/// Long enough to follow a redirect, short enough that an old copy is worthless.
const LIFETIME: Duration = Duration::minutes(5);

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
    let Some(state) = AppState::of_service(&req) else {
        return next.call(req).await;
    };
    let now = state.clock.now().timestamp();
    let previous = state.previous_keys.as_ref().map(|keys| &keys.flash);
    let arrived = cookies::open(
        req.request(),
        &state.settings,
        COOKIE_NAME,
        &state.keys.flash,
        previous,
        Protection::Private,
    )
    .and_then(|opened| decode(&opened.value, now));
    let had_incoming = req.cookie(&cookies::name(&state.settings, COOKIE_NAME)).is_some();
    req.extensions_mut().insert(Incoming(arrived.unwrap_or_default()));

    let mut res = next.call(req).await?;
    let queued = res.request().extensions_mut().remove::<Outgoing>().unwrap_or_default();
    if !queued.0.is_empty() {
        if let Some(value) = encode(&queued.0, now + LIFETIME.whole_seconds()) {
            let cookie = cookies::sealed(
                &state.settings,
                COOKIE_NAME,
                value,
                Some(LIFETIME),
                &state.keys.flash,
                Protection::Private,
            );
            res.response_mut().add_cookie(&cookie)?;
        }
    } else if had_incoming && !res.status().is_redirection() {
        // Shown on this page (or expired, or forged): do not show it again.
        res.response_mut().add_cookie(&cookies::removal(&state.settings, COOKIE_NAME))?;
    }
    Ok(res)
}

/// What the cookie carries: the messages and when they stop being shown, sealed together, so a
/// copied cookie cannot be replayed later.
#[derive(Serialize, Deserialize)]
struct Sealed {
    expires: i64,
    messages: Vec<FlashMessage>,
}

fn encode(messages: &[FlashMessage], expires: i64) -> Option<String> {
    let json = serde_json::to_vec(&Sealed { expires, messages: messages.to_vec() }).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

fn decode(value: &str, now: i64) -> Option<Vec<FlashMessage>> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value).ok()?;
    let sealed: Sealed = serde_json::from_slice(&json).ok()?;
    (sealed.expires > now).then_some(sealed.messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_is_shown_until_it_expires_and_not_after() {
        let messages =
            vec![FlashMessage { level: Level::Info, text: "You have been logged out.".to_owned() }];
        let value = encode(&messages, 1_000).unwrap();
        assert_eq!(decode(&value, 999), Some(messages));
        assert_eq!(decode(&value, 1_000), None);
        assert_eq!(decode("not base64 json", 0), None);
    }
}
