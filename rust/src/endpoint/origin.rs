//! `check_origin` (PROTOCOL.md 1.3 step 2): compares a request's `Origin` header with the
//! mount's allowed origins, with Phoenix's entry forms.

use super::config::CheckOrigin;

/// An origin split into parts; `scheme` is `None` for a `//host` entry (any scheme) and `port`
/// is the explicit port or the scheme's default.
#[derive(Debug, PartialEq, Eq)]
struct Parts {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Parses `scheme://host[:port][/...]` or `//host[:port]`. `None` for anything else
/// (including the literal `null` origin browsers send for opaque origins).
fn parse(origin: &str) -> Option<Parts> {
    let origin = origin.trim();
    let (scheme, rest) = match origin.split_once("//") {
        Some(("", rest)) => (None, rest),
        Some((scheme, rest)) => (Some(scheme.strip_suffix(':')?.to_ascii_lowercase()), rest),
        None => return None,
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal like `[::1]` has colons inside the brackets.
        Some((host, port)) if !port.contains(']') => (host, Some(port.parse::<u16>().ok()?)),
        _ => (authority, None),
    };
    let port = port.or_else(|| scheme.as_deref().and_then(default_port));
    Some(Parts {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
    })
}

fn allowed_by(entry: &Parts, origin: &Parts) -> bool {
    if let Some(scheme) = &entry.scheme
        && origin.scheme.as_deref() != Some(scheme.as_str())
    {
        return false;
    }
    let host_ok = match entry.host.strip_prefix("*.") {
        Some(domain) => origin
            .host
            .strip_suffix(domain)
            .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
        None => entry.host == origin.host,
    };
    // An entry without a port (and without a scheme to default it) accepts any port.
    host_ok && (entry.port.is_none() || entry.port == origin.port)
}

/// True when a request with this `Origin` header (or none) may connect; `host` is the
/// request's `Host` header, which [`CheckOrigin::SameHost`] compares the origin with.
pub fn origin_allowed(check: &CheckOrigin, origin: Option<&str>, host: Option<&str>) -> bool {
    // Non-browser clients send no Origin: nothing to check (PROTOCOL.md 1.3).
    let Some(origin) = origin else {
        return true;
    };
    match check {
        CheckOrigin::Off => true,
        CheckOrigin::SameHost => same_host(origin, host),
        CheckOrigin::Allow(entries) => {
            let Some(origin) = parse(origin) else {
                return false;
            };
            entries
                .iter()
                .filter_map(|entry| parse(entry))
                .any(|entry| allowed_by(&entry, &origin))
        }
    }
}

/// The origin's host and port are the `Host` header's (a `Host` without a port means the
/// origin scheme's default port). The scheme is not compared: TLS often ends at a proxy in
/// front, so a page of `https://example.com` reaches us with `Host: example.com`.
fn same_host(origin: &str, host: Option<&str>) -> bool {
    let (Some(origin), Some(host)) = (parse(origin), host.and_then(|h| parse(&format!("//{h}"))))
    else {
        return false;
    };
    let port_ok = match host.port {
        Some(port) => origin.port == Some(port),
        None => origin.port == origin.scheme.as_deref().and_then(default_port),
    };
    origin.host == host.host && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> CheckOrigin {
        CheckOrigin::Allow(entries.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn off_or_missing_origin_is_allowed() {
        assert!(origin_allowed(
            &CheckOrigin::Off,
            Some("http://evil.test"),
            None
        ));
        assert!(origin_allowed(&allow(&["http://good.test"]), None, None));
    }

    #[test]
    fn exact_entries_compare_scheme_host_and_port() {
        let check = allow(&["http://good.test"]);
        assert!(origin_allowed(&check, Some("http://good.test"), None));
        assert!(origin_allowed(&check, Some("http://GOOD.test:80"), None));
        assert!(!origin_allowed(&check, Some("https://good.test"), None));
        assert!(!origin_allowed(&check, Some("http://good.test:8080"), None));
        assert!(!origin_allowed(&check, Some("http://evil.test"), None));
        assert!(!origin_allowed(
            &check,
            Some("http://good.test.evil.test"),
            None
        ));
        assert!(!origin_allowed(&check, Some("null"), None));
        assert!(!origin_allowed(&check, Some(""), None));
    }

    #[test]
    fn scheme_relative_and_wildcard_entries() {
        let check = allow(&["//good.test", "https://*.example.com"]);
        assert!(origin_allowed(&check, Some("https://good.test"), None));
        assert!(origin_allowed(&check, Some("http://good.test:4000"), None));
        assert!(origin_allowed(&check, Some("https://a.example.com"), None));
        assert!(origin_allowed(
            &check,
            Some("https://a.b.example.com"),
            None
        ));
        assert!(!origin_allowed(&check, Some("https://example.com"), None));
        assert!(!origin_allowed(
            &check,
            Some("https://badexample.com"),
            None
        ));
        assert!(!origin_allowed(&check, Some("http://a.example.com"), None));
    }

    #[test]
    fn same_host_compares_the_origin_with_the_host_header() {
        let same = |origin: &str, host: Option<&str>| {
            origin_allowed(&CheckOrigin::SameHost, Some(origin), host)
        };
        assert!(same("http://127.0.0.1:4000", Some("127.0.0.1:4000")));
        assert!(same("https://Example.com", Some("example.com")));
        assert!(same("http://example.com", Some("example.com")));
        assert!(same("https://example.com", Some("example.com:443")));
        assert!(!same("https://example.com:8443", Some("example.com")));
        assert!(!same("http://127.0.0.1:4001", Some("127.0.0.1:4000")));
        assert!(!same("http://evil.test", Some("127.0.0.1:4000")));
        assert!(!same("http://127.0.0.1:4000", None));
        assert!(!same("null", Some("127.0.0.1:4000")));
        assert!(same("http://[::1]:4000", Some("[::1]:4000")));
        // No Origin: a non-browser client.
        assert!(origin_allowed(&CheckOrigin::SameHost, None, Some("x")));
    }

    #[test]
    fn ports_and_ipv6() {
        let check = allow(&["http://127.0.0.1:4000", "http://[::1]:4000"]);
        assert!(origin_allowed(&check, Some("http://127.0.0.1:4000"), None));
        assert!(!origin_allowed(&check, Some("http://127.0.0.1:4001"), None));
        assert!(origin_allowed(&check, Some("http://[::1]:4000"), None));
        assert!(!origin_allowed(
            &check,
            Some("http://127.0.0.1:notaport"),
            None
        ));
    }
}
