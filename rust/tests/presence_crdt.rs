//! Property tests of the presence CRDT (PROTOCOL.md 7.8): random operation sequences on three
//! replicas that gossip deltas (in any order, lost-and-resent, duplicated) and full states.
//!
//! Checked: every replica's reported joins/leaves reproduce its visible set step by step;
//! merges never touch the merging replica's own elements; merge of full states is idempotent,
//! commutative and associative on the visible value sets; replicas that received every delta,
//! or exchanged full states, converge to the union of every replica's own live elements.

use proptest::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use switchboard::presence::state::{Changes, Delta, Dot, ReplicaRef, State, Value};
use switchboard::presence::{Meta, OwnerId};

const REPLICAS: usize = 3;
const TOPICS: [&str; 2] = ["room:a", "room:b"];
const KEYS: [&str; 3] = ["u1", "u2", "__proto__"];

#[derive(Clone, Debug)]
enum Op {
    Add(usize, u64, usize, usize),
    Remove(usize, u64, usize, usize),
    Update(usize, u64, usize, usize),
    RemoveOwner(usize, u64),
    /// Take replica's pending delta and put it on the network.
    Flush(usize),
    /// Deliver network delta number `pick % len` to a replica (duplicates allowed).
    Deliver(usize, usize),
    /// `to` merges a full-state extraction of `from`.
    Sync(usize, usize),
    /// `at` marks `of` down, or up again.
    Down(usize, usize),
    Up(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let r = 0..REPLICAS;
    let owner = 0u64..3;
    let t = 0..TOPICS.len();
    let k = 0..KEYS.len();
    prop_oneof![
        4 => (r.clone(), owner.clone(), t.clone(), k.clone()).prop_map(|(r, o, t, k)| Op::Add(r, o, t, k)),
        2 => (r.clone(), owner.clone(), t.clone(), k.clone()).prop_map(|(r, o, t, k)| Op::Remove(r, o, t, k)),
        2 => (r.clone(), owner.clone(), t, k).prop_map(|(r, o, t, k)| Op::Update(r, o, t, k)),
        1 => (r.clone(), owner).prop_map(|(r, o)| Op::RemoveOwner(r, o)),
        3 => r.clone().prop_map(Op::Flush),
        4 => (r.clone(), any::<usize>()).prop_map(|(r, p)| Op::Deliver(r, p)),
        1 => (r.clone(), r.clone()).prop_map(|(a, b)| Op::Sync(a, b)),
        1 => (r.clone(), r.clone()).prop_map(|(a, b)| Op::Down(a, b)),
        1 => (r.clone(), r).prop_map(|(a, b)| Op::Up(a, b)),
    ]
}

/// A visible element as a client would identify it: (topic, key, unique meta number).
type Seen = BTreeSet<(String, String, i64)>;

struct Cluster {
    states: Vec<State>,
    refs: Vec<ReplicaRef>,
    network: Vec<Delta>,
    /// What each replica's diffs have told its clients so far.
    client_views: Vec<Seen>,
    /// Per replica, elements (by meta number) it has seen removed, locally or by a merge:
    /// a removed dot never comes back, so such an element must never join again there.
    dead: Vec<BTreeSet<i64>>,
    next_meta: i64,
}

impl Cluster {
    fn new() -> Cluster {
        let refs: Vec<ReplicaRef> = (0..REPLICAS)
            .map(|i| ReplicaRef::with_vsn(&format!("node{i}"), (1_000 + i as u64, 1)))
            .collect();
        let mut states: Vec<State> = refs.iter().cloned().map(State::new).collect();
        for s in &mut states {
            for r in &refs {
                assert!(
                    s.replica_up(r).is_empty(),
                    "introducing a replica shows nothing"
                );
            }
        }
        Cluster {
            states,
            refs,
            network: Vec::new(),
            client_views: vec![Seen::new(); REPLICAS],
            dead: vec![BTreeSet::new(); REPLICAS],
            next_meta: 0,
        }
    }

    fn meta(&mut self) -> Arc<Meta> {
        self.next_meta += 1;
        match json!({"n": self.next_meta}) {
            serde_json::Value::Object(m) => Arc::new(m),
            _ => unreachable!("json! object literal"),
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Add(r, o, t, k) => {
                let meta = self.meta();
                let already = self.states[r].get(OwnerId(o), TOPICS[t], KEYS[k]).is_some();
                match self.states[r].add(OwnerId(o), TOPICS[t], KEYS[k], meta) {
                    Ok(c) => {
                        prop_assert!(!already);
                        self.report(r, &c)?;
                    }
                    Err(_) => prop_assert!(already, "add refused only when already tracked"),
                }
            }
            Op::Remove(r, o, t, k) => {
                let c = self.states[r].remove(OwnerId(o), TOPICS[t], KEYS[k]);
                self.report(r, &c)?;
                self.bury(r, &c)?;
                prop_assert!(self.states[r].get(OwnerId(o), TOPICS[t], KEYS[k]).is_none());
            }
            Op::Update(r, o, t, k) => {
                let meta = self.meta();
                let existed = self.states[r].get(OwnerId(o), TOPICS[t], KEYS[k]).is_some();
                match self.states[r].update(OwnerId(o), TOPICS[t], KEYS[k], meta) {
                    Ok(c) => {
                        prop_assert!(existed);
                        prop_assert_eq!((c.joins.len(), c.leaves.len()), (1, 1));
                        self.report(r, &c)?;
                        self.bury(r, &c)?;
                    }
                    Err(_) => prop_assert!(!existed, "update refused only without presence"),
                }
            }
            Op::RemoveOwner(r, o) => {
                let c = self.states[r].remove_owner(OwnerId(o));
                self.report(r, &c)?;
                self.bury(r, &c)?;
                prop_assert!(!self.states[r].owner_tracks(OwnerId(o)));
            }
            Op::Flush(r) => {
                let d = self.states[r].take_delta();
                prop_assert!(!self.states[r].has_delta());
                if !d.is_empty() {
                    self.network.push(d);
                }
            }
            Op::Deliver(to, pick) => {
                if !self.network.is_empty() {
                    let d = self.network[pick % self.network.len()].clone();
                    self.merge(to, |s| s.merge_delta(&d))?;
                }
            }
            Op::Sync(to, from) => {
                let snap =
                    self.states[from].snapshot_for(&self.refs[to], self.states[to].context());
                self.merge(to, |s| s.merge_snapshot(&snap))?;
            }
            Op::Down(at, of) => {
                let c = self.states[at].replica_down(&self.refs[of]);
                self.report(at, &c)?;
            }
            Op::Up(at, of) => {
                let c = self.states[at].replica_up(&self.refs[of]);
                self.report(at, &c)?;
            }
        }
        Ok(())
    }

    /// Runs a merge on replica `to`, checking it left `to`'s own elements alone.
    fn merge(
        &mut self,
        to: usize,
        f: impl FnOnce(&mut State) -> Changes,
    ) -> Result<(), TestCaseError> {
        let own_before = own_values(&self.states[to]);
        let c = f(&mut self.states[to]);
        prop_assert_eq!(
            own_values(&self.states[to]),
            own_before,
            "merge touched own elements"
        );
        self.report(to, &c)?;
        self.bury(to, &c)
    }

    /// Checks no join resurrects an element replica `r` saw removed, then records the
    /// removals in `c` (not used for down/up, whose leaves and joins are not removals).
    fn bury(&mut self, r: usize, c: &Changes) -> Result<(), TestCaseError> {
        for j in &c.joins {
            prop_assert!(
                !self.dead[r].contains(&n_of(&j.meta)),
                "removed element came back: {:?}",
                j
            );
        }
        self.dead[r].extend(c.leaves.iter().map(|l| n_of(&l.meta)));
        Ok(())
    }

    /// Applies changes to the replica's client view the way the JS client does (joins, then
    /// leaves), demanding that every join is new and every leave known, and that the result
    /// equals what `list` shows.
    fn report(&mut self, r: usize, c: &Changes) -> Result<(), TestCaseError> {
        let view = &mut self.client_views[r];
        for j in &c.joins {
            prop_assert!(
                view.insert((j.topic.to_string(), j.key.to_string(), n_of(&j.meta))),
                "join of an element already visible: {:?}",
                j
            );
        }
        for l in &c.leaves {
            prop_assert!(
                view.remove(&(l.topic.to_string(), l.key.to_string(), n_of(&l.meta))),
                "leave of an element not visible: {:?}",
                l
            );
        }
        prop_assert_eq!(
            &*view,
            &listed(&self.states[r]),
            "diffs disagree with list()"
        );
        Ok(())
    }

    /// Truth: every replica's own live elements.
    fn truth(&self) -> BTreeMap<Dot, Value> {
        self.states.iter().flat_map(own_values).collect()
    }

    fn all_up(&mut self) -> Result<(), TestCaseError> {
        for at in 0..REPLICAS {
            for of in 0..REPLICAS {
                let c = self.states[at].replica_up(&self.refs[of]);
                self.report(at, &c)?;
            }
        }
        Ok(())
    }
}

fn n_of(meta: &Meta) -> i64 {
    meta.get("n")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(-1)
}

fn listed(s: &State) -> Seen {
    TOPICS
        .iter()
        .flat_map(|t| {
            s.list(t)
                .map(move |(k, m)| (t.to_string(), k.to_string(), n_of(m)))
        })
        .collect()
}

fn own_values(s: &State) -> BTreeMap<Dot, Value> {
    s.values()
        .into_iter()
        .filter(|(d, _)| d.replica == *s.replica())
        .collect()
}

fn run(ops: &[Op]) -> Result<Cluster, TestCaseError> {
    let mut c = Cluster::new();
    for op in ops {
        c.apply(op)?;
    }
    Ok(c)
}

fn snapshot_merge(into: &mut State, from: &State) -> Changes {
    let snap = from.snapshot_for(into.replica(), into.context());
    into.merge_snapshot(&snap)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every delta delivered to every replica, in reverse then forward order (so both late
    /// and duplicate deliveries happen): all replicas hold exactly the live elements.
    #[test]
    fn deltas_in_any_order_with_duplicates_converge(ops in prop::collection::vec(op(), 0..80)) {
        let mut c = run(&ops)?;
        c.all_up()?;
        for r in 0..REPLICAS {
            c.apply(&Op::Flush(r))?;
        }
        let n = c.network.len();
        let order: Vec<usize> = (0..n).rev().chain(0..n).collect();
        for to in 0..REPLICAS {
            for &i in &order {
                c.apply(&Op::Deliver(to, i))?;
            }
        }
        let truth = c.truth();
        for s in &c.states {
            prop_assert_eq!(&s.values(), &truth);
        }
        // Having seen every dot, every replica's context is gap-free.
        for s in &c.states {
            prop_assert_eq!(s.context(), c.states[0].context());
        }
    }

    /// Full-state transfers alone (A←B, A←C, then B←A, C←A) converge too.
    #[test]
    fn full_state_transfer_converges(ops in prop::collection::vec(op(), 0..80)) {
        let mut c = run(&ops)?;
        c.all_up()?;
        for (to, from) in [(0, 1), (0, 2), (1, 0), (2, 0)] {
            c.apply(&Op::Sync(to, from))?;
        }
        let truth = c.truth();
        for s in &c.states {
            prop_assert_eq!(&s.values(), &truth);
        }
    }

    #[test]
    fn merge_is_idempotent(ops in prop::collection::vec(op(), 0..80), a in 0..REPLICAS, b in 0..REPLICAS) {
        let mut c = run(&ops)?;
        c.all_up()?;
        let mut once = c.states[a].clone();
        snapshot_merge(&mut once, &c.states[b]);
        let mut twice = once.clone();
        let again = snapshot_merge(&mut twice, &c.states[b]);
        prop_assert!(again.is_empty(), "second merge reported {:?}", again);
        prop_assert_eq!(twice.values(), once.values());
        prop_assert_eq!(twice.context(), once.context());

        // Same for a delta delivered twice.
        if let Some(d) = c.network.first() {
            let mut s = c.states[a].clone();
            s.merge_delta(d);
            let before = s.values();
            prop_assert!(s.merge_delta(d).is_empty());
            prop_assert_eq!(s.values(), before);
        }
    }

    #[test]
    fn merge_is_commutative(ops in prop::collection::vec(op(), 0..80)) {
        let mut c = run(&ops)?;
        c.all_up()?;
        let (a, b, cc) = (&c.states[0], &c.states[1], &c.states[2]);

        // A ⊔ B and B ⊔ A hold the same elements.
        let mut ab = a.clone();
        snapshot_merge(&mut ab, b);
        let mut ba = b.clone();
        snapshot_merge(&mut ba, a);
        prop_assert_eq!(ab.values(), ba.values());

        // The order in which A merges B and C does not matter.
        let mut abc = ab.clone();
        snapshot_merge(&mut abc, cc);
        let mut acb = a.clone();
        snapshot_merge(&mut acb, cc);
        snapshot_merge(&mut acb, b);
        prop_assert_eq!(abc.values(), acb.values());
        prop_assert_eq!(abc.context(), acb.context());
    }

    #[test]
    fn merge_is_associative(ops in prop::collection::vec(op(), 0..80)) {
        let mut c = run(&ops)?;
        c.all_up()?;
        let (a, b, cc) = (&c.states[0], &c.states[1], &c.states[2]);
        // (A ⊔ B) ⊔ C
        let mut left = a.clone();
        snapshot_merge(&mut left, b);
        snapshot_merge(&mut left, cc);
        // A ⊔ (B ⊔ C)
        let mut bc = b.clone();
        snapshot_merge(&mut bc, cc);
        let mut right = a.clone();
        snapshot_merge(&mut right, &bc);
        prop_assert_eq!(left.values(), right.values());
        prop_assert_eq!(left.context(), right.context());
    }
}
