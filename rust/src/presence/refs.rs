//! `phx_ref` minting (PROTOCOL.md 6.2, PS shard.ex `random_ref/0`).
//!
//! A ref is 12 bytes — 8 bytes of wall-clock nanoseconds (big-endian), 2 bytes of a hash of
//! the replica ref, 2 bytes of a per-minter counter — encoded as URL-safe base64 without
//! padding, i.e. exactly 16 characters from `[A-Za-z0-9_-]`, like Phoenix 1.7+/1.8.

use super::state::ReplicaRef;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Length in characters of every minted `phx_ref`.
pub const PHX_REF_LEN: usize = 16;

/// Mints `phx_ref`s for one replica. Thread-safe; one per [`super::Presence`].
#[derive(Debug)]
pub struct RefMinter {
    replica_hash: [u8; 2],
    /// Last nanosecond timestamp handed out. Timestamps are forced strictly increasing so
    /// refs stay unique within the process even if the wall clock steps back or two mints
    /// land on the same nanosecond.
    last_ns: AtomicU64,
    counter: AtomicU16,
}

impl RefMinter {
    /// A minter whose refs carry a 2-byte hash of `replica` (name and vsn), which keeps refs
    /// of different nodes (or incarnations) apart when their clocks agree.
    pub fn new(replica: &ReplicaRef) -> RefMinter {
        let mut buf = Vec::with_capacity(replica.name.len() + 16);
        buf.extend_from_slice(replica.name.as_bytes());
        buf.extend_from_slice(&replica.vsn.0.to_be_bytes());
        buf.extend_from_slice(&replica.vsn.1.to_be_bytes());
        let h = xxhash_rust::xxh3::xxh3_64(&buf).to_be_bytes();
        RefMinter {
            replica_hash: [h[0], h[1]],
            last_ns: AtomicU64::new(0),
            counter: AtomicU16::new(0),
        }
    }

    /// A fresh 16-character ref; never equal to an earlier one from this minter.
    pub fn mint(&self) -> String {
        let now = wall_clock_ns();
        let prev = self
            .last_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now.max(last.wrapping_add(1)))
            })
            // The closure always returns Some, so this branch only restates the value.
            .unwrap_or_else(|last| last);
        let ns = now.max(prev.wrapping_add(1));
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut raw = [0u8; 12];
        raw[..8].copy_from_slice(&ns.to_be_bytes());
        raw[8..10].copy_from_slice(&self.replica_hash);
        raw[10..].copy_from_slice(&count.to_be_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }
}

fn wall_clock_ns() -> u64 {
    // Before 1970 (a badly set clock) counts as 0; the monotonic bump still keeps refs unique.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn refs_are_16_url_safe_chars_and_unique() {
        let m = RefMinter::new(&ReplicaRef::new("node@a"));
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let r = m.mint();
            assert_eq!(r.len(), PHX_REF_LEN, "{r}");
            assert!(
                r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{r}"
            );
            assert!(seen.insert(r), "duplicate ref");
        }
    }

    #[test]
    fn refs_of_different_replicas_differ_in_the_hash_bytes() {
        let a = RefMinter::new(&ReplicaRef::with_vsn("a", (1, 1)));
        let b = RefMinter::new(&ReplicaRef::with_vsn("b", (1, 1)));
        let decode = |r: String| URL_SAFE_NO_PAD.decode(r).expect("valid base64");
        let ra = decode(a.mint());
        let rb = decode(b.mint());
        assert_eq!(ra.len(), 12);
        assert_ne!(ra[8..10], rb[8..10]);
    }

    #[test]
    fn refs_start_with_the_wall_clock() {
        let m = RefMinter::new(&ReplicaRef::new("n"));
        let before = wall_clock_ns();
        let raw = URL_SAFE_NO_PAD.decode(m.mint()).expect("valid base64");
        let mut ns = [0u8; 8];
        ns.copy_from_slice(&raw[..8]);
        assert!(u64::from_be_bytes(ns) >= before);
    }
}
