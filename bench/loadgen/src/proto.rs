//! The wire of each benchmarked protocol (bench/PROTOCOLS.md): URLs, join and publish frames,
//! and the classification of received frames.

use crate::payload;
use tokio_tungstenite::tungstenite::Message;

/// What the loadgen speaks to the server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Phoenix V2 JSON text frames (`vsn=2.0.0`).
    PhoenixJson,
    /// Phoenix V2, benchmark payloads as binary kind-0 pushes / kind-2 broadcasts.
    PhoenixBinary,
    /// Socket.IO v4 (Engine.IO v4 over WebSocket only).
    Socketio,
    /// Plain WebSocket: the server relays every text frame to the other clients of the room.
    Ws,
}

impl Protocol {
    /// Short name used in the JSON result line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::PhoenixJson => "phoenix-json",
            Protocol::PhoenixBinary => "phoenix-binary",
            Protocol::Socketio => "socketio",
            Protocol::Ws => "ws",
        }
    }

    /// Whether this is one of the two Phoenix encodings.
    pub fn is_phoenix(self) -> bool {
        matches!(self, Protocol::PhoenixJson | Protocol::PhoenixBinary)
    }

    /// The WebSocket URL path and query for a client of `room`.
    pub fn path(self, room: &str) -> String {
        match self {
            Protocol::PhoenixJson | Protocol::PhoenixBinary => "/socket/websocket?vsn=2.0.0".into(),
            Protocol::Socketio => "/socket.io/?EIO=4&transport=websocket".into(),
            Protocol::Ws => format!("/?room={room}"),
        }
    }

    /// The publish frame carrying benchmark message `(t, s)`, on a connection joined to `room`
    /// (Phoenix join_ref `"1"`; `push_ref` is the Phoenix ref of this push).
    pub fn publish(self, room: &str, push_ref: u64, t: u64, s: u64, bytes: usize) -> Message {
        match self {
            Protocol::PhoenixJson => Message::text(format!(
                "[\"1\",\"{push_ref}\",\"bench:{room}\",\"pub\",{}]",
                payload::json(t, s, bytes)
            )),
            Protocol::PhoenixBinary => {
                let push_ref = push_ref.to_string();
                let topic = format!("bench:{room}");
                let body = payload::binary(t, s, bytes);
                let mut frame = Vec::with_capacity(8 + push_ref.len() + topic.len() + body.len());
                // Field lengths are single bytes (PROTOCOL.md 2.3); refs and topics here are short.
                frame.extend_from_slice(&[0, 1, push_ref.len() as u8, topic.len() as u8, 3]);
                frame.extend_from_slice(b"1");
                frame.extend_from_slice(push_ref.as_bytes());
                frame.extend_from_slice(topic.as_bytes());
                frame.extend_from_slice(b"pub");
                frame.extend_from_slice(&body);
                Message::binary(frame)
            }
            Protocol::Socketio => {
                Message::text(format!("42[\"pub\",{}]", payload::json(t, s, bytes)))
            }
            Protocol::Ws => Message::text(payload::json(t, s, bytes)),
        }
    }

    /// The application heartbeat a client must send periodically, if any (Phoenix every 30 s;
    /// Socket.IO answers server pings instead, plain ws has none).
    pub fn heartbeat(self) -> Option<Message> {
        self.is_phoenix()
            .then(|| Message::text("[null,\"hb\",\"phoenix\",\"heartbeat\",{}]"))
    }
}

/// What a received frame means to the loadgen.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// A benchmark message: publish time and sequence number.
    Delivery { t: u64, s: u64 },
    /// An Engine.IO ping (`2`) that must be answered with `3`.
    EnginePing,
    /// A Phoenix `presence_diff` push (its JSON text).
    PresenceDiff(&'a [u8]),
    /// Anything else (replies, heartbeats, presence_state, transport frames).
    Other,
}

/// Classifies one received data frame.
pub fn classify(protocol: Protocol, msg: &Message) -> Received<'_> {
    match msg {
        Message::Text(text) => {
            let bytes = text.as_bytes();
            if protocol == Protocol::Socketio && bytes == b"2" {
                return Received::EnginePing;
            }
            if let Some((t, s)) = payload::parse_json(bytes) {
                return Received::Delivery { t, s };
            }
            if protocol.is_phoenix() && contains(bytes, b"\"presence_diff\"") {
                return Received::PresenceDiff(bytes);
            }
            Received::Other
        }
        Message::Binary(bytes) if protocol == Protocol::PhoenixBinary => {
            // Kind 2 broadcast: 02 TP EV topic event payload.
            if let [2, tp, ev, ..] = bytes[..] {
                let start = 3 + usize::from(tp) + usize::from(ev);
                if let Some((t, s)) = bytes.get(start..).and_then(payload::parse_binary) {
                    return Received::Delivery { t, s };
                }
            }
            Received::Other
        }
        _ => Received::Other,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_publish_is_a_kind0_push_and_its_broadcast_decodes() {
        let Message::Binary(frame) = Protocol::PhoenixBinary.publish("r", 7, 11, 3, 100) else {
            panic!("binary frame expected");
        };
        assert_eq!(&frame[..5], &[0, 1, 1, 7, 3]);
        assert_eq!(&frame[5..17], b"17bench:rpub");
        // The server's kind-2 broadcast of the same payload.
        let mut bcast = vec![2, 7, 3];
        bcast.extend_from_slice(b"bench:rmsg");
        bcast.extend_from_slice(&frame[17..]);
        let msg = Message::binary(bcast);
        assert_eq!(
            classify(Protocol::PhoenixBinary, &msg),
            Received::Delivery { t: 11, s: 3 }
        );
    }

    #[test]
    fn json_publish_carries_the_payload_in_a_v2_push() {
        let Message::Text(text) = Protocol::PhoenixJson.publish("r", 2, 5, 6, 100) else {
            panic!("text frame expected");
        };
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v[0], "1");
        assert_eq!(v[1], "2");
        assert_eq!(v[2], "bench:r");
        assert_eq!(v[3], "pub");
        assert_eq!(v[4]["s"], 6);
    }

    #[test]
    fn a_broadcast_with_a_stream_position_as_ref_is_a_delivery() {
        // A topic with history (docs/HISTORY.md) puts the position in the broadcast's ref:
        // still a delivery, never a reply.
        let frame = format!(
            "[null,\"sUq3Xw0a:17\",\"bench:x\",\"msg\",{}]",
            payload::json(4, 8, 100)
        );
        assert_eq!(
            classify(Protocol::PhoenixJson, &Message::text(frame)),
            Received::Delivery { t: 4, s: 8 }
        );
    }

    #[test]
    fn socketio_ping_and_event_are_told_apart() {
        assert_eq!(
            classify(Protocol::Socketio, &Message::text("2")),
            Received::EnginePing
        );
        let msg = Message::text(format!("42[\"msg\",{}]", payload::json(9, 1, 60)));
        assert_eq!(
            classify(Protocol::Socketio, &msg),
            Received::Delivery { t: 9, s: 1 }
        );
    }
}
