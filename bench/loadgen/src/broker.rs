//! The broker's publish counter in a cluster run (`--broker-stats`): how many messages the
//! nodes asked Redis or NATS to publish, read before and after the measured phase, so the
//! result can say how many broker publishes one broadcast costs.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where the publish counter is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stats {
    /// `redis://HOST:PORT`: the `calls` of `cmdstat_publish` in `INFO commandstats`.
    Redis(String),
    /// `http://HOST:PORT`: nats-server's monitoring port (`-m`), `in_msgs` of `/varz`.
    Nats(String),
}

impl Stats {
    /// Parses `--broker-stats`.
    pub fn parse(url: &str) -> Result<Stats, String> {
        let authority = |rest: &str| rest.split('/').next().unwrap_or(rest).to_owned();
        if let Some(rest) = url.strip_prefix("redis://") {
            Ok(Stats::Redis(authority(rest)))
        } else if let Some(rest) = url.strip_prefix("http://") {
            Ok(Stats::Nats(authority(rest)))
        } else {
            Err(format!(
                "--broker-stats {url:?}: expected redis://HOST:PORT or http://HOST:PORT (NATS monitoring)"
            ))
        }
    }

    /// The broker's publish count so far.
    pub async fn publishes(&self) -> Result<u64, String> {
        let read = async {
            match self {
                // QUIT makes Redis close after its replies, so the reply ends at EOF.
                Stats::Redis(addr) => {
                    let text = exchange(addr, "INFO commandstats\r\nQUIT\r\n").await?;
                    Ok(redis_publish_calls(&text))
                }
                Stats::Nats(addr) => {
                    let request = format!("GET /varz HTTP/1.0\r\nHost: {addr}\r\n\r\n");
                    let text = exchange(addr, &request).await?;
                    nats_in_msgs(&text).ok_or_else(|| format!("no in_msgs in {addr}/varz"))
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .map_err(|_| format!("broker stats: no answer from {self:?} within 5 s"))?
    }
}

/// Sends `request` to `addr` and reads the answer until the server closes.
async fn exchange(addr: &str, request: &str) -> Result<String, String> {
    let fail = |e: std::io::Error| format!("broker stats from {addr}: {e}");
    let mut stream = TcpStream::connect(addr).await.map_err(fail)?;
    stream.write_all(request.as_bytes()).await.map_err(fail)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.map_err(fail)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// `calls` of the `cmdstat_publish:calls=N,...` line; 0 when there is none (Redis lists a
/// command only once it has been called).
fn redis_publish_calls(info: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_publish:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// `in_msgs` of the JSON body of an HTTP response from `/varz`.
fn nats_in_msgs(response: &str) -> Option<u64> {
    let body = response.split_once("\r\n\r\n").map_or(response, |(_, b)| b);
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("in_msgs")?
        .as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_broker() {
        assert_eq!(
            Stats::parse("redis://127.0.0.1:6390"),
            Ok(Stats::Redis("127.0.0.1:6390".into()))
        );
        assert_eq!(
            Stats::parse("http://127.0.0.1:8222/varz"),
            Ok(Stats::Nats("127.0.0.1:8222".into()))
        );
        assert!(Stats::parse("nats://127.0.0.1:4222").is_err());
    }

    #[test]
    fn redis_publish_calls_come_from_commandstats() {
        let info = "$120\r\n# Commandstats\r\ncmdstat_info:calls=3,usec=90\r\n\
                    cmdstat_publish:calls=1234,usec=5000,usec_per_call=4.05\r\n\r\n+OK\r\n";
        assert_eq!(redis_publish_calls(info), 1234);
        assert_eq!(redis_publish_calls("$20\r\n# Commandstats\r\n\r\n"), 0);
    }

    #[test]
    fn nats_in_msgs_come_from_varz() {
        let response = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n\
                        {\"server_id\":\"x\",\"in_msgs\":77,\"out_msgs\":150}";
        assert_eq!(nats_in_msgs(response), Some(77));
        assert_eq!(nats_in_msgs("HTTP/1.0 404 Not Found\r\n\r\n404"), None);
    }
}
