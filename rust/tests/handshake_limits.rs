//! The limits before a connection is a WebSocket, over real TCP: connections that send
//! nothing or send their headers too slowly are closed, oversized request heads are refused,
//! and connections still in handshake are capped while upgraded WebSockets are not.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::endpoint::{Endpoint, HandshakeConfig, RunningEndpoint, SocketMount};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TEST_LIMIT: Duration = Duration::from_secs(30);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, f)
        .await
        .expect("test finished in time")
}

async fn start(handshake: HandshakeConfig) -> RunningEndpoint {
    Endpoint::builder()
        .socket("/socket", SocketMount::new())
        .handshake(handshake)
        .start()
        .await
        .expect("endpoint starts")
}

/// Reads until EOF (or a reset) and returns what arrived; fails the test if the server keeps
/// the connection open longer than `limit`.
async fn read_until_closed(tcp: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .expect("the server closed the connection in time");
    got
}

/// True when the server has not closed `tcp` within `wait` (nothing to read, no EOF).
async fn still_open(tcp: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1];
    tokio::time::timeout(wait, tcp.read(&mut buf))
        .await
        .is_err()
}

fn upgrade_request(addr: SocketAddr) -> String {
    format!(
        "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// A WebSocket upgrade over raw TCP; returns the connection once the 101 head has arrived.
async fn upgraded(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(upgrade_request(addr).as_bytes())
        .await
        .expect("request written");
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp.read(&mut buf).await.expect("response");
        assert!(n > 0, "closed before the response");
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
    tcp
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    within(async {
        let endpoint = start(handshake(|h| {
            h.header_read_timeout = Duration::from_millis(2_000)
        }))
        .await;
        let mut silent = TcpStream::connect(endpoint.local_addr())
            .await
            .expect("connect");
        // Not closed at once: it is the timeout that closes it.
        assert!(still_open(&mut silent, Duration::from_millis(200)).await);
        assert!(
            read_until_closed(&mut silent, Duration::from_secs(10))
                .await
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn headers_sent_too_slowly_are_cut_off() {
    within(async {
        let endpoint = start(handshake(|h| {
            h.header_read_timeout = Duration::from_millis(300)
        }))
        .await;
        let mut slow = TcpStream::connect(endpoint.local_addr())
            .await
            .expect("connect");
        // Half a request head, then nothing.
        slow.write_all(b"GET /socket/websocket HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
            .await
            .expect("written");
        read_until_closed(&mut slow, Duration::from_secs(10)).await;
    })
    .await;
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_with_431() {
    within(async {
        let endpoint = start(handshake(|h| h.max_header_bytes = 16 * 1024)).await;
        let addr = endpoint.local_addr();
        let mut big = TcpStream::connect(addr).await.expect("connect");
        let filler = "a".repeat(1000);
        let mut request = format!("GET /socket/websocket HTTP/1.1\r\nHost: {addr}\r\n");
        for i in 0..64 {
            request.push_str(&format!("X-Filler-{i}: {filler}\r\n"));
        }
        // The server may close before it read everything: a failed write is fine.
        let _ = big.write_all(request.as_bytes()).await;
        let answer = read_until_closed(&mut big, Duration::from_secs(10)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 431"),
            "expected 431, got {answer:?}"
        );
        // A normal upgrade still works.
        drop(upgraded(addr).await);
    })
    .await;
}

#[tokio::test]
async fn connections_in_handshake_are_capped_and_upgraded_ones_do_not_count() {
    within(async {
        // A header read timeout far beyond the waits below: only the cap can close anything.
        let endpoint = start(handshake(|h| {
            h.max_pending_connections = 2;
            h.header_read_timeout = Duration::from_secs(120);
        }))
        .await;
        let addr = endpoint.local_addr();
        // Three WebSockets one after another: each frees its slot once upgraded.
        let sockets = [
            upgraded(addr).await,
            upgraded(addr).await,
            upgraded(addr).await,
        ];
        // Two idle connections take both slots; a third is closed at once.
        let mut idle_a = TcpStream::connect(addr).await.expect("connect");
        let mut idle_b = TcpStream::connect(addr).await.expect("connect");
        assert!(still_open(&mut idle_a, Duration::from_millis(200)).await);
        assert!(still_open(&mut idle_b, Duration::from_millis(200)).await);
        let mut third = TcpStream::connect(addr).await.expect("connect");
        assert!(
            read_until_closed(&mut third, Duration::from_secs(5))
                .await
                .is_empty()
        );
        // The upgraded sockets were not affected, and a freed slot takes a new handshake.
        drop(idle_a);
        let fourth = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let mut tcp = TcpStream::connect(addr).await.expect("connect");
                tcp.write_all(upgrade_request(addr).as_bytes())
                    .await
                    .expect("written");
                let mut buf = [0u8; 12];
                if tcp.read_exact(&mut buf).await.is_ok() {
                    assert_eq!(&buf, b"HTTP/1.1 101");
                    return tcp;
                }
                // The server had not yet seen idle_a's close: try again.
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("a handshake gets through once a slot is free");
        drop((sockets, idle_b, fourth));
    })
    .await;
}

#[tokio::test]
async fn a_connection_stops_counting_once_its_request_head_arrived() {
    within(async {
        let endpoint = start(handshake(|h| {
            h.max_pending_connections = 1;
            h.header_read_timeout = Duration::from_secs(120);
        }))
        .await;
        let addr = endpoint.local_addr();
        // A kept-alive HTTP connection that made one request (a slow reader of a big response
        // would look the same) holds no slot: a handshake still gets through.
        let mut kept = TcpStream::connect(addr).await.expect("connect");
        kept.write_all(format!("GET /nothing-here HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .expect("written");
        let mut buf = [0u8; 12];
        kept.read_exact(&mut buf).await.expect("answered");
        assert_eq!(&buf, b"HTTP/1.1 404");
        drop(upgraded(addr).await);
        drop(kept);
    })
    .await;
}

/// The default handshake limits with one changed.
fn handshake(change: impl FnOnce(&mut HandshakeConfig)) -> HandshakeConfig {
    let mut config = HandshakeConfig::default();
    change(&mut config);
    config
}
