//! `EndpointBuilder::static_file`: files served on the endpoint's port (200 / 404 / 500,
//! content type, read per request) and the start-time checks of routes.

mod common;

use std::time::Duration;
use switchboard::endpoint::{Endpoint, EndpointError, SocketMount};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(10);

/// `GET path` over a fresh connection: (status, headers, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let io = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        raw
    };
    let raw = tokio::time::timeout(LIMIT, io)
        .await
        .expect("response in time");
    common::parse_response(&raw)
}

#[tokio::test]
async fn static_files_are_served_read_per_request_with_404_and_500() {
    let dir = std::env::temp_dir().join(format!("sb-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let page = dir.join("index.html");
    std::fs::write(&page, "<h1>one</h1>").expect("write page");
    let endpoint = Endpoint::builder()
        .socket("/socket", SocketMount::new())
        .static_file("/", &page, "text/html; charset=utf-8")
        .static_file("/gone.js", dir.join("missing.js"), "text/javascript")
        .static_file("/dir", &dir, "text/plain")
        // A file where a directory should be (`node_modules` not a directory): missing too.
        .static_file(
            "/under-a-file.js",
            page.join("missing.js"),
            "text/javascript",
        )
        .static_file(
            "/no-such-dir.js",
            dir.join("node_modules/phoenix/phoenix.mjs"),
            "text/javascript",
        )
        .start()
        .await
        .expect("started");
    let addr = endpoint.local_addr();

    let (status, head, body) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert_eq!(body, b"<h1>one</h1>");
    // Read on every request: an edit shows without a restart.
    std::fs::write(&page, "<h1>two</h1>").expect("rewrite page");
    assert_eq!(get(addr, "/").await.2, b"<h1>two</h1>");

    assert_eq!(get(addr, "/gone.js").await.0, 404);
    assert_eq!(get(addr, "/under-a-file.js").await.0, 404);
    assert_eq!(get(addr, "/no-such-dir.js").await.0, 404);
    assert_eq!(get(addr, "/dir").await.0, 500);
    assert_eq!(get(addr, "/not-a-route").await.0, 404);

    endpoint.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_static_routes_are_refused_at_start() {
    let start = |route: &str, content_type: &str| {
        Endpoint::builder()
            .socket("/socket", SocketMount::new())
            .static_file(route, "x", content_type)
            .start()
    };
    for route in ["app.js", "/{name}", "/a*"] {
        assert!(
            matches!(
                start(route, "text/plain").await,
                Err(EndpointError::StaticFile(_))
            ),
            "{route} accepted"
        );
    }
    assert!(matches!(
        start("/ok", "text/plain\r\nx: y").await,
        Err(EndpointError::StaticFile(_))
    ));
    let twice = Endpoint::builder()
        .static_file("/a", "x", "text/plain")
        .static_file("/a", "y", "text/plain")
        .start()
        .await;
    assert!(matches!(twice, Err(EndpointError::RouteConflict(_))));
    // A static route on the socket's own path conflicts too.
    let clash = Endpoint::builder()
        .socket("/socket", SocketMount::new())
        .static_file("/socket/websocket", "x", "text/plain")
        .start()
        .await;
    assert!(matches!(clash, Err(EndpointError::RouteConflict(_))));
}
