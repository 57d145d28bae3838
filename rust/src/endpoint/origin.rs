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

/// True when a request with this `Origin` header (or none) may connect.
pub fn origin_allowed(check: &CheckOrigin, origin: Option<&str>) -> bool {
    let CheckOrigin::Allow(entries) = check else {
        return true;
    };
    let Some(origin) = origin else {
        return true;
    };
    let Some(origin) = parse(origin) else {
        return false;
    };
    entries
        .iter()
        .filter_map(|entry| parse(entry))
        .any(|entry| allowed_by(&entry, &origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> CheckOrigin {
        CheckOrigin::Allow(entries.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn off_or_missing_origin_is_allowed() {
        assert!(origin_allowed(&CheckOrigin::Off, Some("http://evil.test")));
        assert!(origin_allowed(&allow(&["http://good.test"]), None));
    }

    #[test]
    fn exact_entries_compare_scheme_host_and_port() {
        let check = allow(&["http://good.test"]);
        assert!(origin_allowed(&check, Some("http://good.test")));
        assert!(origin_allowed(&check, Some("http://GOOD.test:80")));
        assert!(!origin_allowed(&check, Some("https://good.test")));
        assert!(!origin_allowed(&check, Some("http://good.test:8080")));
        assert!(!origin_allowed(&check, Some("http://evil.test")));
        assert!(!origin_allowed(&check, Some("http://good.test.evil.test")));
        assert!(!origin_allowed(&check, Some("null")));
        assert!(!origin_allowed(&check, Some("")));
    }

    #[test]
    fn scheme_relative_and_wildcard_entries() {
        let check = allow(&["//good.test", "https://*.example.com"]);
        assert!(origin_allowed(&check, Some("https://good.test")));
        assert!(origin_allowed(&check, Some("http://good.test:4000")));
        assert!(origin_allowed(&check, Some("https://a.example.com")));
        assert!(origin_allowed(&check, Some("https://a.b.example.com")));
        assert!(!origin_allowed(&check, Some("https://example.com")));
        assert!(!origin_allowed(&check, Some("https://badexample.com")));
        assert!(!origin_allowed(&check, Some("http://a.example.com")));
    }

    #[test]
    fn ports_and_ipv6() {
        let check = allow(&["http://127.0.0.1:4000", "http://[::1]:4000"]);
        assert!(origin_allowed(&check, Some("http://127.0.0.1:4000")));
        assert!(!origin_allowed(&check, Some("http://127.0.0.1:4001")));
        assert!(origin_allowed(&check, Some("http://[::1]:4000")));
        assert!(!origin_allowed(&check, Some("http://127.0.0.1:notaport")));
    }
}
