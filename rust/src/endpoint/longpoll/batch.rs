//! The body of a long-poll POST: client frames, one per line (PROTOCOL.md 1.6).
//!
//! With `Content-Type: application/x-ndjson` the body is split on `\n` (a trailing `\r` is
//! dropped); a line starting with `[` or `{` is a JSON text frame, any other line the standard
//! base64 of a binary client push (2.3). Only the first [`MAX_LINES`] lines are read, as
//! Phoenix (`@max_poll_batch_size`). Without that content type the whole body is one text
//! frame. Empty lines are skipped.

use crate::wire::{Message, Serializer};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;

/// Lines of one POST that are read (Phoenix and phoenix.js `MAX_LONGPOLL_BATCH_SIZE`).
pub(crate) const MAX_LINES: usize = 100;

/// Why a line of a batch was not dispatched; the lines before it were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadLine {
    /// A frame over the mount's `max_frame_bytes` (over WebSocket: close 1009).
    TooBig,
    /// Not UTF-8 (1007 over WebSocket), not base64, or not a frame of the session's
    /// serializer (1011).
    Malformed,
}

/// The frames of a body, decoded in order, stopping at the first bad one.
pub(crate) fn decode(
    body: &[u8],
    ndjson: bool,
    serializer: Serializer,
    max_frame_bytes: usize,
) -> (Vec<Message>, Option<BadLine>) {
    let mut out = Vec::new();
    if !ndjson {
        return match text(body, serializer, max_frame_bytes) {
            Ok(msg) => (vec![msg], None),
            Err(bad) => (out, Some(bad)),
        };
    }
    for line in body.split(|b| *b == b'\n').take(MAX_LINES) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let decoded = if matches!(line[0], b'[' | b'{') {
            text(line, serializer, max_frame_bytes)
        } else {
            binary(line, serializer, max_frame_bytes)
        };
        match decoded {
            Ok(msg) => out.push(msg),
            Err(bad) => return (out, Some(bad)),
        }
    }
    (out, None)
}

fn text(line: &[u8], serializer: Serializer, max: usize) -> Result<Message, BadLine> {
    if line.len() > max {
        return Err(BadLine::TooBig);
    }
    if std::str::from_utf8(line).is_err() {
        return Err(BadLine::Malformed);
    }
    serializer.decode_text(line).map_err(|_| BadLine::Malformed)
}

fn binary(line: &[u8], serializer: Serializer, max: usize) -> Result<Message, BadLine> {
    // base64 is 4/3 of the bytes it carries: refuse before decoding a line that cannot fit.
    if line.len() / 4 * 3 > max.saturating_add(3) {
        return Err(BadLine::TooBig);
    }
    let bytes = STANDARD_PAD_INDIFFERENT
        .decode(line)
        .map_err(|_| BadLine::Malformed)?;
    if bytes.len() > max {
        return Err(BadLine::TooBig);
    }
    serializer
        .decode_binary(&bytes)
        .map_err(|_| BadLine::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: Serializer = Serializer::V2Json;

    fn topics(msgs: &[Message]) -> Vec<String> {
        msgs.iter().map(|m| m.event.clone()).collect()
    }

    #[test]
    fn ndjson_lines_are_text_or_base64_binary_in_order() {
        // The kind-0 push of PROTOCOL.md 9.2 scenario 48: join_ref "1", ref "47"... as
        // phoenix.js sends it (`binary_event` on room:lobby, payload 01 02).
        let push = b"\x00\x01\x02\x0a\x0c1" as &[u8];
        let mut frame = push.to_vec();
        frame.extend_from_slice(b"47room:lobbybinary_event\x01\x02");
        let b64 = STANDARD_PAD_INDIFFERENT.encode(&frame);
        let body = format!(
            "[\"1\",\"1\",\"room:lobby\",\"phx_join\",{{}}]\r\n{b64}\n\n[null,\"2\",\"phoenix\",\"heartbeat\",{{}}]\n"
        );
        let (msgs, bad) = decode(body.as_bytes(), true, V2, 1 << 16);
        assert_eq!(bad, None);
        assert_eq!(topics(&msgs), ["phx_join", "binary_event", "heartbeat"]);
    }

    #[test]
    fn only_the_first_hundred_lines_are_read() {
        let line = "[null,\"1\",\"phoenix\",\"heartbeat\",{}]";
        let body = vec![line; 101].join("\n");
        let (msgs, bad) = decode(body.as_bytes(), true, V2, 1 << 16);
        assert_eq!((msgs.len(), bad), (100, None));
    }

    #[test]
    fn without_ndjson_the_body_is_one_frame() {
        let body = b"[\"1\",\"1\",\"room:a\",\"phx_join\",{\"a\":\"x\\ny\"}]";
        let (msgs, bad) = decode(body, false, V2, 1 << 16);
        assert_eq!((topics(&msgs), bad), (vec!["phx_join".to_owned()], None));
    }

    #[test]
    fn a_bad_line_stops_the_batch_after_the_good_ones() {
        let good = "[null,\"1\",\"phoenix\",\"heartbeat\",{}]";
        for (bad_line, why) in [
            ("not json".to_owned(), BadLine::Malformed),
            ("[1,2,3]".to_owned(), BadLine::Malformed),
            ("%%%%".to_owned(), BadLine::Malformed),
            (format!("[\"{}\"]", "a".repeat(100)), BadLine::TooBig),
            ("A".repeat(400), BadLine::TooBig),
        ] {
            let body = format!("{good}\n{bad_line}\n{good}");
            let (msgs, bad) = decode(body.as_bytes(), true, V2, 64);
            assert_eq!((msgs.len(), bad), (1, Some(why)), "{bad_line:?}");
        }
        let (msgs, bad) = decode(b"[\xff]", true, V2, 64);
        assert_eq!((msgs.len(), bad), (0, Some(BadLine::Malformed)));
    }
}
