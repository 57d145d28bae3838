//! Connect params from the query string, decoded the way Plug decodes them (PROTOCOL.md 1.1),
//! because the JS client serializes nested socket params with bracketed keys.
//!
//! * `a=1&b=2` → `{"a":"1","b":"2"}`; a repeated key keeps the last value.
//! * `user[id]=7` → `{"user":{"id":"7"}}` (percent-encoded brackets `user%5Bid%5D` too).
//! * `a[0]=x&a[1]=y` → `{"a":{"0":"x","1":"y"}}` — the JS client sends arrays with index keys
//!   and Plug turns them into a map, not a list.
//! * `a[]=x&a[]=y` → `{"a":["x","y"]}` (Plug list syntax).
//! * `k` without `=` → `{"k":""}`; empty fragments (`a=1&&b=2`, a trailing `&`, which the JS
//!   client produces for a `null` param) are skipped; `+` is a space.
//! * A key whose brackets are not well formed (`a[b`, `a[b]c`, `[a]`) or nest deeper than
//!   [`MAX_DEPTH`] is kept as a literal top-level key.
//! * When a key is used both as a value and as a container (`a=1&a[b]=2`), the later one wins.
//!
//! Every value is a JSON string. Decoding never fails; at most [`MAX_PARAMS`] pairs are read.

use serde_json::{Map, Value};

/// Pairs read from one query string; the rest is ignored (bounds work on hostile input).
pub const MAX_PARAMS: usize = 1024;
/// Deepest bracket nesting honoured; deeper keys are kept literally.
pub const MAX_DEPTH: usize = 32;

/// One step of a key path.
#[derive(Debug, PartialEq, Eq)]
enum Segment<'a> {
    /// `[name]` (or the root name).
    Key(&'a str),
    /// `[]`: append to a list.
    Push,
}

/// Decodes a raw query string (without the leading `?`) into Plug-style nested params.
pub fn decode_query(query: &str) -> Map<String, Value> {
    let mut params = Map::new();
    // `form_urlencoded::parse` splits on `&`, skips empty fragments, splits each pair at the
    // first `=` (none → empty value) and percent/`+`-decodes both sides (invalid UTF-8
    // becomes U+FFFD).
    for (key, value) in form_urlencoded::parse(query.as_bytes()).take(MAX_PARAMS) {
        if key.is_empty() {
            continue;
        }
        let value = Value::String(value.into_owned());
        match split_key(&key) {
            Some((root, rest)) => insert_root(&mut params, root, &rest, value),
            None => {
                params.insert(key.into_owned(), value);
            }
        }
    }
    params
}

/// Splits `a[b][]` into root `a` and segments `[Key("b"), Push]`. `None` when the key is not a
/// well-formed bracketed key (then it is used literally).
fn split_key(key: &str) -> Option<(&str, Vec<Segment<'_>>)> {
    let open = key.find('[')?;
    let root = &key[..open];
    if root.is_empty() {
        return None;
    }
    let mut segments = Vec::new();
    let mut rest = &key[open..];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        let name = &inner[..close];
        if name.contains('[') {
            return None;
        }
        segments.push(if name.is_empty() {
            Segment::Push
        } else {
            Segment::Key(name)
        });
        if segments.len() > MAX_DEPTH {
            return None;
        }
        rest = &inner[close + 1..];
    }
    Some((root, segments))
}

fn insert_root(params: &mut Map<String, Value>, root: &str, path: &[Segment<'_>], value: Value) {
    let slot = params.entry(root.to_owned()).or_insert(Value::Null);
    insert_at(slot, path, value);
}

/// Stores `value` at `path` below `slot`, turning `slot` into the container the next segment
/// needs (a later, conflicting assignment replaces what was there).
fn insert_at(slot: &mut Value, path: &[Segment<'_>], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *slot = value;
        return;
    };
    match first {
        Segment::Key(name) => {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(map) = slot {
                let child = map.entry((*name).to_owned()).or_insert(Value::Null);
                insert_at(child, rest, value);
            }
        }
        Segment::Push => {
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            if let Value::Array(list) = slot {
                let mut child = Value::Null;
                insert_at(&mut child, rest, value);
                list.push(child);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decoded(q: &str) -> Value {
        Value::Object(decode_query(q))
    }

    #[test]
    fn flat_params_and_vsn() {
        assert_eq!(
            decoded("token=abc&vsn=2.0.0"),
            json!({"token": "abc", "vsn": "2.0.0"})
        );
    }

    #[test]
    fn nested_keys_percent_encoded_as_the_js_client_sends_them() {
        assert_eq!(
            decoded("token=abc&user%5Bid%5D=7&vsn=2.0.0"),
            json!({"token": "abc", "user": {"id": "7"}, "vsn": "2.0.0"})
        );
        assert_eq!(
            decoded("a[b][c]=1&a[b][d]=2&a[e]=3"),
            json!({"a": {"b": {"c": "1", "d": "2"}, "e": "3"}})
        );
    }

    #[test]
    fn indexed_arrays_become_maps_like_plug() {
        assert_eq!(
            decoded("a%5B0%5D=x&a%5B1%5D=y"),
            json!({"a": {"0": "x", "1": "y"}})
        );
    }

    #[test]
    fn empty_brackets_build_lists() {
        assert_eq!(decoded("a[]=x&a[]=y"), json!({"a": ["x", "y"]}));
        assert_eq!(decoded("a[][b]=1"), json!({"a": [{"b": "1"}]}));
    }

    #[test]
    fn null_param_fragments_and_missing_values_are_tolerated() {
        assert_eq!(
            decoded("user=u1&&vsn=2.0.0&"),
            json!({"user": "u1", "vsn": "2.0.0"})
        );
        assert_eq!(decoded("flag&=x"), json!({"flag": ""}));
        assert_eq!(decoded(""), json!({}));
    }

    #[test]
    fn plus_and_percent_decoding() {
        assert_eq!(
            decoded("name=a+b%20c&k%3D=%26"),
            json!({"name": "a b c", "k=": "&"})
        );
        // Invalid UTF-8 does not fail the decode.
        assert_eq!(decoded("x=%FF"), json!({"x": "\u{FFFD}"}));
    }

    #[test]
    fn last_value_wins_and_conflicts_replace() {
        assert_eq!(decoded("a=1&a=2"), json!({"a": "2"}));
        assert_eq!(decoded("a=1&a[b]=2"), json!({"a": {"b": "2"}}));
        assert_eq!(decoded("a[b]=2&a=1"), json!({"a": "1"}));
    }

    #[test]
    fn malformed_bracket_keys_are_literal() {
        assert_eq!(decoded("a[b=1"), json!({"a[b": "1"}));
        assert_eq!(decoded("a[b]c=1"), json!({"a[b]c": "1"}));
        assert_eq!(decoded("[a]=1"), json!({"[a]": "1"}));
        assert_eq!(decoded("vsn[]=2.0.0"), json!({"vsn": ["2.0.0"]}));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = format!("a{}=1", "[x]".repeat(MAX_DEPTH + 1));
        let params = decode_query(&deep);
        assert_eq!(params.len(), 1);
        assert!(params.contains_key(deep.trim_end_matches("=1")));
        let ok = format!("a{}=1", "[x]".repeat(MAX_DEPTH));
        assert!(decode_query(&ok).contains_key("a"));
    }

    #[test]
    fn pair_count_is_bounded() {
        let q: Vec<String> = (0..MAX_PARAMS + 10).map(|i| format!("k{i}=v")).collect();
        assert_eq!(decode_query(&q.join("&")).len(), MAX_PARAMS);
    }
}
