//! What the cluster's tracker (docs/CLUSTER.md "Presence across nodes") needs of the
//! presence service: per-shard clocks, deltas and snapshots in and out, and the status of
//! remote replicas. Every change a merge or a status change makes visible goes to the diff
//! sink under the shard lock, as a local track does, so each node tells its own sockets once.

use super::Presence;
use super::state::{Context, Delta, ReplicaRef, Snapshot, State};

impl Presence {
    /// The clock shard `shard` advertises (its context without down replicas); `None` for a
    /// shard index out of range.
    pub fn clock(&self, shard: usize) -> Option<Context> {
        self.shards.get(shard).map(|s| s.lock().clock())
    }

    /// Takes shard `shard`'s pending delta when it holds anything to gossip.
    pub fn take_delta(&self, shard: usize) -> Option<Delta> {
        let mut state = self.shards.get(shard)?.lock();
        state.has_delta().then(|| state.take_delta())
    }

    /// Merges a remote delta into shard `shard` and reports what became visible.
    pub fn merge_delta(&self, shard: usize, delta: &Delta) {
        self.with_shard(shard, |state| state.merge_delta(delta));
    }

    /// Merges a remote full state into shard `shard` and reports what became visible.
    pub fn merge_snapshot(&self, shard: usize, snapshot: &Snapshot) {
        self.with_shard(shard, |state| state.merge_snapshot(snapshot));
    }

    /// Shard `shard`'s state as `requester` (which knows `context`) should receive it.
    pub fn snapshot_for(
        &self,
        shard: usize,
        requester: &ReplicaRef,
        context: &Context,
    ) -> Option<Snapshot> {
        Some(
            self.shards
                .get(shard)?
                .lock()
                .snapshot_for(requester, context),
        )
    }

    /// True when shard `shard` knows dots of some replica that `remote` does not advertise
    /// having, or the other way round: `remote` knows a dot of a replica we know that we lack.
    /// The second case is what makes a node ask for a transfer.
    pub fn behind(&self, shard: usize, remote: &Context) -> bool {
        let Some(state) = self.shards.get(shard) else {
            return false;
        };
        let state = state.lock();
        let ours = state.context();
        remote.iter().any(|(replica, &counter)| {
            *replica != *state.replica() && ours.get(replica).is_some_and(|&mine| counter > mine)
        })
    }

    /// Introduces `replica` (or brings it back from down) on every shard.
    pub fn replica_up(&self, replica: &ReplicaRef) {
        self.each_shard(|state| state.replica_up(replica));
    }

    /// Hides `replica`'s presences on every shard (reported as leaves).
    pub fn replica_down(&self, replica: &ReplicaRef) {
        self.each_shard(|state| state.replica_down(replica));
    }

    /// Forgets `replica` on every shard (leaves for what was still visible).
    pub fn replica_permdown(&self, replica: &ReplicaRef) {
        self.each_shard(|state| state.replica_permdown(replica));
    }

    fn with_shard(&self, shard: usize, f: impl FnOnce(&mut State) -> super::state::Changes) {
        if let Some(state) = self.shards.get(shard) {
            let mut state = state.lock();
            let changes = f(&mut state);
            self.report(changes);
        }
    }

    fn each_shard(&self, mut f: impl FnMut(&mut State) -> super::state::Changes) {
        for shard in 0..self.shards.len() {
            self.with_shard(shard, &mut f);
        }
    }
}
