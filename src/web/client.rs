//! What a request says about the client: its address (trusting only configured proxies) and its
//! user agent, as kept for the sessions list and the security log.

use actix_web::{HttpRequest, http::header};

/// The longest user agent kept.
const USER_AGENT_MAX_CHARS: usize = 512;

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy. Nobody else's `X-Forwarded-For` is believed.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[std::net::IpAddr]) -> Option<String> {
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

/// The `User-Agent`, truncated to what is stored.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(USER_AGENT_MAX_CHARS).collect())
}
