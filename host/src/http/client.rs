//! The client address policies see (per-client anonymous rate limits, audit): the
//! connection's peer, or, when the peer is one of `server.trusted_proxies` (a load
//! balancer), the nearest `X-Forwarded-For` hop outside those networks. A client that
//! talks to us directly cannot choose its address by sending the header.

use http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The peer of the connection a request arrived on, put into the request's extensions
/// by the connection driver.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub IpAddr);

/// The client's address for a request from `peer` with `headers`.
///
/// Hops are read right to left (each proxy appends the address it received from), the
/// way ALB and nginx's recursive `real_ip` do: the first hop not in `trusted` is the
/// client. A malformed hop ends the walk at the last trusted address seen, since
/// everything left of it was written by a party we do not trust to format it.
pub fn address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return canonical(peer);
    }
    let mut client = canonical(peer);
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = canonical(ip);
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, from dual-stack sockets) as IPv4, so one
/// client has one key and IPv4 networks in `trusted_proxies` match it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client of `req` under `snapshot`'s `server.trusted_proxies`; `None` when the
/// request did not come through our listener (no [`Peer`]).
pub fn of<B>(req: &http::Request<B>, trusted: &[IpNet]) -> Option<String> {
    let peer = req.extensions().get::<Peer>()?;
    Some(address(peer.0, req.headers(), trusted).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let h = xff(&["1.2.3.4"]);
        assert_eq!(address(ip("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(address(ip("203.0.113.9"), &h, &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        // A client-forged leftmost hop is ignored: the ALB appended the real address.
        let h = xff(&["6.6.6.6, 198.51.100.7", "10.1.2.3"]);
        assert_eq!(address(ip("10.0.0.5"), &h, &trusted), ip("198.51.100.7"));
        // No header: the proxy itself.
        assert_eq!(
            address(ip("10.0.0.5"), &HeaderMap::new(), &trusted),
            ip("10.0.0.5")
        );
        // Garbage stops the walk at the last trusted hop.
        let h = xff(&["198.51.100.7, nonsense"]);
        assert_eq!(address(ip("10.0.0.5"), &h, &trusted), ip("10.0.0.5"));
        // IPv4-mapped peers match IPv4 networks and are reported as IPv4.
        let h = xff(&["::ffff:198.51.100.8"]);
        assert_eq!(
            address(ip("::ffff:10.0.0.5"), &h, &trusted),
            ip("198.51.100.8")
        );
    }
}
