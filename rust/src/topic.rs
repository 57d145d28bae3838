//! Topic routing patterns and topic → shard hashing (DESIGN layer 2).

/// A route pattern as written in a channel declaration: `"room:*"` matches every topic that
/// starts with `"room:"` (prefix), anything else matches exactly (Phoenix `channel/3`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Pattern {
    /// `"room:*"` → prefix `"room:"`.
    Prefix(String),
    /// An exact topic.
    Exact(String),
}

impl Pattern {
    /// Parses a route pattern. Only a single trailing `*` is a wildcard, as in Phoenix.
    pub fn parse(pattern: &str) -> Pattern {
        todo!("{pattern}")
    }

    /// True when `topic` is routed by this pattern.
    pub fn matches(&self, topic: &str) -> bool {
        todo!("{topic}")
    }
}

/// An ordered routing table: the first pattern that matches wins (Phoenix declaration order).
#[derive(Debug)]
pub struct Router<T> {
    routes: Vec<(Pattern, T)>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

impl<T> Router<T> {
    /// Adds a route after the existing ones.
    pub fn add(&mut self, pattern: &str, value: T) {
        self.routes.push((Pattern::parse(pattern), value));
    }

    /// The value of the first route matching `topic`.
    pub fn route(&self, topic: &str) -> Option<&T> {
        self.routes
            .iter()
            .find(|(p, _)| p.matches(topic))
            .map(|(_, v)| v)
    }
}

/// Stable shard index of `topic` among `shards` shards: xxh3 of the topic bytes, the same in
/// every process and on every machine (so nodes agree without coordination).
pub fn shard_of(topic: &str, shards: usize) -> usize {
    todo!("{topic}{shards}")
}
