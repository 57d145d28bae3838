//! The broker harness of the clustering tests (common/brokers.rs): a redis-server and a
//! nats-server of the test's own start on a free port, answer, come back on the same port
//! after `restart()` and `kill()`, and are gone once stopped or dropped.

mod common;

use common::brokers::{NatsServer, RedisServer, pid_alive};

#[test]
fn redis_starts_restarts_on_the_same_port_and_stops() {
    let mut redis = RedisServer::start();
    let (port, first) = (redis.port(), redis.pid());
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}"));
    assert_eq!(redis.cli(&["PING"]), "PONG\n");
    assert_eq!(redis.cli(&["PUBLISH", "chan", "payload"]), "0\n");
    assert_eq!(redis.cli(&["PUBSUB", "NUMSUB", "chan"]), "chan\n0\n");

    redis.restart();
    assert_eq!(redis.port(), port);
    assert_ne!(redis.pid(), first);
    assert!(
        !pid_alive(first),
        "the first redis-server ({first}) is gone"
    );
    assert_eq!(redis.cli(&["PING"]), "PONG\n");

    // A crash, then back on the same port.
    let crashed = redis.pid();
    assert!(redis.kill().is_some());
    assert!(!pid_alive(crashed));
    redis.restart();
    assert_eq!(redis.cli(&["PING"]), "PONG\n");

    let last = redis.pid();
    assert!(redis.stop().is_some());
    assert!(!redis.is_running());
    assert!(
        !pid_alive(last),
        "redis-server ({last}) is gone after stop()"
    );
    assert!(redis.stop().is_none(), "stop() twice is a no-op");
}

#[test]
fn redis_extra_args_apply() {
    let redis = RedisServer::start_with(&["--client-output-buffer-limit", "pubsub 64kb 64kb 0"]);
    let limits = redis.cli(&["CONFIG", "GET", "client-output-buffer-limit"]);
    assert!(limits.contains("pubsub 65536 65536 0"), "{limits}");
    let pid = redis.pid();
    drop(redis);
    assert!(!pid_alive(pid), "redis-server ({pid}) is gone after drop");
}

#[test]
fn nats_starts_restarts_on_the_same_port_and_stops() {
    let mut nats = NatsServer::start();
    let (port, first) = (nats.port(), nats.pid());
    assert_eq!(nats.url(), format!("nats://127.0.0.1:{port}"));
    let info = nats.info().expect("INFO line");
    assert!(info.contains(&format!("\"port\":{port}")), "{info}");

    nats.restart();
    assert_eq!(nats.port(), port);
    assert!(!pid_alive(first), "the first nats-server ({first}) is gone");
    assert!(nats.info().is_some(), "INFO after restart");

    let last = nats.pid();
    assert!(nats.stop().is_some());
    assert!(
        !pid_alive(last),
        "nats-server ({last}) is gone after stop()"
    );
    assert!(nats.info().is_none(), "nothing listens on {port} any more");
}

#[test]
fn a_paused_broker_is_stopped_too() {
    let mut nats = NatsServer::start();
    nats.pause();
    assert!(nats.info().is_none(), "a paused server sends no INFO");
    nats.resume();
    assert!(nats.info().is_some(), "INFO once resumed");
    nats.pause();
    let pid = nats.pid();
    assert!(nats.stop().is_some());
    assert!(
        !pid_alive(pid),
        "a paused nats-server ({pid}) is gone after stop()"
    );
}
