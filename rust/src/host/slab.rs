//! A generational slab: how the host layer hands out ids (channel ids, tickets) that a host
//! keeps as plain integers. A key is `generation << 32 | slot index` with generation ≥ 1, so
//! it is never 0, and a key whose slot was reused (a newer generation) is told apart from the
//! current one instead of reaching the new occupant.

use std::collections::VecDeque;

/// A slab key as the host sees it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Key(u64);

impl Key {
    pub(crate) fn from_raw(raw: u64) -> Key {
        Key(raw)
    }

    pub(crate) fn get(self) -> u64 {
        self.0
    }

    fn new(index: u32, generation: u32) -> Key {
        Key((u64::from(generation) << 32) | u64::from(index))
    }

    fn index(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// Why [`Slab::get_mut`] found no current slot for a key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Miss {
    /// Never issued: no such slot, generation 0, or a generation the slot never had.
    NeverIssued,
    /// Issued once; the slot has been reused since.
    Reused,
}

struct Slot<T> {
    generation: u32,
    value: T,
}

/// Values under generation-checked keys. A released slot keeps its value (a tombstone the
/// owner may still read under the old key) until [`insert`](Self::insert) reuses it, oldest
/// released first.
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: VecDeque<u32>,
}

impl<T> Slab<T> {
    pub(crate) fn new() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: VecDeque::new(),
        }
    }

    /// Stores `value` under a fresh key. When a released slot is reused, also returns its
    /// previous key and value. `None` only when 2^32 slots are in use at once.
    #[allow(clippy::type_complexity)]
    pub(crate) fn insert(&mut self, value: T) -> Option<(Key, Option<(Key, T)>)> {
        match self.free.pop_front() {
            Some(index) => {
                let slot = self.slots.get_mut(index as usize)?;
                let old_key = Key::new(index, slot.generation);
                slot.generation = slot.generation.checked_add(1).unwrap_or(1);
                let old = std::mem::replace(&mut slot.value, value);
                Some((Key::new(index, slot.generation), Some((old_key, old))))
            }
            None => {
                let index = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Slot {
                    generation: 1,
                    value,
                });
                Some((Key::new(index, 1), None))
            }
        }
    }

    /// Whether `key` is its slot's current generation (released or not).
    pub(crate) fn check(&self, key: Key) -> Result<(), Miss> {
        let generation = key.generation();
        match self.slots.get(key.index()) {
            Some(slot) if generation != 0 && generation == slot.generation => Ok(()),
            Some(slot) if generation != 0 && generation < slot.generation => Err(Miss::Reused),
            _ => Err(Miss::NeverIssued),
        }
    }

    /// The value under `key` if `key` is its slot's current generation (released or not).
    pub(crate) fn get_mut(&mut self, key: Key) -> Result<&mut T, Miss> {
        self.check(key)?;
        self.slots
            .get_mut(key.index())
            .map(|slot| &mut slot.value)
            .ok_or(Miss::NeverIssued)
    }

    /// Makes `key`'s slot reusable; its value stays readable under `key` until then. The
    /// caller releases each key once.
    pub(crate) fn release(&mut self, key: Key) {
        // Indices come from `Key::new(index, ..)` with a u32 index.
        self.free.push_back(key.index() as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_never_zero_and_a_reused_slot_refuses_its_old_key() {
        let mut slab = Slab::new();
        let (a, none) = slab.insert("a").unwrap();
        assert!(none.is_none());
        assert_ne!(a.get(), 0);
        assert_eq!(slab.get_mut(a), Ok(&mut "a"));
        slab.release(a);
        // Still readable (a tombstone) until reused.
        assert_eq!(slab.get_mut(a), Ok(&mut "a"));
        let (b, old) = slab.insert("b").unwrap();
        assert_eq!(old, Some((a, "a")));
        assert_ne!(a, b);
        assert_eq!(slab.get_mut(a), Err(Miss::Reused));
        assert_eq!(slab.get_mut(b), Ok(&mut "b"));
        assert_eq!(slab.get_mut(Key::from_raw(0)), Err(Miss::NeverIssued));
        assert_eq!(
            slab.get_mut(Key::from_raw(b.get() + (1 << 32))),
            Err(Miss::NeverIssued)
        );
        assert_eq!(slab.get_mut(Key::from_raw(7)), Err(Miss::NeverIssued));
    }
}
