// Fuzzes the V2 binary push decoder (kind 0, one-byte lengths, PROTOCOL.md 2.3), which slices untrusted binary frames by client-given lengths; the decoded fields must rebuild the exact input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::wire::{Payload, Ref, Serializer};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Serializer::V2Json.decode_binary(data) else {
        return;
    };
    assert!(Serializer::V1Json.decode_binary(data).is_err());
    let Payload::Binary(payload) = &msg.payload else {
        panic!("a binary frame decoded to a JSON payload");
    };
    // The client push format again: kind 0, four lengths, the fields, the payload.
    let text = |r: &Option<Ref>| {
        r.as_ref()
            .map(|r| r.to_text().into_owned())
            .unwrap_or_default()
    };
    let (join_ref, r#ref) = (text(&msg.join_ref), text(&msg.r#ref));
    let fields = [
        join_ref.as_bytes(),
        r#ref.as_bytes(),
        msg.topic.as_bytes(),
        msg.event.as_bytes(),
    ];
    let mut rebuilt = vec![0u8];
    for f in fields {
        rebuilt.push(u8::try_from(f.len()).expect("a decoded field fits its length byte"));
    }
    for f in fields {
        rebuilt.extend_from_slice(f);
    }
    rebuilt.extend_from_slice(payload);
    assert_eq!(rebuilt, data, "decoded fields do not rebuild the frame");
});
