#!/usr/bin/env python3
"""The end-to-end comparison: every server x every scenario, one loadgen run each.

Called by bench/run.sh (which builds the binaries, installs the peers and raises the open
file limit first); see bench/README.md for the contracts. For each run: start the server
(env PORT=0), wait for `LISTENING 127.0.0.1:<port>`, run `loadgen <scenario> ...
--server-pid <pid>`, keep its JSON result line (stdout; its human text goes to stderr),
stop the server (stdin EOF + SIGTERM, SIGKILL after a grace period). Then renders one
markdown table per scenario and, for a full run, replaces the section between
`<!-- e2e:begin -->` and `<!-- e2e:end -->` in BENCHMARKS.md.

Standard library only, so it runs with any python3 >= 3.9.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
BEGIN = "<!-- e2e:begin -->"
END = "<!-- e2e:end -->"


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class Server:
    key: str  # what --servers selects
    label: str  # the table row
    protocol: str  # loadgen --protocol
    argv: tuple[str, ...]  # the loadgen picks the URL path from the protocol
    switchboard: bool = False  # runs the Switchboard-only scenarios (presence)
    phoenix: bool = False  # speaks Phoenix channels, so runs the Phoenix-only ones (roundtrip)


SB_JSON = "Switchboard (phoenix-json)"
SB_C = "Switchboard C host (phoenix-json)"


def servers(target_dir: Path) -> list[Server]:
    bench = str(target_dir / "release" / "examples" / "bench")
    bench_c = str(target_dir / "bench-c" / "bench")
    node = "node"
    py = str(PEERS / "python-socketio" / ".venv" / "bin" / "python")
    # The venv bench/run.sh installs the Python binding into (pip install ./bindings/python).
    sb_py = str(ROOT / ".venv" / "python" / "bin" / "python")
    return [
        Server("sb-json", SB_JSON, "phoenix-json", (bench,), switchboard=True, phoenix=True),
        Server("sb-binary", "Switchboard (phoenix-binary)", "phoenix-binary", (bench,), switchboard=True),
        # The same channels hosted from C through the C ABI.
        Server("sb-c", SB_C, "phoenix-json", (bench_c,), switchboard=True, phoenix=True),
        # The same channels with their handlers in JavaScript (bindings/node, examples/node/bench.js).
        Server("sb-node", "Switchboard Node host (phoenix-json)", "phoenix-json",
               (node, str(ROOT / "examples" / "node" / "bench.js")), switchboard=True, phoenix=True),
        # The same channels with asyncio handlers (bindings/python, examples/python/bench.py).
        Server("sb-python", "Switchboard Python host (phoenix-json)", "phoenix-json",
               (sb_py, str(ROOT / "examples" / "python" / "bench.py")), switchboard=True, phoenix=True),
        Server("socketio", "Socket.IO (Node)", "socketio",
               (node, str(PEERS / "socketio-node" / "server.mjs"))),
        Server("ws", "ws (Node)", "ws", (node, str(PEERS / "ws-node" / "server.mjs"))),
        Server("python-socketio", "python-socketio", "socketio",
               (py, str(PEERS / "python-socketio" / "server.py"))),
    ]


# ------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    key: str  # what --scenarios selects
    title: str  # the table heading
    command: str  # loadgen subcommand
    args: tuple[str, ...]  # loadgen flags besides --protocol/--url/--server-pid
    metric: str  # a key of COLUMNS: which columns, and what the ratio column compares
    switchboard_only: bool = False
    phoenix_only: bool = False  # needs the channel's `ping` (servers with phoenix=True)
    note: str = ""
    # Server key -> (loadgen flags replacing `args`, what the row says about it): a smaller
    # size for a server that cannot run the full one within the timeout, labeled in its row.
    scaled: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)


def scenarios(quick: bool) -> list[Scenario]:
    # Full sizes follow issue 6 (targets at 10,000 subscribers); --quick is a sanity check.
    n_small, n_large = (50, 200) if quick else (1_000, 10_000)
    burst_small_msgs, burst_large_msgs = (20, 20) if quick else (500, 50)
    paced_msgs = 3 if quick else 10
    rooms, per_room, rate, rooms_secs = (20, 5, 200, 3) if quick else (1_000, 10, 2_000, 20)
    # python-socketio needs ~60-170 µs of CPU per delivery: 10,000 clients at 2,000 messages/s
    # is more work per second than one core does, so its run never finishes in the timeout.
    # It gets a tenth of the rooms and of the rate (the same traffic per room), labeled so.
    py_rooms, py_rate = max(rooms // 10, 1), max(rate // 10, 1)
    storm = 200 if quick else 10_000
    idle = 200 if quick else 10_000
    watchers, churners, churn_secs = (50, 5, 3) if quick else (1_000, 20, 20)
    rt_clients, rt_secs = (4, 2) if quick else (16, 10)
    return [
        Scenario("burst-small", f"Burst fan-out, {n_small:,} subscribers", "burst",
                 ("--subscribers", str(n_small), "--messages", str(burst_small_msgs)),
                 "cpu_delivery",
                 note=f"{burst_small_msgs} broadcasts back to back to {n_small:,} subscribers of one topic."),
        Scenario("burst-large", f"Burst fan-out, {n_large:,} subscribers", "burst",
                 ("--subscribers", str(n_large), "--messages", str(burst_large_msgs)),
                 "cpu_delivery",
                 note=f"{burst_large_msgs} broadcasts back to back to {n_large:,} subscribers of one topic."),
        Scenario("paced", f"Paced fan-out, {n_large:,} subscribers", "paced",
                 ("--subscribers", str(n_large), "--broadcasts", str(paced_msgs)),
                 "cpu_delivery",
                 note=f"One broadcast per second ({paced_msgs} in all) to {n_large:,} subscribers; "
                      "*reach all* = time from the publish until the last subscriber has it."),
        Scenario("rooms", f"Rooms, {rooms:,} topics × {per_room} subscribers", "rooms",
                 ("--rooms", str(rooms), "--per-room", str(per_room), "--rate", str(rate),
                  "--seconds", str(rooms_secs)),
                 "cpu_delivery",
                 note=f"A chat service: {rooms:,} topics with {per_room} subscribers each; random "
                      f"members publish {rate:,} messages/s in all for {rooms_secs} s.",
                 scaled={} if quick else {
                     "python-socketio": (
                         ("--rooms", str(py_rooms), "--per-room", str(per_room), "--rate",
                          str(py_rate), "--seconds", str(rooms_secs)),
                         f"scaled down: {py_rooms:,} topics, {py_rate:,} messages/s"),
                 }),
        Scenario("connect-storm", f"Connect storm, {storm:,} clients", "connect-storm",
                 ("--clients", str(storm)),
                 "cpu_connect",
                 note=f"{storm:,} clients connect and join as fast as the server accepts "
                      "(256 handshakes in flight)."),
        Scenario("idle", f"Idle, {idle:,} clients", "idle",
                 ("--clients", str(idle)),
                 "rss_client",
                 note=f"{idle:,} connected, joined, idle clients; server RSS growth per client."),
        Scenario("presence", f"Presence churn, {watchers:,} watchers", "presence-churn",
                 ("--watchers", str(watchers), "--churners", str(churners),
                  "--seconds", str(churn_secs)),
                 "cpu_diff", switchboard_only=True,
                 note=f"{watchers:,} watchers stay on a presence topic while {churners} clients join "
                      f"and leave it for {churn_secs} s; every watcher must get every diff. "
                      "Switchboard only; a *delivery* is one `presence_diff` to one watcher."),
        Scenario("roundtrip", f"handle_in round trips, {rt_clients} clients", "roundtrip",
                 ("--clients", str(rt_clients), "--seconds", str(rt_secs)),
                 "roundtrip", phoenix_only=True,
                 note=f"{rt_clients} clients each keep one `ping` push in flight for {rt_secs} s "
                      "(after 2 s of warm-up); the server's handler answers ok with the same "
                      "payload, so each round trip is one handle_in request and answer: in Rust "
                      "for the Rust host, through the C ABI's event queue for the C host."),
    ]


# ----------------------------------------------------------------------------- runs


@dataclass
class Outcome:
    server: str
    scenario: str
    result: dict | None = None
    error: str | None = None
    command: list[str] = field(default_factory=list)
    note: str | None = None  # how this row's run differs from the scenario's (Scenario.scaled)


def log(msg: str) -> None:
    print(f"[compare] {msg}", file=sys.stderr, flush=True)


def start_server(srv: Server, timeout: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        srv.argv, cwd=ROOT, env={**os.environ, "PORT": "0"},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr,
        start_new_session=True,  # a Ctrl-C aimed at us does not hit it mid-run
    )
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:  # keep draining so the server never blocks on a full pipe
            line = raw.decode(errors="replace").rstrip("\n")
            m = re.fullmatch(r"LISTENING (127\.0\.0\.1:\d+)", line)
            if m and not found:
                found.append(m.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(timeout) or not found:
        stop_server(proc)
        raise RuntimeError(f"{srv.label}: no LISTENING line within {timeout:.0f} s")
    return proc, found[0]


def stop_server(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    try:
        if proc.stdin:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


def parse_result(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def run_one(loadgen: Path, srv: Server, sc: Scenario, timeout: float, drain_timeout: int) -> Outcome:
    args, out_note = sc.scaled.get(srv.key, (sc.args, None))
    out = Outcome(srv.label, sc.key, note=out_note)
    try:
        proc, addr = start_server(srv, 30)
    except (OSError, RuntimeError) as e:
        out.error = f"server did not start: {e}"
        return out
    try:
        cmd = [str(loadgen), sc.command, "--protocol", srv.protocol,
               "--url", f"ws://{addr}", *args, "--server-pid", str(proc.pid),
               # Loss is reported in the table; a non-zero exit then means a failed run.
               "--allow-loss", "--timeout-s", str(drain_timeout)]
        out.command = cmd
        log(f"{srv.label} / {sc.title}: {shlex.join(cmd)}")
        try:
            lg = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=sys.stderr,
                                text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            out.error = f"loadgen timed out after {timeout:.0f} s"
            return out
        out.result = parse_result(lg.stdout)
        if proc.poll() is not None:
            out.error = f"server exited during the run (status {proc.returncode})"
        elif lg.returncode != 0:
            out.error = f"loadgen exit status {lg.returncode}"
        elif out.result is None:
            out.error = "loadgen printed no JSON result line"
        return out
    finally:
        stop_server(proc)


# ------------------------------------------------------------------------ rendering


def num(v, digits=1) -> str:
    if v is None:
        return "–"
    if isinstance(v, int) or abs(v) >= 1000:
        return f"{round(v):,}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def get(r: dict, *path):
    """`r[path[0]][path[1]]...`, or None when any step is missing."""
    for k in path:
        if not isinstance(r, dict):
            return None
        r = r.get(k)
    return r


def ms(us):
    return None if us is None else us / 1000


def kib(b):
    return None if b is None else b / 1024


def lost(r: dict) -> str:
    """Missing deliveries, then anything else wrong (duplicates, extras, dropped connections)."""
    loss = r.get("loss") or {}
    missing = loss.get("missing", loss.get("missing_metas"))
    s = num(missing, 0)
    extra = [(loss.get(k), label) for k, label in (("duplicates", "dup"), ("unexpected", "extra"),
                                                   ("unexpected_metas", "extra"),
                                                   ("closed_early", "dropped conns"))]
    extra += [(r.get("churner_failures"), "failed churners")]
    notes = [f"{num(v, 0)} {label}" for v, label in extra if v]
    if r.get("complete") is False and not missing:
        notes.append("incomplete")
    return s + (f" ({', '.join(notes)})" if notes else "")


# The figure the ratio column compares, per scenario kind.
KEY = {
    "cpu_delivery": ("CPU/delivery vs Switchboard json", lambda r: r.get("server_cpu_us_per_delivery")),
    "cpu_diff": ("CPU/delivery vs Switchboard json", lambda r: r.get("server_cpu_us_per_diff")),
    "cpu_connect": ("CPU/connect vs Switchboard json", lambda r: r.get("server_cpu_us_per_connect")),
    "rss_client": ("RSS/client vs Switchboard json", lambda r: r.get("server_rss_bytes_per_client")),
    "roundtrip": ("round trips/s vs Switchboard json", lambda r: r.get("round_trips_per_s")),
}

LATENCY = [
    ("p50 ms", lambda r: num(ms(get(r, "latency", "p50_us")), 2)),
    ("p99 ms", lambda r: num(ms(get(r, "latency", "p99_us")), 2)),
    ("max ms", lambda r: num(ms(get(r, "latency", "max_us")), 2)),
]

COLUMNS = {
    "cpu_delivery": [
        ("server CPU µs/delivery", lambda r: num(r.get("server_cpu_us_per_delivery"), 2)),
        ("deliveries/s", lambda r: num(r.get("deliveries_per_s"), 0)),
        *LATENCY,
        ("lost", lost),
    ],
    "cpu_diff": [
        ("server CPU µs/delivery", lambda r: num(r.get("server_cpu_us_per_diff"), 2)),
        ("deliveries/s", lambda r: num(r.get("diffs_per_s"), 0)),
        ("join/leave cycles/s", lambda r: num(r.get("cycles_per_s"), 0)),
        ("lost", lost),
    ],
    "cpu_connect": [
        ("server CPU µs/connect", lambda r: num(r.get("server_cpu_us_per_connect"), 1)),
        ("connects/s", lambda r: num(r.get("connects_per_s"), 0)),
        ("connect+join p50 ms", lambda r: num(ms(get(r, "connect_join", "p50_us")), 2)),
        ("p99 ms", lambda r: num(ms(get(r, "connect_join", "p99_us")), 2)),
        ("max ms", lambda r: num(ms(get(r, "connect_join", "max_us")), 2)),
        ("failed", lambda r: num(r.get("failed"), 0)),
    ],
    "roundtrip": [
        ("round trips/s", lambda r: num(r.get("round_trips_per_s"), 0)),
        ("server CPU µs/round trip", lambda r: num(r.get("server_cpu_us_per_round_trip"), 2)),
        *LATENCY,
        ("failed clients", lambda r: num(r.get("failed_clients"), 0)),
    ],
    "rss_client": [
        ("server RSS/client KiB", lambda r: num(kib(r.get("server_rss_bytes_per_client")), 2)),
        ("server RSS MiB", lambda r: num(kib(r.get("server_rss_kib_after")), 1)),
        ("server CPU s while idle", lambda r: num(r.get("server_cpu_s_while_idle"), 2)),
        ("dropped", lambda r: num(r.get("closed_early"), 0)),
    ],
}


def table(sc: Scenario, rows: list[Outcome]) -> str:
    cols = list(COLUMNS[sc.metric])
    if sc.command == "paced":
        cols[2:2] = [("reach all median ms", lambda r: num(r.get("all_reached_ms_median"), 1)),
                     ("reach all max ms", lambda r: num(r.get("all_reached_ms_max"), 1))]
    ratio_head, key = KEY[sc.metric]
    base = next((key(o.result) for o in rows if o.result and o.server == SB_JSON), None)

    def ratio(r: dict) -> str:
        v = key(r)
        # Round-trip rates of the two hosts sit close together: two decimals.
        digits = 2 if sc.metric == "roundtrip" else 1
        return "–" if v is None or not base else f"{v / base:.{digits}f}×"

    heads = ["server", *[h for h, _ in cols], ratio_head]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for o in rows:
        label = o.server + (f" ({o.note})" if o.note else "")
        if o.result is None:
            cells = [label, f"failed: {o.error}", *[""] * (len(heads) - 2)]
        else:
            cells = [label, *[f(o.result) for _, f in cols], ratio(o.result)]
            if o.error:
                cells[0] += f" (⚠ {o.error})"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------- machine info


def sh(*argv: str, cwd: Path | None = None) -> str:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def npm_version(peer: str, pkg: str) -> str:
    try:
        return json.loads((PEERS / peer / "node_modules" / pkg / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def machine_info() -> list[tuple[str, str]]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        pass
    py = PEERS / "python-socketio" / ".venv" / "bin" / "python"
    pyvers = sh(str(py), "-c",
                "import importlib.metadata as m, sys;"
                "print(sys.version.split()[0], *(m.version(p) for p in "
                "('python-socketio','python-engineio','uvicorn','websockets','uvloop','httptools')))")
    pv = (pyvers.split() + ["?"] * 7)[:7]
    os_name = "?"
    try:
        os_name = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    commit = sh("git", "rev-parse", "--short", "HEAD", cwd=ROOT)
    dirty = sh("git", "status", "--porcelain", "--untracked-files=no", cwd=ROOT)
    return [
        ("CPU", f"{os.cpu_count()} × {cpu} (`nproc` = {sh('nproc')})"),
        ("memory", mem),
        ("OS / kernel", f"{os_name}, Linux {platform.release()}"),
        ("open files limit", sh("sh", "-c", "ulimit -n")),
        ("Switchboard", f"commit {commit}{' (uncommitted changes)' if dirty else ''}, "
                        f"{sh('rustc', '--version')}, release profile"),
        ("Node.js", f"{sh('node', '--version')}: socket.io {npm_version('socketio-node', 'socket.io')} "
                    f"(engine.io {npm_version('socketio-node', 'engine.io')}, "
                    f"ws {npm_version('socketio-node', 'ws')}), "
                    f"ws {npm_version('ws-node', 'ws')}"),
        ("Python", f"{pv[0]}: python-socketio {pv[1]} (python-engineio {pv[2]}) on uvicorn {pv[3]} "
                   f"(websockets {pv[4]}, uvloop {pv[5]}, httptools {pv[6]})"),
    ]


# ---------------------------------------------------------------------------- output


def render(outcomes: list[Outcome], scs: list[Scenario], info: list[tuple[str, str]],
           command: str, quick: bool) -> str:
    parts = [
        "## End to end over loopback WebSockets",
        "",
        f"Command: `{command}` (bench/README.md explains the method and the servers)."
        + (" **Quick sanity sizes: not figures to quote.**" if quick else ""),
        "",
        *[f"- {k}: {v}" for k, v in info],
        "",
        "Server and load generator share the machine's cores. *Server CPU µs/delivery* is the "
        "server process's user+system CPU time (`/proc/PID/stat`) over the measured phase "
        "divided by the messages delivered to subscribers (the kernel reports CPU time in 10 ms "
        "ticks, so small runs read coarse); latency runs from the publisher's "
        "send to a subscriber's receive (HdrHistogram); *lost* counts expected deliveries "
        "that never arrived.",
    ]
    for sc in scs:
        rows = [o for o in outcomes if o.scenario == sc.key]
        if not rows:
            continue
        parts += ["", f"### {sc.title}", "", sc.note, "", table(sc, rows)]
    return "\n".join(parts) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{section}{END}"
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


# ------------------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a sanity check, writes nothing")
    ap.add_argument("--servers", help="comma-separated subset of: sb-json,sb-binary,sb-c,sb-node,sb-python,socketio,ws,"
                                      "python-socketio")
    ap.add_argument("--scenarios", help="comma-separated subset of: burst-small,burst-large,paced,rooms,"
                                        "connect-storm,idle,presence,roundtrip")
    ap.add_argument("--target-dir", type=Path,
                    default=Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")))
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "latest.jsonl",
                    help="where every outcome goes as a JSON line, overwritten per run "
                         "(default bench/results/latest.jsonl)")
    ap.add_argument("--from-results", type=Path,
                    help="render tables from a --results file instead of running anything")
    ap.add_argument("--write", type=Path, default=None,
                    help="markdown file whose e2e section to replace (default: BENCHMARKS.md on a full "
                         "run, nothing with --quick)")
    ap.add_argument("--no-write", action="store_true", help="print the section, write no file")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per loadgen run")
    ap.add_argument("--drain-timeout", type=int, default=300,
                    help="loadgen --timeout-s: seconds to wait for deliveries after the last publish")
    ap.add_argument("--command", default=None, help=argparse.SUPPRESS)  # as shown in the section
    a = ap.parse_args()

    target_dir = a.target_dir if a.target_dir.is_absolute() else (ROOT / a.target_dir)
    all_servers = servers(target_dir)
    scs = scenarios(a.quick)
    if a.servers:
        want = set(a.servers.split(","))
        unknown = want - {s.key for s in all_servers}
        if unknown:
            ap.error(f"unknown servers: {', '.join(sorted(unknown))}")
        all_servers = [s for s in all_servers if s.key in want]
    if a.scenarios:
        want = set(a.scenarios.split(","))
        unknown = want - {s.key for s in scs}
        if unknown:
            ap.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
        scs = [s for s in scs if s.key in want]

    outcomes: list[Outcome] = []
    if a.from_results:
        for line in a.from_results.read_text().splitlines():
            d = json.loads(line)
            outcomes.append(Outcome(d["server"], d["scenario"], d.get("result"), d.get("error"),
                                    d.get("command", []), d.get("note")))
    else:
        loadgen = target_dir / "release" / "loadgen"
        if not loadgen.exists():
            print(f"compare: {loadgen} is missing (bench/run.sh builds it)", file=sys.stderr)
            return 2
        a.results.parent.mkdir(parents=True, exist_ok=True)
        a.results.write_text("")
        for sc in scs:
            for srv in all_servers:
                if (sc.switchboard_only and not srv.switchboard) or \
                        (sc.phoenix_only and not srv.phoenix):
                    continue
                o = run_one(loadgen, srv, sc, a.timeout, a.drain_timeout)
                outcomes.append(o)
                with a.results.open("a") as f:
                    f.write(json.dumps(o.__dict__) + "\n")
                if o.error:
                    log(f"{srv.label} / {sc.title}: {o.error}")
                time.sleep(1)  # let the last connections' sockets close before the next server

    command = a.command or ("bench/run.sh" + (" --quick" if a.quick else ""))
    section = render(outcomes, scs, machine_info(), command, a.quick)
    print(section)
    target = a.write if a.write else (None if a.quick else ROOT / "BENCHMARKS.md")
    if target and not a.no_write:
        write_section(target, section)
        log(f"wrote the e2e section of {target}")
    failed = [o for o in outcomes if o.error]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
