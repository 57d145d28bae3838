//! Helpers shared by the integration tests (each test file includes this with `mod common;`).

// Each test crate includes the whole module and uses a part of it.
#![allow(dead_code)]

pub mod brokers;
pub mod http;
pub mod rooms;

/// Splits a raw HTTP/1.1 response into (status, lowercased head, body).
pub fn parse_response(raw: &[u8]) -> (u16, String, Vec<u8>) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head, raw[split + 4..].to_vec())
}
