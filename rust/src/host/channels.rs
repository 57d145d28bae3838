//! Channel ids: how a queue host names a channel instance in later actions (docs/ABI.md
//! "Handles vs ids"). The core may end a channel at any moment, so hosts hold a generation-
//! checked id, never a pointer; a stale id gives [`HandleError::NotFound`].

use super::TerminateReason;
use super::slab::{Key, Slab};
use crate::channel::{ChannelHandle, HandleError};
use parking_lot::Mutex;

/// Id of one channel instance served through a [`HostQueue`](super::HostQueue): a key of
/// the generational slab (`generation << 32 | slot index`), never 0. Given out with the `Join` request; valid for
/// actions from then until the channel starts ending (actions taken before the join is
/// answered are deferred until right after the `ok` join reply, as in a Phoenix `join`).
/// A channel whose join was answered `JoinOk` gets exactly one `Leave` request with its
/// id. The C ABI passes it as a plain `uint64_t`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChannelId(u64);

impl ChannelId {
    /// The raw value (never 0).
    pub fn get(self) -> u64 {
        self.0
    }

    /// An id from its raw value; checked when used.
    pub fn from_raw(raw: u64) -> ChannelId {
        ChannelId(raw)
    }

    fn key(self) -> Key {
        Key::from_raw(self.0)
    }
}

impl std::fmt::Display for ChannelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

enum State {
    Free,
    /// The `Join` request is out.
    Joining {
        handle: ChannelHandle,
    },
    /// The host answered `JoinOk`. `left`: the `Leave` request was posted. `reason`: the
    /// reason for a `Leave` owed without `terminate` running, if not a duplicate join.
    Joined {
        handle: ChannelHandle,
        left: bool,
        reason: Option<TerminateReason>,
    },
}

/// Live channel ids of one queue.
pub(crate) struct Channels {
    slab: Mutex<Slab<State>>,
}

impl Channels {
    pub(crate) fn new() -> Channels {
        Channels {
            slab: Mutex::new(Slab::new()),
        }
    }

    /// A fresh id for a channel whose `Join` is about to be asked; actions by id reach
    /// `handle` from now on. `None` only when 2^32 channels are live at once.
    pub(crate) fn allocate(&self, handle: ChannelHandle) -> Option<ChannelId> {
        let (key, old) = self.slab.lock().insert(State::Joining { handle })?;
        // A reused slot held a freed channel (`State::Free`): nothing left to drop.
        drop(old);
        Some(ChannelId(key.get()))
    }

    /// The host answered `JoinOk`: a `Leave` is owed from now on. `late`: the answer
    /// arrived as the core gave up on the join (request timeout), so the channel ends
    /// without `terminate` and its `Leave` says why.
    pub(crate) fn joined(&self, id: ChannelId, late: bool) {
        let mut slab = self.slab.lock();
        if let Some(state) = entry(&mut slab, id)
            && let State::Joining { handle } = state
        {
            *state = State::Joined {
                handle: handle.clone(),
                left: false,
                reason: late.then(|| {
                    TerminateReason::Crash("join answered after the request timeout".into())
                }),
            };
        }
    }

    /// The handle for actions on `id`; `NotFound` unless the channel exists and is not
    /// ending (or is in its `Leave` window, see [`ChannelHandle`]).
    pub(crate) fn get(&self, id: ChannelId) -> Result<ChannelHandle, HandleError> {
        let mut slab = self.slab.lock();
        match entry(&mut slab, id).map(|e| &*e) {
            Some(State::Joining { handle } | State::Joined { handle, .. })
                if handle.accepts_actions() =>
            {
                Ok(handle.clone())
            }
            _ => Err(HandleError::NotFound),
        }
    }

    /// Marks the `Leave` request as posted. Returns false if it already was, or if the
    /// channel never joined (no `Leave` is owed then).
    pub(crate) fn leave(&self, id: ChannelId) -> bool {
        let mut slab = self.slab.lock();
        match entry(&mut slab, id) {
            Some(State::Joined { left, .. }) if !*left => {
                *left = true;
                true
            }
            _ => false,
        }
    }

    /// The channel instance is gone: frees the id. Returns the reason of a `Leave` that is
    /// still owed (joined, but the core ended it without `terminate`): the recorded one (a
    /// join answered too late), else `fallback()`.
    pub(crate) fn free(
        &self,
        id: ChannelId,
        fallback: impl FnOnce() -> TerminateReason,
    ) -> Option<TerminateReason> {
        let mut slab = self.slab.lock();
        let state = entry(&mut slab, id)?;
        let owed = match state {
            State::Joined {
                left: false,
                reason,
                ..
            } => Some(reason.take().unwrap_or_else(fallback)),
            _ => None,
        };
        let old = std::mem::replace(state, State::Free);
        slab.release(id.key());
        drop(slab);
        // The handle may hold the last reference to the instance, whose drop unsubscribes:
        // not under our lock.
        drop(old);
        owed
    }
}

/// The state of a live channel `id` (not freed, not an older generation).
fn entry(slab: &mut Slab<State>, id: ChannelId) -> Option<&mut State> {
    match slab.get_mut(id.key()) {
        Ok(State::Free) | Err(_) => None,
        Ok(state) => Some(state),
    }
}
