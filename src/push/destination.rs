//! Where Web Push may connect (the SSRF guard).
//!
//! A subscription's endpoint is a URL a client chose, so without a check the
//! server would connect wherever a user asks: loopback, the private network,
//! cloud metadata services. Every Web Push endpoint must name a host that
//! resolves only to public unicast addresses; hosts written as numbers in
//! any of the forms resolvers accept (`0x7f000001`, `2130706433`, `127.1`,
//! `0177.0.0.1`) are refused outright, and so are IPv6 forms that embed an
//! IPv4 address (mapped, compatible, NAT64, 6to4, Teredo).
//!
//! The check runs when a client subscribes and again before every delivery:
//! the sender resolves the host once, checks every address, and connects to
//! the address it checked ([`Destination::resolve`] + awc's
//! `ClientRequest::address`), so a DNS answer that changes between the check
//! and the connection (DNS rebinding) cannot redirect it.
//!
//! An optional allowlist (`push.endpoint_host_suffixes`) narrows endpoints to
//! known push services. `push.allow_private_endpoints` turns the address
//! check off: it exists for the test suite's fake push service on loopback
//! and must never be set in production (the server logs a warning when it is).
//!
//! The FCM base URL and token URL are operator configuration, not user input,
//! so they are not checked here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The endpoint policy, built from `[push]`.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    /// Skip the public-address check (test fakes on loopback only).
    pub allow_private: bool,
    /// When not empty, the endpoint host must equal one of these or end with
    /// `.` + one of them.
    pub host_suffixes: Vec<String>,
}

/// Why an endpoint is refused (the detail goes to logs and to the
/// subscriber's 400, never into a delivery report).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The URL has no usable host.
    #[error("the endpoint has no host")]
    NoHost,
    /// A host written as a number in a non-canonical form.
    #[error("the endpoint host is a numeric address in a non-standard form")]
    NumericHost,
    /// Not on the configured allowlist.
    #[error("the endpoint host is not a push service this server sends to")]
    NotAllowed,
    /// Resolves to (or is) a non-public address.
    #[error("the endpoint host resolves to a non-public address")]
    NotPublic,
    /// Does not resolve at all.
    #[error("the endpoint host does not resolve")]
    Unresolved,
}

impl Destination {
    /// The checks that need no DNS: allowlist and numeric forms. `host` is
    /// what `http::Uri::host` returns (IPv6 literals in brackets).
    pub fn check_name(&self, host: &str) -> Result<HostKind, Refusal> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return Err(Refusal::NoHost);
        }
        if !self.host_suffixes.is_empty()
            && !self.host_suffixes.iter().any(|s| {
                let s = s.trim_start_matches("*.").trim_start_matches('.');
                !s.is_empty()
                    && (host == s.to_ascii_lowercase()
                        || host.ends_with(&format!(".{}", s.to_ascii_lowercase())))
            })
        {
            return Err(Refusal::NotAllowed);
        }
        if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let ip: Ipv6Addr = inner.parse().map_err(|_| Refusal::NumericHost)?;
            return Ok(HostKind::Ip(IpAddr::V6(ip)));
        }
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok(HostKind::Ip(IpAddr::V4(ip)));
        }
        // No top-level domain is numeric: a last label of digits or `0x…`
        // is one of the legacy inet_aton forms resolvers still accept.
        let last = host.rsplit('.').next().unwrap_or_default();
        if last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x") {
            return Err(Refusal::NumericHost);
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err(Refusal::NoHost);
        }
        Ok(HostKind::Name(host))
    }

    /// Resolves `host` once and returns the address to connect to: every
    /// address the name resolves to must be public (unless private ones are
    /// allowed). Connect to exactly this address.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, Refusal> {
        let addrs: Vec<SocketAddr> = match self.check_name(host)? {
            HostKind::Ip(ip) => vec![SocketAddr::new(ip, port)],
            HostKind::Name(name) => tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|_| Refusal::Unresolved)?
                .collect(),
        };
        let first = *addrs.first().ok_or(Refusal::Unresolved)?;
        if !self.allow_private && !addrs.iter().all(|a| is_public(a.ip())) {
            return Err(Refusal::NotPublic);
        }
        Ok(first)
    }

    /// Checks an endpoint URL (host and port from the URL) and returns the
    /// address to connect to.
    pub async fn resolve_url(&self, endpoint: &str) -> Result<SocketAddr, Refusal> {
        let uri: awc::http::Uri = endpoint.parse().map_err(|_| Refusal::NoHost)?;
        let host = uri.host().ok_or(Refusal::NoHost)?;
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        self.resolve(host, port).await
    }
}

/// A syntactically acceptable host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// An address literal (canonical dotted quad or bracketed IPv6).
    Ip(IpAddr),
    /// A DNS name (lowercase, no trailing dot).
    Name(String),
}

/// Whether `ip` is a public unicast address a push service could have.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network", unspecified
        || a == 10                             // private
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 169 && b == 254)              // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay anycast
        || (a == 192 && b == 168)              // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)   // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)    // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Only global unicast (2000::/3) is public; inside it, refuse the
    // documentation range and every form that embeds an IPv4 address (its
    // target would be decided by the IPv4 part, which may be private).
    // `::ffff:a.b.c.d`, `::a.b.c.d`, `64:ff9b::/96` all fall outside 2000::/3.
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        && !(s[0] == 0x2001 && s[1] < 0x0200) // Teredo, ORCHID, benchmarking, IETF
        && s[0] != 0x2002 // 6to4
        && !(s[0] == 0x3fff && s[1] < 0x1000) // documentation (RFC 9637)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_addresses_are_not_public() {
        for bad in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001:db8::1",
            "2001::1",
            "2002:7f00:1::1",
        ] {
            assert!(!is_public(ip(bad)), "{bad} counted as public");
        }
        for good in [
            "8.8.8.8",
            "142.250.74.138",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "2a00:1450:4001:82b::200a",
            "2606:4700::1111",
        ] {
            assert!(is_public(ip(good)), "{good} counted as private");
        }
    }

    #[test]
    fn numeric_host_forms_are_refused() {
        let d = Destination::default();
        for bad in [
            "0x7f000001",
            "2130706433",
            "127.1",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "017700000001",
            "1.2.3.0x4",
            "[::1",
            "[not-ipv6]",
        ] {
            assert!(d.check_name(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(
            d.check_name("[::1]").unwrap(),
            HostKind::Ip(ip("::1")),
            "literals are parsed, then checked by is_public"
        );
        assert_eq!(
            d.check_name("Push.Example.").unwrap(),
            HostKind::Name("push.example".into())
        );
    }

    #[test]
    fn the_allowlist_matches_whole_labels() {
        let d = Destination {
            allow_private: false,
            host_suffixes: vec!["fcm.googleapis.com".into(), "*.notify.windows.com".into()],
        };
        assert!(d.check_name("fcm.googleapis.com").is_ok());
        assert!(d.check_name("wns2-by3p.notify.windows.com").is_ok());
        assert_eq!(
            d.check_name("evilfcm.googleapis.com.attacker.example"),
            Err(Refusal::NotAllowed)
        );
        assert_eq!(
            d.check_name("notfcm.googleapis.com"),
            Err(Refusal::NotAllowed)
        );
        assert_eq!(d.check_name("127.0.0.1"), Err(Refusal::NotAllowed));
    }

    #[actix_rt::test]
    async fn resolution_refuses_private_answers_unless_allowed() {
        let strict = Destination::default();
        for url in [
            "https://127.0.0.1:9/x",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://0x7f000001/x",
            "https://localhost:8443/x",
            "https://169.254.169.254/latest/meta-data",
        ] {
            assert!(strict.resolve_url(url).await.is_err(), "{url} accepted");
        }
        let lax = Destination {
            allow_private: true,
            host_suffixes: vec![],
        };
        assert_eq!(
            lax.resolve_url("http://127.0.0.1:9/x").await.unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        // Numeric forms stay refused even when private addresses are allowed.
        assert!(lax.resolve_url("https://0x7f000001/x").await.is_err());
    }
}
