//! Long-polling subscribers, each on one keep-alive HTTP/1.1 connection ([`Http`]) and always
//! one request at a time, as phoenix.js and the Engine.IO client poll:
//!
//! * `phoenix-json`: Phoenix long-poll (PROTOCOL.md 1.6, docs/LONGPOLL.md). `GET
//!   /socket/longpoll?vsn=2.0.0` opens a session (`{"status":410,"token":T}`); a POST of the
//!   ndjson line `["1","1","bench:<room>","phx_join",{}]` joins; then `GET …&token=T` again and
//!   again: `{"status":200,"messages":["<V2 frame>",…]}` or 204 after the window.
//! * `socketio`: Engine.IO v4 polling. `GET /socket.io/?EIO=4&transport=polling` answers the
//!   open packet `0{"sid":S,…}`; POSTs to `…&sid=S` carry `40` (connect) and
//!   `42["join","<room>"]`; GETs return packets separated by `\x1e`; a ping `2` is answered by
//!   POSTing `3` before the next poll.
//!
//! Every frame of a poll answer that carries a benchmark payload is a delivery.

use crate::conn::{ConnError, ConnReport, Shared, Target, Tracker};
use crate::http1::Http;
use crate::payload;
use crate::proto::Protocol;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

const PHOENIX_PATH: &str = "/socket/longpoll?vsn=2.0.0";
const ENGINEIO_PATH: &str = "/socket.io/?EIO=4&transport=polling";
/// Engine.IO's packet separator in a polling payload.
const SEPARATOR: char = '\u{1e}';

/// One joined long-polling client.
#[derive(Debug)]
struct Poller {
    http: Http,
    protocol: Protocol,
    /// The poll and POST path, with the session's token or sid.
    path: String,
}

impl Poller {
    /// Opens client `index`'s session and joins `room` (`bench:<room>` on Phoenix).
    async fn open_joined(target: &Target, index: usize, room: &str) -> Result<Poller, ConnError> {
        let stream = target.tcp(index).await?;
        let mut http = Http::new(stream, target.server.to_string());
        match target.protocol {
            Protocol::PhoenixJson => {
                let opened = json(&http.get(PHOENIX_PATH).await?)?;
                let token = match (opened["status"].as_u64(), opened["token"].as_str()) {
                    (Some(410), Some(token)) => token.to_owned(),
                    _ => return Err(format!("long-poll open answered {opened}").into()),
                };
                let mut poller = Poller {
                    http,
                    protocol: target.protocol,
                    path: format!("{PHOENIX_PATH}&token={token}"),
                };
                let join = format!("[\"1\",\"1\",\"bench:{room}\",\"phx_join\",{{}}]\n");
                poller.post("application/x-ndjson", &join).await?;
                // The join reply comes with a poll.
                loop {
                    for frame in poller.poll().await? {
                        let Ok(Value::Array(v)) = serde_json::from_str::<Value>(&frame) else {
                            continue;
                        };
                        if v.get(3).and_then(Value::as_str) == Some("phx_reply")
                            && v.get(1).and_then(Value::as_str) == Some("1")
                        {
                            return match v.get(4).and_then(|p| p["status"].as_str()) {
                                Some("ok") => Ok(poller),
                                _ => Err(format!("join refused: {frame}").into()),
                            };
                        }
                    }
                }
            }
            Protocol::Socketio => {
                let open = String::from_utf8(http.get(ENGINEIO_PATH).await?)?;
                let sid = open
                    .strip_prefix('0')
                    .and_then(|j| serde_json::from_str::<Value>(j).ok())
                    .and_then(|v| v["sid"].as_str().map(str::to_owned))
                    .ok_or_else(|| format!("expected an Engine.IO open packet, got {open:?}"))?;
                let mut poller = Poller {
                    http,
                    protocol: target.protocol,
                    path: format!("{ENGINEIO_PATH}&sid={sid}"),
                };
                poller.post("text/plain;charset=UTF-8", "40").await?;
                'connect: loop {
                    for packet in poller.poll().await? {
                        if packet.starts_with("40") {
                            break 'connect;
                        }
                        if packet.starts_with("44") {
                            return Err(format!("Socket.IO connect refused: {packet}").into());
                        }
                    }
                }
                let join = format!("42[\"join\",\"{room}\"]");
                poller.post("text/plain;charset=UTF-8", &join).await?;
                Ok(poller)
            }
            other => Err(format!("no long-polling client for {}", other.name()).into()),
        }
    }

    /// POSTs `body` to the session; Phoenix must answer `{"status":200}`, Engine.IO `ok`.
    async fn post(&mut self, content_type: &str, body: &str) -> Result<(), ConnError> {
        let answer = self
            .http
            .post(&self.path, content_type, body.as_bytes())
            .await?;
        let ok = match self.protocol {
            Protocol::PhoenixJson => json(&answer)?["status"].as_u64() == Some(200),
            _ => answer == b"ok",
        };
        if ok {
            Ok(())
        } else {
            Err(format!("POST answered {:?}", String::from_utf8_lossy(&answer)).into())
        }
    }

    /// One poll: the frames (Phoenix) or packets (Engine.IO, pings answered and left out) it
    /// brought, possibly none; an error when the session is gone.
    async fn poll(&mut self) -> Result<Vec<String>, ConnError> {
        let body = self.http.get(&self.path).await?;
        if self.protocol == Protocol::PhoenixJson {
            let answer = json(&body)?;
            return match answer["status"].as_u64() {
                Some(200) => Ok(answer["messages"]
                    .as_array()
                    .map(|m| m.iter().filter_map(|f| f.as_str().map(str::to_owned)))
                    .into_iter()
                    .flatten()
                    .collect()),
                Some(204) => Ok(Vec::new()),
                _ => Err(format!("poll answered {answer}").into()),
            };
        }
        let text = String::from_utf8(body)?;
        let mut packets = Vec::new();
        let mut pinged = false;
        for packet in text.split(SEPARATOR) {
            match packet {
                "2" => pinged = true,
                "6" => {}
                "1" => return Err("Engine.IO close packet".into()),
                _ => packets.push(packet.to_owned()),
            }
        }
        if pinged {
            self.post("text/plain;charset=UTF-8", "3").await?;
        }
        Ok(packets)
    }
}

fn json(body: &[u8]) -> Result<Value, ConnError> {
    Ok(serde_json::from_slice(body)?)
}

/// A set of joined long-polling subscribers, each polling in its own task until stopped.
#[derive(Debug)]
pub struct Pollers {
    /// Poll answers received so far (every GET after the join, including 204s).
    pub polls: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<Result<ConnReport, String>>>,
}

impl Pollers {
    /// Opens and joins `n` pollers of `room` (connection indexes `1..=n`, at most `concurrency`
    /// at once), each counting its deliveries into `shared`; fails if any of them fails.
    pub async fn connect(
        target: &Target,
        shared: Arc<Shared>,
        room: &str,
        n: usize,
        concurrency: usize,
    ) -> Result<Pollers, String> {
        let (stop, stop_rx) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let polls = Arc::new(AtomicU64::new(0));
        let joined = Arc::new(AtomicU64::new(0));
        let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
        let mut handles = Vec::with_capacity(n);
        for index in 1..=n {
            let (target, shared, gate, polls) =
                (target.clone(), shared.clone(), gate.clone(), polls.clone());
            let (joined, first_error, room) =
                (joined.clone(), first_error.clone(), room.to_owned());
            let mut stop_rx = stop_rx.clone();
            handles.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
                let opened = tokio::time::timeout(
                    target.connect_timeout,
                    Poller::open_joined(&target, index, &room),
                )
                .await
                .unwrap_or_else(|_| Err("open + join timed out".into()));
                let mut poller = match opened {
                    Ok(p) => p,
                    Err(e) => {
                        let msg = format!("poller {index}: {e}");
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert(msg.clone());
                        }
                        return Err(msg);
                    }
                };
                drop(permit);
                joined.fetch_add(1, Ordering::Relaxed);
                let mut tracker = Tracker::new(index, &shared);
                loop {
                    tokio::select! {
                        biased;
                        _ = stop_rx.changed() => break,
                        polled = poller.poll() => {
                            let Ok(frames) = polled else {
                                tracker.report.closed_early = true;
                                break;
                            };
                            polls.fetch_add(1, Ordering::Relaxed);
                            for frame in frames {
                                if let Some((t, s)) = payload::parse_json(frame.as_bytes()) {
                                    tracker.delivery(&shared, t, s);
                                }
                            }
                        }
                    }
                }
                Ok(tracker.report)
            }));
        }
        let pollers = Pollers {
            polls,
            stop,
            handles,
        };
        let mut last_note = Instant::now();
        loop {
            let failed = first_error.lock().ok().and_then(|e| e.clone());
            if let Some(msg) = failed {
                pollers.stop().await;
                return Err(format!("long-poll clients failed; first: {msg}"));
            }
            let ok = joined.load(Ordering::Relaxed);
            if ok == n as u64 {
                return Ok(pollers);
            }
            if last_note.elapsed() > Duration::from_secs(2) {
                eprintln!("  joined {ok}/{n} pollers");
                last_note = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops every poller and returns their reports (index order; one that failed to join
    /// reports `closed_early`).
    pub async fn stop(self) -> Vec<ConnReport> {
        let _ = self.stop.send(true);
        crate::conn::collect_reports(self.handles).await
    }
}
