//! Topic routing patterns and topic → shard hashing (DESIGN layer 2).

use xxhash_rust::xxh3::xxh3_64;

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
    /// Parses a route pattern. Only a single trailing `*` is a wildcard, as in Phoenix:
    /// `"room:*"` → `Prefix("room:")`, `"*"` → `Prefix("")` (matches every topic), anything
    /// else → `Exact`. A `*` elsewhere is an ordinary character here (`"a*b"` is exact,
    /// `"a**"` is the prefix `"a*"`); Phoenix rejects such patterns at compile time, so a host
    /// API that wants the same strictness validates before calling this.
    pub fn parse(pattern: &str) -> Pattern {
        match pattern.strip_suffix('*') {
            Some(prefix) => Pattern::Prefix(prefix.to_owned()),
            None => Pattern::Exact(pattern.to_owned()),
        }
    }

    /// True when `topic` is routed by this pattern (byte-wise, case-sensitive, like Phoenix's
    /// binary pattern match).
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Pattern::Prefix(prefix) => topic.starts_with(prefix.as_str()),
            Pattern::Exact(exact) => topic == exact,
        }
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
/// every process and on every machine (so nodes agree without coordination). Returns a value
/// in `0..shards`; `shards == 0` is treated as one shard (returns 0) rather than dividing by
/// zero.
pub fn shard_of(topic: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    // `usize` → `u64` is lossless on every supported target and the remainder is `< shards`,
    // so narrowing it back cannot truncate.
    (xxh3_64(topic.as_bytes()) % shards as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_star_is_a_prefix() {
        let p = Pattern::parse("room:*");
        assert_eq!(p, Pattern::Prefix("room:".into()));
        assert!(p.matches("room:lobby"));
        assert!(p.matches("room:"));
        assert!(!p.matches("room"));
        assert!(!p.matches("rooms:lobby"));
        assert!(!p.matches("Room:lobby"));
    }

    #[test]
    fn lone_star_matches_everything() {
        let p = Pattern::parse("*");
        assert_eq!(p, Pattern::Prefix(String::new()));
        assert!(p.matches(""));
        assert!(p.matches("anything:at all"));
    }

    #[test]
    fn without_star_the_match_is_exact() {
        let p = Pattern::parse("room:lobby");
        assert_eq!(p, Pattern::Exact("room:lobby".into()));
        assert!(p.matches("room:lobby"));
        assert!(!p.matches("room:lobby2"));
        assert!(!p.matches("room:lobb"));
    }

    #[test]
    fn inner_stars_are_literal() {
        let p = Pattern::parse("a*b");
        assert_eq!(p, Pattern::Exact("a*b".into()));
        assert!(p.matches("a*b"));
        assert!(!p.matches("axb"));
        let p = Pattern::parse("a**");
        assert_eq!(p, Pattern::Prefix("a*".into()));
        assert!(p.matches("a*c"));
        assert!(!p.matches("ac"));
    }

    #[test]
    fn router_uses_declaration_order() {
        let mut r = Router::default();
        r.add("room:lobby", 1);
        r.add("room:*", 2);
        r.add("*", 3);
        assert_eq!(r.route("room:lobby"), Some(&1));
        assert_eq!(r.route("room:42"), Some(&2));
        assert_eq!(r.route("user:1"), Some(&3));
        let empty: Router<u8> = Router::default();
        assert_eq!(empty.route("room:1"), None);
    }

    #[test]
    fn shard_of_is_in_range_and_deterministic() {
        for shards in [1, 2, 3, 7, 16, 64] {
            for i in 0..200 {
                let topic = format!("room:{i}");
                let s = shard_of(&topic, shards);
                assert!(s < shards);
                assert_eq!(s, shard_of(&topic, shards));
            }
        }
        assert_eq!(shard_of("room:1", 0), 0);
    }

    #[test]
    fn shard_of_is_unseeded_xxh3() {
        // Pinned values: another process, machine or node must compute the same shard, so
        // the hash must not depend on a per-process random seed. These are the published
        // XXH3-64 results with seed 0.
        assert_eq!(xxh3_64(b""), 0x2D06_8005_38D3_94C2);
        assert_eq!(
            shard_of("", 1 << 20),
            (0x2D06_8005_38D3_94C2_u64 % (1 << 20)) as usize
        );
    }

    #[test]
    fn shard_of_spreads_topics() {
        let shards = 8;
        let mut counts = [0usize; 8];
        for i in 0..8000 {
            counts[shard_of(&format!("room:{i}"), shards)] += 1;
        }
        // A uniform hash puts ~1000 in each; a broken one (e.g. constant) would not.
        assert!(counts.iter().all(|&c| c > 700 && c < 1300), "{counts:?}");
    }
}
