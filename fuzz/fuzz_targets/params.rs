// Fuzzes the Plug-style query decoder (`user[id]=7`, `a[]=x`) that turns every connect URL's query into params; it must stay within its pair and depth bounds, keep only string leaves, and feed `vsn` negotiation without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchboard::endpoint::params::{MAX_DEPTH, MAX_PARAMS, decode_query};
use switchboard::wire::Serializer;

/// `depth` is the bracket level of `v` (1 for a top-level value).
fn check(v: &Value, depth: usize) {
    match v {
        Value::String(_) => {}
        Value::Object(map) => {
            assert!(depth <= MAX_DEPTH, "nesting deeper than MAX_DEPTH");
            map.values().for_each(|c| check(c, depth + 1));
        }
        Value::Array(list) => {
            assert!(depth <= MAX_DEPTH, "nesting deeper than MAX_DEPTH");
            list.iter().for_each(|c| check(c, depth + 1));
        }
        other => panic!("a param leaf is not a string: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // A request target's query is text (http::Uri rejects anything else).
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let params = decode_query(query);
    assert!(params.len() <= MAX_PARAMS);
    params.values().for_each(|v| check(v, 1));
    // What the handshake does next with the decoded params.
    let vsn = params.get("vsn").and_then(Value::as_str);
    let _ = Serializer::negotiate(vsn);
    serde_json::to_vec(&params).expect("params serialize");
});
