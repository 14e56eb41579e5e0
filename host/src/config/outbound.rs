//! `plugins.NAME.allowed_outbound_hosts`: where a `proxy` plugin may send HTTP requests,
//! written as Spin writes them (`"https://api.example.com"`, `"https://*.example.com"`,
//! `"http://127.0.0.1:8080"`, `"*://host:*"`). Empty (the default) allows nothing.
//!
//! A pattern is `SCHEME://HOST[:PORT]`:
//! - `SCHEME`: `http`, `https` or `*` (either);
//! - `HOST`: a name or IP literal (exact, case-insensitive), `*.suffix` (any name below
//!   `suffix`, not `suffix` itself), or `*` (any host);
//! - `PORT`: a number, `A..B` (inclusive range), `*` (any), or absent: the scheme's
//!   default port (80 for http, 443 for https).
//!
//! Paths, queries, user info and Spin's `self`/`{{ variable }}` forms are refused, so a
//! pattern never looks narrower than it is.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemePat {
    Http,
    Https,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPat {
    Exact(String),
    /// `*.example.com`: stored as `.example.com`.
    Suffix(String),
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPat {
    /// No port written: the default port of the request's scheme.
    Default,
    Range(u16, u16),
    Any,
}

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundPattern {
    scheme: SchemePat,
    host: HostPat,
    port: PortPat,
}

/// Why a pattern was refused; the config error quotes it with the pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(String);

impl OutboundPattern {
    pub fn parse(s: &str) -> Result<Self, PatternError> {
        let bad = |why: &str| Err(PatternError(why.to_string()));
        let Some((scheme, rest)) = s.split_once("://") else {
            return bad("needs a scheme: http://, https:// or *://");
        };
        let scheme = match scheme {
            "http" => SchemePat::Http,
            "https" => SchemePat::Https,
            "*" => SchemePat::Any,
            _ => return bad("the scheme must be http, https or *"),
        };
        // A trailing "/" is harmless (Spin allows it); anything after it is a path.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return bad("must be SCHEME://HOST[:PORT] only: no path, query or user info");
        }
        if rest.contains("{{") {
            return bad("template variables are not supported");
        }
        let (host, port) = split_host_port(rest)?;
        let host = match host {
            "" => return bad("the host is empty"),
            "*" => HostPat::Any,
            h if h.starts_with("*.") => {
                let suffix = &h[1..];
                if suffix.len() < 2 || suffix.contains('*') || !is_host(&suffix[1..]) {
                    return bad("a wildcard host is `*` or `*.domain`");
                }
                HostPat::Suffix(suffix.to_ascii_lowercase())
            }
            h if h.contains('*') => return bad("a wildcard host is `*` or `*.domain`"),
            h if is_host(h) || is_ip_literal(h) => HostPat::Exact(h.to_ascii_lowercase()),
            _ => return bad("the host is not a valid DNS name or IP address"),
        };
        let port = match port {
            None => {
                if scheme == SchemePat::Any {
                    // `*://host` would mean port 80 for http and 443 for https; Spin
                    // refuses it as ambiguous, and so do we.
                    return bad("a `*://` pattern needs a port (a number, A..B or *)");
                }
                PortPat::Default
            }
            Some("*") => PortPat::Any,
            Some(p) => match p.split_once("..") {
                Some((a, b)) => {
                    let (a, b) = (parse_port(a)?, parse_port(b)?);
                    if a > b {
                        return bad("a port range A..B needs A <= B");
                    }
                    PortPat::Range(a, b)
                }
                None => {
                    let n = parse_port(p)?;
                    PortPat::Range(n, n)
                }
            },
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` matches. `https` is the TLS scheme.
    pub fn allows(&self, https: bool, host: &str, port: u16) -> bool {
        let scheme_ok = match self.scheme {
            SchemePat::Http => !https,
            SchemePat::Https => https,
            SchemePat::Any => true,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host_ok = match &self.host {
            HostPat::Any => true,
            HostPat::Exact(h) => {
                h.trim_start_matches('[').trim_end_matches(']') == host.to_ascii_lowercase()
            }
            HostPat::Suffix(s) => {
                let host = host.to_ascii_lowercase();
                host.ends_with(s.as_str()) && host.len() > s.len()
            }
        };
        let port_ok = match self.port {
            PortPat::Any => true,
            PortPat::Default => port == if https { 443 } else { 80 },
            PortPat::Range(a, b) => (a..=b).contains(&port),
        };
        scheme_ok && host_ok && port_ok
    }
}

impl fmt::Display for OutboundPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            SchemePat::Http => "http",
            SchemePat::Https => "https",
            SchemePat::Any => "*",
        };
        let host = match &self.host {
            HostPat::Exact(h) => h.clone(),
            HostPat::Suffix(s) => format!("*{s}"),
            HostPat::Any => "*".into(),
        };
        write!(f, "{scheme}://{host}")?;
        match self.port {
            PortPat::Default => Ok(()),
            PortPat::Any => write!(f, ":*"),
            PortPat::Range(a, b) if a == b => write!(f, ":{a}"),
            PortPat::Range(a, b) => write!(f, ":{a}..{b}"),
        }
    }
}

/// The parsed allow-list of one plugin.
#[derive(Debug, Clone, Default)]
pub struct OutboundHosts(Vec<OutboundPattern>);

impl OutboundHosts {
    /// Parses every entry; the error names the first bad one.
    pub fn parse(list: &[String]) -> Result<Self, (String, PatternError)> {
        list.iter()
            .map(|s| OutboundPattern::parse(s).map_err(|e| (s.clone(), e)))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows(&self, https: bool, host: &str, port: u16) -> bool {
        self.0.iter().any(|p| p.allows(https, host, port))
    }
}

/// `host[:port]`, where an IPv6 host is bracketed (`[::1]:8080`).
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), PatternError> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(PatternError("unclosed `[` in an IPv6 address".into()));
        };
        let host = &s[..end + 2];
        return match &rest[end + 1..] {
            "" => Ok((host, None)),
            p => match p.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(PatternError("junk after the IPv6 address".into())),
            },
        };
    }
    Ok(match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    })
}

fn parse_port(s: &str) -> Result<u16, PatternError> {
    match s.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(PatternError(format!(
            "{s:?} is not a port (1-65535, A..B or *)"
        ))),
    }
}

fn is_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn is_ip_literal(h: &str) -> bool {
    h.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok())
        || h.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> OutboundPattern {
        OutboundPattern::parse(s).unwrap()
    }

    #[test]
    fn exact_hosts_match_only_their_scheme_and_default_port() {
        let a = p("https://api.example.com");
        assert!(a.allows(true, "api.example.com", 443));
        assert!(a.allows(true, "API.example.com", 443));
        assert!(!a.allows(false, "api.example.com", 80));
        assert!(!a.allows(true, "api.example.com", 8443));
        assert!(!a.allows(true, "evil.com", 443));
        assert!(!a.allows(true, "api.example.com.evil.com", 443));
    }

    #[test]
    fn wildcards_cover_subdomains_ports_and_schemes() {
        let s = p("https://*.example.com");
        assert!(s.allows(true, "a.example.com", 443));
        assert!(s.allows(true, "a.b.example.com", 443));
        assert!(!s.allows(true, "example.com", 443));
        assert!(!s.allows(true, "badexample.com", 443));
        let any = p("*://127.0.0.1:*");
        assert!(any.allows(false, "127.0.0.1", 1234));
        assert!(any.allows(true, "127.0.0.1", 443));
        assert!(!any.allows(false, "127.0.0.2", 1234));
        let range = p("http://localhost:8000..8010");
        assert!(range.allows(false, "localhost", 8005));
        assert!(!range.allows(false, "localhost", 8011));
        let v6 = p("http://[::1]:8080");
        assert!(v6.allows(false, "[::1]", 8080));
        assert!(v6.allows(false, "::1", 8080));
        assert!(p("*://*:*").allows(true, "anything.example", 1));
        assert_eq!(
            p("http://127.0.0.1:8080/").to_string(),
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn malformed_patterns_are_refused_with_a_reason() {
        for bad in [
            "api.example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://user@example.com",
            "https://ex*ample.com",
            "https://*.",
            "*://example.com",
            "http://example.com:0",
            "http://example.com:99999",
            "http://example.com:9..1",
            "https://{{ host }}",
            "https://",
            "http://[::1",
            "https://exa mple.com",
        ] {
            assert!(
                OutboundPattern::parse(bad).is_err(),
                "{bad} should be refused"
            );
        }
    }
}
