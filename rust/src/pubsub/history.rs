//! Per-topic history: the broadcasts of topics that opted in (by pattern, with a size and a
//! TTL), each with a stream position `"<epoch>:<offset>"` (docs/HISTORY.md).
//!
//! One log per topic, created by its first recorded broadcast. Its lock is held while a
//! broadcast is appended *and* fanned out, and while a resuming subscriber reads what it
//! missed and subscribes: so every subscriber sees a topic's recorded broadcasts in offset
//! order, and a resume gets exactly the messages after its position, then live ones, with no
//! gap and no duplicate. The lock is reentrant because a mailbox may publish on the same topic
//! from inside the fan-out.

use super::Broadcast;
use crate::topic::{Pattern, shard_of};
use crate::wire::{Frame, Ref, SERIALIZER_COUNT, Serializer, WireError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::{Mutex, ReentrantMutex};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How much history the topics of one pattern keep.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HistoryRule {
    /// Messages kept per topic (the oldest go first), at least 1.
    pub size: usize,
    /// How long a message is kept.
    pub ttl: Duration,
}

/// Which topics keep history: patterns as channel routes (`"room:*"` or an exact topic), the
/// first that matches wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryConfig {
    rules: Vec<(String, Pattern, HistoryRule)>,
}

impl HistoryConfig {
    /// Adds a rule after the existing ones.
    pub fn add(&mut self, pattern: &str, rule: HistoryRule) {
        self.rules
            .push((pattern.to_owned(), Pattern::parse(pattern), rule));
    }

    /// True when no topic keeps history.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules as given: `(pattern, rule)`.
    pub fn rules(&self) -> impl Iterator<Item = (&str, HistoryRule)> {
        self.rules.iter().map(|(p, _, r)| (p.as_str(), *r))
    }

    /// The rule of `topic`, if it keeps history.
    pub fn rule(&self, topic: &str) -> Option<HistoryRule> {
        self.rules
            .iter()
            .find(|(_, p, _)| p.matches(topic))
            .map(|(_, _, r)| *r)
    }
}

/// Events never recorded: presence and the protocol's own (`phx_*`).
pub fn recorded(event: &str) -> bool {
    !(event.starts_with("phx_") || event == "presence_diff" || event == "presence_state")
}

/// Longest position text accepted from a client or host (ours are under 30 bytes).
const MAX_POSITION_LEN: usize = 64;

/// A parsed stream position.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Position {
    pub epoch: String,
    pub offset: u64,
}

impl Position {
    /// Parses `"<epoch>:<offset>"`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Position> {
        if text.len() > MAX_POSITION_LEN {
            return None;
        }
        let (epoch, offset) = text.rsplit_once(':')?;
        if epoch.is_empty() || offset.is_empty() || !offset.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Position {
            epoch: epoch.to_owned(),
            offset: offset.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.epoch, self.offset)
    }
}

/// One recorded broadcast.
#[derive(Debug)]
pub struct HistoryEntry {
    pub broadcast: Arc<Broadcast>,
    offset: u64,
    /// The position as text and as the frame's `ref` (a JSON string).
    position: String,
    position_ref: Ref,
    at: Instant,
    /// The frame per serializer, encoded on first replay and shared by later ones.
    frames: [OnceLock<Frame>; SERIALIZER_COUNT],
}

impl HistoryEntry {
    /// `"<epoch>:<offset>"`.
    pub fn position(&self) -> &str {
        &self.position
    }

    /// The position as a frame `ref`.
    pub fn position_ref(&self) -> &Ref {
        &self.position_ref
    }

    /// The broadcast frame `[null, "<position>", topic, event, payload]` for `s`.
    pub fn frame(&self, s: Serializer) -> Result<Frame, WireError> {
        let slot = &self.frames[s.index()];
        if let Some(frame) = slot.get() {
            return Ok(frame.clone());
        }
        let b = &self.broadcast;
        let frame = s.encode_message(
            None,
            Some(&self.position_ref),
            &b.topic,
            &b.event,
            &b.payload,
        )?;
        Ok(slot.get_or_init(|| frame).clone())
    }
}

/// Why a resume or a read from a position replays nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unrecovered {
    /// The topic keeps no history.
    NoHistory,
    /// Not a position this server writes (`_since` not a string, malformed, too long).
    Invalid,
    /// Another epoch: the history was lost (a restart) or expired entirely since.
    UnknownEpoch,
    /// A position of this epoch that was never given out.
    UnknownPosition,
    /// Messages after the position were dropped (size or TTL).
    Trimmed,
    /// More messages were missed than the connection's queue may take at once.
    TooMany,
}

impl Unrecovered {
    /// The `reason` text of `sb_recovery` and of host errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Unrecovered::NoHistory => "no_history",
            Unrecovered::Invalid => "invalid_position",
            Unrecovered::UnknownEpoch => "unknown_epoch",
            Unrecovered::UnknownPosition => "unknown_position",
            Unrecovered::Trimmed => "trimmed",
            Unrecovered::TooMany => "too_many",
        }
    }
}

/// What a resume finds: the messages after the position, or why there are none.
#[derive(Debug)]
pub struct Recovery {
    /// `Ok(messages after the position, oldest first)` or why nothing is replayed.
    pub outcome: Result<Vec<Arc<HistoryEntry>>, Unrecovered>,
    /// The topic's latest position, if it has one.
    pub position: Option<String>,
}

impl Recovery {
    /// A resume that replays nothing.
    pub fn failed(why: Unrecovered, position: Option<String>) -> Recovery {
        Recovery {
            outcome: Err(why),
            position,
        }
    }

    /// The `sb_recovery` payload: `{"recovered", "missed", "position"}`, plus `"reason"`
    /// when nothing was recovered.
    pub fn payload(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "recovered": self.outcome.is_ok(),
            "missed": self.outcome.as_ref().map_or(0, Vec::len),
            "position": self.position,
        });
        if let Err(why) = &self.outcome {
            v["reason"] = why.as_str().into();
        }
        v
    }
}

/// One topic's messages.
#[derive(Debug)]
pub(crate) struct TopicLog {
    /// Empty in a mirrored log (the broker's history) until its first message says it.
    epoch: String,
    rule: HistoryRule,
    /// Offset of the latest message appended (0: none yet).
    last: u64,
    entries: VecDeque<Arc<HistoryEntry>>,
    /// When the log was created or last appended to: an empty log is kept a TTL after it,
    /// so a position handed to a client stays resumable as long as a message would.
    active: Instant,
}

impl TopicLog {
    fn new(rule: HistoryRule, epoch: String, now: Instant) -> TopicLog {
        TopicLog {
            epoch,
            rule,
            last: 0,
            entries: VecDeque::new(),
            active: now,
        }
    }

    /// Records `b` as the next offset.
    pub(crate) fn append(&mut self, b: &Arc<Broadcast>, now: Instant) -> Arc<HistoryEntry> {
        self.last += 1;
        self.push(b, now)
    }

    /// Records `b` at the position the broker gave it (a mirrored log, docs/HISTORY.md
    /// "Where history lives"); `None` for a position already recorded (a duplicate). A new
    /// epoch starts the log over; a gap drops what came before it, since a resume from there
    /// could not be complete.
    pub(crate) fn mirror(
        &mut self,
        b: &Arc<Broadcast>,
        at: &Position,
        now: Instant,
    ) -> Option<Arc<HistoryEntry>> {
        if at.epoch != self.epoch {
            self.epoch.clone_from(&at.epoch);
            self.entries.clear();
            self.last = at.offset.saturating_sub(1);
        } else if at.offset <= self.last {
            return None;
        } else if at.offset > self.last + 1 {
            self.entries.clear();
            self.last = at.offset - 1;
        }
        self.last = at.offset;
        Some(self.push(b, now))
    }

    /// Appends `b` as offset `self.last`. The size is enforced before (so the log holds at
    /// most `size + 1` until the next append or read): an append taken back by
    /// [`undo_append`](Self::undo_append) then leaves the log exactly as it was.
    fn push(&mut self, b: &Arc<Broadcast>, now: Instant) -> Arc<HistoryEntry> {
        self.fit();
        self.active = now;
        let position = format!("{}:{}", self.epoch, self.last);
        let entry = Arc::new(HistoryEntry {
            broadcast: Arc::clone(b),
            offset: self.last,
            position_ref: Ref::from_text(&position),
            position,
            at: now,
            frames: [const { OnceLock::new() }; SERIALIZER_COUNT],
        });
        self.entries.push_back(Arc::clone(&entry));
        entry
    }

    /// Takes back the latest append (its broadcast could not be encoded, nobody got it): its
    /// offset is given to the next one, so offsets stay contiguous.
    pub(crate) fn undo_append(&mut self) {
        if self.entries.pop_back().is_some() {
            self.last -= 1;
        }
    }

    /// Drops the oldest messages beyond the size.
    fn fit(&mut self) {
        while self.entries.len() > self.rule.size {
            self.entries.pop_front();
        }
    }

    /// Drops the messages beyond the size and the expired ones.
    fn trim(&mut self, now: Instant) {
        self.fit();
        while self
            .entries
            .front()
            .is_some_and(|e| now.saturating_duration_since(e.at) >= self.rule.ttl)
        {
            self.entries.pop_front();
        }
    }

    /// The latest position: `"<epoch>:0"` before the first message, so a client that joins
    /// an empty topic can still resume from there; `None` for a mirrored log that has not
    /// seen its broker's epoch yet.
    pub(crate) fn latest(&self) -> Option<String> {
        (!self.epoch.is_empty()).then(|| format!("{}:{}", self.epoch, self.last))
    }

    /// The messages after `since` (at most `max`; more is [`Unrecovered::TooMany`]).
    pub(crate) fn recover(&mut self, since: &str, max: usize, now: Instant) -> Recovery {
        self.trim(now);
        let latest = self.latest();
        match self.after(since) {
            Ok(missed) if missed.len() > max => Recovery::failed(Unrecovered::TooMany, latest),
            Ok(missed) => Recovery {
                outcome: Ok(missed),
                position: latest,
            },
            Err(why) => Recovery::failed(why, latest),
        }
    }

    /// Every kept message after `since`, oldest first, or why the messages after it are not
    /// all kept.
    /// The caller trims first.
    fn after(&self, since: &str) -> Result<Vec<Arc<HistoryEntry>>, Unrecovered> {
        let pos = Position::parse(since).ok_or(Unrecovered::Invalid)?;
        if pos.epoch != self.epoch {
            return Err(Unrecovered::UnknownEpoch);
        }
        if pos.offset > self.last {
            return Err(Unrecovered::UnknownPosition);
        }
        // The first offset still kept; everything after `pos` must be there.
        let first = self.entries.front().map_or(self.last + 1, |e| e.offset);
        if pos.offset + 1 < first {
            return Err(Unrecovered::Trimmed);
        }
        let skip = (pos.offset + 1 - first) as usize;
        Ok(self.entries.iter().skip(skip).cloned().collect())
    }

    /// For the host API: the messages after `since` (or the latest ones without it), at most
    /// `limit`, and whether they follow `since` without a gap.
    pub(crate) fn read(
        &mut self,
        since: Option<&str>,
        limit: usize,
        now: Instant,
    ) -> (Vec<Arc<HistoryEntry>>, Result<(), Unrecovered>) {
        self.trim(now);
        match since {
            None => {
                let skip = self.entries.len().saturating_sub(limit);
                (self.entries.iter().skip(skip).cloned().collect(), Ok(()))
            }
            Some(since) => match self.after(since) {
                Ok(mut missed) => {
                    missed.truncate(limit);
                    (missed, Ok(()))
                }
                // Not continuous: what is kept, so the caller can still show something.
                Err(why) => {
                    let skip = self.entries.len().saturating_sub(limit);
                    (self.entries.iter().skip(skip).cloned().collect(), Err(why))
                }
            },
        }
    }

    fn expired(&mut self, now: Instant) -> bool {
        self.trim(now);
        self.entries.is_empty() && now.saturating_duration_since(self.active) >= self.rule.ttl
    }
}

/// A topic log behind its (reentrant) lock. `RefCell` borrows are never held across a
/// fan-out, so a reentrant publish borrows it anew.
pub(crate) type LogLock = ReentrantMutex<RefCell<TopicLog>>;

/// One shard of topic logs.
type Shard = Mutex<HashMap<String, Arc<LogLock>>>;

/// Every topic log of a node, sharded like PubSub.
#[derive(Debug)]
pub(crate) struct Histories {
    config: HistoryConfig,
    /// The logs mirror the broker's (positions come from there), else this node mints them.
    mirrored: bool,
    shards: Box<[Shard]>,
    appends: AtomicU64,
}

/// Every this many appends, one shard is swept for logs whose messages all expired.
const SWEEP_EVERY: u64 = 1024;

impl Histories {
    pub(crate) fn new(config: HistoryConfig, shards: usize, mirrored: bool) -> Histories {
        Histories {
            config,
            mirrored,
            shards: (0..shards.max(1)).map(|_| Mutex::default()).collect(),
            appends: AtomicU64::new(0),
        }
    }

    pub(crate) fn rule(&self, topic: &str) -> Option<HistoryRule> {
        self.config.rule(topic)
    }

    fn shard(&self, topic: &str) -> &Shard {
        &self.shards[shard_of(topic, self.shards.len())]
    }

    /// The log a broadcast of `event` on `topic` goes into, created on first use; `None` when
    /// the topic keeps no history or the event is not recorded.
    pub(crate) fn for_append(&self, topic: &str, event: &str) -> Option<Arc<LogLock>> {
        if !recorded(event) {
            return None;
        }
        let rule = self.rule(topic)?;
        self.count_append();
        Some(self.get_or_create(topic, rule))
    }

    /// The mirrored log a broadcast with a broker position goes into; `None` when this node
    /// has no rule for the topic.
    pub(crate) fn for_mirror(&self, topic: &str) -> Option<Arc<LogLock>> {
        let rule = self.rule(topic)?;
        self.count_append();
        Some(self.get_or_create(topic, rule))
    }

    fn count_append(&self) {
        let n = self.appends.fetch_add(1, Ordering::Relaxed);
        if n % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep((n / SWEEP_EVERY) as usize % self.shards.len());
        }
    }

    /// Whether positions come from the broker.
    pub(crate) fn mirrored(&self) -> bool {
        self.mirrored
    }

    /// The log a client resumes from or starts tracking, created (empty, with a new epoch)
    /// when there is none; `None` when the topic keeps no history.
    pub(crate) fn for_resume(&self, topic: &str) -> Option<Arc<LogLock>> {
        let rule = self.rule(topic)?;
        Some(self.get_or_create(topic, rule))
    }

    fn get_or_create(&self, topic: &str, rule: HistoryRule) -> Arc<LogLock> {
        let mut shard = self.shard(topic).lock();
        if let Some(log) = shard.get(topic) {
            return Arc::clone(log);
        }
        let epoch = if self.mirrored {
            String::new()
        } else {
            new_epoch()
        };
        let log = TopicLog::new(rule, epoch, Instant::now());
        let log = Arc::new(ReentrantMutex::new(RefCell::new(log)));
        shard.insert(topic.to_owned(), Arc::clone(&log));
        log
    }

    /// Drops the logs of shard `i` whose messages all expired and that nothing was appended
    /// to for a TTL (a later broadcast starts a new epoch: positions of the old one resume as `unknown_epoch`). A log busy right now is
    /// left for the next sweep.
    fn sweep(&self, i: usize) {
        let now = Instant::now();
        self.shards[i].lock().retain(|_, log| match log.try_lock() {
            Some(guard) => !guard.borrow_mut().expired(now),
            None => true,
        });
    }
}

/// A fresh epoch: 8 URL-safe characters from a random 48-bit value.
pub fn new_epoch() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let bytes = h.finish().to_be_bytes();
    URL_SAFE_NO_PAD.encode(&bytes[..6])
}
