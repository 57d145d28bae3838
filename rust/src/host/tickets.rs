//! Tickets: the ids of requests awaiting a host answer (docs/ABI.md "Handles vs ids").
//!
//! A ticket is a key of the generational slab (`slab.rs`): never 0, and a
//! recycled slot does not accept an old ticket. Generations of a slot are issued in order,
//! so every ticket of a slot with a generation below the slot's current one was issued and
//! has ended. That gives the rule hosts rely on (docs/ABI.md "Tickets"):
//! - the slot's current generation: its state (pending, or the tombstone answered /
//!   dropped / stale);
//! - an older generation: `AlreadyAnswered` if it is among the last [`RECENT_ANSWERED`]
//!   answered (or dropped) tickets whose slot was reused, else `Stale` (the core no longer
//!   waits for it). So a late answer is never mistaken for an unknown ticket, however many
//!   requests came after it;
//! - no such slot, generation 0, or a generation never issued: `NotFound`.
//!
//! Free slots are reused oldest first, so tombstones live as long as possible.

use super::answer::{Answer, AnswerError};
use super::kind::RequestKind;
use super::slab::{Key, Miss, Slab};
use parking_lot::Mutex;
use std::collections::{HashSet, VecDeque};

/// How many answered (or dropped) tickets whose slot was reused are still told apart from
/// late ones (`AlreadyAnswered` rather than `Stale`). 8 bytes each, twice.
pub(crate) const RECENT_ANSWERED: usize = 4096;
use tokio::sync::oneshot;

/// A request's ticket: non-zero, unique while the request is pending. The C ABI passes it
/// as a plain `uint64_t`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ticket(u64);

impl Ticket {
    /// The raw value (never 0).
    pub fn get(self) -> u64 {
        self.0
    }

    /// A ticket from its raw value, e.g. one a C host passed back. Validity is checked
    /// when it is used ([`AnswerError::NotFound`] for a value never issued).
    pub fn from_raw(raw: u64) -> Ticket {
        Ticket(raw)
    }

    fn key(self) -> Key {
        Key::from_raw(self.0)
    }
}

impl std::fmt::Display for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

enum State {
    Pending {
        tx: oneshot::Sender<Answer>,
        kind: RequestKind,
    },
    Answered,
    /// Dropped without an answer: counted as a handler crash.
    Dropped,
    /// The core stopped waiting (request timeout, connection gone).
    Stale,
}

struct Table {
    slab: Slab<State>,
    pending: usize,
    /// Answered or dropped tickets whose slot was reused, newest last (see the module docs).
    answered: HashSet<u64>,
    answered_order: VecDeque<u64>,
}

impl Table {
    fn remember_answered(&mut self, ticket: u64) {
        if self.answered_order.len() >= RECENT_ANSWERED
            && let Some(oldest) = self.answered_order.pop_front()
        {
            self.answered.remove(&oldest);
        }
        self.answered.insert(ticket);
        self.answered_order.push_back(ticket);
    }
}

/// The table of pending requests. `limit` bounds how many may be pending at once.
pub(crate) struct Tickets {
    slab: Mutex<Table>,
    limit: usize,
}

/// Too many requests pending.
#[derive(Debug)]
pub(crate) struct Full;

impl Tickets {
    pub(crate) fn new(limit: usize) -> Tickets {
        Tickets {
            slab: Mutex::new(Table {
                slab: Slab::new(),
                pending: 0,
                answered: HashSet::new(),
                answered_order: VecDeque::new(),
            }),
            limit,
        }
    }

    /// A new pending request of `kind`; the receiver gets the answer, or an error if the
    /// request was dropped unanswered.
    pub(crate) fn issue(
        &self,
        kind: RequestKind,
    ) -> Result<(Ticket, oneshot::Receiver<Answer>), Full> {
        let (tx, rx) = oneshot::channel();
        let mut slab = self.slab.lock();
        if slab.pending >= self.limit {
            return Err(Full);
        }
        let (key, old) = slab.slab.insert(State::Pending { tx, kind }).ok_or(Full)?;
        if let Some((old_key, State::Answered | State::Dropped)) = old {
            slab.remember_answered(old_key.get());
        }
        let ticket = Ticket(key.get());
        slab.pending += 1;
        Ok((ticket, rx))
    }

    /// Delivers `answer` for `ticket` (see [`AnswerError`] for the refusals).
    pub(crate) fn answer(&self, ticket: Ticket, answer: Answer) -> Result<(), AnswerError> {
        let mut slab = self.slab.lock();
        let slot = lookup(&mut slab, ticket)?;
        match &*slot {
            State::Pending { kind, .. } if !answer.fits(*kind) => {
                return Err(AnswerError::WrongKind {
                    request: *kind,
                    answer: answer.name(),
                });
            }
            State::Pending { .. } => {}
            State::Answered | State::Dropped => return Err(AnswerError::AlreadyAnswered),
            State::Stale => return Err(AnswerError::Stale),
        }
        let State::Pending { tx, .. } = std::mem::replace(slot, State::Answered) else {
            return Err(AnswerError::NotFound);
        };
        // Sent under the lock: if the core stopped waiting just now, the answer comes back
        // and the host learns it was late, instead of a silent success.
        let result = match tx.send(answer) {
            Ok(()) => Ok(()),
            Err(_) => {
                *slot = State::Stale;
                Err(AnswerError::Stale)
            }
        };
        release(&mut slab, ticket);
        result
    }

    /// The kind of the pending request with `ticket` (refusals as for an answer, except
    /// that a pending ticket is never refused).
    pub(crate) fn kind(&self, ticket: Ticket) -> Result<RequestKind, AnswerError> {
        let mut slab = self.slab.lock();
        match &*lookup(&mut slab, ticket)? {
            State::Pending { kind, .. } => Ok(*kind),
            State::Answered | State::Dropped => Err(AnswerError::AlreadyAnswered),
            State::Stale => Err(AnswerError::Stale),
        }
    }

    /// The core stopped waiting for `ticket` (timeout, connection end). No-op if it ended.
    pub(crate) fn abandon(&self, ticket: Ticket) {
        self.finish(ticket, State::Stale);
    }

    /// The request object was dropped unanswered: the waiting handler sees a crash.
    pub(crate) fn drop_unanswered(&self, ticket: Ticket) {
        self.finish(ticket, State::Dropped);
    }

    /// True while `ticket` awaits an answer.
    pub(crate) fn is_pending(&self, ticket: Ticket) -> bool {
        let mut slab = self.slab.lock();
        matches!(
            lookup(&mut slab, ticket).map(|s| &*s),
            Ok(State::Pending { .. })
        )
    }

    fn finish(&self, ticket: Ticket, end: State) {
        let tx = {
            let mut slab = self.slab.lock();
            let Ok(slot) = lookup(&mut slab, ticket) else {
                return;
            };
            if !matches!(slot, State::Pending { .. }) {
                return;
            }
            let old = std::mem::replace(slot, end);
            release(&mut slab, ticket);
            old
        };
        // Dropping the sender (outside the lock) wakes the waiting handler with an error.
        drop(tx);
    }

    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.slab.lock().pending
    }
}

/// The state of `ticket` if it is its slot's current generation; otherwise the refusal the
/// module docs give for older and never-issued tickets.
fn lookup(table: &mut Table, ticket: Ticket) -> Result<&mut State, AnswerError> {
    match table.slab.check(ticket.key()) {
        Ok(()) => {}
        Err(Miss::NeverIssued) => return Err(AnswerError::NotFound),
        Err(Miss::Reused) if table.answered.contains(&ticket.get()) => {
            return Err(AnswerError::AlreadyAnswered);
        }
        Err(Miss::Reused) => return Err(AnswerError::Stale),
    }
    table
        .slab
        .get_mut(ticket.key())
        .map_err(|_| AnswerError::NotFound)
}

/// A pending slot just ended: free it for reuse (its tombstone stays until then).
fn release(table: &mut Table, ticket: Ticket) {
    table.pending = table.pending.saturating_sub(1);
    table.slab.release(ticket.key());
}
