//! Presence (DESIGN layer 4, PROTOCOL.md 6-7): who is on a topic, as a delta-state CRDT
//! equivalent to Phoenix.Tracker, plus the `presence_state` / `presence_diff` payloads that
//! the JS `Presence` class consumes.
//!
//! [`Presence`] is the thread-safe service the channel layer calls (track / untrack / update /
//! list); it is sharded by topic and reports every change as a [`Diff`] to the sink given at
//! construction (the endpoint turns it into a local `presence_diff` broadcast).

use crate::wire::Payload;
use std::sync::Arc;

/// Presence metadata: a JSON object. `phx_ref` (and `phx_ref_prev`) are added by the tracker.
pub type Meta = serde_json::Map<String, serde_json::Value>;

/// The tracked "process": one channel instance (or any host-chosen owner). When it ends,
/// [`Presence::untrack_owner`] removes all its presences (Phoenix links the channel pid).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct OwnerId(pub u64);

/// Joins and leaves of one topic, in the order they happened (PROTOCOL.md 6.3).
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Diff {
    pub topic: String,
    /// key → metas that joined (each with its `phx_ref`).
    pub joins: Vec<(String, Vec<Meta>)>,
    /// key → metas that left.
    pub leaves: Vec<(String, Vec<Meta>)>,
}

impl Diff {
    /// The `presence_diff` payload: `{"joins": {key: {"metas": [...]}}, "leaves": {...}}`,
    /// both maps always present.
    pub fn to_payload(&self) -> Payload {
        todo!()
    }
}

/// Receives each diff. Called in order per topic; must not block or call back into presence.
pub type DiffSink = Arc<dyn Fn(&Diff) + Send + Sync>;

/// A presence call that could not be honoured.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum PresenceError {
    /// This owner already tracks this key on this topic (`{:error, {:already_tracked, ...}}`).
    #[error("already tracked: topic {topic:?} key {key:?}")]
    AlreadyTracked { topic: String, key: String },
    /// `update` of a key this owner does not track (`{:error, :nopresence}`).
    #[error("no presence: topic {topic:?} key {key:?}")]
    NoPresence { topic: String, key: String },
}

/// The node-local presence service over the CRDT.
pub struct Presence {
    _todo: (),
    _sink: DiffSink,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence").finish_non_exhaustive()
    }
}

impl Presence {
    /// A presence service for replica `replica_name` (the node name) with `shards` topic
    /// shards (0 = one per core), reporting diffs to `sink`.
    pub fn new(replica_name: &str, shards: usize, sink: DiffSink) -> Arc<Presence> {
        todo!("{replica_name}{shards}{:p}", Arc::as_ptr(&sink))
    }

    /// Tracks `key` on `topic` for `owner` with `meta`; returns the new `phx_ref`.
    pub fn track(
        &self,
        owner: OwnerId,
        topic: &str,
        key: &str,
        meta: Meta,
    ) -> Result<String, PresenceError> {
        todo!("{owner:?}{topic}{key}{meta:?}")
    }

    /// Removes `owner`'s presence for `key` on `topic`. Idempotent.
    pub fn untrack(&self, owner: OwnerId, topic: &str, key: &str) {
        todo!("{owner:?}{topic}{key}")
    }

    /// Removes every presence of `owner` (its channel ended).
    pub fn untrack_owner(&self, owner: OwnerId) {
        todo!("{owner:?}")
    }

    /// Replaces the meta of `owner`'s `key` on `topic`; returns the new `phx_ref` (the meta
    /// also gets `phx_ref_prev`). Reported as one diff with the key in joins and leaves.
    pub fn update(
        &self,
        owner: OwnerId,
        topic: &str,
        key: &str,
        meta: Meta,
    ) -> Result<String, PresenceError> {
        todo!("{owner:?}{topic}{key}{meta:?}")
    }

    /// The `presence_state` payload of `topic`: `{key: {"metas": [meta, ...]}}`.
    pub fn list(&self, topic: &str) -> Payload {
        todo!("{topic}")
    }
}
