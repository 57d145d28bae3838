//! One WebSocket connection after the upgrade: a reader loop (frames → decoded messages →
//! session, idle timeout) and a writer loop (outbox → frames, one flush per batch), then the
//! closing handshake with the close code that says why (PROTOCOL.md 1.5).
//!
//! Both loops run inside one task on the two halves of the socket; whichever ends first ends
//! the connection. Nothing here touches another connection, so one bad client only ever
//! closes itself.

use super::config::{
    DISCONNECT_CLOSE_CODE, DRAIN_CLOSE_CODE, IDLE_CLOSE_CODE, INVALID_UTF8_CLOSE_CODE,
    MALFORMED_CLOSE_CODE, PROTOCOL_CLOSE_CODE, RATE_LIMITED_CLOSE_CODE, SLOW_CONSUMER_CLOSE_CODE,
    TOO_BIG_CLOSE_CODE, TransportConfig,
};
use crate::handler::TerminateReason;
use crate::metrics::Metrics;
use crate::outbox::{CloseReason, Outbox};
use crate::wire::{Frame, Message, Serializer};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::task::{ArcWake, AtomicWaker, waker_ref};
use futures_util::{SinkExt, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self as ws, Message as WsMessage};
use tracing::debug;

/// Where decoded client messages go: the channel [`Session`](crate::channel::Session) in the
/// endpoint. A seam so the transport can be tested on its own.
pub(crate) trait Inbound: Send {
    /// Handles one decoded message; must not block.
    fn handle(&mut self, msg: Message);

    /// The connection's socket id (Phoenix `id/1`), for the context of log events.
    fn socket_id(&self) -> Option<&str>;
}

impl Inbound for crate::channel::Session {
    fn handle(&mut self, msg: Message) {
        crate::channel::Session::handle(self, msg);
    }

    fn socket_id(&self) -> Option<&str> {
        crate::channel::Session::socket_id(self)
    }
}

/// Frames waiting to reach the client: still in the outbox, or taken by the writer and not
/// yet written.
struct Backlog<'a> {
    outbox: &'a Outbox,
    /// Frames written and slow consumers are counted here.
    metrics: &'a Metrics,
    in_flight: AtomicUsize,
    /// Signalled by the writer after each written batch, for a reader paused by backpressure.
    written: Notify,
}

impl Backlog<'_> {
    fn frames(&self) -> usize {
        self.outbox.len() + self.in_flight.load(Ordering::Relaxed)
    }
}

/// Why the reader stopped.
#[derive(Debug, PartialEq, Eq)]
enum ReadEnd {
    /// The client sent a close frame; tungstenite queued the reply.
    PeerClosed,
    /// EOF or an IO error: the client is gone.
    PeerGone,
    /// We close with this code and reason.
    Fail(u16, &'static str),
}

/// Why the writer stopped.
#[derive(Debug, PartialEq, Eq)]
enum WriteEnd {
    /// The outbox closed (after its pending frames were written).
    Outbox(CloseReason),
    /// Writing failed: the client is gone.
    Failed,
}

/// What is left to do on the socket once both loops stopped.
#[derive(Debug, PartialEq, Eq)]
enum Closing {
    /// Send a close frame with this code and reason.
    Send(u16, &'static str),
    /// Flush the automatic reply to the client's close frame.
    FlushReply,
    /// Nothing can be sent any more.
    Nothing,
}

/// The closing handshake still to perform once the loops stopped; see [`Closer::finish`].
#[derive(Debug)]
pub(crate) struct Closer<S> {
    ws: Option<WebSocketStream<Metered<S>>>,
    closing: Closing,
    limit: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Closer<S> {
    /// Performs the closing handshake (bounded by the mount's `close_timeout`). Runs
    /// concurrently with the channels' termination, so a client that is slow to answer the
    /// close does not delay `terminate` callbacks or presence leaves.
    pub(crate) async fn finish(self) {
        if let Some(ws) = self.ws {
            finish(ws, self.closing, self.limit).await;
        }
    }
}

/// Read buffer of one connection, in bytes; also the most one read syscall takes. It stays
/// allocated while the connection is idle, so it is sized for what clients mostly send:
/// heartbeats, joins and pushes of a couple hundred bytes fit in one read; a bigger frame
/// gets its full length reserved and takes several reads (a 64 KiB frame 256 of them, ~0.3
/// ms on loopback, against 768 bytes saved on every connection). tungstenite zero-fills the
/// free part of this buffer before every read attempt, so smaller is also less work per
/// wake-up.
const READ_BUFFER_BYTES: usize = 256;

/// tungstenite's write buffer: frames are gathered up to this many bytes before a write
/// syscall (its default).
const WRITE_BUFFER_BYTES: usize = 128 * 1024;

/// The socket of one connection, counting the bytes the kernel accepted. The reader compares
/// the count across a client's pings: a client that keeps pinging while nothing we write gets
/// through is not reading, and its pongs would only pile up (see [`read_loop`]).
#[derive(Debug)]
pub(crate) struct Metered<S> {
    io: S,
    written: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            self.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            self.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The two halves of an upgraded socket, split before the connection's future is built:
/// an async fn keeps its arguments for its whole life, and a whole `WebSocketStream` there
/// (~330 bytes, the halves are ~70) would enlarge every connection's task.
pub(crate) struct Halves<S> {
    sink: SplitSink<WebSocketStream<Metered<S>>, WsMessage>,
    stream: SplitStream<WebSocketStream<Metered<S>>>,
    /// Bytes the socket accepted so far ([`Metered`]).
    written: Arc<AtomicU64>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Halves<S> {
    /// Wraps an upgraded socket (server role) in the WebSocket framing with the mount's
    /// limits, and splits it.
    pub(crate) async fn accept(io: S, cfg: &TransportConfig) -> Halves<S> {
        let written = Arc::new(AtomicU64::new(0));
        let io = Metered {
            io,
            written: Arc::clone(&written),
        };
        // tungstenite allocates its read buffer up front (128 KiB by default), which would
        // dominate the memory of an idle connection; client frames are small, and bigger ones
        // just take several reads.
        //
        // Its write buffer is unbounded by default: the automatic pong to every ping of a
        // client that does not read would pile up there, outside the outbox limits. The
        // writer never has more in it than one write buffer plus one frame (it waits for the
        // socket once past the write buffer), and a frame is at most `outbox_max_bytes`, so
        // that is the bound; past it tungstenite keeps only the latest pong.
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(WRITE_BUFFER_BYTES)
            .max_write_buffer_size(max_write_buffer(cfg))
            .max_frame_size(Some(cfg.max_frame_bytes))
            .max_message_size(Some(cfg.max_frame_bytes));
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        let (sink, stream) = ws.split();
        Halves {
            sink,
            stream,
            written,
        }
    }
}

/// The most tungstenite may buffer for one connection: a write buffer, the largest frame the
/// outbox takes, and room for the frame headers and a close frame.
fn max_write_buffer(cfg: &TransportConfig) -> usize {
    WRITE_BUFFER_BYTES
        .saturating_add(cfg.outbox_max_bytes)
        .saturating_add(1024)
}

/// Serves one upgraded connection until either loop ends; returns the reason its channels
/// terminate with and the closing handshake still to do. Closes `outbox` (with
/// [`CloseReason::Gone`] unless it was already closed) so later pushes are refused.
pub(crate) async fn run<S, H>(
    mut io: Halves<S>,
    inbound: &mut H,
    outbox: &Outbox,
    serializer: Serializer,
    cfg: &TransportConfig,
    metrics: &Metrics,
) -> (TerminateReason, Closer<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Inbound,
{
    let backlog = Backlog {
        outbox,
        metrics,
        in_flight: AtomicUsize::new(0),
        written: Notify::new(),
    };
    let ended = {
        // `pin!` on the call itself: a named future moved into `tokio::pin!` would keep a
        // second, moved-from slot in this task for the connection's whole life.
        let reader = std::pin::pin!(read_loop(
            &mut io.stream,
            &io.written,
            inbound,
            &backlog,
            serializer,
            cfg
        ));
        let writer = std::pin::pin!(write_loop(&mut io.sink, &backlog, cfg.close_timeout));
        Race {
            reader,
            writer,
            reader_wake: Branch::new(),
            writer_wake: Branch::new(),
        }
        .await
        // Both loops are dropped here, releasing the socket halves.
    };
    let (closing, reason) = match ended {
        Ended::Reader(end) => {
            debug!(?end, "reader ended");
            match end {
                ReadEnd::PeerClosed => (Closing::FlushReply, TerminateReason::Closed),
                ReadEnd::PeerGone => (Closing::Nothing, TerminateReason::Closed),
                ReadEnd::Fail(code, why) => (Closing::Send(code, why), TerminateReason::Closed),
            }
        }
        Ended::Writer(end) => {
            debug!(?end, "writer ended");
            match end {
                WriteEnd::Outbox(CloseReason::SlowConsumer) => (
                    Closing::Send(SLOW_CONSUMER_CLOSE_CODE, "slow consumer"),
                    TerminateReason::Closed,
                ),
                WriteEnd::Outbox(CloseReason::Disconnect) => (
                    Closing::Send(DISCONNECT_CLOSE_CODE, "disconnect"),
                    TerminateReason::Disconnected,
                ),
                WriteEnd::Outbox(CloseReason::Drain) => (
                    Closing::Send(DRAIN_CLOSE_CODE, "drain"),
                    TerminateReason::Drain,
                ),
                WriteEnd::Outbox(CloseReason::RateLimited) => (
                    Closing::Send(RATE_LIMITED_CLOSE_CODE, "rate limited"),
                    TerminateReason::Closed,
                ),
                WriteEnd::Outbox(CloseReason::Gone) | WriteEnd::Failed => {
                    (Closing::Nothing, TerminateReason::Closed)
                }
            }
        }
    };
    if matches!(closing, Closing::Send(SLOW_CONSUMER_CLOSE_CODE, _)) {
        metrics.slow_consumer_disconnects.inc();
    }
    outbox.close(CloseReason::Gone);
    let closer = Closer {
        ws: io.stream.reunite(io.sink).ok(),
        closing,
        limit: cfg.close_timeout,
    };
    (reason, closer)
}

/// Which loop of a connection ended first, with its result.
enum Ended {
    Reader(ReadEnd),
    Writer(WriteEnd),
}

/// One loop's wake-up flag. The connection task is woken through it, so the task knows which
/// loop has something to do.
struct Branch {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Branch {
    /// A branch that counts as woken, so that the first poll polls it.
    fn new() -> Arc<Branch> {
        Arc::new(Branch {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        })
    }
}

// `ArcWake` rather than std's `Wake`: its `waker_ref` lends a waker for one poll without
// cloning the `Arc`, so the task stores no `Waker` per branch (two fewer words each).
impl ArcWake for Branch {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.woken.store(true, Ordering::Release);
        arc_self.task.wake();
    }
}

/// Runs the reader and the writer of one connection until either ends, polling each only
/// when its own waker fired. `tokio::select!` would poll both on every wake-up: a broadcast
/// frame for the writer would also make the reader attempt a socket read (tungstenite zero-
/// fills its read buffer first) and re-register its idle timer, on every delivery.
struct Race<R, W> {
    reader: R,
    writer: W,
    reader_wake: Arc<Branch>,
    writer_wake: Arc<Branch>,
}

impl<R, W> Future for Race<Pin<&mut R>, Pin<&mut W>>
where
    R: Future<Output = ReadEnd>,
    W: Future<Output = WriteEnd>,
{
    type Output = Ended;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended> {
        let this = self.get_mut();
        // Registered before the flags are read, so a wake-up in between is not lost.
        this.reader_wake.task.register(cx.waker());
        this.writer_wake.task.register(cx.waker());
        if this.reader_wake.woken.swap(false, Ordering::AcqRel) {
            let waker = waker_ref(&this.reader_wake);
            let mut branch_cx = Context::from_waker(&waker);
            if let Poll::Ready(end) = this.reader.as_mut().poll(&mut branch_cx) {
                return Poll::Ready(Ended::Reader(end));
            }
        }
        if this.writer_wake.woken.swap(false, Ordering::AcqRel) {
            let waker = waker_ref(&this.writer_wake);
            let mut branch_cx = Context::from_waker(&waker);
            if let Poll::Ready(end) = this.writer.as_mut().poll(&mut branch_cx) {
                return Poll::Ready(Ended::Writer(end));
            }
        }
        Poll::Pending
    }
}

async fn read_loop<S, H>(
    stream: &mut SplitStream<WebSocketStream<Metered<S>>>,
    written: &AtomicU64,
    inbound: &mut H,
    backlog: &Backlog<'_>,
    serializer: Serializer,
    cfg: &TransportConfig,
) -> ReadEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Inbound,
{
    // Limits are read from `cfg` where used rather than kept in locals: this future is part
    // of every connection's task for its whole life.
    let mut idle = std::pin::pin!(tokio::time::sleep(cfg.idle_timeout));
    // Pings in a row during which the socket accepted none of our bytes, and the count of
    // accepted bytes at the last ping (see `Metered`).
    let mut unanswered_pings = 0usize;
    let mut written_at_ping = 0u64;
    loop {
        if backlog.frames() >= (cfg.outbox_max_frames / 2).max(1)
            // Boxed, like the slow path of the writer: rare states that would otherwise
            // enlarge every connection's task for its whole life.
            && !Box::pin(wait_for_writer(backlog, cfg.outbox_max_frames / 4, cfg.idle_timeout))
                .await
        {
            crate::warn_limited!(
                socket_id = inbound.socket_id().unwrap_or("-"),
                "client does not read its replies, closing as slow consumer"
            );
            return ReadEnd::Fail(SLOW_CONSUMER_CLOSE_CODE, "slow consumer");
        }
        let next = tokio::select! {
            next = stream.next() => next,
            () = &mut idle => {
                debug!(timeout_ms = cfg.idle_timeout.as_millis() as u64, "idle timeout");
                return ReadEnd::Fail(IDLE_CLOSE_CODE, "idle timeout");
            }
        };
        let decoded = match next {
            None => return ReadEnd::PeerGone,
            Some(Err(e)) => return read_error(e, inbound.socket_id()),
            Some(Ok(WsMessage::Text(text))) => serializer.decode_text(text.as_bytes()),
            Some(Ok(WsMessage::Binary(data))) => serializer.decode_binary(&data),
            Some(Ok(WsMessage::Close(_))) => return ReadEnd::PeerClosed,
            // tungstenite answers each ping with a pong, written before the next read. A
            // client that pings but never reads gets no pong through once the socket is
            // full: after as many such pings as the outbox holds frames, it is a slow
            // consumer like one whose outbox overflowed. Control frames are not activity:
            // only data resets the idle timer (Phoenix's heartbeat is a data message).
            Some(Ok(WsMessage::Ping(_))) => {
                let now = written.load(Ordering::Relaxed);
                if now == written_at_ping {
                    unanswered_pings += 1;
                    if unanswered_pings > cfg.outbox_max_frames {
                        crate::warn_limited!(
                            socket_id = inbound.socket_id().unwrap_or("-"),
                            "client pings but does not read, closing as slow consumer"
                        );
                        return ReadEnd::Fail(SLOW_CONSUMER_CLOSE_CODE, "slow consumer");
                    }
                } else {
                    written_at_ping = now;
                    unanswered_pings = 0;
                }
                continue;
            }
            Some(Ok(WsMessage::Pong(_) | WsMessage::Frame(_))) => continue,
        };
        idle.as_mut().reset(Instant::now() + cfg.idle_timeout);
        match decoded {
            Ok(msg) => inbound.handle(msg),
            Err(e) => {
                // Phoenix's socket process crashes on such a frame (PROTOCOL.md 2.5).
                crate::warn_limited!(socket_id = inbound.socket_id().unwrap_or("-"), error = %e, "malformed frame, closing with 1011");
                return ReadEnd::Fail(MALFORMED_CLOSE_CODE, "malformed frame");
            }
        }
    }
}

/// Backpressure on the client's own traffic. Phoenix's socket process writes each reply
/// before it reads the next frame, so a client that floods requests is throttled by its own
/// reading; here the reader would otherwise turn a burst of buffered frames into replies
/// faster than the writer (polled in the same task) sends them, and the slow-consumer policy
/// would close a client that does read. So once the outbox is half full the reader pauses
/// until the writer brought it down to a quarter. Returns false when that did not happen
/// within `limit` (the client stopped reading).
async fn wait_for_writer(backlog: &Backlog<'_>, low_water: usize, limit: Duration) -> bool {
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        let written = backlog.written.notified();
        tokio::pin!(written);
        // Register before checking, so a batch written in between is not missed.
        written.as_mut().enable();
        if backlog.frames() <= low_water {
            return true;
        }
        if backlog.outbox.closed().is_some() {
            // The writer ends the connection; keep the reader parked until it does.
            std::future::pending::<()>().await;
        }
        tokio::select! {
            () = &mut written => {}
            () = &mut deadline => return backlog.frames() <= low_water,
        }
    }
}

fn read_error(e: ws::Error, socket_id: Option<&str>) -> ReadEnd {
    match e {
        ws::Error::ConnectionClosed
        | ws::Error::AlreadyClosed
        | ws::Error::Io(_)
        | ws::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => ReadEnd::PeerGone,
        ws::Error::Utf8(_) => {
            crate::warn_limited!(
                socket_id = socket_id.unwrap_or("-"),
                "text frame is not valid UTF-8, closing with 1007"
            );
            ReadEnd::Fail(INVALID_UTF8_CLOSE_CODE, "invalid UTF-8")
        }
        ws::Error::Capacity(e) => {
            crate::warn_limited!(socket_id = socket_id.unwrap_or("-"), error = %e, "frame too big, closing with 1009");
            ReadEnd::Fail(TOO_BIG_CLOSE_CODE, "frame too big")
        }
        other => {
            crate::warn_limited!(socket_id = socket_id.unwrap_or("-"), error = %other, "WebSocket protocol error, closing with 1002");
            ReadEnd::Fail(PROTOCOL_CLOSE_CODE, "protocol error")
        }
    }
}

async fn write_loop<S>(
    sink: &mut SplitSink<WebSocketStream<Metered<S>>, WsMessage>,
    backlog: &Backlog<'_>,
    grace: Duration,
) -> WriteEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let outbox = backlog.outbox;
    loop {
        backlog.in_flight.store(0, Ordering::Relaxed);
        backlog.written.notify_waiters();
        let batch = match outbox.take().await {
            Ok(batch) => batch,
            Err(reason) => return WriteEnd::Outbox(reason),
        };
        backlog.in_flight.store(batch.len(), Ordering::Relaxed);
        backlog.metrics.messages_sent.add(batch.len() as u64);
        // Fast path: a client that reads takes the whole batch at once, so the write is
        // tried right here, in one poll, without the close watch of the slow path (a waiter
        // registered and removed per batch) and without its boxed state (an allocation per
        // batch). The batch moves into the poll (in a block: a borrowed local keeps its
        // storage until its scope ends) and what is left moves out of it, so this task never
        // holds a write in progress.
        let left = {
            let mut batch = Some(batch);
            let started = std::future::poll_fn(|cx| {
                Poll::Ready(batch.take().map(|b| start_write(cx, sink, b.into_iter())))
            })
            .await;
            match started {
                None | Some(Ok(None)) => continue,
                Some(Err(_)) => return WriteEnd::Failed,
                Some(Ok(Some(left))) => left,
            }
        };
        // Boxed: rare, and several times the state of a writer waiting for frames, which
        // inline every idle connection's task would carry all its life.
        if let Err(end) = Box::pin(finish_write(sink, left, outbox, grace)).await {
            return end;
        }
    }
}

/// Writes as much of `frames` as the socket takes now, then flushes (one write syscall for
/// the whole batch in the common case). Returns the frames still to write when the socket
/// is full (possibly none, with the flush still to finish).
fn start_write<S, I>(
    cx: &mut Context<'_>,
    sink: &mut SplitSink<WebSocketStream<Metered<S>>, WsMessage>,
    mut frames: I,
) -> Result<Option<I>, ws::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    I: Iterator<Item = Frame>,
{
    match poll_write(cx, sink, &mut frames) {
        Poll::Ready(Ok(())) => Ok(None),
        Poll::Ready(Err(e)) => Err(e),
        Poll::Pending => Ok(Some(frames)),
    }
}

/// Feeds `frames` to the sink, then flushes.
fn poll_write<S>(
    cx: &mut Context<'_>,
    sink: &mut SplitSink<WebSocketStream<Metered<S>>, WsMessage>,
    frames: &mut impl Iterator<Item = Frame>,
) -> Poll<Result<(), ws::Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match sink.poll_ready_unpin(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match frames.next() {
            Some(frame) => sink.start_send_unpin(to_ws(frame))?,
            None => return sink.poll_flush_unpin(cx),
        }
    }
}

/// The rest of a write the socket did not take at once, watching the outbox: a client that
/// stopped reading must not hold its connection open past the slow-consumer, disconnect or
/// drain policy. Frames queued before a disconnect or drain still get `grace` to go out; a
/// slow consumer's were dropped already.
async fn finish_write<S>(
    sink: &mut SplitSink<WebSocketStream<Metered<S>>, WsMessage>,
    mut frames: impl Iterator<Item = Frame>,
    outbox: &Outbox,
    grace: Duration,
) -> Result<(), WriteEnd>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut write = std::pin::pin!(std::future::poll_fn(|cx| poll_write(cx, sink, &mut frames)));
    let written = tokio::select! {
        written = &mut write => written,
        reason = outbox.closed_wait() => match reason {
            CloseReason::SlowConsumer | CloseReason::Gone => return Err(WriteEnd::Outbox(reason)),
            CloseReason::Disconnect | CloseReason::Drain | CloseReason::RateLimited => {
                match tokio::time::timeout(grace, &mut write).await {
                    Ok(written) => written,
                    Err(_) => return Err(WriteEnd::Outbox(reason)),
                }
            }
        },
    };
    written.map_err(|_| WriteEnd::Failed)
}

/// Our frames are already encoded; a text frame goes out as a raw frame so its bytes (shared
/// by every subscriber of a broadcast) are not re-validated as UTF-8 per connection.
fn to_ws(frame: Frame) -> WsMessage {
    match frame {
        Frame::Text(bytes) => WsMessage::Frame(ws::protocol::frame::Frame::message(
            bytes,
            OpCode::Data(OpData::Text),
            true,
        )),
        Frame::Binary(bytes) => WsMessage::Binary(bytes),
    }
}

/// The closing handshake, bounded by `limit`: send our close frame (or flush the reply to
/// the client's), half-close TCP, then discard input until the client closes its side.
/// Dropping a socket with unread input makes the kernel send a reset, which can destroy our
/// close frame before the client reads it — hence the lingering read.
async fn finish<S>(mut ws: WebSocketStream<Metered<S>>, closing: Closing, limit: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let handshake = async {
        match closing {
            Closing::Send(code, reason) => {
                let frame = CloseFrame {
                    code: code.into(),
                    reason: reason.into(),
                };
                if ws.send(WsMessage::Close(Some(frame))).await.is_err() {
                    return;
                }
            }
            Closing::FlushReply => {
                // Server role: tungstenite reports the finished handshake as an error here.
                let _ = ws.flush().await;
            }
            Closing::Nothing => return,
        }
        let io = ws.get_mut();
        if io.shutdown().await.is_err() {
            return;
        }
        // On the heap and small: inline it would be part of every connection's task
        // for its whole life, though only a closing connection needs it.
        let mut scratch = vec![0u8; 512];
        while let Ok(n) = io.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
    };
    if tokio::time::timeout(limit, handshake).await.is_err() {
        debug!("close handshake timed out");
    }
}

#[cfg(test)]
mod tests;
