//! The subscriber list of one topic.
//!
//! Entries live in one contiguous `Vec` so a fan-out is a linear walk. Removal is
//! `swap_remove` (subscriber order carries no meaning), and past [`INDEX_FROM`] entries a
//! position index makes it O(1): without it, 100k connections leaving one topic would cost
//! O(n²) under the shard's write lock. The list also keeps the counters the publisher needs to
//! decide, before delivering anything, which serializers a broadcast must be encoded for.

use super::{Delivery, SubscriberId};
use crate::wire::SERIALIZER_COUNT;
use std::collections::HashMap;

/// Below this many entries a linear scan is cheaper than maintaining a hash index.
const INDEX_FROM: usize = 32;

/// One subscription: who, and how it receives.
pub(super) struct Entry {
    pub(super) id: SubscriberId,
    pub(super) delivery: Delivery,
}

/// True when `event` is in a fastlane subscriber's intercept list.
#[inline]
pub(super) fn intercepted(intercepts: &[String], event: &str) -> bool {
    // The common case is an empty list; `any` on it is a length check.
    intercepts.iter().any(|e| e == event)
}

#[derive(Default)]
pub(super) struct Subscribers {
    entries: Vec<Entry>,
    /// `id → position in entries`, present once the list grew past [`INDEX_FROM`].
    positions: Option<HashMap<SubscriberId, usize>>,
    /// Fastlane entries per serializer index.
    fastlane: [usize; SERIALIZER_COUNT],
    /// Fastlane entries with a non-empty intercept list.
    intercepting: usize,
}

impl Subscribers {
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(super) fn push(&mut self, entry: Entry) {
        self.count(&entry, true);
        let (id, pos) = (entry.id, self.entries.len());
        self.entries.push(entry);
        match &mut self.positions {
            Some(p) => {
                p.insert(id, pos);
            }
            None if self.entries.len() > INDEX_FROM => self.rebuild_index(),
            None => {}
        }
    }

    /// Removes the entry `id` and hands it back, so the caller can drop it after releasing
    /// the shard lock (dropping a `Delivery` may run arbitrary destructors of a mailbox
    /// closure, which could unsubscribe and take the same lock).
    pub(super) fn remove(&mut self, id: SubscriberId) -> Option<Entry> {
        let pos = match &self.positions {
            Some(p) => *p.get(&id)?,
            None => self.entries.iter().position(|e| e.id == id)?,
        };
        let entry = self.entries.swap_remove(pos);
        if let Some(p) = &mut self.positions {
            p.remove(&id);
            if let Some(moved) = self.entries.get(pos) {
                p.insert(moved.id, pos);
            }
        }
        self.count(&entry, false);
        Some(entry)
    }

    /// Removes every entry for which `dead` is true and returns them (to be dropped outside
    /// the lock, see [`remove`](Self::remove)).
    pub(super) fn remove_where(&mut self, mut dead: impl FnMut(&Entry) -> bool) -> Vec<Entry> {
        let removed: Vec<Entry> = self.entries.extract_if(.., |e| dead(e)).collect();
        if !removed.is_empty() {
            for e in &removed {
                self.count(e, false);
            }
            if self.entries.len() > INDEX_FROM {
                self.rebuild_index();
            } else {
                self.positions = None;
            }
        }
        removed
    }

    fn get(&self, id: SubscriberId) -> Option<&Entry> {
        match &self.positions {
            Some(p) => self.entries.get(*p.get(&id)?),
            None => self.entries.iter().find(|e| e.id == id),
        }
    }

    fn rebuild_index(&mut self) {
        self.positions = Some(
            self.entries
                .iter()
                .enumerate()
                .map(|(pos, e)| (e.id, pos))
                .collect(),
        );
    }

    fn count(&mut self, entry: &Entry, add: bool) {
        if let Delivery::Fastlane {
            serializer,
            intercepts,
            ..
        } = &entry.delivery
        {
            let counters = [
                self.fastlane.get_mut(serializer.index()),
                (!intercepts.is_empty()).then_some(&mut self.intercepting),
            ];
            for c in counters.into_iter().flatten() {
                if add {
                    *c += 1;
                } else {
                    *c = c.saturating_sub(1);
                }
            }
        }
    }

    /// Which serializers (by index) a broadcast of `event` skipping `from` must be encoded
    /// for: those of at least one fastlane entry that will get the frame. Exact, so that an
    /// encoding that would fail (say, binary under V1) only fails the publish when some
    /// subscriber actually needs it. O(1) in the common case of no intercepts on the topic.
    pub(super) fn needed_serializers(
        &self,
        from: Option<SubscriberId>,
        event: &str,
    ) -> [bool; SERIALIZER_COUNT] {
        let mut needed = self.fastlane.map(|c| c > 0);
        if self.intercepting == 0 {
            // Every fastlane entry needs its serializer, except the skipped sender when it is
            // the only one using its serializer.
            if let Some(Entry {
                delivery: Delivery::Fastlane { serializer, .. },
                ..
            }) = from.and_then(|id| self.get(id))
            {
                let i = serializer.index();
                if self.fastlane.get(i) == Some(&1)
                    && let Some(n) = needed.get_mut(i)
                {
                    *n = false;
                }
            }
            return needed;
        }
        // Some entries intercept: walk until every serializer in use is known to be needed.
        let mut missing = needed.iter().filter(|&&n| n).count();
        needed = [false; SERIALIZER_COUNT];
        for e in &self.entries {
            if missing == 0 {
                break;
            }
            if Some(e.id) == from {
                continue;
            }
            if let Delivery::Fastlane {
                serializer,
                intercepts,
                ..
            } = &e.delivery
                && !intercepted(intercepts, event)
                && let Some(n) = needed.get_mut(serializer.index())
                && !*n
            {
                *n = true;
                missing -= 1;
            }
        }
        needed
    }
}
