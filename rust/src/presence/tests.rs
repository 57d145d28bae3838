//! Service-level tests: payload shapes of PROTOCOL.md 6.3 and the track/untrack/update rules.

use super::*;
use serde_json::{Value, json};

struct Harness {
    presence: Arc<Presence>,
    diffs: Arc<Mutex<Vec<Diff>>>,
}

impl Harness {
    fn new(shards: usize) -> Harness {
        let diffs: Arc<Mutex<Vec<Diff>>> = Arc::default();
        let sink_diffs = diffs.clone();
        let sink: DiffSink = Arc::new(move |d: &Diff| sink_diffs.lock().push(d.clone()));
        Harness {
            presence: Presence::new("node@test", shards, sink),
            diffs,
        }
    }

    fn take_diffs(&self) -> Vec<Diff> {
        std::mem::take(&mut *self.diffs.lock())
    }

    fn list(&self, topic: &str) -> Value {
        json_of(&self.presence.list(topic))
    }
}

fn json_of(p: &Payload) -> Value {
    match p {
        Payload::Json(b) => serde_json::from_slice(b).expect("presence payloads are JSON"),
        Payload::Binary(_) => panic!("presence payloads are never binary"),
    }
}

fn meta(v: Value) -> Meta {
    match v {
        Value::Object(m) => m,
        other => panic!("test meta must be an object, got {other}"),
    }
}

const A: OwnerId = OwnerId(1);
const B: OwnerId = OwnerId(2);

#[test]
fn track_gives_state_and_diff_in_phoenix_shape() {
    let h = Harness::new(4);
    let r = h
        .presence
        .track(A, "room:1", "u1", meta(json!({"online_at": "1700000000"})))
        .expect("first track succeeds");
    assert_eq!(r.len(), 16);

    let state = h.presence.list("room:1");
    let expected_state =
        format!(r#"{{"u1":{{"metas":[{{"online_at":"1700000000","phx_ref":"{r}"}}]}}}}"#);
    assert_eq!(state, Payload::Json(expected_state.into()));

    let diffs = h.take_diffs();
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0].topic, "room:1");
    let expected_diff = format!(
        r#"{{"joins":{{"u1":{{"metas":[{{"online_at":"1700000000","phx_ref":"{r}"}}]}}}},"leaves":{{}}}}"#
    );
    assert_eq!(diffs[0].to_payload(), Payload::Json(expected_diff.into()));
}

#[test]
fn list_of_unknown_topic_is_empty_object() {
    let h = Harness::new(2);
    assert_eq!(h.presence.list("room:none"), Payload::empty_object());
}

#[test]
fn same_key_from_two_owners_has_two_metas_oldest_first() {
    let h = Harness::new(4);
    let r1 = h
        .presence
        .track(A, "room:1", "u1", meta(json!({"device": "phone"})))
        .expect("track A");
    let r2 = h
        .presence
        .track(B, "room:1", "u1", meta(json!({"device": "laptop"})))
        .expect("track B");
    assert_ne!(r1, r2);
    assert_eq!(
        h.list("room:1"),
        json!({"u1": {"metas": [
            {"device": "phone", "phx_ref": r1},
            {"device": "laptop", "phx_ref": r2},
        ]}})
    );
    // The second diff lists only the meta that joined, not the key's whole list.
    let diffs = h.take_diffs();
    assert_eq!(
        json_of(&diffs[1].to_payload()),
        json!({"joins": {"u1": {"metas": [{"device": "laptop", "phx_ref": r2}]}}, "leaves": {}})
    );
}

#[test]
fn update_is_one_diff_with_join_and_leave_and_phx_ref_prev() {
    let h = Harness::new(4);
    let r1 = h
        .presence
        .track(A, "room:1", "u1", meta(json!({"status": "online"})))
        .expect("track");
    h.take_diffs();
    let r2 = h
        .presence
        .update(A, "room:1", "u1", meta(json!({"status": "away"})))
        .expect("update of a tracked key");
    assert_ne!(r1, r2);

    let diffs = h.take_diffs();
    assert_eq!(diffs.len(), 1, "an update is a single diff");
    assert_eq!(
        json_of(&diffs[0].to_payload()),
        json!({
            "joins": {"u1": {"metas": [{"status": "away", "phx_ref": r2, "phx_ref_prev": r1}]}},
            "leaves": {"u1": {"metas": [{"status": "online", "phx_ref": r1}]}},
        })
    );
    assert_eq!(
        h.list("room:1"),
        json!({"u1": {"metas": [{"status": "away", "phx_ref": r2, "phx_ref_prev": r1}]}})
    );

    // update_with sees the current meta (with its phx_ref) and chains phx_ref_prev.
    let r3 = h
        .presence
        .update_with(A, "room:1", "u1", |cur| {
            assert_eq!(cur.get("phx_ref"), Some(&json!(r2)));
            let mut m = cur.clone();
            m.insert("status".into(), json!("busy"));
            m
        })
        .expect("update_with");
    assert_eq!(
        h.list("room:1"),
        json!({"u1": {"metas": [{"status": "busy", "phx_ref": r3, "phx_ref_prev": r2}]}})
    );
}

#[test]
fn untrack_is_idempotent() {
    let h = Harness::new(4);
    let r = h
        .presence
        .track(A, "room:1", "u1", meta(json!({})))
        .expect("track");
    h.take_diffs();
    h.presence.untrack(A, "room:1", "u1");
    let diffs = h.take_diffs();
    assert_eq!(
        json_of(&diffs[0].to_payload()),
        json!({"joins": {}, "leaves": {"u1": {"metas": [{"phx_ref": r}]}}})
    );
    assert_eq!(h.list("room:1"), json!({}));

    h.presence.untrack(A, "room:1", "u1");
    h.presence.untrack(B, "room:1", "never");
    assert!(
        h.take_diffs().is_empty(),
        "untracking nothing reports nothing"
    );
    // The key can be tracked again after the untrack.
    h.presence
        .track(A, "room:1", "u1", meta(json!({})))
        .expect("track again");
}

#[test]
fn untrack_owner_removes_everything_of_that_owner_across_topics() {
    let h = Harness::new(4);
    let topics = ["room:1", "room:2", "room:3", "lobby", "game:7"];
    for t in topics {
        h.presence
            .track(A, t, "alice", meta(json!({})))
            .expect("track A");
    }
    h.presence
        .track(A, "room:1", "alice-2nd-tab", meta(json!({})))
        .expect("track A second key");
    let rb = h
        .presence
        .track(B, "room:1", "bob", meta(json!({})))
        .expect("track B");
    h.take_diffs();

    h.presence.untrack_owner(A);
    for t in topics {
        if t == "room:1" {
            assert_eq!(h.list(t), json!({"bob": {"metas": [{"phx_ref": rb}]}}));
        } else {
            assert_eq!(h.list(t), json!({}), "{t}");
        }
    }
    let diffs = h.take_diffs();
    let mut diff_topics: Vec<&str> = diffs.iter().map(|d| d.topic.as_str()).collect();
    diff_topics.sort_unstable();
    let mut want = topics.to_vec();
    want.sort_unstable();
    assert_eq!(diff_topics, want, "one diff per topic");
    let room1 = diffs
        .iter()
        .find(|d| d.topic == "room:1")
        .expect("room:1 diff");
    let left: Vec<&str> = room1.leaves.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(left.len(), 2);
    assert!(left.contains(&"alice") && left.contains(&"alice-2nd-tab"));
    assert!(room1.joins.is_empty());

    // Nothing left to remove, and the owner may track again.
    h.presence.untrack_owner(A);
    assert!(h.take_diffs().is_empty());
    h.presence
        .track(A, "room:2", "alice", meta(json!({})))
        .expect("track after untrack_owner");
}

#[test]
fn already_tracked_and_no_presence_errors() {
    let h = Harness::new(1);
    h.presence
        .track(A, "room:1", "u1", meta(json!({})))
        .expect("track");
    assert_eq!(
        h.presence.track(A, "room:1", "u1", meta(json!({"x": 1}))),
        Err(PresenceError::AlreadyTracked {
            topic: "room:1".into(),
            key: "u1".into()
        })
    );
    assert_eq!(
        h.presence.update(B, "room:1", "u1", meta(json!({}))),
        Err(PresenceError::NoPresence {
            topic: "room:1".into(),
            key: "u1".into()
        }),
        "another owner's key is not this owner's presence"
    );
    h.presence.untrack(A, "room:1", "u1");
    assert!(matches!(
        h.presence.update(A, "room:1", "u1", meta(json!({}))),
        Err(PresenceError::NoPresence { .. })
    ));
    // A refused call reports nothing.
    let diffs = h.take_diffs();
    assert_eq!(diffs.len(), 2, "one join and one leave only");
}

#[test]
fn presence_state_after_a_sequence_of_ops() {
    let h = Harness::new(3);
    let c = OwnerId(3);
    let t = "room:seq";
    let a1 = h
        .presence
        .track(A, t, "u1", meta(json!({"n": 1})))
        .expect("a1");
    let _b1 = h
        .presence
        .track(B, t, "u2", meta(json!({"n": 2})))
        .expect("b1");
    let c1 = h
        .presence
        .track(c, t, "u1", meta(json!({"n": 3})))
        .expect("c1");
    let b2 = h
        .presence
        .track(B, t, "__proto__", meta(json!({"n": 4})))
        .expect("b2");
    h.presence.untrack(B, t, "u2");
    let a2 = h
        .presence
        .update(A, t, "u1", meta(json!({"n": 5})))
        .expect("a2");
    let other = h
        .presence
        .track(A, "room:other", "u9", meta(json!({})))
        .expect("other");

    assert_eq!(
        h.list(t),
        json!({
            "u1": {"metas": [
                {"n": 3, "phx_ref": c1},
                {"n": 5, "phx_ref": a2, "phx_ref_prev": a1},
            ]},
            "__proto__": {"metas": [{"n": 4, "phx_ref": b2}]},
        })
    );
    // Key order is first-seen order of the remaining metas.
    let Payload::Json(bytes) = h.presence.list(t) else {
        panic!("json")
    };
    let text = std::str::from_utf8(&bytes).expect("utf8");
    assert!(text.find("\"u1\"") < text.find("\"__proto__\""), "{text}");
    assert_eq!(
        h.list("room:other"),
        json!({"u9": {"metas": [{"phx_ref": other}]}})
    );

    // Applying the diffs the way the JS client does reproduces the state.
    let mut client = json!({});
    for d in h.take_diffs().iter().filter(|d| d.topic == t) {
        sync_diff(&mut client, &json_of(&d.to_payload()));
    }
    assert_eq!(client, h.list(t));
}

/// JS `Presence.syncDiff` (PROTOCOL.md 6.4): joins first (old metas kept before new ones),
/// then leaves by `phx_ref`, deleting keys left without metas.
fn sync_diff(state: &mut Value, diff: &Value) {
    let refs = |metas: &Value| -> Vec<Value> {
        metas
            .as_array()
            .map(|a| a.iter().map(|m| m["phx_ref"].clone()).collect())
            .unwrap_or_default()
    };
    let obj = state.as_object_mut().expect("state object");
    if let Some(joins) = diff["joins"].as_object() {
        for (key, p) in joins {
            let joined = refs(&p["metas"]);
            let mut metas: Vec<Value> = obj
                .get(key)
                .and_then(|cur| cur["metas"].as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .filter(|m| !joined.contains(&m["phx_ref"]))
                .collect();
            metas.extend(p["metas"].as_array().cloned().unwrap_or_default());
            obj.insert(key.clone(), json!({"metas": metas}));
        }
    }
    if let Some(leaves) = diff["leaves"].as_object() {
        for (key, p) in leaves {
            let left = refs(&p["metas"]);
            let Some(cur) = obj.get_mut(key) else {
                continue;
            };
            let metas: Vec<Value> = cur["metas"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|m| !left.contains(&m["phx_ref"]))
                .collect();
            if metas.is_empty() {
                obj.remove(key);
            } else {
                cur["metas"] = json!(metas);
            }
        }
    }
}

#[test]
fn diffs_of_one_topic_arrive_in_order_under_concurrency() {
    let h = Harness::new(2);
    let presence = h.presence.clone();
    let threads: Vec<_> = (0..4u64)
        .map(|n| {
            let p = presence.clone();
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    let key = format!("k{n}-{i}");
                    p.track(OwnerId(n), "room:busy", &key, Meta::new())
                        .expect("track");
                    if i % 3 == 0 {
                        p.update(OwnerId(n), "room:busy", &key, Meta::new())
                            .expect("update");
                    }
                    if i % 2 == 0 {
                        p.untrack(OwnerId(n), "room:busy", &key);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("worker thread");
    }
    let mut client = json!({});
    for d in h.take_diffs() {
        sync_diff(&mut client, &json_of(&d.to_payload()));
    }
    assert_eq!(client, h.list("room:busy"));
    assert_eq!(client.as_object().map(|o| o.len()), Some(4 * 100));
}

#[test]
fn pending_delta_is_bounded_and_dropped_past_its_bound() {
    let mut s = State::new(ReplicaRef::new("node@test"));
    s.set_max_pending(10);
    let meta = Arc::new(self::meta(json!({})));
    for owner in 0..100 {
        s.add(OwnerId(owner), "room:a", "k", meta.clone())
            .expect("tracked");
        s.remove(OwnerId(owner), "room:a", "k");
        assert!(s.pending_delta().size() <= 10, "bound kept at {owner}");
    }
    assert!(s.delta_overflows() > 0, "the bound was hit and counted");
    // Under the bound, the delta is kept whole for the replication that takes it.
    let d = s.take_delta();
    s.add(OwnerId(1000), "room:a", "k", meta).expect("tracked");
    assert_eq!(s.pending_delta().size(), 2, "one value and one cloud dot");
    assert!(d.size() <= 10);
}

#[test]
fn a_single_node_keeps_no_pending_delta() {
    let h = Harness::new(1);
    for owner in 0..1000 {
        h.presence
            .track(OwnerId(owner), "room:a", "k", meta(json!({})))
            .expect("tracked");
        h.presence.untrack_owner(OwnerId(owner));
    }
    for shard in &h.presence.shards {
        let state = shard.lock();
        assert_eq!(state.pending_delta().size(), 0);
        assert!(!state.has_delta());
    }
}
