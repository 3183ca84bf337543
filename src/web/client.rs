//! What a request says about the client: its address (trusting only configured proxies) and its
//! user agent, as kept for the sessions list and the security log.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::{HttpRequest, http::header};

/// The longest user agent kept.
const USER_AGENT_MAX_CHARS: usize = 512;

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy. Nobody else's `X-Forwarded-For` is believed.
///
/// Every `X-Forwarded-For` line counts, in order (RFC 9110 §5.3: repeated lines are one list), since
/// some proxies (HAProxy's `option forwardfor`) add a line of their own after the client's rather
/// than extending it: reading the first line only would believe whatever the client sent. An entry
/// that is not an address (`unknown`, a name) ends the trust there: what stands left of it was not
/// written by a hop we can name, so the client is the last trusted hop that handed it on.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> Option<String> {
    // Canonical: behind a dual-stack listener an IPv4 peer is `::ffff:a.b.c.d`.
    let peer = req.peer_addr()?.ip().to_canonical();
    if !trusted_proxies.contains(&peer) {
        return Some(peer.to_string());
    }
    // Split as bytes: a line is not dropped whole for a byte that is not UTF-8 in the client's part
    // of it (most proxies extend the client's line); such an entry ends the trust where it stands.
    let lines: Vec<&[u8]> = req.headers().get_all("x-forwarded-for").map(|value| value.as_bytes()).collect();
    let mut client = peer;
    for hop in lines.iter().rev().flat_map(|line| line.rsplit(|&b| b == b',')) {
        let Some(hop) = std::str::from_utf8(hop).ok().and_then(|hop| parse_hop(hop.trim())) else { break };
        client = hop;
        if !trusted_proxies.contains(&hop) {
            break;
        }
    }
    Some(client.to_string())
}

/// One `X-Forwarded-For` entry: an address, with or without a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:443`, `[2001:db8::1]`), as proxies write them; canonical, like the peer.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let ip = if let Ok(ip) = hop.parse::<IpAddr>() {
        ip
    } else if let Ok(socket) = hop.parse::<SocketAddr>() {
        socket.ip()
    } else {
        IpAddr::V6(hop.strip_prefix('[')?.strip_suffix(']')?.parse::<Ipv6Addr>().ok()?)
    };
    Some(ip.to_canonical())
}

/// The `User-Agent`, truncated to what is stored.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(USER_AGENT_MAX_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    const PROXY: &str = "10.0.0.2";

    fn client_of(peer: &str, lines: &[&str]) -> String {
        client_of_bytes(peer, &lines.iter().map(|line| line.as_bytes()).collect::<Vec<_>>())
    }

    fn client_of_bytes(peer: &str, lines: &[&[u8]]) -> String {
        let peer: SocketAddr =
            if peer.contains(':') { format!("[{peer}]:40000") } else { format!("{peer}:40000") }
                .parse()
                .unwrap();
        let mut req = TestRequest::default().peer_addr(peer);
        for line in lines {
            let value = actix_web::http::header::HeaderValue::from_bytes(line).unwrap();
            req = req.append_header(("X-Forwarded-For", value));
        }
        let trusted = [PROXY.parse().unwrap(), "10.0.0.3".parse().unwrap()];
        client_ip(&req.to_http_request(), &trusted).unwrap()
    }

    #[test]
    fn a_byte_that_is_not_utf8_in_the_clients_part_does_not_hide_the_proxys_entry() {
        assert_eq!(client_of_bytes(PROXY, &[b"6.6.6.6\xff, 198.51.100.1"]), "198.51.100.1");
        assert_eq!(
            client_of_bytes(PROXY, &[b"6.6.6.6, 198.51.100.1\xff"]),
            PROXY,
            "in the last entry: trust ends"
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_the_ipv4_addresses_they_map() {
        // A dual-stack listener sees an IPv4 proxy as `::ffff:10.0.0.2`.
        assert_eq!(client_of("::ffff:10.0.0.2", &["6.6.6.6, 198.51.100.1"]), "198.51.100.1");
        assert_eq!(client_of("::ffff:192.0.2.50", &[]), "192.0.2.50");
        assert_eq!(client_of(PROXY, &["6.6.6.6, ::ffff:198.51.100.1"]), "198.51.100.1");
        assert_eq!(
            client_of(PROXY, &["198.51.100.1, ::ffff:10.0.0.3"]),
            "198.51.100.1",
            "a mapped trusted hop"
        );
    }

    #[test]
    fn bare_ipv6_entries_are_addresses() {
        assert_eq!(client_of(PROXY, &["6.6.6.6, 2001:db8::1"]), "2001:db8::1");
        assert_eq!(client_of(PROXY, &["6.6.6.6, ::1"]), "::1");
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(client_of("192.0.2.50", &["198.51.100.1"]), "192.0.2.50");
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
        assert_eq!(client_of(PROXY, &["6.6.6.6, 198.51.100.1"]), "198.51.100.1");
        assert_eq!(client_of(PROXY, &["6.6.6.6, 198.51.100.1, 10.0.0.3"]), "198.51.100.1");
        assert_eq!(client_of(PROXY, &[]), PROXY, "no header: the proxy itself");
    }

    #[test]
    fn a_line_the_proxy_adds_after_the_clients_own_is_the_one_believed() {
        // HAProxy's `option forwardfor` appends a header line instead of extending the client's.
        assert_eq!(client_of(PROXY, &["6.6.6.6", "198.51.100.1"]), "198.51.100.1");
        assert_eq!(client_of(PROXY, &["6.6.6.6, 7.7.7.7", "198.51.100.1, 10.0.0.3"]), "198.51.100.1");
    }

    #[test]
    fn addresses_with_ports_are_read_as_addresses() {
        assert_eq!(client_of(PROXY, &["6.6.6.6, 198.51.100.1:4444"]), "198.51.100.1");
        assert_eq!(client_of(PROXY, &["6.6.6.6, [2001:db8::1]:443"]), "2001:db8::1");
        assert_eq!(client_of(PROXY, &["6.6.6.6, [2001:db8::1]"]), "2001:db8::1");
    }

    #[test]
    fn an_entry_that_is_not_an_address_ends_the_trust() {
        // Skipping it would believe the client's own entry to its left.
        assert_eq!(client_of(PROXY, &["6.6.6.6, unknown"]), PROXY);
        assert_eq!(client_of(PROXY, &["6.6.6.6, garbage, 10.0.0.3"]), "10.0.0.3");
        assert_eq!(client_of(PROXY, &["6.6.6.6, "]), PROXY, "an empty entry too");
    }
}
