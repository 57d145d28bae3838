//! Tickets: the ids of requests awaiting a host answer (docs/ABI.md "Handles vs ids").
//!
//! A ticket is `generation << 32 | slot index`, generation ≥ 1, so it is never 0 and a
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

    fn new(index: u32, generation: u32) -> Ticket {
        Ticket((u64::from(generation) << 32) | u64::from(index))
    }

    fn index(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
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

struct Slot {
    generation: u32,
    state: State,
}

struct Slab {
    slots: Vec<Slot>,
    free: VecDeque<u32>,
    pending: usize,
    /// Answered or dropped tickets whose slot was reused, newest last (see the module docs).
    answered: HashSet<u64>,
    answered_order: VecDeque<u64>,
}

impl Slab {
    fn remember_answered(&mut self, ticket: Ticket) {
        if self.answered_order.len() >= RECENT_ANSWERED
            && let Some(oldest) = self.answered_order.pop_front()
        {
            self.answered.remove(&oldest);
        }
        self.answered.insert(ticket.get());
        self.answered_order.push_back(ticket.get());
    }
}

/// The table of pending requests. `limit` bounds how many may be pending at once.
pub(crate) struct Tickets {
    slab: Mutex<Slab>,
    limit: usize,
}

/// Too many requests pending.
#[derive(Debug)]
pub(crate) struct Full;

impl Tickets {
    pub(crate) fn new(limit: usize) -> Tickets {
        Tickets {
            slab: Mutex::new(Slab {
                slots: Vec::new(),
                free: VecDeque::new(),
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
        let state = State::Pending { tx, kind };
        let ticket = match slab.free.pop_front() {
            Some(index) => {
                let slot = slab.slots.get_mut(index as usize).ok_or(Full)?;
                let old = Ticket::new(index, slot.generation);
                let was_answered = matches!(slot.state, State::Answered | State::Dropped);
                slot.generation = slot.generation.checked_add(1).unwrap_or(1);
                slot.state = state;
                let ticket = Ticket::new(index, slot.generation);
                if was_answered {
                    slab.remember_answered(old);
                }
                ticket
            }
            None => {
                let index = u32::try_from(slab.slots.len()).map_err(|_| Full)?;
                slab.slots.push(Slot {
                    generation: 1,
                    state,
                });
                Ticket::new(index, 1)
            }
        };
        slab.pending += 1;
        Ok((ticket, rx))
    }

    /// Delivers `answer` for `ticket` (see [`AnswerError`] for the refusals).
    pub(crate) fn answer(&self, ticket: Ticket, answer: Answer) -> Result<(), AnswerError> {
        let mut slab = self.slab.lock();
        let slot = lookup(&mut slab, ticket)?;
        match &slot.state {
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
        let State::Pending { tx, .. } = std::mem::replace(&mut slot.state, State::Answered) else {
            return Err(AnswerError::NotFound);
        };
        // Sent under the lock: if the core stopped waiting just now, the answer comes back
        // and the host learns it was late, instead of a silent success.
        let result = match tx.send(answer) {
            Ok(()) => Ok(()),
            Err(_) => {
                slot.state = State::Stale;
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
        match &lookup(&mut slab, ticket)?.state {
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
            lookup(&mut slab, ticket).map(|s| &s.state),
            Ok(State::Pending { .. })
        )
    }

    fn finish(&self, ticket: Ticket, end: State) {
        let tx = {
            let mut slab = self.slab.lock();
            let Ok(slot) = lookup(&mut slab, ticket) else {
                return;
            };
            if !matches!(slot.state, State::Pending { .. }) {
                return;
            }
            let old = std::mem::replace(&mut slot.state, end);
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

/// The slot of `ticket` if it is the slot's current generation; otherwise the refusal the
/// module docs give for older and never-issued tickets.
fn lookup(slab: &mut Slab, ticket: Ticket) -> Result<&mut Slot, AnswerError> {
    let generation = ticket.generation();
    let current = match slab.slots.get(ticket.index()) {
        Some(slot) => slot.generation,
        None => return Err(AnswerError::NotFound),
    };
    if generation == 0 || generation > current {
        return Err(AnswerError::NotFound);
    }
    if generation < current {
        return Err(if slab.answered.contains(&ticket.get()) {
            AnswerError::AlreadyAnswered
        } else {
            AnswerError::Stale
        });
    }
    slab.slots
        .get_mut(ticket.index())
        .ok_or(AnswerError::NotFound)
}

/// A pending slot just ended: free it for reuse (its tombstone stays until then).
fn release(slab: &mut Slab, ticket: Ticket) {
    slab.pending = slab.pending.saturating_sub(1);
    // Indices come from `Ticket::new(index, ..)` with a u32 index.
    slab.free.push_back(ticket.index() as u32);
}
