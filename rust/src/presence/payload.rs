//! `presence_state` and `presence_diff` payload encoding (PROTOCOL.md 6.3).
//!
//! Both are objects of presences keyed by presence key: `{key: {"metas": [meta, ...]}}`.
//! Keys are written as plain JSON object keys in first-seen order, so `"__proto__"` or
//! `"constructor"` are ordinary keys (the JS client stores them in a prototype-less object).

use super::Meta;
use crate::wire::Payload;
use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::collections::HashMap;

/// Groups `(key, meta)` pairs by key, keeping the first-seen order of keys and the order of
/// metas within a key.
pub(crate) fn group<'a, M>(
    entries: impl IntoIterator<Item = (&'a str, M)>,
) -> Vec<(&'a str, Vec<M>)> {
    let mut out: Vec<(&'a str, Vec<M>)> = Vec::new();
    let mut index: HashMap<&'a str, usize> = HashMap::new();
    for (key, meta) in entries {
        match index.get(key) {
            Some(&i) => {
                if let Some((_, metas)) = out.get_mut(i) {
                    metas.push(meta);
                }
            }
            None => {
                index.insert(key, out.len());
                out.push((key, vec![meta]));
            }
        }
    }
    out
}

/// `{key: {"metas": [...]}}` over already grouped presences.
pub(crate) struct Presences<'a, K, M>(pub &'a [(K, Vec<M>)]);

impl<K: AsRef<str>, M: Serialize> Serialize for Presences<'_, K, M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, metas) in self.0 {
            map.serialize_entry(key.as_ref(), &Metas(metas))?;
        }
        map.end()
    }
}

struct Metas<'a, M>(&'a [M]);

impl<M: Serialize> Serialize for Metas<'_, M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("metas", self.0)?;
        map.end()
    }
}

struct DiffBody<'a, K, M> {
    joins: Presences<'a, K, M>,
    leaves: Presences<'a, K, M>,
}

impl<K: AsRef<str>, M: Serialize> Serialize for DiffBody<'_, K, M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("joins", &self.joins)?;
        map.serialize_entry("leaves", &self.leaves)?;
        map.end()
    }
}

/// The `presence_state` payload for `(key, meta)` pairs in list order.
pub fn presence_state<'a>(entries: impl IntoIterator<Item = (&'a str, &'a Meta)>) -> Payload {
    let grouped = group(entries);
    json_payload(&Presences(&grouped))
}

/// The `presence_diff` payload `{"joins": {...}, "leaves": {...}}` (both always present).
pub fn presence_diff<K: AsRef<str>>(
    joins: &[(K, Vec<Meta>)],
    leaves: &[(K, Vec<Meta>)],
) -> Payload {
    json_payload(&DiffBody {
        joins: Presences(joins),
        leaves: Presences(leaves),
    })
}

fn json_payload(value: &impl Serialize) -> Payload {
    // Serialising string-keyed maps of JSON values into a Vec cannot fail; the fallback only
    // keeps this function total.
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    Payload::Json(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: serde_json::Value) -> Meta {
        match v {
            serde_json::Value::Object(m) => m,
            _ => Meta::new(),
        }
    }

    fn text(p: &Payload) -> &[u8] {
        match p {
            Payload::Json(b) | Payload::Binary(b) => b,
        }
    }

    #[test]
    fn state_groups_metas_by_key_in_first_seen_order() {
        let a = meta(json!({"n": 1}));
        let b = meta(json!({"n": 2}));
        let c = meta(json!({"n": 3}));
        let p = presence_state([("u2", &a), ("u1", &b), ("u2", &c)]);
        assert_eq!(
            text(&p),
            br#"{"u2":{"metas":[{"n":1},{"n":3}]},"u1":{"metas":[{"n":2}]}}"#
        );
    }

    #[test]
    fn empty_state_and_diff() {
        assert_eq!(text(&presence_state([])), b"{}");
        let none: &[(&str, Vec<Meta>)] = &[];
        assert_eq!(
            text(&presence_diff(none, none)),
            br#"{"joins":{},"leaves":{}}"#
        );
    }

    #[test]
    fn prototype_names_are_plain_keys() {
        let m = meta(json!({"x": true}));
        let p = presence_state([("__proto__", &m), ("constructor", &m)]);
        let v: serde_json::Value = serde_json::from_slice(text(&p)).expect("valid JSON");
        assert_eq!(v["__proto__"]["metas"][0]["x"], json!(true));
        assert_eq!(v["constructor"]["metas"][0]["x"], json!(true));
    }
}
