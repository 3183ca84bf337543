//! The names of everything Gatehouse keeps in a session, in one place, with typed accessors, so no
//! handler spells a session key.

use actix_session::Session;

/// The logged-in user's id, set as actix-identity's `id_key` so it does not depend on that crate's default.
pub const USER_ID: &str = "gh.uid";
pub const CSRF_TOKEN: &str = "gh.csrf";
pub const CLIENT_IP: &str = "gh.ip";
pub const USER_AGENT: &str = "gh.ua";
pub const REMEMBER: &str = "gh.remember";
/// The SHA-256 of a password reset token, between the emailed link and the new-password form.
pub const RESET_TOKEN_HASH: &str = "gh.reset";
/// The session row's public id, put into the state by the store on load (never stored in it).
pub const SESSION_ID: &str = "gh.sid";

/// The public id of the current session's row, when it has one.
pub fn current_session_id(session: &Session) -> Option<String> {
    session.get::<String>(SESSION_ID).ok().flatten()
}

/// Where the session store reads a value it mirrors into its own columns.
pub(crate) fn state_value(state: &std::collections::HashMap<String, String>, key: &str) -> Option<String> {
    state.get(key).and_then(|raw| serde_json::from_str::<String>(raw).ok())
}

pub(crate) fn state_flag(state: &std::collections::HashMap<String, String>, key: &str) -> bool {
    state.get(key).and_then(|raw| serde_json::from_str::<bool>(raw).ok()).unwrap_or(false)
}

/// Records which device this login came from, for the sessions list; the store copies it to columns.
pub fn record_device(
    session: &Session,
    ip: Option<&str>,
    user_agent: Option<&str>,
    remember: bool,
) -> Result<(), actix_session::SessionInsertError> {
    if let Some(ip) = ip {
        session.insert(CLIENT_IP, ip)?;
    }
    if let Some(user_agent) = user_agent {
        let truncated: String = user_agent.chars().take(512).collect();
        session.insert(USER_AGENT, truncated)?;
    }
    session.insert(REMEMBER, remember)
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy. Nobody else's `X-Forwarded-For` is believed.
pub fn client_ip(req: &actix_web::HttpRequest, trusted_proxies: &[std::net::IpAddr]) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    if !trusted_proxies.contains(&peer) {
        return Some(peer.to_string());
    }
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let client = forwarded.and_then(|list| {
        list.rsplit(',')
            .filter_map(|hop| hop.trim().parse::<std::net::IpAddr>().ok())
            .find(|hop| !trusted_proxies.contains(hop))
    });
    Some(client.unwrap_or(peer).to_string())
}

/// Everything that happens to a session at login: a new key (no fixation), the user id, a new CSRF
/// token, and the device it came from.
pub fn begin_login(
    req: &actix_web::HttpRequest,
    user_id: i64,
    remember: bool,
    trusted_proxies: &[std::net::IpAddr],
) -> Result<(), crate::error::AppError> {
    use actix_session::SessionExt as _;
    use actix_web::HttpMessage as _;
    actix_identity::Identity::login(&req.extensions(), user_id.to_string())
        .map_err(|e| crate::error::AppError::internal(anyhow::anyhow!("identity login: {e}")))?;
    let session = req.get_session();
    super::csrf::rotate(&session)?;
    let user_agent = req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    record_device(&session, client_ip(req, trusted_proxies).as_deref(), user_agent, remember)?;
    Ok(())
}
