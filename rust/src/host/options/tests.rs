use super::*;
use crate::endpoint::{HandshakeConfig, TransportConfig};
use crate::host::ErrorCode;

fn int(i: i128) -> OptionValue {
    OptionValue::Int(i)
}

fn text(s: &str) -> OptionValue {
    OptionValue::Text(s.to_owned())
}

fn err(result: Result<(), HostError>) -> String {
    let e = result.expect_err("the option is refused");
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    e.message
}

#[test]
fn nothing_set_gives_the_core_defaults() {
    let config = Options::new(Naming::Snake).build().unwrap();
    let defaults = HostConfig::default();
    assert_eq!(config.bind, defaults.bind);
    assert_eq!(config.handshake, HandshakeConfig::default());
    assert_eq!(config.mounts, vec![HostMount::new("/socket")]);
    assert_eq!(config.mounts[0].transport, TransportConfig::default());
}

#[test]
fn endpoint_level_mount_options_are_every_mounts_default_and_a_mounts_own_win() {
    let mut o = Options::new(Naming::Camel);
    o.add_mount("/a", vec![("maxFrameBytes".into(), int(1000))])
        .unwrap();
    o.add_mount("/b", vec![]).unwrap();
    // Set after the mounts were added: still their default.
    o.set("maxFrameBytes", int(2000)).unwrap();
    o.set("idleTimeoutMs", int(5)).unwrap();
    let config = o.build().unwrap();
    let [a, b] = &config.mounts[..] else {
        panic!("two mounts")
    };
    assert_eq!((a.path.as_str(), a.transport.max_frame_bytes), ("/a", 1000));
    assert_eq!((b.path.as_str(), b.transport.max_frame_bytes), ("/b", 2000));
    assert_eq!(a.transport.idle_timeout, Duration::from_millis(5));
}

#[test]
fn handshake_and_drain_options_reach_the_config() {
    let mut o = Options::new(Naming::Snake);
    o.set("header_read_timeout_ms", int(1500)).unwrap();
    o.set("max_header_bytes", int(32_768)).unwrap();
    o.set("max_pending_connections", int(7)).unwrap();
    o.set("drain", OptionValue::List(vec![int(5), int(10), int(20)]))
        .unwrap();
    let c = o.build().unwrap();
    assert_eq!(c.handshake.header_read_timeout, Duration::from_millis(1500));
    assert_eq!(c.handshake.max_header_bytes, 32_768);
    assert_eq!(c.handshake.max_pending_connections, 7);
    assert_eq!(c.drain.batch_size, 5);
    assert_eq!(c.drain.timeout, Duration::from_millis(20));

    let mut camel = Options::new(Naming::Camel);
    camel
        .set(
            "drain",
            OptionValue::Map(vec![("batchSize".into(), int(3))]),
        )
        .unwrap();
    assert_eq!(camel.build().unwrap().drain.batch_size, 3);
    assert_eq!(
        err(camel.set(
            "drain",
            OptionValue::Map(vec![("batchSise".into(), int(3))])
        )),
        "unknown option `batchSise` of `drain` (did you mean `batchSize`?)"
    );
    assert!(err(o.set("max_header_bytes", int(100))).contains("from 8192"));
}

#[test]
fn unknown_names_suggest_the_closest_in_the_callers_spelling() {
    let mut camel = Options::new(Naming::Camel);
    assert_eq!(
        err(camel.set("prot", int(4000))),
        "unknown option `prot` of the endpoint (did you mean `port`?)"
    );
    assert_eq!(
        err(camel.set("maxFrameByte", int(4000))),
        "unknown option `maxFrameByte` of the endpoint (did you mean `maxFrameBytes`?)"
    );
    let mut snake = Options::new(Naming::Snake);
    assert_eq!(
        err(snake.set("max_frame_byte", int(4000))),
        "unknown option `max_frame_byte` of the endpoint (did you mean `max_frame_bytes`?)"
    );
    assert!(err(snake.set("zzzzzzzzzzzzzzzzzzz", int(1))).contains("(known: bind, host, port"));
    assert!(
        err(snake.add_mount("/m", vec![("node".into(), text("x"))]))
            .starts_with("unknown option `node` of mount \"/m\"")
    );
}

#[test]
fn wrong_types_and_ranges_say_what_was_given() {
    let mut camel = Options::new(Naming::Camel);
    assert_eq!(
        err(camel.set("port", text("4000"))),
        "`port` must be an integer from 0 to 65535 (got the string \"4000\")"
    );
    assert_eq!(
        err(camel.set("port", int(70_000))),
        "`port` must be an integer from 0 to 65535 (got 70000)"
    );
    assert_eq!(
        err(camel.set("maxChannels", OptionValue::Float(1.5))),
        "`maxChannels` must be an integer from 1 to 4294967295 (got 1.5)"
    );
    assert_eq!(
        err(camel.set("maxChannels", int(0))),
        "`maxChannels` must be an integer from 1 to 4294967295 (got 0)"
    );
    assert_eq!(
        err(camel.set("authToken", int(1))),
        "`authToken` must be true or false (got 1)"
    );
    assert_eq!(
        err(camel.set("shards", OptionValue::Unsupported("bigint".into()))),
        "`shards` must be an integer from 0 to 65536 (got a value of type bigint)"
    );
    assert!(err(camel.set("node", text(""))).contains("non-empty"));
}

#[test]
fn check_origin_is_the_same_host_by_default_false_or_a_non_empty_list() {
    let mut o = Options::new(Naming::Snake);
    assert_eq!(
        o.build().unwrap().mounts[0].transport.check_origin,
        CheckOrigin::SameHost
    );
    assert!(err(o.set("check_origin", OptionValue::List(vec![]))).contains("non-empty list"));
    assert!(err(o.set("check_origin", text("yes"))).contains("got the string"));
    o.set("check_origin", OptionValue::Bool(true)).unwrap();
    assert_eq!(
        o.build().unwrap().mounts[0].transport.check_origin,
        CheckOrigin::SameHost
    );
    o.set("check_origin", OptionValue::Bool(false)).unwrap();
    assert_eq!(
        o.build().unwrap().mounts[0].transport.check_origin,
        CheckOrigin::Off
    );
    o.set("check_origin", OptionValue::List(vec![text("//a.example")]))
        .unwrap();
    assert_eq!(
        o.build().unwrap().mounts[0].transport.check_origin,
        CheckOrigin::Allow(vec!["//a.example".into()])
    );
}

#[test]
fn bind_host_and_port_accept_names_and_ipv6() {
    let mut o = Options::new(Naming::Snake);
    o.set("bind", text("localhost:4000")).unwrap();
    let bind = o.build().unwrap().bind;
    assert!(bind.ip().is_loopback(), "{bind}");
    assert_eq!(bind.port(), 4000);
    o.set("bind", text("[::1]:0")).unwrap();
    assert_eq!(o.build().unwrap().bind, "[::1]:0".parse().unwrap());
    o.set("host", text("127.0.0.1")).unwrap();
    o.set("port", int(5)).unwrap();
    assert_eq!(o.build().unwrap().bind, "127.0.0.1:5".parse().unwrap());
    assert!(err(o.set("bind", text("4000"))).contains("`host:port`"));
    o.set("host", text("no-such-host.invalid")).unwrap();
    let e = o.build().unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    assert!(e.message.contains("does not resolve"), "{}", e.message);
}

#[test]
fn mounts_and_patterns_are_checked_once_for_everyone() {
    let mut o = Options::new(Naming::Snake);
    for bad in ["socket", "/socket/", "/", "/a*"] {
        assert!(err(o.add_mount(bad, vec![])).contains("invalid socket mount path"));
    }
    o.add_mount("/socket", vec![]).unwrap();
    assert!(err(o.add_mount("/socket", vec![])).contains("added twice"));
    for bad in ["", "*:lobby", "room:*:x", "room:**", "*room"] {
        assert!(
            err(o.add_channel(bad, vec![])).contains("invalid channel pattern"),
            "{bad}"
        );
    }
    o.add_channel("room:*", vec![]).unwrap();
    o.add_channel("*", vec![]).unwrap();
    o.add_channel("lobby", vec!["x".into()]).unwrap();
    assert!(err(o.add_channel("room:*", vec![])).contains("added twice"));
    assert_eq!(
        o.add_intercept("nope:*", "e").unwrap_err().code,
        ErrorCode::NotFound
    );
    o.add_intercept("room:*", "e").unwrap();
    assert_eq!(
        o.build().unwrap().channels[0].intercepts,
        vec!["e".to_owned()]
    );
}

#[test]
fn static_files_take_triples_or_maps() {
    let mut o = Options::new(Naming::Camel);
    o.set(
        "staticFiles",
        OptionValue::List(vec![
            OptionValue::List(vec![text("/"), text("index.html"), text("text/html")]),
            OptionValue::Map(vec![
                ("route".into(), text("/a.js")),
                ("path".into(), text("a.js")),
                ("contentType".into(), text("text/javascript")),
            ]),
        ]),
    )
    .unwrap();
    let files = o.build().unwrap().static_files;
    assert_eq!(files[1].content_type, "text/javascript");
    assert!(
        err(o.set("staticFiles", OptionValue::List(vec![text("/")])))
            .contains("(route, path, contentType)")
    );
}

#[test]
fn json_values_convert_as_node_sends_them() {
    let json: serde_json::Value = serde_json::from_str(
        r#"{"a": 4000, "b": 4000.5, "c": null, "d": {"$unsupported": "function"}, "e": [1, "x"]}"#,
    )
    .unwrap();
    let Some(OptionValue::Map(map)) = OptionValue::from_json(json) else {
        panic!("a map")
    };
    assert_eq!(
        map,
        vec![
            ("a".to_owned(), int(4000)),
            ("b".to_owned(), OptionValue::Float(4000.5)),
            ("d".to_owned(), OptionValue::Unsupported("function".into())),
            ("e".to_owned(), OptionValue::List(vec![int(1), text("x")])),
        ]
    );
}

#[test]
fn broker_options_make_a_cluster_config_with_the_node_name() {
    let single = Options::new(Naming::Snake).build().unwrap();
    assert_eq!(single.cluster, None, "no broker: a single node");

    let mut o = Options::new(Naming::Camel);
    o.set("broker", text("nats://127.0.0.1:4222")).unwrap();
    o.set("node", text("b")).unwrap();
    o.set("brokerPrefix", text("chat:prod")).unwrap();
    o.set("brokerHeartbeatMs", int(100)).unwrap();
    o.set("brokerReconnectMaxMs", int(2000)).unwrap();
    o.set("brokerConnectTimeoutMs", int(300)).unwrap();
    let cluster = o.build().unwrap().cluster.expect("a cluster");
    assert_eq!(
        (
            cluster.url.as_str(),
            cluster.node.as_str(),
            cluster.prefix.as_str()
        ),
        ("nats://127.0.0.1:4222", "b", "chat:prod")
    );
    assert_eq!(cluster.heartbeat, Duration::from_millis(100));
    assert_eq!(cluster.reconnect_max, Duration::from_millis(2000));
    assert_eq!(cluster.connect_timeout, Duration::from_millis(300));

    let mut o = Options::new(Naming::Camel);
    o.set("broker", text("redis://127.0.0.1:6379")).unwrap();
    o.set("presenceBroadcastPeriodMs", int(200)).unwrap();
    o.set("presenceDownPeriodMs", int(3000)).unwrap();
    o.set("presencePermdownPeriodMs", int(60_000)).unwrap();
    let cluster = o.build().unwrap().cluster.expect("a cluster");
    assert_eq!(
        (
            cluster.presence_broadcast_period,
            cluster.presence_down_period,
            cluster.presence_permdown_period
        ),
        (
            Duration::from_millis(200),
            Duration::from_secs(3),
            Duration::from_secs(60)
        )
    );
    // Periods that cannot work together are refused when the config is built.
    o.set("presenceDownPeriodMs", int(300)).unwrap();
    let e = o.build().unwrap_err().to_string();
    assert!(
        e.contains("down period (300 ms) must be at least twice"),
        "{e}"
    );
    o.set("presenceDownPeriodMs", int(3000)).unwrap();
    o.set("presencePermdownPeriodMs", int(3000)).unwrap();
    let e = o.build().unwrap_err().to_string();
    assert!(
        e.contains("permdown period (3000 ms) must be longer"),
        "{e}"
    );

    let mut o = Options::new(Naming::Snake);
    assert!(err(o.set("broker", text("http://x"))).starts_with("`broker` must be a broker URL"));
    assert!(
        err(o.set("broker_prefix", text("a b"))).starts_with("`broker_prefix` must be letters")
    );
    assert!(err(o.set("broker_prefix", text(".x"))).contains("no leading, trailing or double dot"));
    o.set("broker", text("")).unwrap();
    assert_eq!(
        o.build().unwrap().cluster,
        None,
        "an empty broker is a single node"
    );
}

#[test]
fn history_is_kept_on_a_redis_broker_and_refused_on_nats() {
    for (broker, refused) in [
        ("redis://127.0.0.1:6379", false),
        ("nats://127.0.0.1:4222", true),
    ] {
        let mut o = Options::new(Naming::Snake);
        o.set("broker", text(broker)).unwrap();
        o.add_history("room:*", 100, 60_000).unwrap();
        match o.build() {
            Ok(config) => {
                assert!(!refused, "{broker}");
                assert!(config.history.rule("room:a").is_some());
            }
            Err(e) => {
                assert!(refused, "{broker}: {e:?}");
                assert_eq!(e.message, crate::cluster::HISTORY_ON_NATS);
            }
        }
    }
}
