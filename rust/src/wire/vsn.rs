//! `vsn` negotiation (PROTOCOL.md 1.2): Phoenix parses the value with Elixir's
//! `Version.parse/1` and matches it against `~> 1.0.0` (V1) and `~> 2.0.0` (V2).

use super::Serializer;

/// Phoenix assumes `"1.0.0"` when the client sends no `vsn`.
pub(super) fn negotiate(vsn: Option<&str>) -> Option<Serializer> {
    let Some(vsn) = vsn else {
        return Some(Serializer::V1Json);
    };
    let version = parse(vsn)?;
    // `~> X.0.0` is `>= X.0.0 and < X.1.0`; a pre-release of X.0.0 sorts below X.0.0.
    let in_range = version.minor == 0 && !(version.patch == 0 && version.pre_release);
    match version.major {
        1 if in_range => Some(Serializer::V1Json),
        2 if in_range => Some(Serializer::V2Json),
        _ => None,
    }
}

struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre_release: bool,
}

/// Semantic version `MAJOR.MINOR.PATCH[-PRE][+BUILD]` (semver 2.0 grammar: numeric parts
/// without leading zeros, dot-separated non-empty `[0-9A-Za-z-]` identifiers).
fn parse(vsn: &str) -> Option<Version> {
    let (rest, build) = match vsn.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (vsn, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    if !build.is_none_or(identifiers_ok) || !pre.is_none_or(identifiers_ok) {
        return None;
    }
    let mut parts = core.split('.');
    let major = number(parts.next()?)?;
    let minor = number(parts.next()?)?;
    let patch = number(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some(Version {
        major,
        minor,
        patch,
        pre_release: pre.is_some(),
    })
}

fn number(s: &str) -> Option<u64> {
    let digits_only = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = s.len() > 1 && s.starts_with('0');
    if !digits_only || leading_zero {
        return None;
    }
    s.parse().ok()
}

fn identifiers_ok(s: &str) -> bool {
    s.split('.')
        .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}
