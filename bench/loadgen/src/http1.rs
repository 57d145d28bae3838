//! A minimal HTTP/1.1 client over one keep-alive TCP connection: what a long-polling client
//! (phoenix.js's `LongPoll`, Engine.IO's polling transport) does, one request at a time.
//! Bodies come with `content-length` or `transfer-encoding: chunked`; no TLS, no
//! compression (no `accept-encoding` is sent, so servers answer uncompressed).

use crate::conn::ConnError;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The largest response body accepted (a poll answer is a few KiB at most).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One keep-alive HTTP/1.1 connection.
#[derive(Debug)]
pub struct Http {
    stream: BufReader<TcpStream>,
    host: String,
    /// The server answered `connection: close`: no further request can be sent.
    closed: bool,
    line: String,
}

impl Http {
    /// A client on `stream`, sending `host` as the `Host` header.
    pub fn new(stream: TcpStream, host: String) -> Http {
        Http {
            stream: BufReader::with_capacity(16 * 1024, stream),
            host,
            closed: false,
            line: String::new(),
        }
    }

    /// `GET path`: the body of a 200 answer.
    pub async fn get(&mut self, path: &str) -> Result<Vec<u8>, ConnError> {
        self.request("GET", path, None, b"").await
    }

    /// `POST path` with `body` of `content_type`: the body of a 200 answer.
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, ConnError> {
        self.request("POST", path, Some(content_type), body).await
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, ConnError> {
        if self.closed {
            return Err("the server closed the keep-alive connection".into());
        }
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.host);
        if let Some(ct) = content_type {
            head.push_str(&format!(
                "content-type: {ct}\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.stream.get_mut().write_all(&out).await?;
        self.response().await
    }

    /// Reads one response: status line, headers, body.
    async fn response(&mut self) -> Result<Vec<u8>, ConnError> {
        self.read_line().await?;
        let status: u16 = self
            .line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {:?}", self.line))?;
        let (mut length, mut chunked) = (None, false);
        loop {
            self.read_line().await?;
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>()?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                self.closed = value.eq_ignore_ascii_case("close");
            }
        }
        let body = if chunked {
            self.chunked_body().await?
        } else {
            let n = length.unwrap_or(0);
            if n > MAX_BODY {
                return Err(format!("response body of {n} bytes").into());
            }
            let mut body = vec![0; n];
            self.stream.read_exact(&mut body).await?;
            body
        };
        if status != 200 {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)).into());
        }
        Ok(body)
    }

    async fn chunked_body(&mut self) -> Result<Vec<u8>, ConnError> {
        let mut body = Vec::new();
        loop {
            self.read_line().await?;
            let size = self.line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size, 16)?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    self.read_line().await?;
                    if self.line.trim_end().is_empty() {
                        return Ok(body);
                    }
                }
            }
            if body.len() + size > MAX_BODY {
                return Err("chunked response body too large".into());
            }
            let start = body.len();
            body.resize(start + size, 0);
            if let Some(chunk) = body.get_mut(start..) {
                self.stream.read_exact(chunk).await?;
            }
            self.read_line().await?; // the CRLF after the chunk
        }
    }

    async fn read_line(&mut self) -> Result<(), ConnError> {
        self.line.clear();
        if self.stream.read_line(&mut self.line).await? == 0 {
            return Err("connection closed".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Serves `answers` in order on one connection, after reading each request's head and
    /// body (`content-length` only).
    async fn serve(answers: Vec<&'static str>) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let mut stream = BufReader::new(stream);
            for answer in answers {
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    stream.read_line(&mut line).await.expect("request line");
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().expect("length");
                    }
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                let mut body = vec![0; len];
                stream.read_exact(&mut body).await.expect("body");
                stream
                    .get_mut()
                    .write_all(answer.as_bytes())
                    .await
                    .expect("answer");
            }
        });
        addr
    }

    #[tokio::test]
    async fn keeps_the_connection_across_length_and_chunked_answers() {
        let addr = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\nConnection: close\r\n\r\nbad",
        ])
        .await;
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut http = Http::new(stream, addr.to_string());
        assert_eq!(http.get("/a").await.expect("first"), b"hello");
        assert_eq!(
            http.post("/b", "text/plain", b"xyz").await.expect("second"),
            b"abcde"
        );
        let err = http.get("/c").await.expect_err("400");
        assert!(err.to_string().contains("HTTP 400"), "{err}");
        assert!(
            http.get("/d").await.is_err(),
            "closed after connection: close"
        );
    }
}
