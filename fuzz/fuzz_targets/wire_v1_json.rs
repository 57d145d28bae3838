// Fuzzes the V1 JSON object decoder (`{"topic","event","payload","ref","join_ref"}`), which parses untrusted text frames of vsn 1.0 clients; a decoded message must re-encode and decode back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::wire::{Frame, Message, Serializer};

fuzz_target!(|data: &[u8]| {
    let s = Serializer::V1Json;
    let Ok(msg) = s.decode_text(data) else {
        return;
    };
    for r in [&msg.join_ref, &msg.r#ref].into_iter().flatten() {
        let _ = r.to_text();
    }
    // V1 has no binary form, whatever the bytes.
    assert!(s.decode_binary(data).is_err());
    // V1 accepts any JSON payload and never writes join_ref.
    let frame = s
        .encode_message(
            msg.join_ref.as_ref(),
            msg.r#ref.as_ref(),
            &msg.topic,
            &msg.event,
            &msg.payload,
        )
        .expect("a decoded V1 message encodes");
    let Frame::Text(text) = frame else {
        panic!("a V1 frame must be text");
    };
    assert!(
        std::str::from_utf8(&text).is_ok(),
        "text frame is not UTF-8"
    );
    let back = s.decode_text(&text).expect("a re-encoded frame decodes");
    let expected = Message {
        join_ref: None,
        ..msg
    };
    assert_eq!(back, expected, "round trip changed the message");
});
