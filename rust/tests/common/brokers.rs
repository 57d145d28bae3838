//! Real broker servers for the clustering tests: [`RedisServer::start`] and
//! [`NatsServer::start`] run a `redis-server` / `nats-server` of the test's own on a free
//! 127.0.0.1 port (never a server that happens to run on the default ports) and stop it by PID.
//! `restart()` brings it back on the same port (so a node can reconnect), `kill()` / `pause()`
//! simulate a crashed or a hung broker. The guard SIGKILLs and reaps its process on drop: keep
//! it in the test (a `static` is never dropped).
//!
//! Readiness (deadline 10 s, else a panic with the server's log): redis answers `INFO server`
//! over TCP with its own `process_id`; nats sends its `INFO {...}` line naming the server (a
//! unique `--server_name`). So a foreign server that took the port is never mistaken for ours.
//!
//! Binaries: env `SB_REDIS_SERVER` / `SB_NATS_SERVER` / `SB_REDIS_CLI`, else PATH, else
//! /usr/sbin, /usr/bin, /usr/local/bin (Debian puts nats-server in /usr/sbin). scripts/test.sh
//! installs the Debian packages when they are missing. tests/lib/brokers.mjs is the same for
//! the node suites.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::ops::{Deref, DerefMut};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

const HOST: &str = "127.0.0.1";
/// How long a server may take to answer after it was spawned.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How long `stop()` waits after SIGTERM before it SIGKILLs.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Deadline of one `redis-cli` run.
const CLI_DEADLINE: Duration = Duration::from_secs(10);
/// Delay between two readiness probes.
const POLL: Duration = Duration::from_millis(25);
/// Connect / read deadline of one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Tells the log files and NATS server names of this process apart.
static SEQ: AtomicU32 = AtomicU32::new(0);

/// Path of the program `name`: env `env_var` when set (it must be executable), else the first
/// executable `name` in PATH, /usr/sbin, /usr/bin, /usr/local/bin. Panics, naming the Debian
/// package `package`, when there is none.
pub fn find_binary(name: &str, env_var: &str, package: &str) -> PathBuf {
    if let Some(value) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        assert!(
            is_executable(&path),
            "{env_var}={} is not an executable file",
            path.display()
        );
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|file| is_executable(file))
        .unwrap_or_else(|| {
            panic!(
                "{name} not found ({env_var}, PATH, /usr/sbin, /usr/bin, /usr/local/bin): install the \
                 Debian package {package} (`apt-get install {package}`; scripts/test.sh installs it) \
                 or set {env_var}"
            )
        })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A port that is free on 127.0.0.1 right now (bound to port 0, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Sends `signal` to process `pid`; false when it could not be sent (e.g. no such process).
pub fn send_signal(pid: u32, signal: Signal) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .is_some_and(|pid| kill_process(pid, signal).is_ok())
}

/// True while process `pid` exists and is not a zombie (reads /proc/<pid>/stat).
/// True when every thread of `pid` is in the stopped state (`T` in /proc/PID/task/*/stat).
fn all_stopped(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
        })
    })
}

pub fn pid_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // `pid (comm) S ...`: the state follows the last `)`.
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X')))
    })
}

/// One TCP exchange with 127.0.0.1:`port`: writes `send` (if any) and collects what the
/// server answers until `done(text)`, EOF or [`PROBE_TIMEOUT`]. Empty when nothing answered.
fn exchange(port: u16, send: &[u8], done: impl Fn(&str) -> bool) -> String {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) else {
        return String::new();
    };
    if stream.set_read_timeout(Some(PROBE_TIMEOUT)).is_err()
        || (!send.is_empty() && stream.write_all(send).is_err())
    {
        return String::new();
    }
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
        if done(&String::from_utf8_lossy(&got)) {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The `INFO {...}` line a NATS server sends first on a new connection to 127.0.0.1:`port`
/// (without its CRLF), or `None` when none arrived within a second.
pub fn nats_info(port: u16) -> Option<String> {
    let text = exchange(port, b"", |t| t.contains("\r\n"));
    let line = text.split("\r\n").next()?;
    (line.starts_with("INFO {") && text.contains("\r\n")).then(|| line.to_owned())
}

/// Path of redis-cli: `SB_REDIS_CLI`, else next to the redis-server binary, else PATH and the
/// usual directories.
fn redis_cli_path() -> PathBuf {
    if std::env::var_os("SB_REDIS_CLI").is_none_or(|v| v.is_empty()) {
        let server = find_binary("redis-server", "SB_REDIS_SERVER", "redis-server");
        if let Some(cli) = server.parent().map(|dir| dir.join("redis-cli"))
            && is_executable(&cli)
        {
            return cli;
        }
    }
    find_binary("redis-cli", "SB_REDIS_CLI", "redis-tools")
}

/// Runs `redis-cli -h 127.0.0.1 -p <port> -e <args...>` and returns its stdout as printed (one
/// line per reply element: `PUBSUB NUMSUB a` gives "a\n0\n"). Panics with its output when it
/// fails, including on an error reply (`-e`), or after 10 s.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let cli = redis_cli_path();
    let shown = format!("redis-cli -p {port} {}", args.join(" "));
    let child = Command::new(&cli)
        .args(["-h", HOST, "-p", &port.to_string(), "-e"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{shown}: could not spawn {}: {e}", cli.display()));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(CLI_DEADLINE) {
        Ok(Ok(out)) => {
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{shown} failed ({}):\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            stdout
        }
        Ok(Err(e)) => panic!("{shown}: {e}"),
        Err(_) => {
            send_signal(pid, Signal::KILL);
            panic!("{shown}: no answer within {CLI_DEADLINE:?}")
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Redis,
    Nats,
}

/// A broker server process of a test (what [`RedisServer`] and [`NatsServer`] deref to). The
/// port stays the same across [`restart`](Broker::restart); the output of every run goes to one
/// log file in the temp dir, removed on drop unless the test is panicking.
#[derive(Debug)]
pub struct Broker {
    kind: Kind,
    program: PathBuf,
    extra_args: Vec<String>,
    port: u16,
    /// `--server_name` of a NATS server (how readiness recognises it).
    name: String,
    log: PathBuf,
    child: Option<Child>,
    pid: u32,
    paused: bool,
}

impl Broker {
    /// Starts a server of `kind` on a free port, trying another one (up to 3 times) when the
    /// chosen port was taken in between. Panics with the server's log when it does not come up.
    fn start(kind: Kind, extra_args: &[&str]) -> Self {
        let program = match kind {
            Kind::Redis => find_binary("redis-server", "SB_REDIS_SERVER", "redis-server"),
            Kind::Nats => find_binary("nats-server", "SB_NATS_SERVER", "nats-server"),
        };
        let mut attempt = 1;
        loop {
            let seq = SEQ.fetch_add(1, Ordering::Relaxed);
            let tag = format!("sb-test-{}-{seq}", std::process::id());
            let mut broker = Self {
                kind,
                program: program.clone(),
                extra_args: extra_args.iter().map(|&a| a.to_owned()).collect(),
                port: free_port(),
                log: std::env::temp_dir().join(format!("{tag}-{kind:?}.log").to_lowercase()),
                name: tag,
                child: None,
                pid: 0,
                paused: false,
            };
            match broker.spawn() {
                Ok(()) => return broker,
                Err(why) if attempt < 3 && broker.log_text().contains("address already in use") => {
                    eprintln!("{}; trying another port", broker.failure(&why));
                }
                Err(why) => panic!("{}", broker.failure(&why)),
            }
            attempt += 1;
        }
    }

    fn argv(&self) -> Vec<String> {
        let port = self.port.to_string();
        let mut argv: Vec<String> = match self.kind {
            Kind::Redis => vec![
                "--port",
                &port,
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            Kind::Nats => vec!["-a", HOST, "-p", &port, "--server_name", &self.name],
        }
        .into_iter()
        .map(str::to_owned)
        .collect();
        argv.extend(self.extra_args.iter().cloned());
        argv
    }

    /// Spawns the server (output appended to the log) and waits until it answers.
    fn spawn(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        let log2 = log.try_clone().map_err(|e| format!("dup log: {e}"))?;
        let child = Command::new(&self.program)
            .args(self.argv())
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("could not be spawned: {e}"))?;
        self.pid = child.id();
        self.child = Some(child);
        self.paused = false;
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.try_wait() {
                return Err(format!("exited ({status}) before it was ready"));
            }
            if self.answers() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "did not answer on {} within {START_DEADLINE:?}",
                    self.url()
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// True when the server on our port is this process and answers.
    fn answers(&self) -> bool {
        match self.kind {
            Kind::Redis => {
                let text = exchange(self.port, b"INFO server\r\n", |t| {
                    t.contains("\r\nprocess_id:") && t.ends_with("\r\n")
                });
                text.contains(&format!("\r\nprocess_id:{}\r\n", self.pid))
            }
            Kind::Nats => nats_info(self.port)
                .and_then(|line| serde_json::from_str::<serde_json::Value>(&line[5..]).ok())
                .is_some_and(|info| info["server_name"] == self.name.as_str()),
        }
    }

    /// Reaps the process if it has exited (then it is no longer ours to signal).
    fn try_wait(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        self.child = None;
        Some(status)
    }

    fn failure(&self, why: &str) -> String {
        let argv = self.argv();
        let shown: Vec<&str> = argv
            .iter()
            .map(|a| if a.is_empty() { "\"\"" } else { a.as_str() })
            .collect();
        format!(
            "{} {} {why}\n--- {} (last 30 lines) ---\n{}",
            self.program.display(),
            shown.join(" "),
            self.log.display(),
            self.log_tail(30)
        )
    }

    /// Everything the server wrote (every run since start), from its log file.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of [`log_text`](Self::log_text).
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        HOST
    }

    /// The TCP port on 127.0.0.1 (kept by `restart()`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>` or `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        let scheme = match self.kind {
            Kind::Redis => "redis",
            Kind::Nats => "nats",
        };
        format!("{scheme}://{HOST}:{}", self.port)
    }

    /// PID of the current server process (the last one once it has exited).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// True while the server process runs (a paused one runs).
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_wait().is_none()
    }

    /// SIGTERM, then SIGKILL if the server still runs 5 s later; reaps it. Returns its exit
    /// status, `None` when it was not running.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.try_wait() {
            return Some(status);
        }
        self.child.as_ref()?;
        send_signal(self.pid, Signal::TERM);
        if self.paused {
            self.resume();
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            thread::sleep(POLL);
        }
        self.kill()
    }

    /// SIGKILL (a crash) and reap. Returns its exit status, `None` when it was not running.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        // An error here means it had exited already; wait() reaps it either way.
        let _ = child.kill();
        self.paused = false;
        child.wait().ok()
    }

    /// Stops the server (if running) and starts it again on the same port; returns once it
    /// answers (panics with its log otherwise).
    pub fn restart(&mut self) {
        self.stop();
        if let Err(why) = self.spawn() {
            panic!("restart: {}", self.failure(&why));
        }
    }

    /// SIGSTOP: the server keeps its connections open but answers nothing (a hung broker).
    pub fn pause(&mut self) {
        if self.child.is_some() && send_signal(self.pid, Signal::STOP) {
            self.paused = true;
            // The signal is delivered asynchronously: wait until every thread is stopped, or a
            // probe right after could still be answered.
            let deadline = Instant::now() + START_DEADLINE;
            while !all_stopped(self.pid) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&mut self) {
        if self.child.is_some() {
            send_signal(self.pid, Signal::CONT);
        }
        self.paused = false;
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!(
                "{} log kept: {}",
                self.program.display(),
                self.log.display()
            );
        } else {
            let _ = fs::remove_file(&self.log);
        }
    }
}

/// A `redis-server --port P --bind 127.0.0.1 --save "" --appendonly no` of the test's own;
/// derefs to [`Broker`] (`url()`, `port()`, `stop()`, `restart()`, `kill()`, `pause()`, ...).
#[derive(Debug)]
pub struct RedisServer(Broker);

impl RedisServer {
    /// Starts one on a free port; panics with its log when it does not come up within 10 s.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with extra command-line arguments, e.g.
    /// `&["--client-output-buffer-limit", "pubsub 64kb 64kb 0"]`.
    pub fn start_with(extra_args: &[&str]) -> Self {
        Self(Broker::start(Kind::Redis, extra_args))
    }

    /// [`redis_cli`] against this server: stdout of `redis-cli -p <port> -e <args...>`.
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.0.port, args)
    }
}

impl Deref for RedisServer {
    type Target = Broker;
    fn deref(&self) -> &Broker {
        &self.0
    }
}

impl DerefMut for RedisServer {
    fn deref_mut(&mut self) -> &mut Broker {
        &mut self.0
    }
}

/// A `nats-server -a 127.0.0.1 -p P` of the test's own; derefs to [`Broker`] (`url()`,
/// `port()`, `stop()`, `restart()`, `kill()`, `pause()`, ...).
#[derive(Debug)]
pub struct NatsServer(Broker);

impl NatsServer {
    /// Starts one on a free port; panics with its log when it does not come up within 10 s.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with extra command-line arguments.
    pub fn start_with(extra_args: &[&str]) -> Self {
        Self(Broker::start(Kind::Nats, extra_args))
    }

    /// The `INFO {...}` line the server sends a new connection (see [`nats_info`]).
    pub fn info(&self) -> Option<String> {
        nats_info(self.0.port)
    }
}

impl Deref for NatsServer {
    type Target = Broker;
    fn deref(&self) -> &Broker {
        &self.0
    }
}

impl DerefMut for NatsServer {
    fn deref_mut(&mut self) -> &mut Broker {
        &mut self.0
    }
}
