//! The presence CRDT (PROTOCOL.md 7.2–7.4, 7.6 down/permdown, 7.8): a delta-state,
//! add-wins observed-remove set of `(topic, owner, key) → meta` with a causal context,
//! equivalent to Phoenix.Tracker's `State` (PS `lib/phoenix/tracker/state.ex`).
//!
//! Sans-IO: no locks, no clocks (except when a [`ReplicaRef`] is created), no transport. The
//! service wraps one [`State`] per shard in a mutex; the gossip layer (heartbeats, delta
//! generations, transfer requests — PROTOCOL.md 7.5–7.7) moves [`Delta`]s and [`Snapshot`]s
//! between replicas and feeds them to [`State::merge_delta`] / [`State::merge_snapshot`].
//!
//! Model: every add mints a dot `(replica, counter)`; a state's causal knowledge is its
//! `context` (all dots `1..=context[r]` of `r` were observed) plus its `clouds` (observed dots
//! beyond a gap). An element is present iff its dot has a row; a dot that is known but has no
//! row has been removed. Each replica is the only writer of its own dots and the only
//! authority on its own elements: merges never remove them.
//!
//! Every mutating call returns the [`Changes`] it made visible (joins and leaves), which the
//! service turns into `presence_diff`s. Elements of replicas that are down are stored but
//! hidden: their changes are not reported until the replica is up again.

use super::{Meta, OwnerId, PresenceError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Identity of one replica incarnation: the node name plus a version chosen when the replica
/// is created, so a restarted node is a different replica with the same name (PS replica.ex
/// `new/1`, `unique_vsn/0`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ReplicaRef {
    /// The node name.
    pub name: Arc<str>,
    /// `(wall-clock µs at creation, process-unique positive integer)`.
    pub vsn: (u64, u64),
}

impl ReplicaRef {
    /// A new incarnation of replica `name`, with a fresh vsn.
    pub fn new(name: &str) -> ReplicaRef {
        static UNIQUE: AtomicU64 = AtomicU64::new(1);
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        ReplicaRef::with_vsn(name, (micros, UNIQUE.fetch_add(1, Ordering::Relaxed)))
    }

    /// A replica ref with a given vsn (as decoded from a peer's message, or in tests).
    pub fn with_vsn(name: &str, vsn: (u64, u64)) -> ReplicaRef {
        ReplicaRef {
            name: Arc::from(name),
            vsn,
        }
    }
}

/// A dot (Phoenix "tag"): the `counter`-th operation of `replica`. Counters start at 1.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Dot {
    pub replica: ReplicaRef,
    pub counter: u64,
}

/// Version vector: replica → highest counter `c` such that dots `1..=c` were all observed.
pub type Context = BTreeMap<ReplicaRef, u64>;

/// Per replica, counters observed beyond a gap in the context (the "dot cloud").
pub type Clouds = BTreeMap<ReplicaRef, BTreeSet<u64>>;

/// One element as carried in a [`Delta`] or [`Snapshot`] (keyed there by its [`Dot`]; the
/// owner's replica is the dot's replica).
#[derive(Clone, PartialEq, Debug)]
pub struct Value {
    pub owner: OwnerId,
    pub topic: Arc<str>,
    pub key: Arc<str>,
    /// The meta as the tracker stores it (with `phx_ref`).
    pub meta: Arc<Meta>,
}

/// A delta (PS state in `:delta` mode): the dots one replica produced or observed removed
/// since the last [`State::take_delta`]. `clouds` holds every dot it covers (adds and removes),
/// `values` the adds still alive; `start`/`end` bound the causal interval it covers (used by
/// delta generations to test contiguity, PROTOCOL.md 7.7).
#[derive(Clone, PartialEq, Debug)]
pub struct Delta {
    /// The replica that produced it.
    pub origin: ReplicaRef,
    pub clouds: Clouds,
    pub values: BTreeMap<Dot, Value>,
    pub start: Context,
    pub end: Context,
}

impl Delta {
    fn empty(origin: ReplicaRef, at: u64) -> Delta {
        let ctx: Context = [(origin.clone(), at)].into_iter().collect();
        Delta {
            origin,
            clouds: Clouds::new(),
            values: BTreeMap::new(),
            start: ctx.clone(),
            end: ctx,
        }
    }

    /// True when the delta covers no dot (nothing to gossip).
    pub fn is_empty(&self) -> bool {
        self.clouds.values().all(BTreeSet::is_empty)
    }

    /// Size as counted against delta generation limits: values + cloud dots (PS
    /// `delta_size/1`).
    pub fn size(&self) -> usize {
        self.values.len() + self.clouds.values().map(BTreeSet::len).sum::<usize>()
    }

    /// The part of this delta worth sending to `requester`, which knows the replicas in
    /// `requester_context`: values and causal info of those replicas only, minus the
    /// requester's own values (PS state.ex `extract/3`, delta mode).
    pub fn pruned_for(&self, requester: &ReplicaRef, requester_context: &Context) -> Delta {
        let known = |r: &ReplicaRef| requester_context.contains_key(r);
        Delta {
            origin: self.origin.clone(),
            clouds: filter_keys(&self.clouds, known),
            values: self
                .values
                .iter()
                .filter(|(d, _)| d.replica != *requester && known(&d.replica))
                .map(|(d, v)| (d.clone(), v.clone()))
                .collect(),
            start: filter_keys(&self.start, known),
            end: filter_keys(&self.end, known),
        }
    }
}

/// A full-state extraction for one requester (PS state.ex `extract/3`, normal mode).
#[derive(Clone, PartialEq, Debug)]
pub struct Snapshot {
    pub origin: ReplicaRef,
    pub context: Context,
    pub clouds: Clouds,
    pub values: BTreeMap<Dot, Value>,
}

/// One meta that became visible (join) or stopped being visible (leave).
#[derive(Clone, PartialEq, Debug)]
pub struct Change {
    pub topic: Arc<str>,
    pub key: Arc<str>,
    pub meta: Arc<Meta>,
}

/// What one operation changed in the visible set, in the order it happened.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Changes {
    pub joins: Vec<Change>,
    pub leaves: Vec<Change>,
}

impl Changes {
    /// True when nothing visible changed.
    pub fn is_empty(&self) -> bool {
        self.joins.is_empty() && self.leaves.is_empty()
    }
}

/// Whether a known remote replica is currently considered reachable.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplicaStatus {
    Up,
    Down,
}

/// Row identity (PS values key `{topic, pid, key}`); the "pid" is `(replica, owner)`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct Elem {
    topic: Arc<str>,
    replica: ReplicaRef,
    owner: OwnerId,
    key: Arc<str>,
}

/// `(topic, key)` of one own element.
type TopicKey = (Arc<str>, Arc<str>);

#[derive(Clone, Debug)]
struct Row {
    meta: Arc<Meta>,
    /// Counter of the row's dot; the dot's replica is `Elem::replica`.
    counter: u64,
    /// Local insertion sequence: `list` returns rows oldest first.
    seq: u64,
}

/// One replica's presence set (one shard of it). See the module docs.
#[derive(Clone, Debug)]
pub struct State {
    replica: ReplicaRef,
    /// Keys are exactly the known replicas (self included).
    context: Context,
    clouds: Clouds,
    rows: HashMap<Elem, Row>,
    /// topic → seq → row: `list(topic)` in insertion order without scanning other topics.
    by_topic: HashMap<Arc<str>, BTreeMap<u64, Elem>>,
    /// replica → counter → row: observed removes and down/permdown without a full scan.
    by_dot: HashMap<ReplicaRef, BTreeMap<u64, Elem>>,
    /// Own owner → its (topic, key)s: `remove_owner` without a scan.
    by_owner: HashMap<OwnerId, BTreeSet<TopicKey>>,
    /// Known replicas currently down; their rows are hidden. A set, not a filter expression
    /// per replica, so reads stay cheap under node churn (phoenix#5568).
    down: HashSet<ReplicaRef>,
    pending: Delta,
    /// Most dots the pending delta may hold ([`Delta::size`]); 0 keeps none (a single node:
    /// nobody would ever take it). Past the limit it is dropped: a replica that misses it
    /// catches up by a full transfer, as Phoenix.Tracker's bounded delta generations do.
    max_pending: usize,
    /// Times the pending delta was dropped for being over `max_pending`.
    delta_overflows: u64,
    next_seq: u64,
}

/// Default of [`State::set_max_pending`]: Phoenix.Tracker's largest delta generation.
pub const DEFAULT_MAX_PENDING: usize = 10_000;

impl State {
    /// An empty set for `replica`, which knows only itself.
    pub fn new(replica: ReplicaRef) -> State {
        State {
            context: [(replica.clone(), 0)].into_iter().collect(),
            clouds: Clouds::new(),
            rows: HashMap::new(),
            by_topic: HashMap::new(),
            by_dot: HashMap::new(),
            by_owner: HashMap::new(),
            down: HashSet::new(),
            pending: Delta::empty(replica.clone(), 0),
            max_pending: DEFAULT_MAX_PENDING,
            delta_overflows: 0,
            next_seq: 0,
            replica,
        }
    }

    /// Bounds the pending delta to `max` dots (default [`DEFAULT_MAX_PENDING`]); 0 records no
    /// delta at all. Starts a new, empty pending delta at the current own counter.
    pub fn set_max_pending(&mut self, max: usize) {
        self.max_pending = max;
        self.take_delta();
    }

    /// Times the pending delta was dropped for going over its bound (a peer relying on it
    /// needs a transfer instead).
    pub fn delta_overflows(&self) -> u64 {
        self.delta_overflows
    }

    /// Drops the pending delta once it is over its bound.
    fn bound_pending(&mut self) {
        if self.pending.size() > self.max_pending {
            self.take_delta();
            self.delta_overflows += 1;
        }
    }

    /// This replica's ref.
    pub fn replica(&self) -> &ReplicaRef {
        &self.replica
    }

    /// The causal context (every known replica, down ones included).
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The clock advertised in heartbeats: the context without down replicas (PS shard.ex
    /// `clocks`), also what a requester sends with a transfer request.
    pub fn clock(&self) -> Context {
        self.context
            .iter()
            .filter(|(r, _)| !self.down.contains(*r))
            .map(|(r, c)| (r.clone(), *c))
            .collect()
    }

    /// Known remote replicas and their status.
    pub fn replicas(&self) -> impl Iterator<Item = (&ReplicaRef, ReplicaStatus)> + '_ {
        self.context
            .keys()
            .filter(|r| **r != self.replica)
            .map(|r| {
                let status = if self.down.contains(r) {
                    ReplicaStatus::Down
                } else {
                    ReplicaStatus::Up
                };
                (r, status)
            })
    }

    // ---- reads ----------------------------------------------------------------------------

    /// Visible `(key, meta)`s of `topic`, oldest insertion first (an update counts as a new
    /// insertion, as the JS client orders it after applying the diff).
    /// Items are shared pointers so a caller can copy them out cheaply and encode outside
    /// its lock.
    pub fn list<'a>(
        &'a self,
        topic: &str,
    ) -> impl Iterator<Item = (&'a Arc<str>, &'a Arc<Meta>)> + 'a {
        self.by_topic
            .get(topic)
            .into_iter()
            .flat_map(BTreeMap::values)
            .filter(|e| !self.down.contains(&e.replica))
            .filter_map(|e| self.rows.get(e).map(|row| (&e.key, &row.meta)))
    }

    /// `(topic, visible presences)` of every topic with at least one (a key with two metas
    /// counts twice, as `presence_state` lists both).
    pub fn topic_sizes(&self) -> impl Iterator<Item = (&Arc<str>, usize)> + '_ {
        self.by_topic
            .iter()
            .map(|(topic, rows)| {
                let visible = rows
                    .values()
                    .filter(|e| !self.down.contains(&e.replica))
                    .count();
                (topic, visible)
            })
            .filter(|(_, n)| *n > 0)
    }

    /// The meta of own `owner`'s `key` on `topic`.
    pub fn get(&self, owner: OwnerId, topic: &str, key: &str) -> Option<&Arc<Meta>> {
        let elem = self.own_elem(owner, topic, key);
        self.rows.get(&elem).map(|row| &row.meta)
    }

    /// True when own `owner` tracks anything in this state.
    pub fn owner_tracks(&self, owner: OwnerId) -> bool {
        self.by_owner.contains_key(&owner)
    }

    /// Every visible element keyed by dot (for comparisons and debugging; O(n)).
    pub fn values(&self) -> BTreeMap<Dot, Value> {
        self.rows
            .iter()
            .filter(|(e, _)| !self.down.contains(&e.replica))
            .map(|(e, row)| (dot_of(e, row), value_of(e, row)))
            .collect()
    }

    // ---- local operations (PROTOCOL.md 7.4) -------------------------------------------------

    /// Track: adds own `owner`'s `key` on `topic` with `meta` (already carrying its
    /// `phx_ref`). Errors with [`PresenceError::AlreadyTracked`] if that element exists.
    pub fn add(
        &mut self,
        owner: OwnerId,
        topic: &str,
        key: &str,
        meta: Arc<Meta>,
    ) -> Result<Changes, PresenceError> {
        let elem = self.own_elem(owner, topic, key);
        if self.rows.contains_key(&elem) {
            return Err(PresenceError::AlreadyTracked {
                topic: topic.to_owned(),
                key: key.to_owned(),
            });
        }
        let counter = self.bump();
        self.pending_add(&elem, counter, &meta);
        self.bound_pending();
        self.put_row(elem.clone(), meta.clone(), counter);
        Ok(Changes {
            joins: vec![change(&elem, meta)],
            leaves: Vec::new(),
        })
    }

    /// Untrack: removes own `owner`'s `key` on `topic`. Removing an absent element changes
    /// nothing (idempotent).
    pub fn remove(&mut self, owner: OwnerId, topic: &str, key: &str) -> Changes {
        let elem = self.own_elem(owner, topic, key);
        let Some(row) = self.take_row(&elem) else {
            return Changes::default();
        };
        self.pending_remove(Dot {
            replica: self.replica.clone(),
            counter: row.counter,
        });
        // The remove consumes a counter of its own so the delta carries a new own dot.
        self.bump();
        self.bound_pending();
        Changes {
            joins: Vec::new(),
            leaves: vec![change(&elem, row.meta)],
        }
    }

    /// Update: replaces the meta of own `owner`'s `key` on `topic` atomically (remove of the
    /// old dot + add of a new one; two counters). The change has the old meta in `leaves` and
    /// the new one in `joins`. Errors with [`PresenceError::NoPresence`] if absent.
    pub fn update(
        &mut self,
        owner: OwnerId,
        topic: &str,
        key: &str,
        meta: Arc<Meta>,
    ) -> Result<Changes, PresenceError> {
        let elem = self.own_elem(owner, topic, key);
        let Some(old) = self.rows.get(&elem).cloned() else {
            return Err(PresenceError::NoPresence {
                topic: topic.to_owned(),
                key: key.to_owned(),
            });
        };
        self.pending_remove(Dot {
            replica: self.replica.clone(),
            counter: old.counter,
        });
        self.bump();
        let counter = self.bump();
        self.pending_add(&elem, counter, &meta);
        self.bound_pending();
        self.put_row(elem.clone(), meta.clone(), counter);
        Ok(Changes {
            joins: vec![change(&elem, meta)],
            leaves: vec![change(&elem, old.meta)],
        })
    }

    /// Removes everything own `owner` tracks (its channel ended), topic by topic.
    pub fn remove_owner(&mut self, owner: OwnerId) -> Changes {
        let mut out = Changes::default();
        let Some(entries) = self.by_owner.get(&owner).cloned() else {
            return out;
        };
        for (topic, key) in entries {
            let c = self.remove(owner, &topic, &key);
            out.leaves.extend(c.leaves);
        }
        out
    }

    // ---- deltas and extraction ----------------------------------------------------------------

    /// True when the pending delta covers at least one dot (PS `has_delta?/1`).
    pub fn has_delta(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The pending delta, without taking it.
    pub fn pending_delta(&self) -> &Delta {
        &self.pending
    }

    /// Takes the pending delta (to gossip it) and starts a new one at the current own counter
    /// (PS `reset_delta/1`).
    pub fn take_delta(&mut self) -> Delta {
        let at = self.own_counter();
        std::mem::replace(&mut self.pending, Delta::empty(self.replica.clone(), at))
    }

    /// Full state for `requester`, which knows the replicas in `requester_context`: context,
    /// clouds and values of those replicas only, minus the requester's own values (it is the
    /// authority on them). Down replicas' values are included (PS `extract/3`).
    pub fn snapshot_for(&self, requester: &ReplicaRef, requester_context: &Context) -> Snapshot {
        let known = |r: &ReplicaRef| requester_context.contains_key(r);
        let mut values = BTreeMap::new();
        for (replica, dots) in &self.by_dot {
            if replica == requester || !known(replica) {
                continue;
            }
            for elem in dots.values() {
                if let Some(row) = self.rows.get(elem) {
                    values.insert(dot_of(elem, row), value_of(elem, row));
                }
            }
        }
        Snapshot {
            origin: self.replica.clone(),
            // Pruned too: if the requester learns a replica between request and answer, an
            // unpruned context would make it treat that replica's values as removed.
            context: filter_keys(&self.context, known),
            clouds: filter_keys(&self.clouds, known),
            values,
        }
    }

    /// Merges a remote delta (PROTOCOL.md 7.8); its causal knowledge is its clouds.
    pub fn merge_delta(&mut self, delta: &Delta) -> Changes {
        let changes = self.merge_parts(&Context::new(), &delta.clouds, &delta.values);
        self.bound_pending();
        changes
    }

    /// Merges a remote full state (PROTOCOL.md 7.8).
    pub fn merge_snapshot(&mut self, snapshot: &Snapshot) -> Changes {
        let changes = self.merge_parts(&snapshot.context, &snapshot.clouds, &snapshot.values);
        self.bound_pending();
        changes
    }

    fn merge_parts(
        &mut self,
        context: &Context,
        clouds: &Clouds,
        values: &BTreeMap<Dot, Value>,
    ) -> Changes {
        // 1. Joins, judged against the knowledge we had before this merge.
        let mut joins = Vec::new();
        for (dot, v) in values {
            if dot.replica == self.replica
                || !self.context.contains_key(&dot.replica)
                || self.covers(dot)
            {
                continue;
            }
            joins.push((
                Elem {
                    topic: v.topic.clone(),
                    replica: dot.replica.clone(),
                    owner: v.owner,
                    key: v.key.clone(),
                },
                v.meta.clone(),
                dot.counter,
            ));
        }

        // 2. Observed removes: our rows of remote replicas whose dot the remote knows but
        //    does not hold.
        let remote_covers = |r: &ReplicaRef, c: u64| {
            context.get(r).is_some_and(|&top| c <= top)
                || clouds.get(r).is_some_and(|s| s.contains(&c))
        };
        let mut removed: Vec<Elem> = Vec::new();
        let remote_replicas: BTreeSet<&ReplicaRef> = context.keys().chain(clouds.keys()).collect();
        for r in remote_replicas {
            if *r == self.replica {
                continue;
            }
            let Some(ours) = self.by_dot.get(r) else {
                continue;
            };
            let top = context.get(r).copied().unwrap_or(0);
            let mut consider = |c: u64, e: &Elem| {
                if remote_covers(r, c)
                    && !values.contains_key(&Dot {
                        replica: r.clone(),
                        counter: c,
                    })
                {
                    removed.push(e.clone());
                }
            };
            for (&c, e) in ours.range(..=top) {
                consider(c, e);
            }
            if let Some(cloud) = clouds.get(r) {
                for &c in cloud.range(top.saturating_add(1)..) {
                    if let Some(e) = ours.get(&c) {
                        consider(c, e);
                    }
                }
            }
        }

        let mut out = Changes::default();
        for elem in removed {
            let Some(row) = self.take_row(&elem) else {
                continue;
            };
            // The dot stays in our knowledge (context/clouds): dropping it, as upstream does,
            // would let a late duplicate of the add resurrect the element and would leave a gap
            // that stops compaction. It is forwarded in our next delta.
            self.pending_remove(dot_of(&elem, &row));
            if self.visible(&elem.replica) {
                out.leaves.push(change(&elem, row.meta));
            }
        }

        // 3. Apply joins; a row for the same element is overwritten only by a newer dot, so
        //    an update (old dot removed above, new dot added here) is one atomic overwrite.
        for (elem, meta, counter) in joins {
            if self
                .rows
                .get(&elem)
                .is_some_and(|row| row.counter >= counter)
            {
                continue;
            }
            let old = self.put_row(elem.clone(), meta.clone(), counter);
            let visible = self.visible(&elem.replica);
            if let Some(old) = old {
                // A newer dot of the same element implies the old one was removed.
                self.pending_remove(dot_of(&elem, &old));
                if visible {
                    out.leaves.push(change(&elem, old.meta));
                }
            }
            if visible {
                out.joins.push(change(&elem, meta));
            }
        }

        // 4. Causal knowledge: union clouds and max contexts, for locally known replicas.
        for (r, cloud) in clouds {
            if self.context.contains_key(r) {
                self.clouds
                    .entry(r.clone())
                    .or_default()
                    .extend(cloud.iter().copied());
            }
        }
        for (r, &c) in context {
            if let Some(ours) = self.context.get_mut(r) {
                *ours = (*ours).max(c);
            }
        }
        self.compact();
        out
    }

    /// Folds cloud dots contiguous with the context into it (PS `compact/1`).
    pub fn compact(&mut self) {
        for (r, cloud) in &mut self.clouds {
            let top = self.context.entry(r.clone()).or_insert(0);
            while let Some(&c) = cloud.first() {
                if c <= *top {
                    cloud.pop_first();
                } else if c == *top + 1 {
                    *top = c;
                    cloud.pop_first();
                } else {
                    break;
                }
            }
        }
        self.clouds.retain(|_, cloud| !cloud.is_empty());
    }

    // ---- replicas (PROTOCOL.md 7.6) -------------------------------------------------------------

    /// Introduces `replica` or marks it up again. A replica that was down has its values
    /// reported as joins; an unknown one starts with an empty context entry so its values
    /// are accepted from now on. Up already, or self: no change.
    pub fn replica_up(&mut self, replica: &ReplicaRef) -> Changes {
        if *replica == self.replica {
            return Changes::default();
        }
        self.context.entry(replica.clone()).or_insert(0);
        if !self.down.remove(replica) {
            return Changes::default();
        }
        Changes {
            joins: self.replica_changes(replica),
            leaves: Vec::new(),
        }
    }

    /// Marks a known `replica` down: its values stay stored but are hidden and reported as
    /// leaves. Unknown, already down, or self: no change.
    pub fn replica_down(&mut self, replica: &ReplicaRef) -> Changes {
        if *replica == self.replica
            || !self.context.contains_key(replica)
            || !self.down.insert(replica.clone())
        {
            return Changes::default();
        }
        Changes {
            joins: Vec::new(),
            leaves: self.replica_changes(replica),
        }
    }

    /// Forgets `replica` for good: its values, context, cloud and pending-delta entries are
    /// deleted. Its values are reported as leaves only if it was still up (normally it went
    /// down first and they were reported then).
    pub fn replica_permdown(&mut self, replica: &ReplicaRef) -> Changes {
        if *replica == self.replica || !self.context.contains_key(replica) {
            return Changes::default();
        }
        let was_up = !self.down.remove(replica);
        let elems: Vec<Elem> = self
            .by_dot
            .get(replica)
            .map(|dots| dots.values().cloned().collect())
            .unwrap_or_default();
        let mut out = Changes::default();
        for elem in elems {
            if let Some(row) = self.take_row(&elem)
                && was_up
            {
                out.leaves.push(change(&elem, row.meta));
            }
        }
        self.context.remove(replica);
        self.clouds.remove(replica);
        self.pending.clouds.remove(replica);
        self.pending.values.retain(|d, _| d.replica != *replica);
        self.pending.start.remove(replica);
        self.pending.end.remove(replica);
        out
    }

    // ---- internals --------------------------------------------------------------------------

    fn visible(&self, replica: &ReplicaRef) -> bool {
        !self.down.contains(replica)
    }

    fn own_counter(&self) -> u64 {
        self.context.get(&self.replica).copied().unwrap_or(0)
    }

    fn covers(&self, dot: &Dot) -> bool {
        self.context
            .get(&dot.replica)
            .is_some_and(|&top| dot.counter <= top)
            || self
                .clouds
                .get(&dot.replica)
                .is_some_and(|s| s.contains(&dot.counter))
    }

    /// Mints the next own dot. Own dots are always contiguous, so the context absorbs it
    /// directly (no trip through the local cloud).
    fn bump(&mut self) -> u64 {
        let counter = self.own_counter() + 1;
        self.context.insert(self.replica.clone(), counter);
        if self.max_pending == 0 {
            return counter;
        }
        self.pending
            .clouds
            .entry(self.replica.clone())
            .or_default()
            .insert(counter);
        self.pending.end.insert(self.replica.clone(), counter);
        counter
    }

    fn pending_add(&mut self, elem: &Elem, counter: u64, meta: &Arc<Meta>) {
        if self.max_pending == 0 {
            return;
        }
        self.pending.values.insert(
            Dot {
                replica: elem.replica.clone(),
                counter,
            },
            Value {
                owner: elem.owner,
                topic: elem.topic.clone(),
                key: elem.key.clone(),
                meta: meta.clone(),
            },
        );
    }

    /// Records in the pending delta that `dot` is gone (PS `remove_delta_tag/2`).
    fn pending_remove(&mut self, dot: Dot) {
        if self.max_pending == 0 {
            return;
        }
        self.pending.values.remove(&dot);
        self.pending
            .clouds
            .entry(dot.replica)
            .or_default()
            .insert(dot.counter);
    }

    fn own_elem(&self, owner: OwnerId, topic: &str, key: &str) -> Elem {
        // Reuse the stored topic string when there is one.
        let topic = self
            .by_topic
            .get_key_value(topic)
            .map(|(t, _)| t.clone())
            .unwrap_or_else(|| Arc::from(topic));
        Elem {
            topic,
            replica: self.replica.clone(),
            owner,
            key: Arc::from(key),
        }
    }

    fn replica_changes(&self, replica: &ReplicaRef) -> Vec<Change> {
        self.by_dot
            .get(replica)
            .into_iter()
            .flat_map(BTreeMap::values)
            .filter_map(|e| self.rows.get(e).map(|row| change(e, row.meta.clone())))
            .collect()
    }

    /// Inserts or overwrites a row (new insertion sequence), keeping every index in step.
    /// Returns the overwritten row.
    fn put_row(&mut self, elem: Elem, meta: Arc<Meta>, counter: u64) -> Option<Row> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let old = self.rows.insert(elem.clone(), Row { meta, counter, seq });
        if let Some(old) = &old {
            self.unindex(&elem, old);
        }
        self.by_topic
            .entry(elem.topic.clone())
            .or_default()
            .insert(seq, elem.clone());
        self.by_dot
            .entry(elem.replica.clone())
            .or_default()
            .insert(counter, elem.clone());
        if elem.replica == self.replica {
            self.by_owner
                .entry(elem.owner)
                .or_default()
                .insert((elem.topic, elem.key));
        }
        old
    }

    /// Deletes a row and its index entries.
    fn take_row(&mut self, elem: &Elem) -> Option<Row> {
        let row = self.rows.remove(elem)?;
        self.unindex(elem, &row);
        if elem.replica == self.replica
            && let Some(entries) = self.by_owner.get_mut(&elem.owner)
        {
            entries.remove(&(elem.topic.clone(), elem.key.clone()));
            if entries.is_empty() {
                self.by_owner.remove(&elem.owner);
            }
        }
        Some(row)
    }

    /// Removes the topic and dot index entries of `row` (not the owner index).
    fn unindex(&mut self, elem: &Elem, row: &Row) {
        if let Some(seqs) = self.by_topic.get_mut(&elem.topic) {
            seqs.remove(&row.seq);
            if seqs.is_empty() {
                self.by_topic.remove(&elem.topic);
            }
        }
        if let Some(dots) = self.by_dot.get_mut(&elem.replica) {
            dots.remove(&row.counter);
            if dots.is_empty() {
                self.by_dot.remove(&elem.replica);
            }
        }
    }
}

fn change(elem: &Elem, meta: Arc<Meta>) -> Change {
    Change {
        topic: elem.topic.clone(),
        key: elem.key.clone(),
        meta,
    }
}

fn dot_of(elem: &Elem, row: &Row) -> Dot {
    Dot {
        replica: elem.replica.clone(),
        counter: row.counter,
    }
}

fn value_of(elem: &Elem, row: &Row) -> Value {
    Value {
        owner: elem.owner,
        topic: elem.topic.clone(),
        key: elem.key.clone(),
        meta: row.meta.clone(),
    }
}

fn filter_keys<V: Clone>(
    map: &BTreeMap<ReplicaRef, V>,
    keep: impl Fn(&ReplicaRef) -> bool,
) -> BTreeMap<ReplicaRef, V> {
    map.iter()
        .filter(|(r, _)| keep(r))
        .map(|(r, v)| (r.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(n: i64) -> Arc<Meta> {
        let mut m = Meta::new();
        m.insert("n".into(), json!(n));
        Arc::new(m)
    }

    fn node(name: &str) -> State {
        State::new(ReplicaRef::with_vsn(name, (1, 1)))
    }

    /// Two states that know each other.
    fn pair() -> (State, State) {
        let mut a = node("a");
        let mut b = node("b");
        a.replica_up(&b.replica().clone());
        b.replica_up(&a.replica().clone());
        (a, b)
    }

    fn ns(changes: &[Change]) -> Vec<(String, i64)> {
        changes
            .iter()
            .map(|c| {
                let n = c.meta.get("n").and_then(serde_json::Value::as_i64);
                (c.key.to_string(), n.unwrap_or(-1))
            })
            .collect()
    }

    fn listed(s: &State, topic: &str) -> Vec<(String, i64)> {
        s.list(topic)
            .map(|(k, m)| {
                let n = m.get("n").and_then(serde_json::Value::as_i64);
                (k.to_string(), n.unwrap_or(-1))
            })
            .collect()
    }

    const O: OwnerId = OwnerId(7);

    #[test]
    fn local_ops_consume_dots_as_phoenix_does() {
        let mut a = node("a");
        a.add(O, "t", "k", meta(1)).expect("add");
        assert_eq!(a.own_counter(), 1);
        a.update(O, "t", "k", meta(2)).expect("update");
        assert_eq!(a.own_counter(), 3, "update = remove + add, two counters");
        a.remove(O, "t", "k");
        assert_eq!(a.own_counter(), 4, "remove consumes a counter");
        a.remove(O, "t", "k");
        assert_eq!(a.own_counter(), 4, "removing nothing changes nothing");
        let d = a.take_delta();
        assert!(d.values.is_empty(), "everything added was removed again");
        assert_eq!(d.size(), 4);
        assert_eq!(d.end.get(a.replica()), Some(&4));
        assert!(!a.has_delta());
        assert_eq!(a.pending_delta().start.get(a.replica()), Some(&4));
    }

    #[test]
    fn delta_adds_join_and_unknown_replicas_are_ignored_until_introduced() {
        let mut a = node("a");
        let mut b = node("b");
        a.add(O, "t", "k", meta(1)).expect("add");
        let d = a.take_delta();

        assert!(b.merge_delta(&d).is_empty(), "a is unknown to b");
        assert!(listed(&b, "t").is_empty());

        assert!(b.replica_up(a.replica()).is_empty());
        let c = b.merge_delta(&d);
        assert_eq!(ns(&c.joins), vec![("k".to_string(), 1)]);
        assert_eq!(listed(&b, "t"), vec![("k".to_string(), 1)]);
        assert!(
            b.merge_delta(&d).is_empty(),
            "duplicate delivery is harmless"
        );
    }

    #[test]
    fn removal_observed_through_a_delta_is_forwarded_onwards() {
        let (mut a, mut b) = pair();
        let mut c = node("c");
        for s in [&mut a, &mut b] {
            s.replica_up(c.replica());
        }
        c.replica_up(a.replica());
        c.replica_up(b.replica());

        a.add(O, "t", "k", meta(1)).expect("add");
        let d1 = a.take_delta();
        b.merge_delta(&d1);
        c.merge_delta(&d1);
        b.take_delta();

        a.remove(O, "t", "k");
        let d2 = a.take_delta();
        let left = b.merge_delta(&d2);
        assert_eq!(ns(&left.leaves), vec![("k".to_string(), 1)]);
        assert!(listed(&b, "t").is_empty());

        // c never hears from a again; b's next delta carries the observed removal.
        let forwarded = b.take_delta();
        assert!(!forwarded.is_empty());
        let left = c.merge_delta(&forwarded);
        assert_eq!(ns(&left.leaves), vec![("k".to_string(), 1)]);
        assert!(listed(&c, "t").is_empty());
    }

    #[test]
    fn late_duplicate_of_an_add_does_not_resurrect_a_removed_element() {
        let (mut a, mut b) = pair();
        a.add(O, "t", "first", meta(1)).expect("add");
        let _lost = a.take_delta();
        a.add(O, "t", "k", meta(2)).expect("add");
        let add = a.take_delta();
        a.remove(O, "t", "k");
        let remove = a.take_delta();

        // b sees the add beyond a gap (dot 1 missing), then its removal, then the add again.
        assert_eq!(ns(&b.merge_delta(&add).joins), vec![("k".to_string(), 2)]);
        assert_eq!(
            ns(&b.merge_delta(&remove).leaves),
            vec![("k".to_string(), 2)]
        );
        assert!(b.merge_delta(&add).is_empty());
        assert!(listed(&b, "t").is_empty());
    }

    #[test]
    fn out_of_order_deltas_compact_once_the_gap_is_filled() {
        let (mut a, mut b) = pair();
        a.add(O, "t", "k1", meta(1)).expect("add");
        let d1 = a.take_delta();
        a.add(O, "t", "k2", meta(2)).expect("add");
        let d2 = a.take_delta();
        b.merge_delta(&d2);
        assert_eq!(b.context().get(a.replica()), Some(&0));
        b.merge_delta(&d1);
        assert_eq!(b.context().get(a.replica()), Some(&2));
        assert!(b.clouds.is_empty());
    }

    #[test]
    fn update_through_a_delta_is_one_leave_and_one_join() {
        let (mut a, mut b) = pair();
        a.add(O, "t", "k", meta(1)).expect("add");
        b.merge_delta(&a.take_delta());
        a.update(O, "t", "k", meta(2)).expect("update");
        let c = b.merge_delta(&a.take_delta());
        assert_eq!(ns(&c.leaves), vec![("k".to_string(), 1)]);
        assert_eq!(ns(&c.joins), vec![("k".to_string(), 2)]);
        assert_eq!(listed(&b, "t"), vec![("k".to_string(), 2)]);
    }

    #[test]
    fn own_entries_survive_a_merge_that_claims_their_removal() {
        let (mut a, b) = pair();
        a.add(O, "t", "k", meta(1)).expect("add");
        let own_dot = Dot {
            replica: a.replica().clone(),
            counter: 1,
        };
        // A remote that claims to have seen a's dot 1 and not to hold it.
        let hostile = Delta {
            origin: b.replica().clone(),
            clouds: [(own_dot.replica.clone(), BTreeSet::from([1]))]
                .into_iter()
                .collect(),
            values: BTreeMap::new(),
            start: Context::new(),
            end: Context::new(),
        };
        assert!(a.merge_delta(&hostile).is_empty());
        let snapshot = Snapshot {
            origin: b.replica().clone(),
            context: [(own_dot.replica.clone(), 5)].into_iter().collect(),
            clouds: Clouds::new(),
            values: BTreeMap::new(),
        };
        assert!(a.merge_snapshot(&snapshot).is_empty());
        assert_eq!(listed(&a, "t"), vec![("k".to_string(), 1)]);
    }

    #[test]
    fn down_hides_up_restores_permdown_forgets() {
        let (mut a, mut b) = pair();
        b.add(O, "t", "k", meta(1)).expect("add");
        let d = b.take_delta();
        a.merge_delta(&d);

        let c = a.replica_down(b.replica());
        assert_eq!(ns(&c.leaves), vec![("k".to_string(), 1)]);
        assert!(listed(&a, "t").is_empty());
        assert!(
            !a.clock().contains_key(b.replica()),
            "down replicas are not advertised"
        );
        assert!(a.replica_down(b.replica()).is_empty(), "already down");

        let c = a.replica_up(b.replica());
        assert_eq!(ns(&c.joins), vec![("k".to_string(), 1)]);
        assert_eq!(listed(&a, "t"), vec![("k".to_string(), 1)]);
        assert!(a.replica_up(b.replica()).is_empty(), "already up");

        a.replica_down(b.replica());
        assert!(
            a.replica_permdown(b.replica()).is_empty(),
            "leaves were reported at down"
        );
        assert!(!a.context().contains_key(b.replica()));
        assert!(a.values().is_empty());
        assert!(
            a.merge_delta(&d).is_empty(),
            "a forgotten replica is unknown again"
        );

        // Permdown of a replica that is still up reports its leaves.
        a.replica_up(b.replica());
        a.merge_delta(&d);
        let c = a.replica_permdown(b.replica());
        assert_eq!(ns(&c.leaves), vec![("k".to_string(), 1)]);
    }

    #[test]
    fn snapshot_for_a_requester_is_pruned_to_what_it_knows() {
        let (mut a, mut b) = pair();
        let mut c = node("c");
        a.replica_up(c.replica());
        c.replica_up(a.replica());
        a.add(O, "t", "ka", meta(1)).expect("add");
        b.add(O, "t", "kb", meta(2)).expect("add");
        c.add(O, "t", "kc", meta(3)).expect("add");
        a.merge_delta(&b.take_delta());
        a.merge_delta(&c.take_delta());

        // b does not know c: c's values and context are left out, b's own too.
        let snap = a.snapshot_for(b.replica(), b.context());
        let keys: Vec<&str> = snap.values.values().map(|v| &*v.key).collect();
        assert_eq!(keys, vec!["ka"]);
        assert!(!snap.context.contains_key(c.replica()));
        let joined = b.merge_snapshot(&snap);
        assert_eq!(ns(&joined.joins), vec![("ka".to_string(), 1)]);
        assert_eq!(
            listed(&b, "t"),
            vec![("kb".to_string(), 2), ("ka".to_string(), 1)]
        );
    }

    #[test]
    fn list_is_per_topic_in_insertion_order() {
        let mut a = node("a");
        a.add(OwnerId(1), "t", "x", meta(1)).expect("add");
        a.add(OwnerId(2), "t", "y", meta(2)).expect("add");
        a.add(OwnerId(2), "u", "x", meta(3)).expect("add");
        a.add(OwnerId(3), "t", "x", meta(4)).expect("add");
        a.update(OwnerId(1), "t", "x", meta(5)).expect("update");
        assert_eq!(
            listed(&a, "t"),
            vec![
                ("y".to_string(), 2),
                ("x".to_string(), 4),
                ("x".to_string(), 5)
            ]
        );
        assert_eq!(listed(&a, "u"), vec![("x".to_string(), 3)]);
        let c = a.remove_owner(OwnerId(2));
        assert_eq!(c.leaves.len(), 2);
        assert!(!a.owner_tracks(OwnerId(2)));
        assert_eq!(listed(&a, "u"), vec![]);
    }
}
