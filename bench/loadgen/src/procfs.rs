//! Process figures from `/proc`: CPU time (utime + stime, all threads) and resident memory,
//! for the server under test (`--server-pid`) and the loadgen itself; the broker's CPU time
//! in a cluster run (`--broker-pid`).

use std::time::Duration;

/// CPU time (user + system, all threads) of `pid` so far, or of this process for `None`.
/// Resolution is one clock tick (usually 10 ms).
pub fn cpu_time(pid: Option<u32>) -> std::io::Result<Duration> {
    let stat = std::fs::read_to_string(proc_path(pid, "stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 1..))
        .ok_or_else(|| bad("no ')' in stat"))?;
    // After ')': state(3) ... utime is field 14 and stime 15 of the whole line.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| -> std::io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| bad("short stat"))
    };
    let ticks = tick(11)? + tick(12)?;
    let hz = rustix::param::clock_ticks_per_second().max(1);
    Ok(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000) / hz,
    ))
}

/// CPU time of `pid` in nanoseconds, summed over its threads' `/proc/PID/task/*/schedstat`
/// (time on a CPU, kept by the scheduler in ns), so that a process that works for a few ms,
/// like a broker relaying a burst, is not lost in `cpu_time`'s 10 ms ticks. Threads that
/// exited during the phase are not counted (Redis and NATS keep theirs). `None` where the
/// kernel has no schedstat.
pub fn cpu_time_precise(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = None;
    for task in tasks.flatten() {
        // A thread that ends between the listing and the read is skipped.
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = text
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
        {
            total = Some(total.unwrap_or(0) + ns);
        }
    }
    total.map(Duration::from_nanos)
}

/// Resident set size (`VmRSS`) of `pid` (or this process), in KiB.
pub fn rss_kib(pid: Option<u32>) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(proc_path(pid, "status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| bad("no VmRSS"))
}

/// Connections the kernel refused because a listening socket's accept queue was full
/// (`TcpExt: ListenOverflows` of `/proc/net/netstat`, counted for the whole network namespace,
/// which the loadgen and the server share). Each such client retries its SYN after 1 s, so
/// a run with overflows measures that timer too. `None` where the counter is unreadable.
pub fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    netstat_field(&text, "TcpExt:", "ListenOverflows")
}

/// Field `name` of the `prefix` pair of lines (names, then values) of a `/proc/net/netstat`
/// text.
fn netstat_field(text: &str, prefix: &str, name: &str) -> Option<u64> {
    let mut rows = text.lines().filter(|l| l.starts_with(prefix));
    let (names, values) = (rows.next()?, rows.next()?);
    let at = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// Raises this process's open-file soft limit to its hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let mut raised = limit;
    raised.current = limit.maximum;
    if setrlimit(Resource::Nofile, raised).is_ok() {
        raised.current.unwrap_or(u64::MAX)
    } else {
        limit.current.unwrap_or(u64::MAX)
    }
}

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

fn bad(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_owned())
}

/// CPU and memory of the server and the loadgen over one measured phase.
#[derive(Debug)]
pub struct Meter {
    server_pid: Option<u32>,
    started: std::time::Instant,
    server_cpu: Option<Duration>,
    own_cpu: Option<Duration>,
}

/// What a [`Meter`] measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Wall time of the phase.
    pub wall: Duration,
    /// Server CPU time over the phase (`None` without `--server-pid` or if unreadable).
    pub server_cpu: Option<Duration>,
    /// Loadgen CPU time over the phase.
    pub own_cpu: Option<Duration>,
    /// Server RSS at the end of the phase, KiB.
    pub server_rss_kib: Option<u64>,
}

impl Meter {
    /// Starts a measured phase now.
    pub fn start(server_pid: Option<u32>) -> Meter {
        Meter {
            server_pid,
            started: std::time::Instant::now(),
            server_cpu: server_pid.and_then(|p| cpu_time(Some(p)).ok()),
            own_cpu: cpu_time(None).ok(),
        }
    }

    /// Ends the phase.
    pub fn finish(&self) -> Measured {
        let server_now = self.server_pid.and_then(|p| cpu_time(Some(p)).ok());
        let own_now = cpu_time(None).ok();
        Measured {
            wall: self.started.elapsed(),
            server_cpu: server_now
                .zip(self.server_cpu)
                .map(|(b, a)| b.saturating_sub(a)),
            own_cpu: own_now.zip(self.own_cpu).map(|(b, a)| b.saturating_sub(a)),
            server_rss_kib: self.server_pid.and_then(|p| rss_kib(Some(p)).ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_rss() {
        let before = cpu_time(None).expect("own stat");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time(None).expect("own stat") >= before);
        assert!(rss_kib(None).expect("own status") > 0);
        let me = std::process::id();
        assert!(rss_kib(Some(me)).is_ok());
        if let Some(precise) = cpu_time_precise(me) {
            assert!(precise > Duration::ZERO);
        }
    }

    #[test]
    fn listen_overflows_come_from_the_tcpext_lines() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                    TcpExt: 0 98 99\n\
                    IpExt: InNoRoutes\n\
                    IpExt: 0\n";
        assert_eq!(netstat_field(text, "TcpExt:", "ListenOverflows"), Some(98));
        assert_eq!(netstat_field(text, "TcpExt:", "Nope"), None);
        assert_eq!(netstat_field("", "TcpExt:", "ListenOverflows"), None);
    }
}
