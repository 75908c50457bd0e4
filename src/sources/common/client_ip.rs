//! The client's address: the TCP peer, or what a trusted proxy in front of us says it is.

use ipnet::IpNet;
use std::net::IpAddr;

/// The headers a trusted proxy may set, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProxyHeaders<'a> {
    pub cf_connecting_ip: Option<&'a str>,
    pub x_forwarded_for: Option<&'a str>,
    pub x_real_ip: Option<&'a str>,
}

pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// Proxy headers count only when the peer is a trusted proxy; then `CF-Connecting-IP`, else the
/// right-most untrusted `X-Forwarded-For` entry, else `X-Real-IP`, else the peer itself.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: ProxyHeaders<'_>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer_ip = peer?.to_canonical();
    if !is_trusted(peer_ip, trusted) {
        return Some(peer_ip);
    }
    if let Some(ip) = headers.cf_connecting_ip.and_then(parse_ip) {
        return Some(ip);
    }
    if let Some(chain) = headers.x_forwarded_for {
        let hops: Vec<IpAddr> = chain.split(',').filter_map(parse_ip).collect();
        if let Some(ip) = hops.iter().rev().find(|ip| !is_trusted(**ip, trusted)) {
            return Some(*ip);
        }
    }
    if let Some(ip) = headers.x_real_ip.and_then(parse_ip) {
        return Some(ip);
    }
    // Every hop is one of our proxies: the first is the closest to the client we know.
    let first_hop = headers
        .x_forwarded_for
        .and_then(|chain| chain.split(',').find_map(parse_ip));
    Some(first_hop.unwrap_or(peer_ip))
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    // `[::1]:443` and `1.2.3.4:80` appear in some proxies' headers.
    if let Ok(sock) = text.parse::<std::net::SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    text.trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> Vec<IpNet> {
        vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ]
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let h = ProxyHeaders {
            x_forwarded_for: Some("1.1.1.1"),
            cf_connecting_ip: Some("2.2.2.2"),
            ..Default::default()
        };
        assert_eq!(
            client_ip(ip("203.0.113.9"), h, &trusted()),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_peer_order() {
        let t = trusted();
        let cf = ProxyHeaders {
            cf_connecting_ip: Some("198.51.100.1"),
            x_forwarded_for: Some("1.1.1.1"),
            ..Default::default()
        };
        assert_eq!(client_ip(ip("127.0.0.1"), cf, &t), ip("198.51.100.1"));
        let xff = ProxyHeaders {
            x_forwarded_for: Some("6.6.6.6, 198.51.100.2, 10.1.2.3"),
            ..Default::default()
        };
        assert_eq!(client_ip(ip("127.0.0.1"), xff, &t), ip("198.51.100.2"));
        let real = ProxyHeaders {
            x_real_ip: Some("198.51.100.3"),
            ..Default::default()
        };
        assert_eq!(client_ip(ip("127.0.0.1"), real, &t), ip("198.51.100.3"));
        assert_eq!(
            client_ip(ip("127.0.0.1"), ProxyHeaders::default(), &t),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn all_trusted_hops_fall_back_to_real_ip_then_first_hop() {
        let t = trusted();
        let hops = ProxyHeaders {
            x_forwarded_for: Some("10.0.0.5, 10.0.0.6"),
            x_real_ip: Some("198.51.100.7"),
            ..Default::default()
        };
        assert_eq!(client_ip(ip("127.0.0.1"), hops, &t), ip("198.51.100.7"));
        let hops = ProxyHeaders {
            x_forwarded_for: Some("10.0.0.5, 10.0.0.6"),
            ..Default::default()
        };
        assert_eq!(client_ip(ip("127.0.0.1"), hops, &t), ip("10.0.0.5"));
    }

    #[test]
    fn mapped_ipv6_is_canonical() {
        assert_eq!(
            client_ip(
                ip("::ffff:203.0.113.9"),
                ProxyHeaders::default(),
                &trusted()
            ),
            ip("203.0.113.9")
        );
    }
}
