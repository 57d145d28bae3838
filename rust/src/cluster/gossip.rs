//! The presence tracker's messages between nodes (docs/CLUSTER.md "Presence across nodes"):
//! what they carry, their JSON form, LZ4 and chunking, and putting chunks back together.
//! Pure code, no IO.
//!
//! A message names each replica once, in a table, and refers to it by index elsewhere; the
//! sender's own replica (the origin of its deltas and snapshots) comes from the envelope.

use super::envelope::{Chunk, Origin};
use crate::presence::state::{Clouds, Context, Delta, Dot, ReplicaRef, Snapshot, Value};
use crate::presence::{Meta, OwnerId};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A message of the tracker protocol (Phoenix.Tracker's heartbeat, transfer_req and
/// transfer_ack), for every shard at once. Shard indexes are below the message's shard count.
#[derive(Clone, PartialEq, Debug)]
pub enum Message {
    /// Sent every broadcast period when a shard has changes, else every `silent_periods`
    /// periods: every shard's clock, and the shards' deltas since the last beat.
    Beat {
        clocks: Vec<(usize, Context)>,
        deltas: Vec<(usize, Delta)>,
    },
    /// "Send me your state": the requester's context per shard.
    TransferReq { contexts: Vec<(usize, Context)> },
    /// The answer: each shard's state as the requester should merge it.
    TransferAck { snapshots: Vec<(usize, Snapshot)> },
}

/// Why tracker bytes were not a message this node can use.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum GossipError {
    #[error("unreadable presence message: {0}")]
    Json(String),
    #[error("presence message names replica #{0}, which its table does not have")]
    Replica(usize),
    #[error("presence message for shard {shard} of {shards}")]
    Shard { shard: usize, shards: usize },
    #[error("presence message from a node with {theirs} presence shards (this node has {ours})")]
    Shards { theirs: usize, ours: usize },
    #[error("presence message of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("presence message does not decompress: {0}")]
    Lz4(String),
}

/// Messages above this size are compressed (smaller ones gain little).
const COMPRESS_OVER: usize = 4 * 1024;
/// The largest chunk: well under NATS's default 1 MiB message limit, envelope header included.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// The largest message, decompressed, a node accepts (a full state of ~1,000,000 presences).
pub const MAX_MESSAGE: usize = 512 * 1024 * 1024;

// ---- JSON form ---------------------------------------------------------------------------

type Counters = Vec<(usize, u64)>;

#[derive(Serialize, Deserialize)]
struct WireValue {
    /// Replica index and counter: the dot.
    r: usize,
    c: u64,
    /// Owner, topic, key, meta.
    o: u64,
    t: Arc<str>,
    k: Arc<str>,
    m: Arc<Meta>,
}

#[derive(Serialize, Deserialize)]
struct WireState {
    s: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    context: Counters,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    clouds: Vec<(usize, Vec<u64>)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    values: Vec<WireValue>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Wire {
    Beat {
        shards: usize,
        replicas: Vec<(Arc<str>, u64, u64)>,
        clocks: Vec<WireState>,
        deltas: Vec<WireState>,
    },
    TransferReq {
        shards: usize,
        replicas: Vec<(Arc<str>, u64, u64)>,
        contexts: Vec<WireState>,
    },
    TransferAck {
        shards: usize,
        replicas: Vec<(Arc<str>, u64, u64)>,
        snapshots: Vec<WireState>,
    },
}

/// Numbers replicas in the order they are first met.
#[derive(Default)]
struct Table {
    index: HashMap<ReplicaRef, usize>,
    list: Vec<(Arc<str>, u64, u64)>,
}

impl Table {
    fn of(&mut self, r: &ReplicaRef) -> usize {
        if let Some(&i) = self.index.get(r) {
            return i;
        }
        let i = self.list.len();
        self.list.push((r.name.clone(), r.vsn.0, r.vsn.1));
        self.index.insert(r.clone(), i);
        i
    }

    fn context(&mut self, c: &Context) -> Counters {
        c.iter().map(|(r, &n)| (self.of(r), n)).collect()
    }

    fn clouds(&mut self, c: &Clouds) -> Vec<(usize, Vec<u64>)> {
        c.iter()
            .map(|(r, dots)| (self.of(r), dots.iter().copied().collect()))
            .collect()
    }

    fn values(&mut self, v: &BTreeMap<Dot, Value>) -> Vec<WireValue> {
        v.iter()
            .map(|(dot, value)| WireValue {
                r: self.of(&dot.replica),
                c: dot.counter,
                o: value.owner.0,
                t: value.topic.clone(),
                k: value.key.clone(),
                m: value.meta.clone(),
            })
            .collect()
    }
}

/// Reads replica indexes back.
struct Refs {
    list: Vec<ReplicaRef>,
}

impl Refs {
    fn new(list: Vec<(Arc<str>, u64, u64)>) -> Refs {
        Refs {
            list: list
                .into_iter()
                .map(|(name, a, b)| ReplicaRef { name, vsn: (a, b) })
                .collect(),
        }
    }

    fn get(&self, i: usize) -> Result<&ReplicaRef, GossipError> {
        self.list.get(i).ok_or(GossipError::Replica(i))
    }

    fn context(&self, c: &Counters) -> Result<Context, GossipError> {
        c.iter()
            .map(|&(i, n)| Ok((self.get(i)?.clone(), n)))
            .collect()
    }

    fn clouds(&self, c: &[(usize, Vec<u64>)]) -> Result<Clouds, GossipError> {
        c.iter()
            .map(|(i, dots)| Ok((self.get(*i)?.clone(), dots.iter().copied().collect())))
            .collect()
    }

    fn values(&self, v: Vec<WireValue>) -> Result<BTreeMap<Dot, Value>, GossipError> {
        v.into_iter()
            .map(|w| {
                let dot = Dot {
                    replica: self.get(w.r)?.clone(),
                    counter: w.c,
                };
                let value = Value {
                    owner: OwnerId(w.o),
                    topic: w.t,
                    key: w.k,
                    meta: w.m,
                };
                Ok((dot, value))
            })
            .collect()
    }
}

/// The JSON bytes of `message` for a cluster whose nodes have `shards` presence shards.
pub fn encode(message: &Message, shards: usize) -> Vec<u8> {
    let mut table = Table::default();
    let state = |s: usize, context: Counters, clouds, values| WireState {
        s,
        context,
        clouds,
        values,
    };
    let wire = match message {
        Message::Beat { clocks, deltas } => {
            let clocks = clocks
                .iter()
                .map(|(s, c)| state(*s, table.context(c), Vec::new(), Vec::new()))
                .collect();
            let deltas = deltas
                .iter()
                .map(|(s, d)| {
                    let clouds = table.clouds(&d.clouds);
                    let values = table.values(&d.values);
                    state(*s, Vec::new(), clouds, values)
                })
                .collect();
            Wire::Beat {
                shards,
                replicas: table.list,
                clocks,
                deltas,
            }
        }
        Message::TransferReq { contexts } => {
            let contexts = contexts
                .iter()
                .map(|(s, c)| state(*s, table.context(c), Vec::new(), Vec::new()))
                .collect();
            Wire::TransferReq {
                shards,
                replicas: table.list,
                contexts,
            }
        }
        Message::TransferAck { snapshots } => {
            let snapshots = snapshots
                .iter()
                .map(|(s, snap)| {
                    let context = table.context(&snap.context);
                    let clouds = table.clouds(&snap.clouds);
                    let values = table.values(&snap.values);
                    state(*s, context, clouds, values)
                })
                .collect();
            Wire::TransferAck {
                shards,
                replicas: table.list,
                snapshots,
            }
        }
    };
    // A Wire of plain data always serializes; an empty object would be refused by decode.
    serde_json::to_vec(&wire).unwrap_or_default()
}

/// Reads a message `sender` sent to a node with `shards` presence shards.
pub fn decode(bytes: &[u8], sender: &ReplicaRef, shards: usize) -> Result<Message, GossipError> {
    let mut wire: Wire =
        serde_json::from_slice(bytes).map_err(|e| GossipError::Json(e.to_string()))?;
    let (theirs, replicas) = match &mut wire {
        Wire::Beat {
            shards, replicas, ..
        }
        | Wire::TransferReq {
            shards, replicas, ..
        }
        | Wire::TransferAck {
            shards, replicas, ..
        } => (*shards, std::mem::take(replicas)),
    };
    if theirs != shards {
        return Err(GossipError::Shards {
            theirs,
            ours: shards,
        });
    }
    let refs = Refs::new(replicas);
    let context = &|w: WireState| refs.context(&w.context);
    Ok(match wire {
        Wire::Beat { clocks, deltas, .. } => Message::Beat {
            clocks: per_shard(clocks, shards, context)?,
            deltas: per_shard(deltas, shards, &|w| {
                Ok(Delta {
                    origin: sender.clone(),
                    clouds: refs.clouds(&w.clouds)?,
                    values: refs.values(w.values)?,
                    start: Context::new(),
                    end: Context::new(),
                })
            })?,
        },
        Wire::TransferReq { contexts, .. } => Message::TransferReq {
            contexts: per_shard(contexts, shards, context)?,
        },
        Wire::TransferAck { snapshots, .. } => Message::TransferAck {
            snapshots: per_shard(snapshots, shards, &|w| {
                Ok(Snapshot {
                    origin: sender.clone(),
                    context: refs.context(&w.context)?,
                    clouds: refs.clouds(&w.clouds)?,
                    values: refs.values(w.values)?,
                })
            })?,
        },
    })
}

/// Each shard's entry read by `f`, its shard index checked against `shards`.
fn per_shard<T>(
    states: Vec<WireState>,
    shards: usize,
    f: &dyn Fn(WireState) -> Result<T, GossipError>,
) -> Result<Vec<(usize, T)>, GossipError> {
    states
        .into_iter()
        .map(|w| {
            let shard = w.s;
            if shard >= shards {
                return Err(GossipError::Shard { shard, shards });
            }
            Ok((shard, f(w)?))
        })
        .collect()
}

// ---- chunks ----------------------------------------------------------------------------------

/// Cuts message bytes into the chunks of message `id` for `to` (`None`: every node),
/// LZ4-compressed when that pays.
pub fn chunks(bytes: Vec<u8>, to: Option<Origin>, id: u64) -> Vec<Chunk> {
    let (bytes, compressed) = if bytes.len() > COMPRESS_OVER {
        (lz4_flex::compress_prepend_size(&bytes), true)
    } else {
        (bytes, false)
    };
    let bytes = Bytes::from(bytes);
    let count = bytes.len().div_ceil(CHUNK_BYTES).max(1);
    // Over u16::MAX chunks (16 GiB) cannot be said; such a message is cut short and the
    // receiver drops it as incomplete.
    let count = u16::try_from(count).unwrap_or(u16::MAX);
    (0..count)
        .map(|index| {
            let start = usize::from(index) * CHUNK_BYTES;
            let end = (start + CHUNK_BYTES).min(bytes.len());
            Chunk {
                to: to.clone(),
                id,
                index,
                count,
                compressed,
                bytes: bytes.slice(start.min(end)..end),
            }
        })
        .collect()
}

/// One message whose chunks are arriving.
struct Partial {
    parts: Vec<Option<Bytes>>,
    missing: usize,
    bytes: usize,
    compressed: bool,
    started: Instant,
}

/// Puts chunks back together, per sender and message id. Bounded: a message whose chunks
/// do not all arrive within `timeout` is dropped, and so is anything past `max_bytes` pending.
pub struct Reassembler {
    partial: HashMap<(Origin, u64), Partial>,
    pending_bytes: usize,
    timeout: Duration,
    max_bytes: usize,
    /// Messages given up (timed out, over the bound, inconsistent chunks).
    pub dropped: u64,
}

impl Reassembler {
    pub fn new(timeout: Duration, max_bytes: usize) -> Reassembler {
        Reassembler {
            partial: HashMap::new(),
            pending_bytes: 0,
            timeout,
            max_bytes,
            dropped: 0,
        }
    }

    /// Adds a chunk from `from`; the whole message's bytes (decompressed) once every chunk
    /// is in.
    pub fn push(&mut self, from: &Origin, chunk: Chunk) -> Option<Result<Vec<u8>, GossipError>> {
        self.expire(Instant::now());
        if chunk.count == 1 {
            return Some(finish(vec![chunk.bytes], chunk.compressed));
        }
        let key = (from.clone(), chunk.id);
        let count = usize::from(chunk.count);
        let partial = self.partial.entry(key.clone()).or_insert_with(|| Partial {
            parts: vec![None; count],
            missing: count,
            bytes: 0,
            compressed: chunk.compressed,
            started: Instant::now(),
        });
        let index = usize::from(chunk.index);
        if partial.parts.len() != count || partial.compressed != chunk.compressed {
            self.give_up(&key);
            return None;
        }
        if partial.parts[index].is_none() {
            partial.missing -= 1;
            partial.bytes += chunk.bytes.len();
            self.pending_bytes += chunk.bytes.len();
            partial.parts[index] = Some(chunk.bytes);
        }
        if self.pending_bytes > self.max_bytes {
            self.give_up(&key);
            return None;
        }
        if partial.missing > 0 {
            return None;
        }
        let done = self.partial.remove(&key)?;
        self.pending_bytes -= done.bytes;
        Some(finish(
            done.parts.into_iter().flatten().collect(),
            done.compressed,
        ))
    }

    fn give_up(&mut self, key: &(Origin, u64)) {
        if let Some(p) = self.partial.remove(key) {
            self.pending_bytes -= p.bytes;
            self.dropped += 1;
        }
    }

    fn expire(&mut self, now: Instant) {
        let timeout = self.timeout;
        let stale: Vec<_> = self
            .partial
            .iter()
            .filter(|(_, p)| now.duration_since(p.started) > timeout)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.give_up(&key);
        }
    }
}

fn finish(parts: Vec<Bytes>, compressed: bool) -> Result<Vec<u8>, GossipError> {
    let total: usize = parts.iter().map(Bytes::len).sum();
    let mut joined = Vec::with_capacity(total);
    for part in &parts {
        joined.extend_from_slice(part);
    }
    if !compressed {
        return Ok(joined);
    }
    // The first 4 bytes say the decompressed size: checked before anything is allocated.
    let size = joined
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| GossipError::Lz4("no size".to_owned()))?;
    if size > MAX_MESSAGE {
        return Err(GossipError::TooLarge(size));
    }
    let out = lz4_flex::decompress_size_prepended(&joined)
        .map_err(|e| GossipError::Lz4(e.to_string()))?;
    if out.len() != size {
        return Err(GossipError::Lz4(format!(
            "{} bytes where the message says {size}",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
