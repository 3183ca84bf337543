//! The session as the web layer sees it: the cookie (its name and attributes), the middleware that
//! keeps it on the database store, and what happens to a session at login.

use actix_identity::{Identity, IdentityMiddleware, config::LogoutBehavior};
use actix_session::{
    SessionExt as _, SessionMiddleware,
    config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy},
};
use actix_web::{HttpMessage as _, HttpRequest, cookie::SameSite};

use super::{AppError, AppState, client};
use crate::{
    auth::{
        csrf,
        session::{self as keys, record_device},
        session_store::DbSessionStore,
    },
    config::Settings,
    db::users::User,
};

/// The session cookie's name; over https it takes the `__Host-` prefix, which browsers only accept
/// with `Secure`, `Path=/` and no `Domain`.
pub fn session_cookie_name(settings: &Settings) -> &'static str {
    if settings.is_https() { "__Host-gatehouse_session" } else { "gatehouse_session" }
}

/// actix-session on the database store, with the cookie ROUTES.md describes.
pub fn session_middleware(state: &AppState) -> SessionMiddleware<DbSessionStore> {
    let settings = &state.settings;
    let store = DbSessionStore::new(state.db.clone(), state.clock.clone(), state.session_policy());
    SessionMiddleware::builder(store, state.keys.session.clone())
        .cookie_name(session_cookie_name(settings).to_owned())
        .cookie_secure(settings.is_https())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/".to_owned())
        .cookie_domain(None)
        // The cookie holds only a random key, encrypted too so it is opaque even as a value.
        .cookie_content_security(CookieContentSecurity::Private)
        // A browser-session cookie; lifetimes are enforced by the store on the server.
        .session_lifecycle(
            BrowserSession::default()
                .state_ttl(actix_web::cookie::time::Duration::seconds(
                    i64::try_from(settings.session_max_age.as_secs()).unwrap_or(86_400),
                ))
                .state_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build()
}

/// actix-identity with our key for the user id; logout destroys the whole session.
pub fn identity_middleware() -> IdentityMiddleware {
    IdentityMiddleware::builder().id_key(keys::USER_ID).logout_behavior(LogoutBehavior::PurgeSession).build()
}

/// Everything that happens to a session at login: a new key (no fixation), the user id and its
/// session epoch, a new CSRF token, and the device it came from.
pub fn begin_login(
    req: &HttpRequest,
    user: &User,
    remember: bool,
    trusted_proxies: &[std::net::IpAddr],
) -> Result<(), AppError> {
    Identity::login(&req.extensions(), user.id.to_string())
        .map_err(|e| AppError::internal(anyhow::anyhow!("identity login: {e}")))?;
    let session = req.get_session();
    // The epoch of the user row the credentials were checked against: if they change before this
    // session's first use, the loader ends it (a login racing a password change).
    keys::record_epoch(&session, user.session_epoch)?;
    csrf::rotate(&session)?;
    req.extensions_mut().insert(super::csrf::LoggedInNow);
    let ip = client::client_ip(req, trusted_proxies);
    let user_agent = client::user_agent(req);
    record_device(&session, ip.as_deref(), user_agent.as_deref(), remember)?;
    Ok(())
}
