//! The accept loop: every TCP connection is served by hyper's HTTP/1 with the limits that
//! protect the server before a WebSocket exists (a header read timeout that also closes
//! connections that send nothing, a cap on header bytes, a cap on connections not yet
//! upgraded), then handed to the axum router; a stop ends accepting and lets the connections
//! still in HTTP finish their request.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};
use tower_service::Service;
use tracing::{debug, warn};

/// Limits of a connection before it is a WebSocket (endpoint-wide: they apply before any
/// route is known). Defaults in [`HandshakeConfig::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeConfig {
    /// Time a client has to send a complete request head (request line and headers), counted
    /// from the TCP accept and, on a kept-alive HTTP connection, from the end of the previous
    /// response (default 10 000 ms). A connection that sends nothing, or sends its headers too
    /// slowly, is closed without an answer. Cowboy's `request_timeout` is 5 000 ms and its
    /// `idle_timeout` 60 000 ms; one 10 s bound covers both here.
    pub header_read_timeout: Duration,
    /// Largest request head accepted, in bytes (default 16 384, Node's `maxHeaderSize`).
    /// A bigger one is answered 431 and the connection closed.
    pub max_header_bytes: usize,
    /// Connections accepted that have not yet sent a complete request head, held at once
    /// (default 4 096). Past it, a new TCP connection is closed right after the accept, so a
    /// flood of silent or slow connections costs a bounded amount of memory. A connection
    /// stops counting once its first request head has arrived (upgraded WebSockets and
    /// plain HTTP requests alike); its later requests are bounded by the header read timeout.
    pub max_pending_connections: usize,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        HandshakeConfig {
            header_read_timeout: Duration::from_millis(10_000),
            max_header_bytes: 16 * 1024,
            max_pending_connections: 4096,
        }
    }
}

/// Smallest `max_header_bytes` accepted (hyper's minimum read buffer is 8 KiB, and a real
/// browser's upgrade request with a few cookies needs a couple of KiB).
pub(crate) const MIN_HEADER_BYTES: usize = 8 * 1024;

/// Accepts and serves connections until `stop` fires, then waits for the connections still in
/// HTTP to finish their current request (upgraded WebSockets are not waited for: the drain
/// closes them).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    cfg: HandshakeConfig,
    stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let pending = Arc::new(Semaphore::new(cfg.max_pending_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .max_header_size(cfg.max_header_bytes.max(MIN_HEADER_BYTES));
    // Every connection task holds a receiver: `closed()` on the sender tells when all ended.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut refused: u64 = 0;
    let mut stop = std::pin::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Ok(permit) = Arc::clone(&pending).try_acquire_owned() else {
            // Logged once per 1 000: the flood itself must not flood the log.
            if refused.is_multiple_of(1000) {
                warn!(
                    limit = cfg.max_pending_connections,
                    refused = refused + 1,
                    "too many connections in handshake; closing new ones"
                );
            }
            refused += 1;
            drop(tcp);
            continue;
        };
        // TCP_NODELAY, as Phoenix's Cowboy/Ranch listeners set it: the writer already
        // coalesces every pending frame into one write, and Nagle would hold a reply or push
        // back until the client's delayed ACK arrives (up to 40 ms).
        if let Err(e) = tcp.set_nodelay(true) {
            debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let router = app.clone();
        // Released at the first request head: what the cap protects is the time before it.
        let permit = parking_lot::Mutex::new(Some(permit));
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            drop(permit.lock().take());
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            async move { router.call(req).await }
        });
        let conn = http
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        let mut shutdown = shutdown_rx.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            // Resolves when the connection closed, or when it was upgraded (the WebSocket
            // then lives on in its own task). The service (and the permit it may still hold,
            // for a connection that never sent a request head) is dropped with it.
            let stopping = async {
                // The guard it returns must not live across an await.
                let _ = shutdown.wait_for(|stop| *stop).await.is_ok();
            };
            let served = tokio::select! {
                served = conn.as_mut() => Some(served),
                () = stopping => None,
            };
            let served = match served {
                Some(served) => served,
                None => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = served {
                debug!(peer = %peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    drop(shutdown_rx);
    let _ = shutdown_tx.send(true);
    shutdown_tx.closed().await;
    Ok(())
}

/// An accept error: per-connection ones (the peer reset before we took it) are skipped; the
/// others (out of file descriptors) are retried after a pause instead of spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    warn!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
