//! Presence (DESIGN layer 4, PROTOCOL.md 6-7): who is on a topic, as a delta-state CRDT
//! equivalent to Phoenix.Tracker, plus the `presence_state` / `presence_diff` payloads that
//! the JS `Presence` class consumes.
//!
//! [`Presence`] is the thread-safe service the channel layer calls (track / untrack / update /
//! list); it is sharded by topic and reports every change as a [`Diff`] to the sink given at
//! construction (the endpoint turns it into a local `presence_diff` broadcast).

pub mod payload;
pub mod refs;
mod replication;
pub mod state;
#[cfg(test)]
mod tests;

use crate::wire::Payload;
use parking_lot::Mutex;
use refs::RefMinter;
use state::{Change, Changes, ReplicaRef, State};
use std::collections::{BTreeSet, HashMap};
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
        payload::presence_diff(&self.joins, &self.leaves)
    }
}

impl Changes {
    /// Splits changes into one [`Diff`] per topic (topics in first-seen order), grouping metas
    /// by key in first-seen order.
    pub fn into_diffs(self) -> Vec<Diff> {
        let mut per_topic: Vec<(Arc<str>, Vec<Change>, Vec<Change>)> = Vec::new();
        let mut index: HashMap<Arc<str>, usize> = HashMap::new();
        let tagged = (self.joins.into_iter().map(|c| (true, c)))
            .chain(self.leaves.into_iter().map(|c| (false, c)));
        for (is_join, c) in tagged {
            let i = *index.entry(c.topic.clone()).or_insert_with(|| {
                per_topic.push((c.topic.clone(), Vec::new(), Vec::new()));
                per_topic.len() - 1
            });
            if let Some((_, joins, leaves)) = per_topic.get_mut(i) {
                if is_join {
                    joins.push(c)
                } else {
                    leaves.push(c)
                }
            }
        }
        per_topic
            .into_iter()
            .map(|(topic, joins, leaves)| Diff {
                topic: topic.to_string(),
                joins: grouped_owned(&joins),
                leaves: grouped_owned(&leaves),
            })
            .collect()
    }
}

fn grouped_owned(changes: &[Change]) -> Vec<(String, Vec<Meta>)> {
    payload::group(changes.iter().map(|c| (&*c.key, &c.meta)))
        .into_iter()
        .map(|(key, metas)| {
            (
                key.to_owned(),
                metas.into_iter().map(|m| Meta::clone(m)).collect(),
            )
        })
        .collect()
}

/// Receives each diff. Called in order per topic; must not block or call back into presence.
pub type DiffSink = Arc<dyn Fn(&Diff) + Send + Sync>;

/// A presence call that could not be honoured.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PresenceError {
    /// This owner already tracks this key on this topic (`{:error, {:already_tracked, ...}}`).
    #[error("already tracked: topic {topic:?} key {key:?}")]
    AlreadyTracked { topic: String, key: String },
    /// `update` of a key this owner does not track (`{:error, :nopresence}`).
    #[error("no presence: topic {topic:?} key {key:?}")]
    NoPresence { topic: String, key: String },
}

/// The node-local presence service over the CRDT.
///
/// Topics are spread over shards (the same topic → shard mapping on every node, so shard *n*
/// only ever replicates with shard *n*); each shard is one [`State`] behind a mutex. Every
/// change is passed to the [`DiffSink`] **while the shard lock is held**, which is what makes
/// diffs of one topic arrive in the order they happened; hence the sink must not block and
/// must not call back into this `Presence` (it would deadlock on the shard).
pub struct Presence {
    replica: ReplicaRef,
    refs: RefMinter,
    shards: Box<[Mutex<State>]>,
    /// owner → shards where it tracks something, so `untrack_owner` visits only those.
    /// Split in a few mutexes by owner id; always locked after (never before) a shard.
    owners: Box<[Mutex<OwnerShards>]>,
    sink: DiffSink,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("replica", &self.replica)
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

/// owner → indexes of the shards where it tracks something.
type OwnerShards = HashMap<OwnerId, BTreeSet<usize>>;

const PHX_REF: &str = "phx_ref";
const PHX_REF_PREV: &str = "phx_ref_prev";

impl Presence {
    /// A presence service for replica `replica_name` (the node name) with `shards` topic
    /// shards (0 = one per core), reporting diffs to `sink`.
    pub fn new(replica_name: &str, shards: usize, sink: DiffSink) -> Arc<Presence> {
        let shards = if shards == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            shards
        };
        // No broker takes deltas on a single node: keep none, or every track and untrack
        // would grow the pending delta forever.
        Self::build(ReplicaRef::new(replica_name), shards, 0, sink)
    }

    /// The presence service of one node of a cluster: replica `replica` (the node's name and
    /// incarnation, as the other nodes know it), exactly `shards` shards (the same on every
    /// node: shard *n* replicates with shard *n*), and pending deltas of at most
    /// `max_pending` dots per shard, which the cluster's tracker takes every broadcast period.
    pub fn replicated(
        replica: ReplicaRef,
        shards: usize,
        max_pending: usize,
        sink: DiffSink,
    ) -> Arc<Presence> {
        Self::build(replica, shards.max(1), max_pending, sink)
    }

    fn build(
        replica: ReplicaRef,
        shards: usize,
        max_pending: usize,
        sink: DiffSink,
    ) -> Arc<Presence> {
        Arc::new(Presence {
            refs: RefMinter::new(&replica),
            shards: (0..shards)
                .map(|_| {
                    let mut state = State::new(replica.clone());
                    state.set_max_pending(max_pending);
                    Mutex::new(state)
                })
                .collect(),
            owners: (0..shards).map(|_| Mutex::new(HashMap::new())).collect(),
            replica,
            sink,
        })
    }

    /// This node's replica ref (name and incarnation).
    pub fn replica(&self) -> &ReplicaRef {
        &self.replica
    }

    /// Number of topic shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Tracks `key` on `topic` for `owner` with `meta`; returns the new `phx_ref`, which is
    /// also stored in the meta (Phoenix `track/4`). A second track of the same
    /// `(owner, topic, key)` is [`PresenceError::AlreadyTracked`]; other owners may track
    /// the same key (the key then has several metas).
    pub fn track(
        &self,
        owner: OwnerId,
        topic: &str,
        key: &str,
        meta: Meta,
    ) -> Result<String, PresenceError> {
        let mut meta = meta;
        let phx_ref = self.refs.mint();
        meta.insert(PHX_REF.to_owned(), phx_ref.clone().into());
        let i = self.shard_index(topic);
        let mut state = self.lock_shard(i);
        let changes = state.add(owner, topic, key, Arc::new(meta))?;
        self.owners_of(owner)
            .lock()
            .entry(owner)
            .or_default()
            .insert(i);
        self.report(changes);
        Ok(phx_ref)
    }

    /// Removes `owner`'s presence for `key` on `topic`. Idempotent.
    pub fn untrack(&self, owner: OwnerId, topic: &str, key: &str) {
        let i = self.shard_index(topic);
        let mut state = self.lock_shard(i);
        let changes = state.remove(owner, topic, key);
        if changes.is_empty() {
            return;
        }
        if !state.owner_tracks(owner) {
            self.forget_owner_shard(owner, i);
        }
        self.report(changes);
    }

    /// Removes every presence of `owner` (its channel ended), one diff per topic.
    pub fn untrack_owner(&self, owner: OwnerId) {
        let shards = self
            .owners_of(owner)
            .lock()
            .get(&owner)
            .cloned()
            .unwrap_or_default();
        for i in shards {
            let mut state = self.lock_shard(i);
            let changes = state.remove_owner(owner);
            self.forget_owner_shard(owner, i);
            self.report(changes);
        }
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
        self.update_with(owner, topic, key, |_| meta)
    }

    /// Like [`Presence::update`] with the new meta computed from the current one (Phoenix
    /// `update/4` with a function; the current meta includes its `phx_ref`). `f` runs under
    /// the shard lock, so it must be quick and must not call into presence.
    pub fn update_with(
        &self,
        owner: OwnerId,
        topic: &str,
        key: &str,
        f: impl FnOnce(&Meta) -> Meta,
    ) -> Result<String, PresenceError> {
        let i = self.shard_index(topic);
        let mut state = self.lock_shard(i);
        let Some(current) = state.get(owner, topic, key) else {
            return Err(PresenceError::NoPresence {
                topic: topic.to_owned(),
                key: key.to_owned(),
            });
        };
        let prev = current.get(PHX_REF).cloned();
        let mut meta = f(current);
        let phx_ref = self.refs.mint();
        meta.insert(PHX_REF.to_owned(), phx_ref.clone().into());
        if let Some(prev) = prev {
            meta.insert(PHX_REF_PREV.to_owned(), prev);
        }
        let changes = state.update(owner, topic, key, Arc::new(meta))?;
        self.report(changes);
        Ok(phx_ref)
    }

    /// The `presence_state` payload of `topic`: `{key: {"metas": [meta, ...]}}`, keys and
    /// metas in insertion order (an updated meta counts as newly inserted); `{}` when empty.
    pub fn list(&self, topic: &str) -> Payload {
        // Copy the shared pointers out so the JSON is encoded without holding the shard.
        let entries: Vec<(Arc<str>, Arc<Meta>)> = {
            let state = self.lock_shard(self.shard_index(topic));
            state
                .list(topic)
                .map(|(k, m)| (k.clone(), m.clone()))
                .collect()
        };
        payload::presence_state(entries.iter().map(|(k, m)| (&**k, &**m)))
    }

    /// `(topic, presence entries)` of every topic with one, by topic: this node's and, in a
    /// cluster, every up node's (what `presence_state` lists). Walks every shard: for a
    /// scrape or an operator, not per message.
    pub fn sizes(&self) -> Vec<(String, usize)> {
        let mut sizes: Vec<(String, usize)> = (0..self.shards.len())
            .flat_map(|i| {
                self.lock_shard(i)
                    .topic_sizes()
                    .map(|(t, n)| (t.to_string(), n))
                    .collect::<Vec<_>>()
            })
            .collect();
        sizes.sort_unstable();
        sizes
    }

    fn shard_index(&self, topic: &str) -> usize {
        crate::topic::shard_of(topic, self.shards.len())
    }

    fn lock_shard(&self, i: usize) -> parking_lot::MutexGuard<'_, State> {
        // `i` always comes from `shard_index` or the owner index, both < len.
        self.shards[i % self.shards.len()].lock()
    }

    fn owners_of(&self, owner: OwnerId) -> &Mutex<OwnerShards> {
        let n = self.owners.len() as u64;
        &self.owners[usize::try_from(owner.0 % n).unwrap_or(0)]
    }

    fn forget_owner_shard(&self, owner: OwnerId, i: usize) {
        let mut owners = self.owners_of(owner).lock();
        if let Some(shards) = owners.get_mut(&owner) {
            shards.remove(&i);
            if shards.is_empty() {
                owners.remove(&owner);
            }
        }
    }

    fn report(&self, changes: Changes) {
        for diff in changes.into_diffs() {
            (self.sink)(&diff);
        }
    }
}
