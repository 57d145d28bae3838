//! The benchmark payload: publish time `t` (ns, [`crate::clock`]) and sequence number `s`,
//! padded to a fixed total size.
//!
//! * JSON: `{"t":<t>,"s":<s>,"p":"xxx…"}`, exactly `bytes` long when `bytes` is large enough
//!   for the fields (else as short as the fields allow).
//! * Binary: 8-byte little-endian `t`, 8-byte little-endian `s`, zero padding to `bytes`
//!   (at least 16 bytes).

/// Sequence numbers with this bit set are readiness probes, not measured messages.
pub const PROBE_BIT: u64 = 1 << 62;

/// A JSON payload of `bytes` total bytes.
pub fn json(t: u64, s: u64, bytes: usize) -> String {
    let mut out = format!("{{\"t\":{t},\"s\":{s},\"p\":\"");
    let pad = bytes.saturating_sub(out.len() + 2);
    out.extend(std::iter::repeat_n('x', pad));
    out.push_str("\"}");
    out
}

/// A binary payload of `bytes` total bytes (at least 16).
pub fn binary(t: u64, s: u64, bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.max(16));
    out.extend_from_slice(&t.to_le_bytes());
    out.extend_from_slice(&s.to_le_bytes());
    out.resize(bytes.max(16), 0);
    out
}

/// `(t, s)` from a frame that embeds a JSON payload (the payload may be wrapped in a Phoenix or
/// Socket.IO envelope), or `None` when the frame carries no benchmark payload.
pub fn parse_json(frame: &[u8]) -> Option<(u64, u64)> {
    const T: &[u8] = b"{\"t\":";
    const S: &[u8] = b",\"s\":";
    let at = frame.windows(T.len()).position(|w| w == T)? + T.len();
    let (t, rest) = digits(frame.get(at..)?)?;
    let rest = rest.strip_prefix(S)?;
    let (s, _) = digits(rest)?;
    Some((t, s))
}

/// `(t, s)` from a binary payload.
pub fn parse_binary(payload: &[u8]) -> Option<(u64, u64)> {
    let t = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
    let s = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((t, s))
}

fn digits(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let end = bytes
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(bytes.len());
    if end == 0 || end > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in bytes.get(..end)? {
        n = n * 10 + u64::from(b - b'0');
    }
    Some((n, bytes.get(end..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_payload_has_the_requested_size_and_round_trips() {
        let p = json(123_456_789, 42, 100);
        assert_eq!(p.len(), 100);
        let v: serde_json::Value = serde_json::from_str(&p).expect("valid JSON");
        assert_eq!(v["t"], 123_456_789);
        assert_eq!(v["s"], 42);
        let framed = format!("[null,null,\"bench:x\",\"msg\",{p}]");
        assert_eq!(parse_json(framed.as_bytes()), Some((123_456_789, 42)));
    }

    #[test]
    fn json_payload_smaller_than_its_fields_is_still_valid() {
        let p = json(1, 2, 5);
        assert_eq!(parse_json(p.as_bytes()), Some((1, 2)));
    }

    #[test]
    fn frames_without_a_payload_are_not_deliveries() {
        assert_eq!(
            parse_json(b"[\"1\",\"1\",\"bench:x\",\"phx_reply\",{}]"),
            None
        );
        assert_eq!(parse_json(b"{\"t\":,\"s\":1}"), None);
    }

    #[test]
    fn binary_payload_round_trips() {
        let p = binary(7, 9, 100);
        assert_eq!(p.len(), 100);
        assert_eq!(parse_binary(&p), Some((7, 9)));
        assert_eq!(parse_binary(&p[..10]), None);
    }
}
