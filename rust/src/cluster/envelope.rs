//! The envelope: what one node sends every other node through the broker, as bytes (docs/CLUSTER.md
//! "Envelope"). Version 1, little-endian:
//!
//! ```text
//! "SB" 0x01 kind:u8 incarnation:u64 seq:u64 node_len:u16 node
//! kind 1 (broadcast): topic_len:u16 topic event_len:u16 event payload_kind:u8 payload...
//! kind 2 (heartbeat): nothing more
//! kind 3 (presence):  to_len:u16 to_node to_incarnation:u64 id:u64 index:u16 count:u16
//!                     flags:u8 bytes...
//! kind 4 (recorded):  topic_len:u16 topic event_len:u16 event payload_kind:u8
//!                     payload_len:u32 payload position...
//! ```
//!
//! A recorded broadcast (docs/HISTORY.md "Where history lives") is a broadcast on a topic
//! with history: the node sends it without its position, and the broker's history script
//! appends the position it assigned (`"<epoch>:<offset>"`, UTF-8) before publishing it, which
//! is why the position comes last and the payload has a length.
//!
//! A presence envelope carries one chunk of a tracker message (docs/CLUSTER.md "Presence
//! across nodes"): `to_node` empty for every node, else the one node (name and incarnation)
//! it is for, which the others skip without reading further; `id`, `index` and `count` put the
//! chunks of one message back together; flag bit 0 says the message is LZ4-compressed.
//!
//! The payload is the broadcast's bytes as the publisher gave them (JSON object text or
//! binary), never re-encoded: a receiving node builds its frames from them, once per
//! serializer, as for a local broadcast. Pure code: no IO, so it is fuzzed and unit tested.

use crate::pubsub::Broadcast;
use crate::wire::Payload;
use bytes::{BufMut, Bytes, BytesMut};

const MAGIC: &[u8; 2] = b"SB";
/// The envelope version this build writes and reads.
pub const VERSION: u8 = 1;
const KIND_BROADCAST: u8 = 1;
const KIND_HEARTBEAT: u8 = 2;
const KIND_PRESENCE: u8 = 3;
const KIND_RECORDED: u8 = 4;
const FLAG_LZ4: u8 = 1;
const PAYLOAD_JSON: u8 = 0;
const PAYLOAD_BINARY: u8 = 1;

/// Who sent an envelope: the configured node name and the random incarnation of its process.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Origin {
    pub node: String,
    pub incarnation: u64,
}

/// One decoded envelope.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Envelope {
    pub origin: Origin,
    /// Per-origin counter over every envelope it sent (a gap means lost envelopes).
    pub seq: u64,
    pub body: Body,
}

/// What an envelope carries.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Body {
    /// A broadcast for this node's subscribers of its topic.
    Broadcast(Broadcast),
    /// "This node is alive" (node identity and presence liveness).
    Heartbeat,
    /// One chunk of a presence tracker message.
    Presence(Chunk),
    /// A broadcast on a topic with history, with the stream position the broker gave it.
    Recorded(Broadcast, String),
}

/// One chunk of a presence tracker message (see the module docs).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Chunk {
    /// The node it is for; `None` for every node.
    pub to: Option<Origin>,
    /// The message's number, unique per sending process.
    pub id: u64,
    /// This chunk's place, from 0, among `count` (at least 1).
    pub index: u16,
    pub count: u16,
    /// The message bytes are LZ4-compressed (once put together).
    pub compressed: bool,
    pub bytes: Bytes,
}

/// Why bytes from the broker are not an envelope this node can read.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a Switchboard envelope (bad magic)")]
    Magic,
    #[error("envelope version {0} (this node reads version {VERSION})")]
    Version(u8),
    #[error("unknown envelope kind {0}")]
    Kind(u8),
    #[error("truncated envelope")]
    Truncated,
    #[error("a name in the envelope is not UTF-8")]
    Utf8,
    #[error("unknown payload kind {0}")]
    PayloadKind(u8),
    #[error("a recorded broadcast without a stream position")]
    Position,
}

/// A name field (node, topic, event) longer than a `u16` length can say.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("a topic, event or node name over 65535 bytes cannot cross the broker")]
pub struct TooLong;

fn put_name(out: &mut BytesMut, name: &str) -> Result<(), TooLong> {
    let len = u16::try_from(name.len()).map_err(|_| TooLong)?;
    out.put_u16_le(len);
    out.put_slice(name.as_bytes());
    Ok(())
}

fn header(origin: &Origin, seq: u64, kind: u8, extra: usize) -> Result<BytesMut, TooLong> {
    let mut out = BytesMut::with_capacity(24 + origin.node.len() + extra);
    out.put_slice(MAGIC);
    out.put_u8(VERSION);
    out.put_u8(kind);
    out.put_u64_le(origin.incarnation);
    out.put_u64_le(seq);
    put_name(&mut out, &origin.node)?;
    Ok(out)
}

/// The envelope of a broadcast.
pub fn encode_broadcast(origin: &Origin, seq: u64, b: &Broadcast) -> Result<Bytes, TooLong> {
    let (kind, payload) = match &b.payload {
        Payload::Json(bytes) => (PAYLOAD_JSON, bytes),
        Payload::Binary(bytes) => (PAYLOAD_BINARY, bytes),
    };
    let extra = 5 + b.topic.len() + b.event.len() + payload.len();
    let mut out = header(origin, seq, KIND_BROADCAST, extra)?;
    put_name(&mut out, &b.topic)?;
    put_name(&mut out, &b.event)?;
    out.put_u8(kind);
    out.put_slice(payload);
    Ok(out.freeze())
}

/// The envelope of a recorded broadcast, without its position: the broker's history script
/// appends it (see the module docs).
pub fn encode_recorded(origin: &Origin, seq: u64, b: &Broadcast) -> Result<Bytes, TooLong> {
    let (kind, payload) = match &b.payload {
        Payload::Json(bytes) => (PAYLOAD_JSON, bytes),
        Payload::Binary(bytes) => (PAYLOAD_BINARY, bytes),
    };
    let len = u32::try_from(payload.len()).map_err(|_| TooLong)?;
    let extra = 9 + b.topic.len() + b.event.len() + payload.len() + 32;
    let mut out = header(origin, seq, KIND_RECORDED, extra)?;
    put_name(&mut out, &b.topic)?;
    put_name(&mut out, &b.event)?;
    out.put_u8(kind);
    out.put_u32_le(len);
    out.put_slice(payload);
    Ok(out.freeze())
}

/// The envelope of a heartbeat.
pub fn encode_heartbeat(origin: &Origin, seq: u64) -> Result<Bytes, TooLong> {
    Ok(header(origin, seq, KIND_HEARTBEAT, 0)?.freeze())
}

/// The envelope of one presence chunk (`chunk.bytes` is its part of the message).
pub fn encode_presence(origin: &Origin, seq: u64, chunk: &Chunk) -> Result<Bytes, TooLong> {
    let to = chunk.to.as_ref();
    let extra = 23 + to.map_or(0, |o| o.node.len()) + chunk.bytes.len();
    let mut out = header(origin, seq, KIND_PRESENCE, extra)?;
    put_name(&mut out, to.map_or("", |o| o.node.as_str()))?;
    out.put_u64_le(to.map_or(0, |o| o.incarnation));
    out.put_u64_le(chunk.id);
    out.put_u16_le(chunk.index);
    out.put_u16_le(chunk.count);
    out.put_u8(if chunk.compressed { FLAG_LZ4 } else { 0 });
    out.put_slice(&chunk.bytes);
    Ok(out.freeze())
}

/// Reads fields off the front of the bytes.
struct Reader {
    bytes: Bytes,
}

impl Reader {
    fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated);
        }
        Ok(self.bytes.split_to(n))
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let raw = self.take(2)?;
        Ok(u16::from_le_bytes([raw[0], raw[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let raw = self.take(4)?;
        Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let raw = self.take(8)?;
        let mut le = [0; 8];
        le.copy_from_slice(&raw);
        Ok(u64::from_le_bytes(le))
    }

    fn name(&mut self) -> Result<String, DecodeError> {
        let raw = self.take(2)?;
        let len = usize::from(u16::from_le_bytes([raw[0], raw[1]]));
        let text = self.take(len)?;
        String::from_utf8(text.to_vec()).map_err(|_| DecodeError::Utf8)
    }
}

/// Decodes an envelope; the payload shares `bytes` (no copy).
pub fn decode(bytes: Bytes) -> Result<Envelope, DecodeError> {
    let mut r = Reader { bytes };
    if r.take(2)? != MAGIC[..] {
        return Err(DecodeError::Magic);
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let kind = r.u8()?;
    let incarnation = r.u64()?;
    let seq = r.u64()?;
    let node = r.name()?;
    let body = match kind {
        KIND_BROADCAST => {
            let topic = r.name()?;
            let event = r.name()?;
            let payload = match r.u8()? {
                PAYLOAD_JSON => Payload::Json(r.bytes),
                PAYLOAD_BINARY => Payload::Binary(r.bytes),
                other => return Err(DecodeError::PayloadKind(other)),
            };
            Body::Broadcast(Broadcast {
                topic,
                event,
                payload,
            })
        }
        KIND_RECORDED => {
            let topic = r.name()?;
            let event = r.name()?;
            let kind = r.u8()?;
            let len = r.u32()? as usize;
            let bytes = r.take(len)?;
            let payload = match kind {
                PAYLOAD_JSON => Payload::Json(bytes),
                PAYLOAD_BINARY => Payload::Binary(bytes),
                other => return Err(DecodeError::PayloadKind(other)),
            };
            let position = String::from_utf8(r.bytes.to_vec()).map_err(|_| DecodeError::Utf8)?;
            if position.is_empty() {
                return Err(DecodeError::Position);
            }
            let b = Broadcast {
                topic,
                event,
                payload,
            };
            Body::Recorded(b, position)
        }
        KIND_HEARTBEAT => Body::Heartbeat,
        KIND_PRESENCE => {
            let to_node = r.name()?;
            let to_incarnation = r.u64()?;
            let to = (!to_node.is_empty()).then_some(Origin {
                node: to_node,
                incarnation: to_incarnation,
            });
            let id = r.u64()?;
            let index = r.u16()?;
            let count = r.u16()?;
            let flags = r.u8()?;
            if count == 0 || index >= count {
                return Err(DecodeError::Truncated);
            }
            Body::Presence(Chunk {
                to,
                id,
                index,
                count,
                compressed: flags & FLAG_LZ4 != 0,
                bytes: r.bytes,
            })
        }
        other => return Err(DecodeError::Kind(other)),
    };
    Ok(Envelope {
        origin: Origin { node, incarnation },
        seq,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            node: "a@host".into(),
            incarnation: 0x0102_0304_0506_0708,
        }
    }

    /// A JSON and a binary broadcast.
    fn broadcasts() -> [Broadcast; 2] {
        [
            Payload::Json(Bytes::from_static(br#"{"body":"hi"}"#)),
            Payload::Binary(Bytes::from_static(b"\x00\xffraw")),
        ]
        .map(|payload| Broadcast {
            topic: "room:lobby".into(),
            event: "new_msg".into(),
            payload,
        })
    }

    #[test]
    fn broadcasts_and_heartbeats_round_trip_with_their_bytes() {
        for b in broadcasts() {
            let bytes = encode_broadcast(&origin(), 7, &b).unwrap();
            let env = decode(bytes).unwrap();
            assert_eq!(env.origin, origin());
            assert_eq!(env.seq, 7);
            assert_eq!(env.body, Body::Broadcast(b));
        }
        let env = decode(encode_heartbeat(&origin(), 9).unwrap()).unwrap();
        assert_eq!((env.seq, env.body), (9, Body::Heartbeat));
        for to in [None, Some(origin())] {
            let chunk = Chunk {
                to,
                id: 42,
                index: 1,
                count: 3,
                compressed: true,
                bytes: Bytes::from_static(b"part"),
            };
            let env = decode(encode_presence(&origin(), 10, &chunk).unwrap()).unwrap();
            assert_eq!((env.seq, env.body), (10, Body::Presence(chunk)));
        }
    }

    #[test]
    fn a_recorded_broadcast_reads_the_position_the_broker_appended() {
        for b in broadcasts() {
            let sent = encode_recorded(&origin(), 3, &b).unwrap();
            // What the history script publishes: the envelope, then the position.
            let mut published = sent.to_vec();
            published.extend_from_slice(b"Ab3-x_yZ:42");
            let env = decode(published.into()).unwrap();
            assert_eq!(env.seq, 3);
            assert_eq!(env.body, Body::Recorded(b, "Ab3-x_yZ:42".into()));
            // Without the script's position it is refused, not delivered.
            assert_eq!(decode(sent).unwrap_err(), DecodeError::Position);
        }
    }

    #[test]
    fn a_presence_chunk_out_of_its_count_is_refused() {
        let chunk = Chunk {
            to: None,
            id: 1,
            index: 2,
            count: 2,
            compressed: false,
            bytes: Bytes::new(),
        };
        let bytes = encode_presence(&origin(), 1, &chunk).unwrap();
        assert_eq!(decode(bytes).unwrap_err(), DecodeError::Truncated);
    }

    #[test]
    fn anything_else_is_refused_with_its_reason() {
        let b = Broadcast {
            topic: "t".into(),
            event: "e".into(),
            payload: Payload::empty_object(),
        };
        let good = encode_broadcast(&origin(), 1, &b).unwrap();
        for cut in 0..good.len() - 2 {
            // Every prefix up to the payload is truncated (an empty payload is a payload).
            let e = decode(good.slice(..cut)).unwrap_err();
            assert_eq!(e, DecodeError::Truncated, "cut at {cut}");
        }
        let mut other = good.to_vec();
        other[2] = 2;
        assert_eq!(decode(other.into()).unwrap_err(), DecodeError::Version(2));
        let mut kind = good.to_vec();
        kind[3] = 9;
        assert_eq!(decode(kind.into()).unwrap_err(), DecodeError::Kind(9));
        assert_eq!(
            decode(Bytes::from_static(b"hello world, not an envelope")).unwrap_err(),
            DecodeError::Magic
        );
        let long = "x".repeat(70_000);
        let b = Broadcast {
            topic: long,
            event: "e".into(),
            payload: Payload::empty_object(),
        };
        assert_eq!(encode_broadcast(&origin(), 1, &b).unwrap_err(), TooLong);
    }
}
