//! Per-connection bounded outbound queue: the single writer's inbox.
//!
//! Everything a connection sends (replies, pushes, fastlane broadcasts) is pushed here by any
//! thread; the connection's writer task drains *all* pending frames at once and writes them
//! with one flush, so a burst of broadcasts costs one `send()` rather than one per frame.
//! The queue is bounded in frames and bytes; overflowing it applies the slow-consumer policy:
//! the outbox closes with [`CloseReason::SlowConsumer`] and the frames are dropped, so memory
//! stays bounded however slowly the client reads.

use crate::wire::Frame;
use parking_lot::Mutex;
use std::collections::VecDeque;
use tokio::sync::Notify;

/// Why an outbox was closed; the writer turns it into a WebSocket close frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CloseReason {
    /// The queue limit was hit: the client does not read fast enough.
    SlowConsumer,
    /// A `"disconnect"` broadcast on the socket id topic (PROTOCOL.md 4.9), close 1001.
    Disconnect,
    /// Endpoint drain during shutdown, close 1012.
    Drain,
    /// The client kept sending over its rate limit (`messages_per_second`,
    /// `joins_per_second`), close 1008.
    RateLimited,
    /// The connection is gone (reader ended); nothing more will be written.
    Gone,
}

/// Why a push was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PushError {
    /// The outbox was already closed; the frame was dropped.
    Closed(CloseReason),
    /// This push overflowed the limits; the outbox is now closed as a slow consumer.
    Overflow,
}

#[derive(Debug)]
struct State {
    /// The oldest pending frame. Inline, so that the common batch of one frame (a reply, a
    /// broadcast to an idle subscriber) never allocates a queue; `rest` is empty while this
    /// is `None`.
    first: Option<Frame>,
    /// The frames after `first`; allocated only while a burst is pending.
    rest: VecDeque<Frame>,
    bytes: usize,
    closed: Option<CloseReason>,
}

impl State {
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }
}

/// Every frame the writer took at once, oldest first (see [`Outbox::take`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    first: Option<Frame>,
    rest: VecDeque<Frame>,
}

impl Batch {
    /// Number of frames.
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// True when there is no frame.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

impl IntoIterator for Batch {
    type Item = Frame;
    type IntoIter = std::iter::Chain<
        std::option::IntoIter<Frame>,
        std::collections::vec_deque::IntoIter<Frame>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

/// A bounded multi-producer, single-consumer frame queue with wake-up.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    /// Wakes every waiter (the writer in [`take`](Outbox::take), anyone in
    /// [`closed_wait`](Outbox::closed_wait)) on the first frame of a batch and on close;
    /// each re-checks the state, and registers before checking, so nothing is missed.
    notify: Notify,
    max_frames: usize,
    max_bytes: usize,
}

impl Outbox {
    /// A queue that holds at most `max_frames` frames and `max_bytes` bytes of frame bodies.
    pub fn new(max_frames: usize, max_bytes: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                first: None,
                rest: VecDeque::new(),
                bytes: 0,
                closed: None,
            }),
            notify: Notify::new(),
            max_frames: max_frames.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    /// The most frames it holds at once.
    pub fn max_frames(&self) -> usize {
        self.max_frames
    }

    /// Queues a frame. Never blocks. On overflow the outbox closes as a slow consumer and
    /// drops its pending frames (their memory is released at once).
    pub fn push(&self, frame: Frame) -> Result<(), PushError> {
        let mut st = self.state.lock();
        if let Some(reason) = st.closed {
            return Err(PushError::Closed(reason));
        }
        if st.len() >= self.max_frames || st.bytes + frame.len() > self.max_bytes {
            st.closed = Some(CloseReason::SlowConsumer);
            st.first = None;
            st.rest = VecDeque::new();
            st.bytes = 0;
            drop(st);
            self.notify.notify_waiters();
            return Err(PushError::Overflow);
        }
        st.bytes += frame.len();
        let was_empty = st.first.is_none();
        if was_empty {
            st.first = Some(frame);
        } else {
            st.rest.push_back(frame);
        }
        drop(st);
        // The writer takes everything each time it wakes, so only the first frame of a
        // batch needs to wake it.
        if was_empty {
            self.notify.notify_waiters();
        }
        Ok(())
    }

    /// Closes the outbox. Frames already queued are still handed to the writer (so a
    /// `phx_close` queued before a drain is delivered); later pushes are refused. The first
    /// reason wins.
    pub fn close(&self, reason: CloseReason) {
        let mut st = self.state.lock();
        if st.closed.is_none() {
            st.closed = Some(reason);
        }
        drop(st);
        self.notify.notify_waiters();
    }

    /// Resolves once the outbox is closed, with the reason. Any task may wait; used to abort
    /// a write that a client which stopped reading keeps pending.
    pub async fn closed_wait(&self) -> CloseReason {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register before checking, so a close between the check and the await is seen.
            notified.as_mut().enable();
            if let Some(reason) = self.closed() {
                return reason;
            }
            notified.await;
        }
    }

    /// The close reason, if closed.
    pub fn closed(&self) -> Option<CloseReason> {
        self.state.lock().closed
    }

    /// Number of frames waiting.
    pub fn len(&self) -> usize {
        self.state.lock().len()
    }

    /// True when no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until frames are pending or the outbox is closed, then moves every pending frame
    /// into `out` (appending). Returns the close reason once closed; frames queued before the
    /// close are returned first. Only the connection's writer task calls this.
    pub async fn drain_into(&self, out: &mut Vec<Frame>) -> Option<CloseReason> {
        match self.take().await {
            Ok(frames) => {
                out.extend(frames);
                None
            }
            Err(reason) => Some(reason),
        }
    }

    /// Like [`take`](Self::take), but takes at most `max_bytes` of frame bodies (always at
    /// least one frame); the rest stays queued, oldest first. For a reader that must keep its
    /// answer small (a long-poll answer forwarded through a broker).
    pub async fn take_bounded(&self, max_bytes: usize) -> Result<Batch, CloseReason> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.state.lock();
                // Everything (the writer's case): the queues move out as they are.
                if st.bytes <= max_bytes && st.first.is_some() {
                    st.bytes = 0;
                    return Ok(Batch {
                        first: st.first.take(),
                        rest: std::mem::take(&mut st.rest),
                    });
                }
                if let Some(first) = st.first.take() {
                    let mut taken = first.len();
                    let mut rest = VecDeque::new();
                    while let Some(next) = st.rest.front() {
                        if taken + next.len() > max_bytes {
                            break;
                        }
                        taken += next.len();
                        rest.extend(st.rest.pop_front());
                    }
                    st.bytes -= taken;
                    st.first = st.rest.pop_front();
                    return Ok(Batch {
                        first: Some(first),
                        rest,
                    });
                }
                if let Some(reason) = st.closed {
                    return Err(reason);
                }
            }
            notified.await;
        }
    }

    /// Like [`drain_into`](Self::drain_into), but hands the frames over as they are queued:
    /// no copy, and the outbox keeps no queue memory afterwards (a burst's queue leaves with
    /// its frames; a single frame needs none).
    pub async fn take(&self) -> Result<Batch, CloseReason> {
        self.take_bounded(usize::MAX).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test]
    async fn a_bounded_take_leaves_the_rest_queued_in_order() {
        let outbox = Outbox::new(10, 1000);
        for f in ["aaaa", "bbbb", "cccc", "dddd"] {
            outbox.push(text(f)).unwrap();
        }
        let names = |b: Batch| -> Vec<Frame> { b.into_iter().collect() };
        assert_eq!(
            names(outbox.take_bounded(9).await.unwrap()),
            [text("aaaa"), text("bbbb")]
        );
        assert_eq!(outbox.len(), 2);
        // At least one frame, even over the budget.
        assert_eq!(names(outbox.take_bounded(1).await.unwrap()), [text("cccc")]);
        outbox.push(text("eeee")).unwrap();
        assert_eq!(
            names(outbox.take_bounded(100).await.unwrap()),
            [text("dddd"), text("eeee")]
        );
        assert!(outbox.is_empty());
        // The byte count followed: the queue takes its full byte budget again.
        outbox
            .push(Frame::Text(Bytes::from(vec![b'x'; 1000])))
            .unwrap();
    }

    fn text(s: &'static str) -> Frame {
        Frame::Text(Bytes::from_static(s.as_bytes()))
    }

    #[tokio::test]
    async fn drains_everything_pending_in_order() {
        let ob = Outbox::new(10, 1000);
        ob.push(text("a")).unwrap();
        ob.push(text("b")).unwrap();
        let mut out = vec![];
        assert_eq!(ob.drain_into(&mut out).await, None);
        assert_eq!(out, vec![text("a"), text("b")]);
    }

    #[tokio::test]
    async fn a_taken_queue_leaves_no_capacity_behind() {
        let ob = Outbox::new(10_000, 1_000_000);
        for _ in 0..1_000 {
            ob.push(text("a")).unwrap();
        }
        let taken = ob.take().await.expect("open");
        assert_eq!(taken.len(), 1_000);
        assert_eq!(ob.state.lock().rest.capacity(), 0);
        assert!(ob.is_empty());
        // One frame at a time never allocates a queue.
        ob.push(text("b")).unwrap();
        assert_eq!(ob.state.lock().rest.capacity(), 0);
        let one = ob.take().await.expect("open");
        assert_eq!(one.into_iter().collect::<Vec<_>>(), vec![text("b")]);
    }

    #[tokio::test]
    async fn overflow_closes_as_slow_consumer_and_frees_frames() {
        let ob = Outbox::new(2, 1000);
        ob.push(text("a")).unwrap();
        ob.push(text("b")).unwrap();
        assert_eq!(ob.push(text("c")), Err(PushError::Overflow));
        assert_eq!(ob.len(), 0);
        assert_eq!(
            ob.push(text("d")),
            Err(PushError::Closed(CloseReason::SlowConsumer))
        );
        let mut out = vec![];
        assert_eq!(
            ob.drain_into(&mut out).await,
            Some(CloseReason::SlowConsumer)
        );
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn byte_limit_counts_frame_bodies() {
        let ob = Outbox::new(100, 3);
        ob.push(text("ab")).unwrap();
        assert_eq!(ob.push(text("cd")), Err(PushError::Overflow));
    }

    #[tokio::test]
    async fn frames_queued_before_close_are_delivered_first() {
        let ob = Outbox::new(10, 1000);
        ob.push(text("last words")).unwrap();
        ob.close(CloseReason::Drain);
        ob.close(CloseReason::Disconnect);
        let mut out = vec![];
        assert_eq!(ob.drain_into(&mut out).await, None);
        assert_eq!(out, vec![text("last words")]);
        assert_eq!(ob.drain_into(&mut out).await, Some(CloseReason::Drain));
    }

    #[tokio::test]
    async fn closed_wait_resolves_on_close_and_on_overflow() {
        let ob = std::sync::Arc::new(Outbox::new(1, 1000));
        let waiter = tokio::spawn({
            let ob = ob.clone();
            async move { ob.closed_wait().await }
        });
        tokio::task::yield_now().await;
        ob.push(text("a")).unwrap();
        assert_eq!(ob.push(text("b")), Err(PushError::Overflow));
        assert_eq!(waiter.await.unwrap(), CloseReason::SlowConsumer);
        // Already closed: resolves at once.
        assert_eq!(ob.closed_wait().await, CloseReason::SlowConsumer);
    }

    #[tokio::test]
    async fn writer_wakes_on_push_from_another_thread() {
        let ob = std::sync::Arc::new(Outbox::new(10, 1000));
        let ob2 = ob.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            ob2.push(text("x")).unwrap();
        });
        let mut out = vec![];
        ob.drain_into(&mut out).await;
        assert_eq!(out, vec![text("x")]);
        t.join().unwrap();
    }
}
