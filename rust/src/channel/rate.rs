//! Per-connection rate limits (docs/OPTIONS.md `messages_per_second`, `joins_per_second`): a
//! token bucket per kind, and the rule that ends a connection which keeps going over.

use std::time::Instant;

/// A token bucket of `rate` tokens per second holding at most `rate` (one second's burst).
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// `None` for a rate of 0 (no limit).
    pub(crate) fn new(rate: u32) -> Option<Bucket> {
        (rate > 0).then(|| Bucket {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: Instant::now(),
        })
    }

    /// Takes a token if one is there at `now`.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Refusals in a row after which the connection is closed: another full second's worth.
    pub(crate) fn patience(&self) -> u32 {
        self.rate as u32
    }
}

/// The limits of one connection.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    messages: Option<Bucket>,
    joins: Option<Bucket>,
    /// Messages refused in a row (any kind); reset by one that passes.
    refused: u32,
}

/// What happens to one client message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    /// Answered `{"reason":"rate_limited"}` and dropped.
    Refuse,
    /// Refused, and the client kept going for a whole second's worth: close the connection.
    Close,
}

impl Limits {
    pub(crate) fn new(messages_per_second: u32, joins_per_second: u32) -> Limits {
        Limits {
            messages: Bucket::new(messages_per_second),
            joins: Bucket::new(joins_per_second),
            refused: 0,
        }
    }

    /// The verdict for a join (`join: true`) or another message, now.
    pub(crate) fn check(&mut self, join: bool) -> Verdict {
        self.check_at(join, Instant::now)
    }

    fn check_at(&mut self, join: bool, now: impl FnOnce() -> Instant) -> Verdict {
        let bucket = if join {
            &mut self.joins
        } else {
            &mut self.messages
        };
        let Some(bucket) = bucket else {
            return Verdict::Pass;
        };
        // The clock is read only when a limit is set: no cost on the default path.
        if bucket.take(now()) {
            self.refused = 0;
            return Verdict::Pass;
        }
        self.refused += 1;
        if self.refused > bucket.patience() {
            Verdict::Close
        } else {
            Verdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_rate_per_second_with_a_one_second_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10).unwrap();
        assert_eq!((0..15).filter(|_| b.take(t0)).count(), 10);
        // 100 ms later one token came back.
        let t1 = t0 + Duration::from_millis(100);
        assert!(b.take(t1));
        assert!(!b.take(t1));
        // Idle for a minute: still only a second's burst.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..15).filter(|_| b.take(t2)).count(), 10);
        assert!(Bucket::new(0).is_none());
    }

    #[test]
    fn a_client_that_keeps_going_over_the_limit_is_closed() {
        let now = Instant::now();
        let mut l = Limits::new(2, 0);
        assert_eq!(l.check_at(false, || now), Verdict::Pass);
        assert_eq!(l.check_at(false, || now), Verdict::Pass);
        assert_eq!(l.check_at(false, || now), Verdict::Refuse);
        assert_eq!(l.check_at(false, || now), Verdict::Refuse);
        assert_eq!(l.check_at(false, || now), Verdict::Close);
        // Joins have no limit here.
        assert_eq!(l.check_at(true, || now), Verdict::Pass);
        // A message that passes resets the count.
        let later = now + Duration::from_secs(1);
        let mut l = Limits::new(2, 1);
        l.check_at(false, || now);
        l.check_at(false, || now);
        assert_eq!(l.check_at(false, || now), Verdict::Refuse);
        assert_eq!(l.check_at(false, || later), Verdict::Pass);
        assert_eq!(l.check_at(true, || later), Verdict::Pass);
        assert_eq!(l.check_at(true, || later), Verdict::Refuse);
    }
}
