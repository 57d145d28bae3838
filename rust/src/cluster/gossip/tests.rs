use super::*;
use crate::presence::state::State;

fn meta(i: usize) -> Arc<Meta> {
    let mut m = Meta::new();
    m.insert("phx_ref".into(), format!("ref-{i}").into());
    m.insert(
        "name".into(),
        format!("user {i} {}", i * 7919 % 1000).into(),
    );
    Arc::new(m)
}

/// Replica `a` with `n` presences on two topics, one removed, and `b` known to it.
fn state(n: usize) -> (State, ReplicaRef) {
    let a = ReplicaRef::with_vsn("a@host", (11, 1));
    let b = ReplicaRef::with_vsn("b@host", (22, 1));
    let mut s = State::new(a.clone());
    s.replica_up(&b);
    for i in 0..n {
        let topic = if i % 2 == 0 { "room:1" } else { "room:2" };
        s.add(OwnerId(i as u64), topic, &format!("u{i}"), meta(i))
            .unwrap();
    }
    s.remove(OwnerId(0), "room:1", "u0");
    (s, b)
}

#[test]
fn every_message_round_trips() {
    let (mut s, b) = state(5);
    let delta = s.take_delta();
    let snapshot = s.snapshot_for(&b, &s.context().clone());
    let sender = s.replica().clone();
    let messages = [
        Message::Beat {
            clocks: vec![(0, s.clock()), (1, Context::new())],
            deltas: vec![(1, delta.clone())],
        },
        Message::TransferReq {
            contexts: vec![(0, s.context().clone())],
        },
        Message::TransferAck {
            snapshots: vec![(1, snapshot)],
        },
    ];
    for m in messages {
        let back = decode(&encode(&m, 2), &sender, 2).unwrap();
        match (&m, &back) {
            // Deltas travel without their generation bounds (start/end), which only the
            // sender's delta generations use.
            (
                Message::Beat { deltas, clocks },
                Message::Beat {
                    deltas: d2,
                    clocks: c2,
                },
            ) => {
                assert_eq!(clocks, c2);
                assert_eq!(deltas[0].1.values, d2[0].1.values);
                assert_eq!(deltas[0].1.clouds, d2[0].1.clouds);
                assert_eq!(d2[0].1.origin, sender);
            }
            _ => assert_eq!(m, back),
        }
    }
}

#[test]
fn a_merged_transfer_gives_the_same_list() {
    let (s, b) = state(40);
    let mut remote = State::new(b.clone());
    remote.replica_up(s.replica());
    let ack = Message::TransferAck {
        snapshots: vec![(0, s.snapshot_for(&b, remote.context()))],
    };
    let Message::TransferAck { snapshots } = decode(&encode(&ack, 1), s.replica(), 1).unwrap()
    else {
        panic!("not an ack");
    };
    remote.merge_snapshot(&snapshots[0].1);
    for topic in ["room:1", "room:2"] {
        let ours: Vec<_> = s.list(topic).map(|(k, m)| (k.clone(), m.clone())).collect();
        let theirs: Vec<_> = remote
            .list(topic)
            .map(|(k, m)| (k.clone(), m.clone()))
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{topic}");
        assert!(ours.iter().all(|e| theirs.contains(e)), "{topic}");
    }
}

#[test]
fn bad_messages_are_refused_with_their_reason() {
    let sender = ReplicaRef::with_vsn("a", (1, 1));
    let (s, _) = state(3);
    let beat = Message::Beat {
        clocks: vec![(0, s.clock())],
        deltas: vec![],
    };
    assert_eq!(
        decode(&encode(&beat, 4), &sender, 8).unwrap_err(),
        GossipError::Shards { theirs: 4, ours: 8 }
    );
    let far = Message::TransferReq {
        contexts: vec![(9, Context::new())],
    };
    assert_eq!(
        decode(&encode(&far, 4), &sender, 4).unwrap_err(),
        GossipError::Shard {
            shard: 9,
            shards: 4
        }
    );
    let unknown =
        br#"{"t":"transfer_req","shards":1,"replicas":[],"contexts":[{"s":0,"context":[[3,1]]}]}"#;
    assert_eq!(
        decode(unknown, &sender, 1).unwrap_err(),
        GossipError::Replica(3)
    );
    for garbage in [&b"not json"[..], b"{}", br#"{"t":"beat"}"#, b"[1,2]"] {
        assert!(matches!(
            decode(garbage, &sender, 1),
            Err(GossipError::Json(_))
        ));
    }
}

fn origin() -> Origin {
    Origin {
        node: "a".into(),
        incarnation: 1,
    }
}

#[test]
fn small_messages_go_whole_and_large_ones_compressed_in_chunks() {
    let small = b"{\"t\":\"beat\"}".to_vec();
    let one = chunks(small.clone(), None, 1);
    assert_eq!((one.len(), one[0].compressed), (1, false));
    let mut r = Reassembler::new(Duration::from_secs(5), 64 << 20);
    assert_eq!(r.push(&origin(), one[0].clone()).unwrap().unwrap(), small);

    // ~1.5 MB that LZ4 cannot shrink much: several chunks, put together in any order.
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let big: Vec<u8> = (0..1_500_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut parts = chunks(big.clone(), Some(origin()), 2);
    assert!(parts.len() > 4 && parts.iter().all(|c| c.compressed));
    assert!(parts.iter().all(|c| c.bytes.len() <= CHUNK_BYTES));
    parts.reverse();
    let last = parts.pop().unwrap();
    for c in parts {
        assert!(r.push(&origin(), c).is_none());
    }
    assert_eq!(r.push(&origin(), last).unwrap().unwrap(), big);
    assert_eq!(r.dropped, 0);
}

#[test]
fn reassembly_is_bounded_and_refuses_what_does_not_fit() {
    // Over the byte bound: given up.
    let mut r = Reassembler::new(Duration::from_secs(5), CHUNK_BYTES);
    let mut raw = Vec::new();
    for i in 0..3u16 {
        raw.push(Chunk {
            to: None,
            id: 5,
            index: i,
            count: 3,
            compressed: false,
            bytes: Bytes::from(vec![1u8; CHUNK_BYTES]),
        });
    }
    assert!(r.push(&origin(), raw[0].clone()).is_none());
    assert!(r.push(&origin(), raw[1].clone()).is_none());
    assert_eq!(r.dropped, 1);
    // Stale partial messages expire.
    let mut r = Reassembler::new(Duration::from_millis(0), 64 << 20);
    assert!(r.push(&origin(), raw[0].clone()).is_none());
    std::thread::sleep(Duration::from_millis(2));
    assert!(r.push(&origin(), raw[1].clone()).is_none());
    assert_eq!(r.dropped, 1);
    // A chunk whose count disagrees with the first one's.
    let mut r = Reassembler::new(Duration::from_secs(5), 64 << 20);
    assert!(r.push(&origin(), raw[0].clone()).is_none());
    let mut odd = raw[1].clone();
    odd.count = 4;
    assert!(r.push(&origin(), odd).is_none());
    assert_eq!(r.dropped, 1);
    // A compressed message claiming a huge size is refused before any allocation.
    let mut bomb = u32::MAX.to_le_bytes().to_vec();
    bomb.extend_from_slice(b"xxxx");
    let c = Chunk {
        to: None,
        id: 9,
        index: 0,
        count: 1,
        compressed: true,
        bytes: Bytes::from(bomb),
    };
    assert!(matches!(
        r.push(&origin(), c),
        Some(Err(GossipError::TooLarge(_)))
    ));
    let c = Chunk {
        to: None,
        id: 10,
        index: 0,
        count: 1,
        compressed: true,
        bytes: Bytes::from_static(b"\x10\x00\x00\x00garbage"),
    };
    let out = r.push(&origin(), c);
    assert!(matches!(out, Some(Err(GossipError::Lz4(_)))), "{out:?}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// (track?, owner, key, topic) operations on one replica that knows a second one.
    fn ops() -> impl Strategy<Value = Vec<(bool, u64, u8, bool)>> {
        prop::collection::vec((any::<bool>(), 0u64..4, 0u8..6, any::<bool>()), 0..60)
    }

    proptest! {
        /// Whatever the state, its delta and its snapshot cross the wire (JSON, LZ4, chunks)
        /// unchanged: the merges the tracker runs see what the sender's State produced.
        #[test]
        fn deltas_and_snapshots_cross_the_wire_unchanged(ops in ops(), names in "[a-zé☃\"\\\\]{0,8}") {
            let a = ReplicaRef::with_vsn("a", (u64::MAX, 1));
            let b = ReplicaRef::with_vsn("b", (3, 0));
            let mut s = State::new(a.clone());
            s.replica_up(&b);
            for (i, (track, owner, key, topic)) in ops.into_iter().enumerate() {
                let topic = if topic { "room:1" } else { "room:2" };
                let key = format!("{names}{key}");
                if track {
                    let mut m = Meta::new();
                    m.insert("n".into(), (i as u64).into());
                    m.insert("s".into(), names.clone().into());
                    let _ = s.add(OwnerId(owner), topic, &key, Arc::new(m));
                } else {
                    s.remove(OwnerId(owner), topic, &key);
                }
            }
            let delta = s.take_delta();
            let snapshot = s.snapshot_for(&b, &s.context().clone());
            let beat = Message::Beat { clocks: vec![(1, s.clock())], deltas: vec![(0, delta.clone())] };
            let ack = Message::TransferAck { snapshots: vec![(1, snapshot.clone())] };
            let origin = Origin { node: "a".into(), incarnation: 1 };
            for (message, id) in [(beat, 1), (ack, 2)] {
                let mut r = Reassembler::new(Duration::from_secs(5), 64 << 20);
                let mut whole = None;
                for c in chunks(encode(&message, 2), None, id) {
                    whole = r.push(&origin, c);
                }
                let back = decode(&whole.expect("complete").expect("valid"), &a, 2).expect("decodes");
                match back {
                    Message::Beat { clocks, deltas } => {
                        prop_assert_eq!(&clocks, &vec![(1, s.clock())]);
                        prop_assert_eq!(&deltas[0].1.values, &delta.values);
                        prop_assert_eq!(&deltas[0].1.clouds, &delta.clouds);
                    }
                    Message::TransferAck { snapshots } => prop_assert_eq!(&snapshots[0].1, &snapshot),
                    Message::TransferReq { .. } => prop_assert!(false, "not sent"),
                }
            }
        }
    }
}
