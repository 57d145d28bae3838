//! A channel instance's bounded command queue, and the wake-up of its task.
//!
//! Not a tokio `mpsc` channel: that allocates its first block of 32 slots (~1 KiB with the
//! channel state) when created, so every joined channel paid for it while idle. Here the
//! queue lives inside the channel instance and allocates only while
//! commands wait; a burst's capacity is given back once drained. The same signal also wakes
//! the task for a stop request, so an idle task waits on one small future. The signal is a
//! flag and an `AtomicWaker` (one waiter: the task) rather than a `Notify`, whose wait future
//! (~64 bytes) an idle task would carry all its life.

use crate::pubsub::Broadcast;
use crate::wire::Message;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

/// Work for a channel task, in arrival order.
///
/// Boxed variants keep a `Cmd` at 16 bytes, so a queue of waiting commands stays small.
#[derive(Debug)]
pub(crate) enum Cmd {
    /// A client message for the channel (any event but `phx_join`).
    In(Box<Message>),
    /// `Socket::send_info`: a `handle_info(Info::Message)`.
    Info(Box<serde_json::Value>),
    /// A broadcast on an external topic (`Socket::subscribe`): `handle_info(Info::Broadcast)`.
    External(Arc<Broadcast>),
    /// An intercepted broadcast on the channel topic: `handle_out`.
    Out(Arc<Broadcast>),
}

/// Queue slots kept allocated once drained (more after a burst are released).
const KEEP_SLOTS: usize = 8;

/// Why [`Inbox::try_send`] refused a command; the command comes back.
#[derive(Debug)]
pub(crate) enum TrySendError {
    /// `capacity` commands are already waiting; the command was dropped.
    Full,
    /// [`Inbox::close`] was called: the task takes no more commands.
    Closed(Cmd),
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Cmd>,
    closed: bool,
}

/// Multi-producer, single-consumer (the channel task) command queue.
#[derive(Debug)]
pub(crate) struct Inbox {
    state: Mutex<State>,
    /// Set on every queued command and by [`Inbox::wake`], cleared by the wait it ends; so a
    /// signal that arrives while the task is busy is not lost.
    signalled: AtomicBool,
    task: AtomicWaker,
    capacity: usize,
}

impl Inbox {
    /// An empty queue holding at most `capacity` (at least 1) commands; allocates nothing.
    pub(crate) fn new(capacity: usize) -> Inbox {
        Inbox {
            state: Mutex::new(State::default()),
            signalled: AtomicBool::new(false),
            task: AtomicWaker::new(),
            capacity: capacity.max(1),
        }
    }

    /// The most commands it holds at once.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues `cmd` without waiting.
    pub(crate) fn try_send(&self, cmd: Cmd) -> Result<(), TrySendError> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(TrySendError::Closed(cmd));
        }
        if st.queue.len() >= self.capacity {
            return Err(TrySendError::Full);
        }
        st.queue.push_back(cmd);
        drop(st);
        self.wake();
        Ok(())
    }

    /// The oldest waiting command, if any.
    pub(crate) fn try_recv(&self) -> Option<Cmd> {
        let mut st = self.state.lock();
        let cmd = st.queue.pop_front();
        if st.queue.is_empty() {
            st.queue.shrink_to(KEEP_SLOTS);
        }
        cmd
    }

    /// Refuses every later command (those already queued can still be taken).
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
    }

    /// Wakes the task's [`wait`](Self::wait) without a command (a stop request).
    pub(crate) fn wake(&self) {
        self.signalled.store(true, Ordering::Release);
        self.task.wake();
    }

    /// Waits until a command was queued or [`wake`](Self::wake) was called since the last
    /// wait returned. Spurious returns are possible: the caller re-checks what it waits for.
    /// Only the channel task waits.
    pub(crate) async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.signalled.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            // Registered before the second look, so a signal in between is not lost.
            self.task.register(cx.waker());
            if self.signalled.swap(false, Ordering::AcqRel) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn info(n: u64) -> Cmd {
        Cmd::Info(Box::new(serde_json::json!(n)))
    }

    fn n(cmd: Option<Cmd>) -> Option<u64> {
        match cmd {
            Some(Cmd::Info(v)) => v.as_u64(),
            _ => None,
        }
    }

    #[test]
    fn commands_come_out_in_order_up_to_the_capacity() {
        let inbox = Inbox::new(2);
        inbox.try_send(info(1)).expect("room");
        inbox.try_send(info(2)).expect("room");
        assert!(matches!(inbox.try_send(info(3)), Err(TrySendError::Full)));
        assert_eq!(n(inbox.try_recv()), Some(1));
        inbox.try_send(info(4)).expect("room again");
        assert_eq!(n(inbox.try_recv()), Some(2));
        assert_eq!(n(inbox.try_recv()), Some(4));
        assert!(inbox.try_recv().is_none());
    }

    #[test]
    fn closed_refuses_new_commands_but_keeps_queued_ones() {
        let inbox = Inbox::new(4);
        inbox.try_send(info(1)).expect("room");
        inbox.close();
        assert!(matches!(
            inbox.try_send(info(2)),
            Err(TrySendError::Closed(_))
        ));
        assert_eq!(n(inbox.try_recv()), Some(1));
    }

    #[test]
    fn idle_inbox_holds_no_queue_memory_after_a_burst() {
        let inbox = Inbox::new(1024);
        for i in 0..1000 {
            inbox.try_send(info(i)).expect("room");
        }
        while inbox.try_recv().is_some() {}
        assert!(inbox.state.lock().queue.capacity() <= KEEP_SLOTS);
    }

    #[tokio::test]
    async fn a_command_or_a_wake_from_another_thread_ends_the_wait() {
        let inbox = Arc::new(Inbox::new(4));
        let sender = Arc::clone(&inbox);
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            sender.try_send(info(7)).expect("room");
        });
        inbox.wait().await;
        assert_eq!(n(inbox.try_recv()), Some(7));
        t.join().expect("sender thread");
        // A wake before the wait is kept as a permit.
        inbox.wake();
        tokio::time::timeout(std::time::Duration::from_secs(5), inbox.wait())
            .await
            .expect("stored permit");
    }
}
