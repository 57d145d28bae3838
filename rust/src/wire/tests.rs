//! Codec tests: the byte examples of PROTOCOL.md 2.1-2.3 and 3.1, every error variant,
//! property round trips and a corpus of hostile inputs.

use super::*;
use proptest::prelude::*;

const V1: Serializer = Serializer::V1Json;
const V2: Serializer = Serializer::V2Json;

fn r(s: &str) -> Ref {
    Ref::from_text(s)
}

fn json(s: &str) -> Payload {
    Payload::Json(Bytes::copy_from_slice(s.as_bytes()))
}

fn bin(b: &[u8]) -> Payload {
    Payload::Binary(Bytes::copy_from_slice(b))
}

fn text(frame: Frame) -> String {
    match frame {
        Frame::Text(b) => String::from_utf8(b.to_vec()).expect("text frames are UTF-8"),
        Frame::Binary(b) => panic!("expected a text frame, got binary {b:?}"),
    }
}

fn binary(frame: Frame) -> Vec<u8> {
    match frame {
        Frame::Binary(b) => b.to_vec(),
        Frame::Text(b) => panic!("expected a binary frame, got text {b:?}"),
    }
}

fn as_value(s: &str) -> serde_json::Value {
    serde_json::from_str(s).expect("valid JSON")
}

// ---- Ref / Payload / negotiate -------------------------------------------------------

#[test]
fn ref_from_text_is_a_json_string_and_to_text_unescapes() {
    assert_eq!(r("6").as_json(), b"\"6\"");
    assert_eq!(r("6").to_text(), "6");
    let odd = "a\"b\\c\nd\u{1}é";
    assert_eq!(
        r(odd).as_json(),
        serde_json::to_string(odd).expect("encode").as_bytes()
    );
    assert_eq!(r(odd).to_text(), odd);
    // Non-string refs come back as their JSON text.
    assert_eq!(
        Ref::from_json_unchecked(Bytes::from_static(b"7")).to_text(),
        "7"
    );
    assert_eq!(
        Ref::from_json_unchecked(Bytes::from_static(b"{\"a\":1}")).to_text(),
        "{\"a\":1}"
    );
    // An escaped string that is not Rust text falls back to the raw JSON, without panicking.
    assert_eq!(
        Ref::from_json_unchecked(Bytes::from_static(b"\"\\ud800\"")).to_text(),
        "\"\\ud800\""
    );
    assert_eq!(
        Ref::from_json_unchecked(Bytes::from_static(b"\"\\u0041\"")).to_text(),
        "A"
    );
}

#[test]
fn is_json_object_looks_at_the_first_non_whitespace_byte() {
    assert!(json("{}").is_json_object());
    assert!(json(" \n\t{\"a\":1}").is_json_object());
    assert!(!json("[]").is_json_object());
    assert!(!json("\"s\"").is_json_object());
    assert!(!json("null").is_json_object());
    assert!(!json("").is_json_object());
    assert!(!bin(b"{}").is_json_object());
}

#[test]
fn negotiate_follows_phoenix_version_requirements() {
    assert_eq!(Serializer::negotiate(None), Some(V1));
    for v in ["1.0.0", "1.0.7", "1.0.1-rc.1", "1.0.0+build.5"] {
        assert_eq!(Serializer::negotiate(Some(v)), Some(V1), "{v}");
    }
    for v in ["2.0.0", "2.0.7", "2.0.12", "2.0.1-rc.1", "2.0.0+sha.abc"] {
        assert_eq!(Serializer::negotiate(Some(v)), Some(V2), "{v}");
    }
    for v in [
        "1.1.0",
        "2.1.0",
        "3.0.0",
        "0.9.0",
        "abc",
        "",
        "2",
        "2.0",
        "2.0.0.0",
        " 2.0.0",
        "2.0.0 ",
        "v2.0.0",
        "2.0.0-rc",
        "1.0.0-beta",
        "02.0.0",
        "2.00.0",
        "2.0.0-",
        "2.0.0+",
        "2.0.0-a..b",
        "2.0.x",
        "-2.0.0",
        "99999999999999999999.0.0",
    ] {
        assert_eq!(Serializer::negotiate(Some(v)), None, "{v:?}");
    }
}

// ---- decode_text ----------------------------------------------------------------------

#[test]
fn decodes_the_v2_examples_of_protocol_2_2() {
    let m = V2
        .decode_text(br#"["6","6","room:lobby","phx_join",{"a":1}]"#)
        .expect("join");
    assert_eq!(m.join_ref, Some(r("6")));
    assert_eq!(m.r#ref, Some(r("6")));
    assert_eq!(m.topic, "room:lobby");
    assert_eq!(m.event, "phx_join");
    assert_eq!(m.payload, json(r#"{"a":1}"#));

    let m = V2
        .decode_text(br#"["6","23","room:lobby","hello",{"x":1}]"#)
        .expect("push");
    assert_eq!((m.join_ref, m.r#ref), (Some(r("6")), Some(r("23"))));
    assert_eq!(m.event, "hello");

    let m = V2
        .decode_text(br#"[null,"15","phoenix","heartbeat",{}]"#)
        .expect("heartbeat");
    assert_eq!(m.join_ref, None);
    assert_eq!(m.r#ref, Some(r("15")));
    assert_eq!(m.topic, "phoenix");
    assert_eq!(m.event, "heartbeat");
    assert_eq!(m.payload, Payload::empty_object());
}

#[test]
fn v2_decode_keeps_payload_and_refs_as_raw_json() {
    let m = V2
        .decode_text(b" [ 7 , {\"r\":1} ,\"t\\u0041\",\"e\\n\", {\"b\": [1, 2.50e3, \"\\u00e9\"]} , 9, \"x\"] ")
        .expect("valid");
    assert_eq!(m.join_ref.as_ref().map(Ref::as_json), Some(&b"7"[..]));
    assert_eq!(m.r#ref.as_ref().map(Ref::as_json), Some(&b"{\"r\":1}"[..]));
    assert_eq!(m.topic, "tA");
    assert_eq!(m.event, "e\n");
    // Byte for byte, whitespace and number spelling included.
    assert_eq!(m.payload, json("{\"b\": [1, 2.50e3, \"\\u00e9\"]}"));
    // Any JSON value is accepted as a client payload.
    let m = V2
        .decode_text(br#"[null,null,"t","e","str"]"#)
        .expect("string payload");
    assert_eq!(m.payload, json("\"str\""));
    assert_eq!(m.r#ref, None);
}

#[test]
fn v2_decode_rejects_bad_shapes() {
    assert!(matches!(
        V2.decode_text(b"not json"),
        Err(WireError::InvalidJson(_))
    ));
    assert!(matches!(
        V2.decode_text(b"[\"1\",\"1\",\"t\",\"e\",{}"),
        Err(WireError::InvalidJson(_))
    ));
    assert!(matches!(
        V2.decode_text(b"[null,null,\"t\",\"e\",{}] x"),
        Err(WireError::InvalidJson(_))
    ));
    assert!(matches!(
        V2.decode_text(b""),
        Err(WireError::InvalidJson(_))
    ));
    assert_eq!(
        V2.decode_text(br#"{"topic":"t"}"#),
        Err(WireError::NotAnArray)
    );
    assert_eq!(V2.decode_text(br#""str""#), Err(WireError::NotAnArray));
    assert_eq!(
        V2.decode_text(br#"[null,null,"t","e"]"#),
        Err(WireError::NotAnArray)
    );
    assert_eq!(V2.decode_text(b"[]"), Err(WireError::NotAnArray));
    assert_eq!(
        V2.decode_text(br#"[null,null,1,"e",{}]"#),
        Err(WireError::NotAString("topic"))
    );
    assert_eq!(
        V2.decode_text(br#"[null,null,"t",null,{}]"#),
        Err(WireError::NotAString("event"))
    );
    assert_eq!(
        V2.decode_text(br#"[null,null,"t",["e"],{}]"#),
        Err(WireError::NotAString("event"))
    );
}

#[test]
fn decodes_v1_objects() {
    let m = V1
        .decode_text(
            br#"{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#,
        )
        .expect("join");
    assert_eq!((m.join_ref, m.r#ref), (Some(r("1")), Some(r("1"))));
    assert_eq!(
        (m.topic.as_str(), m.event.as_str()),
        ("room:lobby", "phx_join")
    );
    assert_eq!(m.payload, Payload::empty_object());

    // join_ref is optional, ref may be null, unknown keys are ignored, key order is free.
    let m = V1
        .decode_text(br#"{"ref":null,"extra":[1,{"x":2}],"payload":"s","event":"e","topic":"t"}"#)
        .expect("minimal");
    assert_eq!((m.join_ref, m.r#ref), (None, None));
    assert_eq!(m.payload, json("\"s\""));
    let m = V1
        .decode_text(br#"{"join_ref":null,"ref":"2","payload":{},"event":"e","topic":"t"}"#)
        .expect("null join_ref");
    assert_eq!(m.join_ref, None);
    // Escaped keys still name the field.
    let m = V1
        .decode_text(br#"{"\u0074opic":"t","event":"e","payload":{},"ref":null}"#)
        .expect("escaped key");
    assert_eq!(m.topic, "t");
}

#[test]
fn v1_decode_rejects_bad_shapes() {
    assert_eq!(
        V1.decode_text(br#"[null,null,"t","e",{}]"#),
        Err(WireError::NotAnObject)
    );
    assert_eq!(V1.decode_text(b"42"), Err(WireError::NotAnObject));
    assert!(matches!(
        V1.decode_text(br#"{"topic":"t""#),
        Err(WireError::InvalidJson(_))
    ));
    let full = [
        ("topic", "\"t\""),
        ("event", "\"e\""),
        ("payload", "{}"),
        ("ref", "null"),
    ];
    for (missing, _) in full {
        let body: Vec<String> = full
            .iter()
            .filter(|(k, _)| *k != missing)
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        let frame = format!("{{{}}}", body.join(","));
        assert_eq!(
            V1.decode_text(frame.as_bytes()),
            Err(WireError::MissingKey(missing)),
            "{frame}"
        );
    }
    assert_eq!(
        V1.decode_text(br#"{"topic":1,"event":"e","payload":{},"ref":null}"#),
        Err(WireError::NotAString("topic"))
    );
    assert_eq!(
        V1.decode_text(br#"{"topic":"t","event":false,"payload":{},"ref":null}"#),
        Err(WireError::NotAString("event"))
    );
}

// ---- decode_binary ---------------------------------------------------------------------

#[test]
fn decodes_the_binary_examples_of_protocol_2_3() {
    // Observed from the JS client.
    let frame = [
        0x00, 0x01, 0x01, 0x0a, 0x03, 0x36, 0x37, 0x72, 0x6f, 0x6f, 0x6d, 0x3a, 0x6c, 0x6f, 0x62,
        0x62, 0x79, 0x62, 0x69, 0x6e, 0x01, 0x02, 0x03,
    ];
    let m = V2.decode_binary(&frame).expect("observed push");
    assert_eq!(m.join_ref, Some(r("6")));
    assert_eq!(m.r#ref, Some(r("7")));
    assert_eq!(m.topic, "room:lobby");
    assert_eq!(m.event, "bin");
    assert_eq!(m.payload, bin(&[1, 2, 3]));

    // From Phoenix's serializer test.
    let frame = b"\x00\x02\x03\x05\x0512123topicevent\x65\x66\x67";
    let m = V2.decode_binary(frame).expect("phoenix test push");
    assert_eq!((m.join_ref, m.r#ref), (Some(r("12")), Some(r("123"))));
    assert_eq!((m.topic.as_str(), m.event.as_str()), ("topic", "event"));
    assert_eq!(m.payload, bin(b"efg"));
}

#[test]
fn binary_decode_edge_cases() {
    // Empty join_ref is null; the payload may be empty.
    let m = V2
        .decode_binary(b"\x00\x00\x01\x01\x017te")
        .expect("null join_ref");
    assert_eq!(m.join_ref, None);
    assert_eq!(m.r#ref, Some(r("7")));
    assert_eq!(m.payload, bin(b""));
    // Lengths that exactly fill the frame are fine; one more byte overruns.
    assert!(V2.decode_binary(b"\x00\x00\x00\x00\x00").is_ok());
    assert_eq!(
        V2.decode_binary(b"\x00\x00\x00\x00\x01"),
        Err(WireError::BinaryTruncated)
    );
    for cut in 0..5 {
        assert_eq!(
            V2.decode_binary(&b"\x00\x01\x01\x01\x01"[..cut]),
            Err(WireError::BinaryTruncated),
            "header cut at {cut}"
        );
    }
    assert_eq!(
        V2.decode_binary(b"\x00\xff\x00\x00\x00abc"),
        Err(WireError::BinaryTruncated)
    );
    for kind in [1u8, 2, 3, 255] {
        assert_eq!(
            V2.decode_binary(&[kind, 0, 0, 0, 0]),
            Err(WireError::BinaryKind(kind))
        );
    }
    assert_eq!(
        V2.decode_binary(b"\x00\x01\x00\x00\x00\xff"),
        Err(WireError::InvalidUtf8("join_ref"))
    );
    assert_eq!(
        V2.decode_binary(b"\x00\x00\x01\x00\x00\xc3"),
        Err(WireError::InvalidUtf8("ref"))
    );
    assert_eq!(
        V2.decode_binary(b"\x00\x00\x00\x01\x00\x80"),
        Err(WireError::InvalidUtf8("topic"))
    );
    assert_eq!(
        V2.decode_binary(b"\x00\x00\x00\x00\x02\xc3("),
        Err(WireError::InvalidUtf8("event"))
    );
    // The payload is opaque bytes: invalid UTF-8 is fine there.
    assert_eq!(
        V2.decode_binary(b"\x00\x00\x00\x00\x00\xff\xfe")
            .map(|m| m.payload),
        Ok(bin(b"\xff\xfe"))
    );
    assert_eq!(
        V1.decode_binary(b"\x00\x00\x00\x00\x00"),
        Err(WireError::BinaryUnsupported)
    );
}

// ---- encoding: the frame catalogue (PROTOCOL.md 3.1) -----------------------------------

#[test]
fn encodes_the_v2_examples_of_protocol_2_2() {
    let reply = V2
        .encode_reply(
            Some(&r("6")),
            Some(&r("23")),
            "room:lobby",
            "ok",
            &json(r#"{"echo":{"x":1}}"#),
        )
        .expect("reply");
    assert_eq!(
        text(reply),
        r#"["6","23","room:lobby","phx_reply",{"status":"ok","response":{"echo":{"x":1}}}]"#
    );
    let push = V2
        .encode_message(
            Some(&r("6")),
            None,
            "room:lobby",
            "joined",
            &json(r#"{"status":"connected"}"#),
        )
        .expect("push");
    assert_eq!(
        text(push),
        r#"["6",null,"room:lobby","joined",{"status":"connected"}]"#
    );
    let broadcast = V2
        .encode_message(
            None,
            None,
            "room:lobby",
            "user_entered",
            &json(r#"{"user":null}"#),
        )
        .expect("broadcast");
    assert_eq!(
        text(broadcast),
        r#"[null,null,"room:lobby","user_entered",{"user":null}]"#
    );
}

#[test]
fn encodes_the_catalogue_frames() {
    let ok = |jr: Option<&Ref>, rf: &Ref, topic: &str, status: &str, resp: &str| {
        text(
            V2.encode_reply(jr, Some(rf), topic, status, &json(resp))
                .expect("reply"),
        )
    };
    // F1 heartbeat reply: join_ref null.
    assert_eq!(
        ok(None, &r("15"), "phoenix", "ok", "{}"),
        r#"[null,"15","phoenix","phx_reply",{"status":"ok","response":{}}]"#
    );
    // F3 join refused.
    assert_eq!(
        ok(
            Some(&r("6")),
            &r("6"),
            "room:lobby",
            "error",
            r#"{"reason":"unauthorized"}"#
        ),
        r#"["6","6","room:lobby","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]"#
    );
    // F6/F7 unmatched topic: join_ref null.
    assert_eq!(
        ok(
            None,
            &r("3"),
            "nope:1",
            "error",
            r#"{"reason":"unmatched topic"}"#
        ),
        r#"[null,"3","nope:1","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]"#
    );
    // F11: a reply's response may be any JSON value.
    assert_eq!(
        ok(Some(&r("6")), &r("9"), "t", "ok", "[1,\"two\"]"),
        r#"["6","9","t","phx_reply",{"status":"ok","response":[1,"two"]}]"#
    );
    // F14 / F15: ref = join_ref.
    let close = V2
        .encode_message(
            Some(&r("6")),
            Some(&r("6")),
            "room:lobby",
            "phx_close",
            &Payload::empty_object(),
        )
        .expect("close");
    assert_eq!(text(close), r#"["6","6","room:lobby","phx_close",{}]"#);
    let error = V2
        .encode_message(
            Some(&r("6")),
            Some(&r("6")),
            "room:lobby",
            "phx_error",
            &json(r#"{"reason":"channel_crash"}"#),
        )
        .expect("error");
    assert_eq!(
        text(error),
        r#"["6","6","room:lobby","phx_error",{"reason":"channel_crash"}]"#
    );
    // Non-string refs are echoed verbatim.
    let raw = Ref::from_json_unchecked(Bytes::from_static(b"42"));
    assert_eq!(
        ok(Some(&raw), &raw, "t", "ok", "{}"),
        r#"[42,42,"t","phx_reply",{"status":"ok","response":{}}]"#
    );
}

#[test]
fn encodes_v1_objects_without_join_ref() {
    let reply = V1
        .encode_reply(
            Some(&r("1")),
            Some(&r("1")),
            "room:lobby",
            "ok",
            &Payload::empty_object(),
        )
        .expect("reply");
    let reply = text(reply);
    assert_eq!(
        reply,
        r#"{"event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1","topic":"room:lobby"}"#
    );
    // Same document as Phoenix's V1 example (which lists reply keys in the other order).
    assert_eq!(
        as_value(&reply),
        as_value(
            r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"room:lobby"}"#
        )
    );
    let push = V1
        .encode_message(
            Some(&r("1")),
            None,
            "room:lobby",
            "new_msg",
            &json(r#"{"body":"hi"}"#),
        )
        .expect("push");
    assert_eq!(
        text(push),
        r#"{"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:lobby"}"#
    );
    // V1 does not require object payloads.
    let push = V1
        .encode_message(None, None, "t", "e", &json("\"s\""))
        .expect("string payload");
    assert_eq!(
        text(push),
        r#"{"event":"e","payload":"s","ref":null,"topic":"t"}"#
    );
}

#[test]
fn escapes_topic_event_and_status() {
    let topic = "room:\"quoted\"\\\n\u{0}\u{1f}é✓";
    let frame = V2
        .encode_reply(None, Some(&r("1")), topic, "o\"k", &Payload::empty_object())
        .expect("reply");
    let frame = text(frame);
    let v = as_value(&frame);
    assert_eq!(v[2], topic);
    assert_eq!(v[4]["status"], "o\"k");
    // Same escaping as serde_json.
    assert!(frame.contains(&serde_json::to_string(topic).expect("encode")));
    let v1 = text(
        V1.encode_message(None, None, topic, "e\u{7}", &Payload::empty_object())
            .expect("v1"),
    );
    let v = as_value(&v1);
    assert_eq!(
        (v["topic"].as_str(), v["event"].as_str()),
        (Some(topic), Some("e\u{7}"))
    );
}

#[test]
fn encodes_binary_frames_like_phoenix() {
    // Phoenix serializer test: reply `01 02 03 05 02 "12" "123" "topic" "ok" 65 66 67`.
    let reply = V2
        .encode_reply(Some(&r("12")), Some(&r("123")), "topic", "ok", &bin(b"efg"))
        .expect("reply");
    assert_eq!(binary(reply), b"\x01\x02\x03\x05\x0212123topicokefg");
    // Broadcast `02 05 05 "topic" "event" 65 66 67`.
    let broadcast = V2
        .encode_message(None, None, "topic", "event", &bin(b"efg"))
        .expect("broadcast");
    assert_eq!(binary(broadcast), b"\x02\x05\x05topicevent\x65\x66\x67");
    // Push: 4-byte header, no ref even when one is given.
    let push = V2
        .encode_message(
            Some(&r("12")),
            Some(&r("99")),
            "topic",
            "event",
            &bin(b"efg"),
        )
        .expect("push");
    assert_eq!(binary(push), b"\x00\x02\x05\x0512topicevent\x65\x66\x67");
    // A push with a nil join_ref but a ref is still a push, join_ref length 0.
    let push = V2
        .encode_message(None, Some(&r("5")), "t", "e", &bin(b""))
        .expect("push");
    assert_eq!(binary(push), b"\x00\x00\x01\x01te");
    // Nil refs in a reply are length 0; non-string refs are written as their JSON text.
    let raw = Ref::from_json_unchecked(Bytes::from_static(b"7"));
    let reply = V2
        .encode_reply(None, Some(&raw), "t", "ok", &bin(b"\x00"))
        .expect("reply");
    assert_eq!(binary(reply), b"\x01\x00\x01\x01\x027tok\x00");
}

#[test]
fn encode_errors() {
    let long = "x".repeat(256);
    let max = "x".repeat(255);
    assert!(V2.encode_message(None, None, &max, &max, &bin(b"")).is_ok());
    assert_eq!(
        V2.encode_message(None, None, &long, "e", &bin(b"")),
        Err(WireError::FieldTooLong("topic"))
    );
    assert_eq!(
        V2.encode_message(None, None, "t", &long, &bin(b"")),
        Err(WireError::FieldTooLong("event"))
    );
    assert_eq!(
        V2.encode_message(Some(&r(&long)), None, "t", "e", &bin(b"")),
        Err(WireError::FieldTooLong("join_ref"))
    );
    assert_eq!(
        V2.encode_reply(None, Some(&r(&long)), "t", "ok", &bin(b"")),
        Err(WireError::FieldTooLong("ref"))
    );
    assert_eq!(
        V2.encode_reply(None, None, "t", &long, &bin(b"")),
        Err(WireError::FieldTooLong("status"))
    );
    // Long fields are fine in text frames.
    assert!(
        V2.encode_message(None, None, &long, &long, &Payload::empty_object())
            .is_ok()
    );
    for p in ["[]", "\"s\"", "1", "null", ""] {
        assert_eq!(
            V2.encode_message(None, None, "t", "e", &json(p)),
            Err(WireError::PayloadNotObject),
            "{p:?}"
        );
        assert_eq!(
            V2.encode_message(Some(&r("1")), None, "t", "e", &json(p)),
            Err(WireError::PayloadNotObject)
        );
    }
    assert_eq!(
        V1.encode_message(None, None, "t", "e", &bin(b"x")),
        Err(WireError::BinaryUnsupported)
    );
    assert_eq!(
        V1.encode_reply(None, None, "t", "ok", &bin(b"x")),
        Err(WireError::BinaryUnsupported)
    );
    // Text frames stay UTF-8 even when the host passes non-UTF-8 "JSON".
    assert_eq!(
        V2.encode_message(None, None, "t", "e", &json_bytes(b"{\"a\":\"\xff\"}")),
        Err(WireError::InvalidUtf8("payload"))
    );
    assert_eq!(
        V1.encode_reply(None, None, "t", "ok", &json_bytes(b"\xc3")),
        Err(WireError::InvalidUtf8("payload"))
    );
    let bad = Ref::from_json_unchecked(Bytes::from_static(b"\"\xff\""));
    assert_eq!(
        V2.encode_reply(Some(&bad), None, "t", "ok", &Payload::empty_object()),
        Err(WireError::InvalidUtf8("join_ref"))
    );
}

fn json_bytes(b: &'static [u8]) -> Payload {
    Payload::Json(Bytes::from_static(b))
}

// ---- property tests ----------------------------------------------------------------------

/// What the JS client's `binaryEncode` produces (serializer.js): kind 0, four length bytes,
/// join_ref, ref, topic, event, payload.
fn client_binary_encode(
    join_ref: &str,
    r#ref: &str,
    topic: &str,
    event: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = vec![0u8];
    for f in [join_ref, r#ref, topic, event] {
        out.push(u8::try_from(f.len()).expect("test strings are short"));
    }
    for f in [join_ref, r#ref, topic, event] {
        out.extend_from_slice(f.as_bytes());
    }
    out.extend_from_slice(payload);
    out
}

fn any_ref() -> impl Strategy<Value = Option<Ref>> {
    prop_oneof![
        Just(None),
        any::<String>().prop_map(|s| Some(Ref::from_text(&s))),
        any::<i64>().prop_map(|n| Some(Ref::from_json_unchecked(Bytes::from(n.to_string())))),
    ]
}

/// JSON objects built from arbitrary keys and values, serialized with odd spacing to check
/// the payload bytes survive verbatim.
fn any_object() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    (
        prop::collection::btree_map(any::<String>(), value, 0..6),
        any::<bool>(),
    )
        .prop_map(|(m, pretty)| {
            let v = serde_json::Value::Object(m.into_iter().collect());
            if pretty {
                serde_json::to_string_pretty(&v).expect("encode")
            } else {
                serde_json::to_string(&v).expect("encode")
            }
        })
}

proptest! {
    #[test]
    fn v2_message_round_trips(jr in any_ref(), rf in any_ref(), topic in any::<String>(),
                              event in any::<String>(), payload in any_object()) {
        let frame = V2.encode_message(jr.as_ref(), rf.as_ref(), &topic, &event, &json(&payload))
            .expect("encodable");
        let Frame::Text(bytes) = frame else { panic!("JSON payload gives a text frame") };
        prop_assert!(std::str::from_utf8(&bytes).is_ok());
        let m = V2.decode_text(&bytes).expect("decodable");
        prop_assert_eq!(m, Message { join_ref: jr, r#ref: rf, topic, event, payload: json(&payload) });
    }

    #[test]
    fn v1_message_round_trips_without_join_ref(jr in any_ref(), rf in any_ref(), topic in any::<String>(),
                                               event in any::<String>(), payload in any_object()) {
        let frame = V1.encode_message(jr.as_ref(), rf.as_ref(), &topic, &event, &json(&payload))
            .expect("encodable");
        let Frame::Text(bytes) = frame else { panic!("V1 gives text frames") };
        let m = V1.decode_text(&bytes).expect("decodable");
        prop_assert_eq!(m, Message { join_ref: None, r#ref: rf, topic, event, payload: json(&payload) });
    }

    #[test]
    fn v2_reply_round_trips(jr in any_ref(), rf in any_ref(), topic in any::<String>(),
                            status in any::<String>(), response in any_object()) {
        let frame = V2.encode_reply(jr.as_ref(), rf.as_ref(), &topic, &status, &json(&response))
            .expect("encodable");
        let Frame::Text(bytes) = frame else { panic!("JSON response gives a text frame") };
        let m = V2.decode_text(&bytes).expect("decodable");
        prop_assert_eq!(m.join_ref, jr);
        prop_assert_eq!(m.r#ref, rf);
        prop_assert_eq!(m.topic, topic);
        prop_assert_eq!(m.event, "phx_reply");
        let Payload::Json(body) = m.payload else { panic!("text frames carry JSON") };
        let body: serde_json::Value = serde_json::from_slice(&body).expect("reply body is JSON");
        let expected = serde_json::json!({"status": status, "response": as_value(&response)});
        prop_assert_eq!(body, expected);
    }

    #[test]
    fn client_binary_push_round_trips(jr in "\\PC{1,40}", rf in "\\PC{1,40}", topic in "\\PC{0,60}",
                                      event in "\\PC{0,60}", payload in prop::collection::vec(any::<u8>(), 0..300)) {
        let frame = client_binary_encode(&jr, &rf, &topic, &event, &payload);
        let m = V2.decode_binary(&frame).expect("decodable");
        prop_assert_eq!(m, Message {
            join_ref: Some(Ref::from_text(&jr)),
            r#ref: Some(Ref::from_text(&rf)),
            topic,
            event,
            payload: bin(&payload),
        });
    }

    #[test]
    fn server_binary_frames_have_the_documented_layout(jr in "\\PC{0,40}", rf in "\\PC{0,40}",
                                                       topic in "\\PC{0,60}", event in "\\PC{0,60}",
                                                       payload in prop::collection::vec(any::<u8>(), 0..100)) {
        let opt = |s: &str| (!s.is_empty()).then(|| Ref::from_text(s));
        let reply = binary(V2.encode_reply(opt(&jr).as_ref(), opt(&rf).as_ref(), &topic, &event, &bin(&payload))
            .expect("short fields"));
        let mut expected = vec![1, jr.len() as u8, rf.len() as u8, topic.len() as u8, event.len() as u8];
        for f in [&jr, &rf, &topic, &event] { expected.extend_from_slice(f.as_bytes()); }
        expected.extend_from_slice(&payload);
        prop_assert_eq!(reply, expected);
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
        for s in [V1, V2] {
            let _ = s.decode_text(&data);
            let _ = s.decode_binary(&data);
        }
    }

    #[test]
    fn decoders_never_panic_on_json_like_text(data in "[\\[\\]{}\",:0-9a-z\\\\ ]{0,120}") {
        for s in [V1, V2] {
            let _ = s.decode_text(data.as_bytes());
        }
    }
}

// ---- corpus of hostile inputs --------------------------------------------------------------

/// Replays every file of `corpus/` through both decoders of both serializers. Each file must
/// give a result (no panic, no stack overflow); files named `ok-*` must decode as V2 text.
#[test]
fn corpus_of_nasty_inputs_is_handled() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/wire/corpus");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("dir entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        for s in [V1, V2] {
            let _ = s.decode_text(&data);
            let _ = s.decode_binary(&data);
        }
        if name.starts_with("ok-") {
            assert!(V2.decode_text(&data).is_ok(), "{name} should decode");
        }
        if name.starts_with("bad-") {
            assert!(
                V2.decode_text(&data).is_err() && V2.decode_binary(&data).is_err(),
                "{name} should fail"
            );
        }
        seen += 1;
    }
    assert!(seen >= 10, "corpus has {seen} files");
}

#[test]
fn deep_nesting_is_an_error_or_opaque_payload_not_a_crash() {
    let depth = 100_000;
    let mut frame = String::from("[");
    frame.push_str(&"[".repeat(depth));
    frame.push_str(&"]".repeat(depth));
    frame.push(']');
    assert!(V2.decode_text(frame.as_bytes()).is_err());
    // Nested inside the payload: scanned iteratively, so it passes through untouched.
    let payload = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let frame = format!("[null,null,\"t\",\"e\",{payload}]");
    match V2.decode_text(frame.as_bytes()) {
        Ok(m) => assert_eq!(m.payload, json(&payload)),
        Err(e) => assert!(matches!(e, WireError::InvalidJson(_)), "{e:?}"),
    }
}

/// One trigger per error variant; the exhaustive `match` makes a new variant without a
/// trigger a compile error here.
#[test]
fn every_error_variant_has_a_trigger() {
    let long = "x".repeat(256);
    let triggers = [
        V2.decode_text(b"[}"),
        V2.decode_text(b"{}"),
        V1.decode_text(b"[]"),
        V1.decode_text(br#"{"topic":"t","event":"e","payload":{}}"#),
        V2.decode_text(br#"[null,null,"t",1,{}]"#),
        V1.decode_binary(b"\x00\x00\x00\x00\x00"),
        V2.decode_binary(b"\x01\x00\x00\x00\x00"),
        V2.decode_binary(b"\x00\x00\x00\x00"),
        V2.decode_binary(b"\x00\x00\x00\x01\x00\xff"),
        V2.encode_message(None, None, &long, "e", &bin(b""))
            .map(|_| dummy()),
        V2.encode_message(None, None, "t", "e", &json("[]"))
            .map(|_| dummy()),
    ];
    let mut seen = [false; 11];
    for result in triggers {
        let err = result.expect_err("each trigger fails");
        let i = match err {
            WireError::InvalidJson(_) => 0,
            WireError::NotAnArray => 1,
            WireError::NotAnObject => 2,
            WireError::MissingKey(_) => 3,
            WireError::NotAString(_) => 4,
            WireError::BinaryUnsupported => 5,
            WireError::BinaryKind(_) => 6,
            WireError::BinaryTruncated => 7,
            WireError::InvalidUtf8(_) => 8,
            WireError::FieldTooLong(_) => 9,
            WireError::PayloadNotObject => 10,
        };
        seen[i] = true;
    }
    assert_eq!(seen, [true; 11]);
}

fn dummy() -> Message {
    Message {
        join_ref: None,
        r#ref: None,
        topic: String::new(),
        event: String::new(),
        payload: Payload::empty_object(),
    }
}
