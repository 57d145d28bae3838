//! The Redis link: SUBSCRIBE on a dedicated connection (Redis' pub/sub mode takes the whole
//! connection), PUBLISH pipelined on a multiplexed one, one session at a time. When either
//! connection fails (Redis stopped, `CLIENT KILL TYPE pubsub`, the output buffer limit) the
//! session ends, the link is down, and a new session connects and resubscribes after the
//! backoff.
//!
//! Broadcasts on topics with history go through one Lua script instead of `PUBLISH`
//! (docs/HISTORY.md "Where history lives"): it assigns the topic's next position, appends the
//! envelope to the topic's stream and publishes it with the position, atomically, so every
//! node sees one order per topic.

use super::link::{Backoff, Outbound, Shared};
use crate::pubsub::history::new_epoch;
use bytes::Bytes;
use futures_util::StreamExt;
use redis::AsyncConnectionConfig;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Envelopes sent in one pipeline at most (one round trip for a burst).
const BATCH: usize = 256;

/// The history script. KEYS: the topic's hash (`epoch`, `offset`), its stream. ARGV: an
/// epoch for a topic without one, the size kept, the TTL in ms, the cluster channel, the
/// envelope without its position. Both keys expire a TTL after the last append (a later one
/// starts a new epoch, as on a single node).
const RECORD: &str = r"
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local position = epoch .. ':' .. offset
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'position', position, 'envelope', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return redis.call('PUBLISH', ARGV[4], ARGV[5] .. position)
";

/// How a session ended.
enum Ended {
    /// The link was up, then failed.
    Lost(String),
    /// It never came up.
    Unreachable(String),
    /// Every publisher is gone: the node is stopping.
    Stopped,
}

pub(super) async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Outbound>) {
    let client = match redis::Client::open(shared.config.url.as_str()) {
        Ok(client) => client,
        Err(e) => {
            shared.link_down(&format!("bad Redis URL: {e}"));
            tracing::error!(url = %shared.config.url, error = %e, "bad Redis URL: this node stays alone");
            return;
        }
    };
    let mut backoff = Backoff::new(shared.config.reconnect_max);
    let mut was_up = false;
    loop {
        match session(&shared, &client, &mut rx, was_up).await {
            Ended::Stopped => return,
            Ended::Lost(why) => {
                was_up = true;
                backoff = Backoff::new(shared.config.reconnect_max);
                shared.link_down(&why);
                shared.drain_queue(&mut rx);
            }
            Ended::Unreachable(why) => {
                shared.link_down(&why);
                shared.drain_queue(&mut rx);
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

async fn session(
    shared: &Shared,
    client: &redis::Client,
    rx: &mut mpsc::Receiver<Outbound>,
    was_up: bool,
) -> Ended {
    let timeout = shared.config.connect_timeout;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut publisher = match client
        .get_multiplexed_async_connection_with_config(&config)
        .await
    {
        Ok(c) => c,
        Err(e) => return Ended::Unreachable(e.to_string()),
    };
    let subscriber = tokio::time::timeout(timeout, async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(shared.config.prefix.as_str()).await?;
        Ok::<_, redis::RedisError>(pubsub)
    })
    .await;
    let mut messages = match subscriber {
        Ok(Ok(pubsub)) => pubsub.into_on_message(),
        Ok(Err(e)) => return Ended::Unreachable(e.to_string()),
        Err(_) => return Ended::Unreachable("timed out subscribing".to_owned()),
    };
    // Pipelined scripts run by hash (EVALSHA): loaded once per session.
    let record: String = match redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(RECORD)
        .query_async(&mut publisher)
        .await
    {
        Ok(sha) => sha,
        Err(e) => return Ended::Unreachable(format!("cannot load the history script: {e}")),
    };
    shared.link_up(was_up);
    let channel = shared.config.prefix.as_str();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            msg = messages.next() => match msg {
                Some(msg) => shared.receive(Bytes::copy_from_slice(msg.get_payload_bytes())),
                None => return Ended::Lost("the subscriber connection was closed".to_owned()),
            },
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return Ended::Stopped;
                }
                let mut pipe = redis::pipe();
                let mut records = Vec::new();
                for outbound in batch.drain(..) {
                    match outbound {
                        Outbound::Envelope(envelope) => {
                            pipe.cmd("PUBLISH").arg(channel).arg(envelope.as_ref()).ignore();
                        }
                        Outbound::Record { rule, envelope, stranded } => {
                            let topic = &stranded.broadcast.topic;
                            pipe.cmd("EVALSHA")
                                .arg(&record)
                                .arg(2)
                                .arg(format!("{channel}:history:{topic}"))
                                .arg(format!("{channel}:stream:{topic}"))
                                .arg(new_epoch())
                                .arg(rule.size)
                                .arg(u64::try_from(rule.ttl.as_millis()).unwrap_or(u64::MAX).max(1))
                                .arg(channel)
                                .arg(envelope.as_ref())
                                .ignore();
                            records.push(stranded);
                        }
                    }
                }
                if let Err(e) = pipe.query_async::<()>(&mut publisher).await {
                    shared.lost_in_send(n);
                    shared.stranded(records);
                    return Ended::Lost(format!("PUBLISH failed: {e}"));
                }
            }
        }
    }
}
