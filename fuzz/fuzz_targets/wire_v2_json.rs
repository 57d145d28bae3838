// Fuzzes the V2 JSON text decoder (`[join_ref, ref, topic, event, payload]`), the first code to touch every client text frame; a decoded message must re-encode and decode back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::wire::{Frame, Serializer};

fuzz_target!(|data: &[u8]| {
    let s = Serializer::V2Json;
    let Ok(msg) = s.decode_text(data) else {
        return;
    };
    for r in [&msg.join_ref, &msg.r#ref].into_iter().flatten() {
        let _ = r.to_text();
    }
    match s.encode_message(
        msg.join_ref.as_ref(),
        msg.r#ref.as_ref(),
        &msg.topic,
        &msg.event,
        &msg.payload,
    ) {
        Ok(Frame::Text(text)) => {
            assert!(
                std::str::from_utf8(&text).is_ok(),
                "text frame is not UTF-8"
            );
            let back = s.decode_text(&text).expect("a re-encoded frame decodes");
            assert_eq!(back, msg, "round trip changed the message");
        }
        Ok(Frame::Binary(_)) => panic!("a JSON payload was encoded as a binary frame"),
        Err(e) => assert!(
            !msg.payload.is_json_object(),
            "an object payload failed to encode: {e}"
        ),
    }
});
