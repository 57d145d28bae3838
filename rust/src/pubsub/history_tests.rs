//! The history of a topic: positions on broadcasts, resume outcomes, trimming, the host read.

use super::history::{HistoryConfig, HistoryRule, Position, Recovery, Unrecovered};
use super::*;
use crate::outbox::Outbox;
use bytes::Bytes;
use futures_util::FutureExt;
use serde_json::{Value, json};
use std::time::Duration;

fn pubsub(size: usize, ttl: Duration) -> Arc<PubSub> {
    let mut h = HistoryConfig::default();
    h.add("room:*", HistoryRule { size, ttl });
    PubSub::build(2, Arc::new(LocalBroker), h)
}

fn bc(topic: &str, event: &str, n: u64) -> Broadcast {
    Broadcast {
        topic: topic.into(),
        event: event.into(),
        payload: Payload::Json(Bytes::from(json!({ "n": n }).to_string())),
    }
}

fn fastlane(outbox: &Arc<Outbox>) -> Delivery {
    fastlane_as(outbox, Serializer::V2Json)
}

fn fastlane_as(outbox: &Arc<Outbox>, serializer: Serializer) -> Delivery {
    Delivery::Fastlane {
        outbox: outbox.clone(),
        serializer,
        intercepts: Arc::new([]),
        intercept_mailbox: None,
    }
}

fn frames(outbox: &Outbox) -> Vec<Value> {
    let mut out = vec![];
    let _ = outbox.drain_into(&mut out).now_or_never();
    out.iter()
        .map(|f| match f {
            Frame::Text(b) => serde_json::from_slice(b).unwrap(),
            Frame::Binary(_) => panic!("binary"),
        })
        .collect()
}

/// Subscribes with `_since`, returning the recovery and the subscription. The replay bound is
/// above any test's message count: a loaded machine may let the racing publishers run far
/// ahead of a resume (`too_many` has its own test).
fn resume(
    ps: &Arc<PubSub>,
    topic: &str,
    since: &str,
    outbox: &Arc<Outbox>,
) -> (Recovery, Subscription) {
    let mut found = None;
    let sub = ps.subscribe_recover(topic, fastlane(outbox), Ok(Some(since)), 1_000_000, |r| {
        found = Some(r)
    });
    (found.unwrap(), sub)
}

fn offsets(r: &Recovery) -> Vec<u64> {
    r.outcome
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| Position::parse(e.position()).unwrap().offset)
        .collect()
}

#[test]
fn broadcasts_on_history_topics_carry_increasing_positions_in_ref() {
    let ps = pubsub(10, Duration::from_secs(60));
    let out = Arc::new(Outbox::new(100, 1 << 20));
    let _sub = ps.subscribe("room:a", fastlane(&out));
    let _other = ps.subscribe("lobby", fastlane(&out));
    for n in 1..=3 {
        ps.broadcast(bc("room:a", "msg", n)).unwrap();
    }
    ps.broadcast(bc("lobby", "msg", 9)).unwrap();
    ps.broadcast(bc("room:a", "presence_diff", 9)).unwrap();
    let got = frames(&out);
    let refs: Vec<&Value> = got.iter().map(|f| &f[1]).collect();
    let p: Vec<Position> = refs[..3]
        .iter()
        .map(|r| Position::parse(r.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(p.iter().map(|p| p.offset).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(p.iter().all(|x| x.epoch == p[0].epoch));
    assert!(
        p[0].epoch.parse::<f64>().is_err(),
        "the epoch is not numeric"
    );
    // No history: ref stays null; presence is never recorded.
    assert_eq!(refs[3], &Value::Null);
    assert_eq!(refs[4], &Value::Null);
    assert_eq!(ps.history("room:a", None, 100).0.len(), 3);
}

#[test]
fn a_resume_replays_exactly_what_followed_the_position_then_live() {
    let ps = pubsub(100, Duration::from_secs(60));
    for n in 1..=5 {
        ps.broadcast(bc("room:a", "msg", n)).unwrap();
    }
    let (msgs, latest, ok) = ps.history("room:a", None, 100);
    assert!(ok.is_ok());
    let second = msgs[1].position().to_owned();
    assert_eq!(latest.as_deref(), Some(msgs[4].position()));
    let out = Arc::new(Outbox::new(100, 1 << 20));
    let (r, _sub) = resume(&ps, "room:a", &second, &out);
    assert_eq!(offsets(&r), [3, 4, 5]);
    assert_eq!(
        r.payload(),
        json!({"recovered": true, "missed": 3, "position": latest})
    );
    ps.broadcast(bc("room:a", "msg", 6)).unwrap();
    let live = frames(&out);
    assert_eq!(
        live.len(),
        1,
        "only the live one reached the outbox directly"
    );
    assert_eq!(live[0][4], json!({"n": 6}));
    // At the latest position: recovered, nothing missed.
    let (r, _s) = resume(&ps, "room:a", live[0][1].as_str().unwrap(), &out);
    assert_eq!(offsets(&r), Vec::<u64>::new());
}

#[test]
fn unknown_trimmed_expired_and_invalid_positions_are_not_recovered() {
    let ps = pubsub(3, Duration::from_secs(60));
    let out = Arc::new(Outbox::new(100, 1 << 20));
    for n in 1..=5 {
        ps.broadcast(bc("room:a", "msg", n)).unwrap();
    }
    let latest = ps.history("room:a", None, 10).1.unwrap();
    let epoch = Position::parse(&latest).unwrap().epoch;
    let why = |since: &str| resume(&ps, "room:a", since, &out).0.outcome.unwrap_err();
    // Kept: 3, 4, 5. From 2 on is complete; from 1 on, 2 is gone.
    assert!(
        resume(&ps, "room:a", &format!("{epoch}:2"), &out)
            .0
            .outcome
            .is_ok()
    );
    assert_eq!(why(&format!("{epoch}:1")), Unrecovered::Trimmed);
    assert_eq!(why(&format!("{epoch}:6")), Unrecovered::UnknownPosition);
    assert_eq!(why("otherepoch:3"), Unrecovered::UnknownEpoch);
    assert_eq!(why("3"), Unrecovered::Invalid);
    assert_eq!(why(&"x".repeat(1 << 20)), Unrecovered::Invalid);
    assert_eq!(why(&format!("{epoch}:-1")), Unrecovered::Invalid);
    // A topic without history, and one with a rule but no message yet.
    assert_eq!(why_topic(&ps, "lobby", &latest), Unrecovered::NoHistory);
    assert_eq!(
        why_topic(&ps, "room:new", &latest),
        Unrecovered::UnknownEpoch
    );
    let failed = resume(&ps, "room:a", "nope", &out).0;
    assert_eq!(
        failed.payload(),
        json!({"recovered": false, "missed": 0, "position": latest, "reason": "invalid_position"})
    );
}

fn why_topic(ps: &Arc<PubSub>, topic: &str, since: &str) -> Unrecovered {
    let out = Arc::new(Outbox::new(100, 1 << 20));
    resume(ps, topic, since, &out).0.outcome.unwrap_err()
}

#[test]
fn expired_messages_are_not_replayed() {
    let ps = pubsub(100, Duration::from_millis(50));
    ps.broadcast(bc("room:a", "msg", 1)).unwrap();
    let first = ps.history("room:a", None, 10).1.unwrap();
    ps.broadcast(bc("room:a", "msg", 2)).unwrap();
    std::thread::sleep(Duration::from_millis(80));
    ps.broadcast(bc("room:a", "msg", 3)).unwrap();
    let out = Arc::new(Outbox::new(100, 1 << 20));
    // 2 expired: resuming from 1 would skip it.
    assert_eq!(
        resume(&ps, "room:a", &first, &out).0.outcome.unwrap_err(),
        Unrecovered::Trimmed
    );
    assert_eq!(ps.history("room:a", None, 10).0.len(), 1);
}

#[test]
fn more_missed_than_the_queue_takes_is_too_many() {
    let ps = pubsub(100, Duration::from_secs(60));
    ps.broadcast(bc("room:a", "msg", 0)).unwrap();
    let from = ps.history("room:a", None, 1).1.unwrap();
    for n in 1..=10 {
        ps.broadcast(bc("room:a", "msg", n)).unwrap();
    }
    let out = Arc::new(Outbox::new(100, 1 << 20));
    let mut found = None;
    let _s = ps.subscribe_recover("room:a", fastlane(&out), Ok(Some(&from)), 9, |r| {
        found = Some(r)
    });
    assert_eq!(found.unwrap().outcome.unwrap_err(), Unrecovered::TooMany);
}

#[test]
fn host_reads_after_a_position_with_a_limit() {
    let ps = pubsub(100, Duration::from_secs(60));
    for n in 1..=5 {
        ps.broadcast(bc("room:a", "msg", n)).unwrap();
    }
    let (all, latest, _) = ps.history("room:a", None, 100);
    let (two, _, ok) = ps.history("room:a", Some(all[0].position()), 2);
    assert!(ok.is_ok());
    assert_eq!(
        two.iter().map(|e| e.position()).collect::<Vec<_>>(),
        [all[1].position(), all[2].position()]
    );
    let (last2, _, _) = ps.history("room:a", None, 2);
    assert_eq!(last2[1].position(), latest.as_deref().unwrap());
    assert_eq!(
        ps.history("room:a", Some("bad"), 2).2,
        Err(Unrecovered::Invalid)
    );
    assert_eq!(ps.history("lobby", None, 2).2, Err(Unrecovered::NoHistory));
}

#[test]
fn a_failed_encode_leaves_no_history() {
    let ps = pubsub(100, Duration::from_secs(60));
    let out = Arc::new(Outbox::new(100, 1 << 20));
    let _sub = ps.subscribe("room:a", fastlane_as(&out, Serializer::V1Json));
    let binary = Broadcast {
        topic: "room:a".into(),
        event: "bin".into(),
        payload: Payload::Binary(Bytes::from_static(b"\x01")),
    };
    assert!(ps.broadcast(binary).is_err());
    assert_eq!(ps.history("room:a", None, 10).0.len(), 0);
    // The offset it took is given to the next broadcast: offsets stay contiguous.
    ps.broadcast(bc("room:a", "msg", 1)).unwrap();
    let latest = ps.history("room:a", None, 10).1.unwrap();
    assert_eq!(Position::parse(&latest).unwrap().offset, 1);
}

#[test]
fn a_mailbox_may_publish_on_the_same_history_topic_from_the_fanout() {
    let ps = pubsub(100, Duration::from_secs(60));
    let weak = Arc::downgrade(&ps);
    let _sub = ps.subscribe(
        "room:a",
        Delivery::Mailbox(Arc::new(move |b: &Arc<Broadcast>| {
            if b.event == "ping"
                && let Some(ps) = weak.upgrade()
            {
                ps.broadcast(bc("room:a", "pong", 0)).unwrap();
            }
        })),
    );
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    let t = std::thread::spawn(move || {
        ps.broadcast(bc("room:a", "ping", 0)).unwrap();
        d.store(true, std::sync::atomic::Ordering::SeqCst);
        ps.history("room:a", None, 10).0.len()
    });
    assert_eq!(t.join().unwrap(), 2);
    assert!(done.load(std::sync::atomic::Ordering::SeqCst));
}

/// Publishers on other threads while subscribers resume: each subscriber's replay plus its
/// live frames is every offset after its position, once, in order.
#[test]
fn resumes_racing_publishers_see_no_gap_and_no_duplicate() {
    let ps = pubsub(100_000, Duration::from_secs(60));
    ps.broadcast(bc("room:a", "msg", 0)).unwrap();
    let publishers: Vec<_> = (0..2)
        .map(|_| {
            let ps = ps.clone();
            std::thread::spawn(move || {
                for n in 0..2000 {
                    ps.broadcast(bc("room:a", "msg", n)).unwrap();
                }
            })
        })
        .collect();
    let mut checks = vec![];
    for _ in 0..50 {
        let since = ps.history("room:a", None, 1).1.unwrap();
        let out = Arc::new(Outbox::new(100_000, 1 << 30));
        let (r, sub) = resume(&ps, "room:a", &since, &out);
        checks.push((
            Position::parse(&since).unwrap().offset,
            offsets(&r),
            out,
            sub,
        ));
        std::thread::yield_now();
    }
    for p in publishers {
        p.join().unwrap();
    }
    let last = Position::parse(&ps.history("room:a", None, 1).1.unwrap())
        .unwrap()
        .offset;
    for (since, replayed, out, _sub) in checks {
        let live: Vec<u64> = frames(&out)
            .iter()
            .map(|f| Position::parse(f[1].as_str().unwrap()).unwrap().offset)
            .collect();
        let all: Vec<u64> = replayed.into_iter().chain(live).collect();
        assert_eq!(all, (since + 1..=last).collect::<Vec<_>>());
    }
}

#[test]
fn a_client_without_a_position_learns_one_even_on_an_empty_topic_and_resumes_from_it() {
    let ps = pubsub(10, Duration::from_secs(60));
    let out = Arc::new(Outbox::new(100, 1 << 20));
    let mut found = None;
    let sub = ps.subscribe_recover("room:a", fastlane(&out), Ok(None), 1000, |r| {
        found = Some(r)
    });
    let first = found.unwrap();
    assert_eq!(first.payload()["recovered"], true);
    assert_eq!(first.payload()["missed"], 0);
    let start = first.position.clone().unwrap();
    assert_eq!(Position::parse(&start).unwrap().offset, 0);
    drop(sub);
    // Offline: two broadcasts go into the same epoch the client was told.
    ps.broadcast(bc("room:a", "msg", 1)).unwrap();
    ps.broadcast(bc("room:a", "msg", 2)).unwrap();
    let (r, _sub) = resume(&ps, "room:a", &start, &out);
    assert_eq!(offsets(&r), [1, 2]);
    // Without a rule the answer says so.
    let mut none = None;
    let _s = ps.subscribe_recover("lobby", fastlane(&out), Ok(None), 1000, |r| none = Some(r));
    assert_eq!(none.unwrap().payload()["reason"], "no_history");
}

#[test]
fn v1_clients_get_the_position_in_the_ref_field_too() {
    let ps = pubsub(10, Duration::from_secs(60));
    let out = Arc::new(Outbox::new(100, 1 << 20));
    let _sub = ps.subscribe("room:a", fastlane_as(&out, Serializer::V1Json));
    ps.broadcast(bc("room:a", "msg", 1)).unwrap();
    let got = frames(&out);
    let latest = ps.history("room:a", None, 1).1.unwrap();
    assert_eq!(got[0]["ref"], json!(latest));
    assert_eq!(got[0]["event"], "msg");
}

/// A broker that keeps history (as Redis does): `record` only queues; the test plays the
/// broker by calling `deliver_recorded` with the positions it would give. `down` makes
/// `record` fail as an unreachable broker does.
#[derive(Default)]
struct RecordingBroker {
    recorded: parking_lot::Mutex<Vec<(String, Option<SubscriberId>)>>,
    down: std::sync::atomic::AtomicBool,
}

impl Broker for RecordingBroker {
    fn publish(&self, _broadcast: &Arc<Broadcast>) -> Result<(), BrokerError> {
        Ok(())
    }

    fn records_history(&self) -> bool {
        true
    }

    fn record(
        &self,
        broadcast: &Arc<Broadcast>,
        _rule: HistoryRule,
        from: Option<SubscriberId>,
    ) -> Result<(), BrokerError> {
        if self.down.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(BrokerError("down".into()));
        }
        self.recorded.lock().push((broadcast.event.clone(), from));
        Ok(())
    }
}

fn mirrored() -> (Arc<PubSub>, Arc<RecordingBroker>) {
    let broker = Arc::new(RecordingBroker::default());
    let mut h = HistoryConfig::default();
    h.add(
        "room:*",
        HistoryRule {
            size: 10,
            ttl: Duration::from_secs(60),
        },
    );
    (PubSub::build(2, broker.clone(), h), broker)
}

fn at(text: &str) -> Position {
    Position::parse(text).unwrap()
}

#[test]
fn with_a_recording_broker_broadcasts_are_delivered_when_they_come_back_with_their_position() {
    let (ps, broker) = mirrored();
    let out = Arc::new(Outbox::new(100, 1 << 20));
    // Before any message the topic's epoch is the broker's, still unknown: position null.
    let mut first = None;
    let sub = ps.subscribe_recover("room:a", fastlane(&out), Ok(None), 100, |r| first = Some(r));
    assert_eq!(
        first.unwrap().payload(),
        json!({"recovered": true, "missed": 0, "position": null})
    );

    // Sent to the broker, not delivered here yet.
    ps.broadcast_from(sub.id(), bc("room:a", "msg", 1)).unwrap();
    assert_eq!(
        *broker.recorded.lock(),
        [("msg".to_owned(), Some(sub.id()))]
    );
    assert!(frames(&out).is_empty());
    // Presence and local broadcasts are not recorded: delivered at once, without a position.
    ps.local_broadcast(bc("room:a", "local", 2)).unwrap();
    ps.broadcast(bc("room:a", "presence_diff", 3)).unwrap();
    let now: Vec<Value> = frames(&out).iter().map(|f| json!([f[1], f[3]])).collect();
    assert_eq!(
        now,
        [json!([null, "local"]), json!([null, "presence_diff"])]
    );

    // The broker's echoes, in its order: delivered with their positions, `from` left out.
    ps.deliver_recorded(Some(sub.id()), bc("room:a", "msg", 1), &at("R:1"))
        .unwrap();
    ps.deliver_recorded(None, bc("room:a", "msg", 2), &at("R:2"))
        .unwrap();
    // A duplicate (the same position again) is not delivered twice.
    ps.deliver_recorded(None, bc("room:a", "msg", 2), &at("R:2"))
        .unwrap();
    let got: Vec<Value> = frames(&out).iter().map(|f| f[1].clone()).collect();
    assert_eq!(got, [json!("R:2")]);

    // Another subscriber resumes from R:1 on this node's mirror.
    let other = Arc::new(Outbox::new(100, 1 << 20));
    let (r, _s) = resume(&ps, "room:a", "R:1", &other);
    assert_eq!(offsets(&r), [2]);
    assert_eq!(r.position.as_deref(), Some("R:2"));
}

#[test]
fn a_mirrored_log_restarts_on_a_new_epoch_and_drops_what_came_before_a_gap() {
    let (ps, _broker) = mirrored();
    let out = Arc::new(Outbox::new(100, 1 << 20));
    for n in 1..=3 {
        ps.deliver_recorded(None, bc("room:a", "msg", n), &at(&format!("R:{n}")))
            .unwrap();
    }
    // Offsets 4 and 5 never arrived (the link dropped): a resume from before the gap cannot
    // be complete, one from after it can.
    ps.deliver_recorded(None, bc("room:a", "msg", 6), &at("R:6"))
        .unwrap();
    ps.deliver_recorded(None, bc("room:a", "msg", 7), &at("R:7"))
        .unwrap();
    assert_eq!(
        resume(&ps, "room:a", "R:2", &out).0.outcome.unwrap_err(),
        Unrecovered::Trimmed
    );
    assert_eq!(offsets(&resume(&ps, "room:a", "R:6", &out).0), [7]);
    // The broker's history expired and started over: positions of the old epoch are unknown.
    ps.deliver_recorded(None, bc("room:a", "msg", 8), &at("S:1"))
        .unwrap();
    assert_eq!(
        resume(&ps, "room:a", "R:7", &out).0.outcome.unwrap_err(),
        Unrecovered::UnknownEpoch
    );
    assert_eq!(ps.history("room:a", None, 10).1.as_deref(), Some("S:1"));
}

#[test]
fn with_the_recording_broker_down_a_broadcast_reaches_this_node_without_a_position() {
    let (ps, broker) = mirrored();
    let out = Arc::new(Outbox::new(100, 1 << 20));
    let _sub = ps.subscribe("room:a", fastlane(&out));
    broker
        .down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(matches!(
        ps.broadcast(bc("room:a", "msg", 1)),
        Err(PublishError::Broker(_))
    ));
    let got = frames(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0][1], Value::Null);
    assert_eq!(ps.history("room:a", None, 10).0.len(), 0);
}
