//! What one resuming client must see, checked frame by frame (pure, so it is unit-tested
//! without a server): the join reply, then `sb_recovery` with `recovered: true` and `missed` =
//! the messages expected, then exactly those messages (sequence numbers `0..expected`), in
//! order, once each, each with its stream position as `ref` (docs/HISTORY.md). Also the tally
//! of every client's check into the result line's `loss` object.

use serde_json::{Value, json};

/// Where a client is in its resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// `phx_join` sent, its reply not seen yet.
    Joining,
    /// Joined; `sb_recovery` not seen yet.
    Recovering,
    /// `sb_recovery` seen; the missed messages arrive.
    Replaying,
}

/// One client's frames so far.
#[derive(Debug, Clone)]
pub struct Check {
    expected: u64,
    stage: Stage,
    /// Per sequence number below `expected`: received already.
    seen: Vec<bool>,
    /// The sequence number that comes next in order.
    next: u64,
    /// `ref` of the latest message (its position).
    last_ref: Option<String>,
    /// The topic's latest position, from `sb_recovery`.
    pub position: Option<String>,
    /// Distinct expected messages received.
    pub received: u64,
    /// Expected messages received again.
    pub duplicates: u64,
    /// Messages that are none of the expected ones (another sequence number, no payload).
    pub unexpected: u64,
    /// Messages that came before `sb_recovery`, or after a later one.
    pub out_of_order: u64,
    /// Messages whose `ref` is not a position (a string), and a last replayed message whose
    /// position is not the one `sb_recovery` named as the latest.
    pub bad_refs: u64,
}

impl Check {
    /// A client that expects `expected` missed messages (0 for a join with `_since: null`).
    pub fn new(expected: u64) -> Check {
        Check {
            expected,
            stage: Stage::Joining,
            seen: vec![false; usize::try_from(expected).unwrap_or(0)],
            next: 0,
            last_ref: None,
            position: None,
            received: 0,
            duplicates: 0,
            unexpected: 0,
            out_of_order: 0,
            bad_refs: 0,
        }
    }

    /// Whether the reply, `sb_recovery` and every expected message have arrived.
    pub fn done(&self) -> bool {
        self.stage == Stage::Replaying && self.received == self.expected
    }

    /// Takes one text frame (Phoenix V2 JSON; anything else is ignored). `Err` when the
    /// resume failed: join refused, `sb_recovery` missing, not recovered or with another
    /// count, the channel errored or closed.
    pub fn frame(&mut self, text: &str) -> Result<(), String> {
        let Ok(Value::Array(v)) = serde_json::from_str::<Value>(text) else {
            return Ok(());
        };
        let event = v.get(3).and_then(Value::as_str).unwrap_or_default();
        let payload = v.get(4).unwrap_or(&Value::Null);
        match event {
            "phx_reply" if self.stage == Stage::Joining && v.get(1) == Some(&json!("1")) => {
                if payload.get("status").and_then(Value::as_str) != Some("ok") {
                    return Err(format!("join refused: {text}"));
                }
                self.stage = Stage::Recovering;
                Ok(())
            }
            "sb_recovery" => self.recovery(payload, text),
            "msg" => {
                self.message(v.get(1), payload);
                Ok(())
            }
            "phx_error" | "phx_close" => Err(format!("channel ended: {text}")),
            _ => Ok(()),
        }
    }

    fn recovery(&mut self, payload: &Value, text: &str) -> Result<(), String> {
        if self.stage != Stage::Recovering {
            return Err(format!("sb_recovery out of place: {text}"));
        }
        let recovered = payload.get("recovered").and_then(Value::as_bool);
        let missed = payload.get("missed").and_then(Value::as_u64);
        self.position = payload
            .get("position")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if recovered != Some(true) || missed != Some(self.expected) || self.position.is_none() {
            return Err(format!(
                "expected recovered with {} missed, got {text}",
                self.expected
            ));
        }
        self.stage = Stage::Replaying;
        Ok(())
    }

    fn message(&mut self, reference: Option<&Value>, payload: &Value) {
        if self.stage != Stage::Replaying {
            self.out_of_order += 1;
        }
        match reference.and_then(Value::as_str) {
            Some(r) => self.last_ref = Some(r.to_owned()),
            None => self.bad_refs += 1,
        }
        let slot = payload
            .get("s")
            .and_then(Value::as_u64)
            .and_then(|s| Some((s, self.seen.get_mut(usize::try_from(s).ok()?)?)));
        let Some((s, seen)) = slot else {
            self.unexpected += 1;
            return;
        };
        if *seen {
            self.duplicates += 1;
            return;
        }
        *seen = true;
        self.received += 1;
        if s != self.next {
            self.out_of_order += 1;
        }
        self.next = s + 1;
        // The last missed message is the topic's latest: its position is sb_recovery's.
        if self.received == self.expected && self.last_ref != self.position {
            self.bad_refs += 1;
        }
    }
}

/// The `loss` object over every client's check: `clients` resumed (a client without a
/// check, whose task never reported, received nothing), each expecting `expected` messages;
/// `failed` of them did not resume, `closed_early` lost their connection.
pub fn loss_json(
    checks: &[Check],
    clients: usize,
    expected: u64,
    failed: u64,
    closed_early: u64,
) -> Value {
    let absent = clients.saturating_sub(checks.len()) as u64;
    let (mut missing, mut short) = (absent * expected, absent);
    let (mut duplicates, mut unexpected, mut out_of_order, mut bad_refs) = (0, 0, 0, 0);
    for c in checks {
        missing += expected.saturating_sub(c.received);
        short += u64::from(c.received < expected);
        duplicates += c.duplicates;
        unexpected += c.unexpected;
        out_of_order += c.out_of_order;
        bad_refs += c.bad_refs;
    }
    let not_recovered = failed + absent;
    json!({
        "missing": missing,
        "duplicates": duplicates,
        "unexpected": unexpected,
        "out_of_order": out_of_order,
        "bad_refs": bad_refs,
        "not_recovered": not_recovered,
        "subscribers_short": short,
        "closed_early": closed_early,
        "ok": missing + duplicates + unexpected + out_of_order + bad_refs + not_recovered
            + closed_early == 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = r#"["1","1","bench:r","phx_reply",{"status":"ok","response":{}}]"#;

    fn recovery(missed: u64, position: &str) -> String {
        format!(
            r#"["1",null,"bench:r","sb_recovery",{{"recovered":true,"missed":{missed},"position":"{position}"}}]"#
        )
    }

    fn msg(s: u64) -> String {
        let payload = crate::payload::json(1, s, 100);
        format!(r#"[null,"ep0ch000:{}","bench:r","msg",{payload}]"#, s + 1)
    }

    fn feed(check: &mut Check, frames: &[String]) {
        for f in frames {
            check.frame(f).expect("accepted");
        }
    }

    #[test]
    fn a_full_resume_in_order_is_done_and_clean() {
        let mut c = Check::new(3);
        feed(&mut c, &[REPLY.into(), recovery(3, "ep0ch000:3")]);
        assert!(!c.done());
        feed(&mut c, &[msg(0), msg(1), msg(2)]);
        assert!(c.done());
        let v = loss_json(&[c], 1, 3, 0, 0);
        assert_eq!(v["ok"], true, "{v}");
    }

    #[test]
    fn a_null_since_join_gives_the_position_and_expects_nothing() {
        let mut c = Check::new(0);
        feed(&mut c, &[REPLY.into(), recovery(0, "ep0ch000:0")]);
        assert!(c.done());
        assert_eq!(c.position.as_deref(), Some("ep0ch000:0"));
    }

    #[test]
    fn duplicates_gaps_order_and_strangers_are_counted() {
        let mut c = Check::new(3);
        feed(&mut c, &[REPLY.into()]);
        // A message before sb_recovery is out of order.
        feed(
            &mut c,
            &[msg(0), recovery(3, "ep0ch000:3"), msg(2), msg(2), msg(7)],
        );
        assert!(!c.done());
        assert_eq!(
            (c.received, c.duplicates, c.unexpected, c.out_of_order),
            (2, 1, 1, 2)
        );
        let v = loss_json(&[c], 2, 3, 0, 0);
        assert_eq!(v["missing"], 1 + 3, "{v}");
        assert_eq!(v["not_recovered"], 1, "{v}");
        assert_eq!(v["ok"], false);
    }

    #[test]
    fn a_null_ref_or_a_last_position_that_is_not_the_latest_is_a_bad_ref() {
        let mut c = Check::new(2);
        feed(&mut c, &[REPLY.into(), recovery(2, "ep0ch000:9")]);
        let payload = crate::payload::json(1, 0, 100);
        feed(
            &mut c,
            &[format!(r#"[null,null,"bench:r","msg",{payload}]"#), msg(1)],
        );
        assert!(c.done());
        assert_eq!(c.bad_refs, 2);
    }

    #[test]
    fn refused_joins_and_failed_recoveries_are_errors() {
        let mut c = Check::new(1);
        let refused = r#"["1","1","bench:r","phx_reply",{"status":"error","response":{}}]"#;
        assert!(c.frame(refused).is_err());
        let mut c = Check::new(1);
        c.frame(REPLY).expect("reply");
        let trimmed = r#"["1",null,"bench:r","sb_recovery",{"recovered":false,"missed":0,"position":"e:5","reason":"trimmed"}]"#;
        assert!(c.frame(trimmed).is_err());
        let mut c = Check::new(1);
        c.frame(REPLY).expect("reply");
        assert!(c.frame(&recovery(2, "e:2")).is_err(), "another count");
        let mut c = Check::new(1);
        assert!(c.frame(&recovery(1, "e:1")).is_err(), "before the reply");
    }
}
