//! The topic → channel map of one connection.
//!
//! A connection has a handful of channels (at most `max_channels`, 100 by default, plus ended
//! entries awaiting their sweep), and most have one. A `HashMap` allocates at least four
//! buckets and carries a random hasher: ~230 bytes for a single entry, on every idle
//! connection. A `Vec` searched linearly holds one entry in 40 bytes and is as fast at these
//! sizes (a topic comparison usually stops at the length).

/// Topic → value, for a few entries.
#[derive(Debug)]
pub(crate) struct TopicMap<V> {
    entries: Vec<(String, V)>,
}

impl<V> Default for TopicMap<V> {
    fn default() -> Self {
        TopicMap {
            entries: Vec::new(),
        }
    }
}

impl<V> TopicMap<V> {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, topic: &str) -> Option<&V> {
        self.entries
            .iter()
            .find(|(t, _)| t == topic)
            .map(|(_, v)| v)
    }

    pub(crate) fn remove(&mut self, topic: &str) -> Option<V> {
        let pos = self.entries.iter().position(|(t, _)| t == topic)?;
        Some(self.entries.swap_remove(pos).1)
    }

    /// Inserts or replaces the value of `topic`.
    pub(crate) fn insert(&mut self, topic: String, value: V) {
        if let Some((_, v)) = self.entries.iter_mut().find(|(t, _)| *t == topic) {
            *v = value;
            return;
        }
        // Grow 1, 2, 4, 8, ... rather than `Vec`'s first step of four slots.
        if self.entries.len() == self.entries.capacity() {
            self.entries.reserve_exact(self.entries.len().max(1));
        }
        self.entries.push((topic, value));
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.entries.retain(|(_, v)| keep(v));
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    pub(crate) fn into_values(self) -> impl Iterator<Item = V> {
        self.entries.into_iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_replace_remove() {
        let mut m = TopicMap::default();
        m.insert("room:a".to_owned(), 1);
        m.insert("room:b".to_owned(), 2);
        m.insert("room:a".to_owned(), 3);
        assert_eq!(m.len(), 2);
        assert_eq!(m.get("room:a"), Some(&3));
        assert_eq!(m.get("room:c"), None);
        assert_eq!(m.remove("room:a"), Some(3));
        assert_eq!(m.remove("room:a"), None);
        assert_eq!(m.get("room:b"), Some(&2));
        m.retain(|v| *v != 2);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn one_entry_takes_one_slot() {
        let mut m = TopicMap::default();
        m.insert("room:a".to_owned(), 1u64);
        assert_eq!(m.entries.capacity(), 1);
        for i in 0..100 {
            m.insert(format!("room:{i}"), i);
        }
        assert_eq!(m.len(), 101);
        assert_eq!(m.values().sum::<u64>(), 1 + (0..100).sum::<u64>());
        assert_eq!(m.into_values().count(), 101);
    }
}
