//! End to end: the Rust bench server (`examples/rust/bench.rs`, built here with the same
//! cargo and profile when missing) and the `loadgen` binary run `burst` with 50 subscribers
//! and 20 broadcasts over Phoenix V2 JSON and binary; every subscriber must get every
//! message exactly once and the result line must carry the figures. With history on
//! (`SB_HISTORY`), `resume` brings 20 clients back after 10 broadcasts, each of which every
//! client must get once, in order; without it, `resume` fails. With long-poll on
//! (`SB_LONGPOLL`), `longpoll-room` delivers every message to 20 pollers and to 20 WebSocket
//! subscribers; without it, polling fails.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

/// Kills the child when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `<target>/<profile>/examples/bench`, next to the loadgen binary this test was built with;
/// built with `cargo build --example bench` (same profile and target dir) when missing.
fn bench_server() -> PathBuf {
    let profile_dir = Path::new(LOADGEN)
        .parent()
        .expect("loadgen binary has a directory");
    let exe = profile_dir.join("examples").join("bench");
    if exe.is_file() {
        return exe;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "switchboard", "--example", "bench"]);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        build.env("CARGO_TARGET_DIR", target);
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building the bench example failed");
    assert!(exe.is_file(), "{} missing after the build", exe.display());
    exe
}

fn start_server(exe: &Path, env: &[(&str, &str)]) -> (Guard, u16) {
    let mut child = Command::new(exe)
        .env("PORT", "0")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("bench server starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let guard = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("LISTENING line");
    let port = line
        .trim()
        .strip_prefix("LISTENING 127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (guard, port)
}

/// Runs loadgen with `args`, at most 20 s; returns (exit success, stdout).
fn loadgen(args: &[&str]) -> (bool, String) {
    let mut child = Command::new(LOADGEN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("loadgen starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("loadgen did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out).expect("stdout");
    }
    (status.success(), out)
}

#[test]
fn burst_delivers_every_message_exactly_once_over_json_and_binary() {
    let exe = bench_server();
    let (server, port) = start_server(&exe, &[]);
    let pid = server.0.id().to_string();
    let port = port.to_string();
    for protocol in ["phoenix-json", "phoenix-binary"] {
        let (ok, out) = loadgen(&[
            "burst",
            "--port",
            &port,
            "--protocol",
            protocol,
            "--server-pid",
            &pid,
            "-n",
            "50",
            "-m",
            "20",
            "--timeout-s",
            "10",
            "--connect-timeout-s",
            "10",
        ]);
        assert!(ok, "{protocol}: loadgen failed: {out}");
        let result: Value = serde_json::from_str(out.trim()).expect("one JSON result line");
        assert_eq!(result["scenario"], "burst");
        assert_eq!(result["protocol"], protocol);
        assert_eq!(result["complete"], true, "{result}");
        assert_eq!(result["deliveries"], 1000, "{result}");
        assert_eq!(result["loss"]["ok"], true, "{result}");
        assert_eq!(result["loss"]["missing"], 0);
        assert_eq!(result["loss"]["duplicates"], 0);
        assert_eq!(result["latency"]["count"], 1000);
        assert!(
            result["latency"]["p99_us"]
                .as_f64()
                .is_some_and(|v| v > 0.0)
        );
        assert!(result["server_cpu_s"].is_number(), "{result}");
        assert!(result["server_rss_kib"].as_u64().is_some_and(|v| v > 0));
    }
}

#[test]
fn a_server_without_the_protocol_fails_the_run() {
    let exe = bench_server();
    let (_server, port) = start_server(&exe, &[]);
    // The bench server has no `/?room=` plain-ws route: the upgrade fails, loadgen exits 2.
    let (ok, out) = loadgen(&[
        "burst",
        "--port",
        &port.to_string(),
        "--protocol",
        "ws",
        "-n",
        "2",
        "-m",
        "1",
        "--connect-timeout-s",
        "5",
    ]);
    assert!(
        !ok,
        "loadgen must fail against a server it cannot use: {out}"
    );
}

#[test]
fn resume_replays_every_missed_message_to_every_client_in_order() {
    let exe = bench_server();
    let (server, port) = start_server(&exe, &[("SB_HISTORY", "10")]);
    let (pid, port) = (server.0.id().to_string(), port.to_string());
    // All at once, then 5 at a time (each lets the next in once it has resumed). The second
    // run resumes the same topic, whose log then holds the second run's 10 messages.
    for gate in ["0", "5"] {
        let (ok, out) = loadgen(&[
            "resume",
            "--port",
            &port,
            "--protocol",
            "phoenix-json",
            "--server-pid",
            &pid,
            "-n",
            "20",
            "-m",
            "10",
            "--outage-secs",
            "0",
            "--reconnect-concurrency",
            gate,
            "--timeout-s",
            "10",
            "--connect-timeout-s",
            "10",
        ]);
        assert!(ok, "gate {gate}: loadgen failed: {out}");
        let result: Value = serde_json::from_str(out.trim()).expect("one JSON result line");
        assert_eq!(result["scenario"], "resume");
        assert_eq!(result["complete"], true, "{result}");
        assert_eq!(result["resumed_clients"], 20, "{result}");
        assert_eq!(result["replayed"], 200, "{result}");
        assert_eq!(result["loss"]["ok"], true, "{result}");
        assert_eq!(result["resume_latency"]["count"], 20);
        assert!(result["resume_all_ms"].as_f64().is_some_and(|v| v > 0.0));
        assert!(result["server_cpu_s"].is_number(), "{result}");
    }
}

#[test]
fn resume_without_history_fails_the_run() {
    let exe = bench_server();
    let (_server, port) = start_server(&exe, &[]);
    // `_since` on a topic no rule matches: sb_recovery says no_history, loadgen exits 2.
    let (ok, out) = loadgen(&[
        "resume",
        "--port",
        &port.to_string(),
        "--protocol",
        "phoenix-json",
        "-n",
        "2",
        "-m",
        "1",
        "--outage-secs",
        "0",
        "--connect-timeout-s",
        "5",
    ]);
    assert!(
        !ok,
        "resume must fail against a server without history: {out}"
    );
}

#[test]
fn longpoll_room_delivers_every_message_over_polling_and_websocket() {
    let exe = bench_server();
    // A 200 ms window with a broadcast every 500 ms: polls also come back empty (204).
    let env = [("SB_LONGPOLL", "1"), ("SB_LONGPOLL_WINDOW_MS", "200")];
    let (server, port) = start_server(&exe, &env);
    let (pid, port) = (server.0.id().to_string(), port.to_string());
    for transport in ["polling", "websocket"] {
        let (ok, out) = loadgen(&[
            "longpoll-room",
            "--port",
            &port,
            "--protocol",
            "phoenix-json",
            "--server-pid",
            &pid,
            "-n",
            "20",
            "--rate",
            "2",
            "--seconds",
            "2",
            "--transport",
            transport,
            "--timeout-s",
            "10",
            "--connect-timeout-s",
            "10",
        ]);
        assert!(ok, "{transport}: loadgen failed: {out}");
        let result: Value = serde_json::from_str(out.trim()).expect("one JSON result line");
        assert_eq!(result["scenario"], "longpoll-room");
        assert_eq!(result["transport"], transport);
        assert_eq!(result["complete"], true, "{result}");
        assert_eq!(result["deliveries"], 80, "{result}");
        assert_eq!(result["loss"]["ok"], true, "{result}");
        assert_eq!(result["latency"]["count"], 80);
        assert!(result["server_cpu_s"].is_number(), "{result}");
        if transport == "polling" {
            assert!(
                result["polls"].as_u64().is_some_and(|p| p >= 80),
                "{result}"
            );
        } else {
            assert!(result["polls"].is_null(), "{result}");
        }
    }
}

#[test]
fn polling_a_server_without_longpoll_fails_the_run() {
    let exe = bench_server();
    let (_server, port) = start_server(&exe, &[]);
    let (ok, out) = loadgen(&[
        "longpoll-room",
        "--port",
        &port.to_string(),
        "--protocol",
        "phoenix-json",
        "-n",
        "2",
        "--seconds",
        "1",
        "--connect-timeout-s",
        "5",
    ]);
    assert!(!ok, "polling must fail without long-poll: {out}");
}
