//! The client's address. Behind a reverse proxy the TCP peer is the proxy,
//! so `X-Forwarded-For` says who the client is, but only a configured proxy
//! may say it: from anyone else the header is ignored, or a client could pick
//! its own address and dodge the per-address lockout.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The address requests are attributed to, set by [`resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The TCP peer and whether it is a listed proxy, set by [`resolve`]: only
/// a trusted proxy may ask the forward-auth endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub ip: IpAddr,
    pub trusted: bool,
}

/// One IP address or CIDR range (prefix math by the `ipnet` crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange(IpNet);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--trusted-proxies: '{0}' is not an IP address or CIDR range (e.g. 10.0.0.0/8)")]
pub struct BadRange(pub String);

impl std::str::FromStr for IpRange {
    type Err = BadRange;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let net = match s.parse::<IpNet>() {
            Ok(net) => net,
            // A bare address is a range of one.
            Err(_) => IpNet::from(s.parse::<IpAddr>().map_err(|_| BadRange(s.to_string()))?),
        };
        // An IPv4-mapped IPv6 range is the IPv4 range it maps.
        let net = match net {
            IpNet::V6(v6) => match (v6.network().to_ipv4_mapped(), v6.prefix_len()) {
                (Some(v4), len) if len >= 96 => {
                    IpNet::new(IpAddr::V4(v4), len - 96).map_err(|_| BadRange(s.to_string()))?
                }
                _ => IpNet::V6(v6),
            },
            v4 => v4,
        };
        Ok(IpRange(net.trunc()))
    }
}

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical(ip))
    }
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is the IPv4 address it maps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The configured proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpRange>>);

impl TrustedProxies {
    pub fn parse(list: &[String]) -> Result<Self, BadRange> {
        let ranges = list
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies(Arc::new(ranges)))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|r| r.contains(ip))
    }

    /// The rule: walk `X-Forwarded-For` from the right (the hop nearest to
    /// us) past trusted proxies; the first untrusted address is the client.
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let Some(header) = forwarded_for else {
            return peer;
        };
        let mut client = peer;
        for hop in header.rsplit(',') {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                // Junk in the chain: stop at the last address we could trust.
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// A proxy that is not listed makes every client look like the proxy: one
/// address for everyone's lockouts, and every attacker counted as every
/// account's owner. Said once, in words an operator can act on.
fn warn_untrusted_once(peer: IpAddr) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "a request from {peer} carried X-Forwarded-For, which is ignored: if {peer} is your \
             reverse proxy, start Twofold with --trusted-proxies {peer} (else every client looks \
             like the proxy to the lockouts and the audit trail)"
        );
    }
}

/// Middleware: puts the request's [`ClientIp`] in its extensions.
pub async fn resolve(proxies: TrustedProxies, mut req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        // Every X-Forwarded-For line, in order (some proxies add a line
        // rather than extend one), read leniently: one bad byte a client
        // put in must not hide the address the proxy appended.
        let lines: Vec<String> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let xff = (!lines.is_empty()).then(|| lines.join(","));
        if xff.is_some() && !proxies.trusts(peer.ip()) {
            warn_untrusted_once(peer.ip());
        }
        let ip = proxies.client(peer.ip(), xff.as_deref());
        req.extensions_mut().insert(ClientIp(canonical(ip)));
        req.extensions_mut().insert(Peer {
            ip: canonical(peer.ip()),
            trusted: proxies.trusts(peer.ip()),
        });
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap_or_default()
    }

    #[test]
    fn ranges() {
        let r: Result<IpRange, _> = "10.0.0.0/8".parse();
        assert!(r.as_ref().is_ok_and(|r| r.contains(ip("10.200.1.2"))));
        assert!(r.as_ref().is_ok_and(|r| !r.contains(ip("11.0.0.1"))));
        assert!(r.is_ok_and(|r| r.contains(ip("::ffff:10.0.0.1"))));
        let one: Result<IpRange, _> = "127.0.0.1".parse();
        assert!(one.is_ok_and(|r| r.contains(ip("127.0.0.1")) && !r.contains(ip("127.0.0.2"))));
        let v6: Result<IpRange, _> = "fd00::/8".parse();
        assert!(v6.is_ok_and(|r| r.contains(ip("fd12::1"))));
        for bad in ["10.0.0.0/33", "example.com", "10.0.0/8", ""] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn header_from_an_untrusted_peer_is_ignored() {
        let p = proxies(&["10.0.0.1"]);
        assert_eq!(
            p.client(ip("203.0.113.9"), Some("1.2.3.4")),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies(&[]).client(ip("10.0.0.1"), Some("1.2.3.4")),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let p = proxies(&["10.0.0.0/8"]);
        // The client prepended a fake address; the proxy appended the real one.
        assert_eq!(
            p.client(ip("10.0.0.1"), Some("6.6.6.6, 198.51.100.7, 10.0.0.2")),
            ip("198.51.100.7")
        );
        assert_eq!(p.client(ip("10.0.0.1"), None), ip("10.0.0.1"));
        assert_eq!(p.client(ip("10.0.0.1"), Some("10.1.1.1")), ip("10.1.1.1"));
        assert_eq!(
            p.client(ip("10.0.0.1"), Some("198.51.100.7, junk")),
            ip("10.0.0.1")
        );
    }
}
