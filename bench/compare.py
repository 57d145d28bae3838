#!/usr/bin/env python3
"""The end-to-end comparison: every server x every scenario, one loadgen run each.

Called by bench/run.sh (which builds the binaries, installs the peers and raises the open
file limit first); see bench/README.md for the contracts. For each run: start the server
(env PORT=0), wait for `LISTENING 127.0.0.1:<port>`, run `loadgen <scenario> ...
--server-pid <pid>`, keep its JSON result line (stdout; its human text goes to stderr),
stop the server (stdin EOF + SIGTERM, SIGKILL after a grace period). Then renders one
markdown table per scenario and, for a full run, replaces the section between
`<!-- e2e:begin -->` and `<!-- e2e:end -->` in BENCHMARKS.md.

The cluster scenarios (`cluster-burst`, `cluster-paced`, `cluster-idle-node`) run their own
rows instead (CLUSTER_ROWS): a broker (redis-server or nats-server) of their own on a free
loopback port, two nodes of one server joined through it (env SB_CLUSTER, SB_NODE), the
loadgen's `burst` or `paced` with `--second-url`, and (but for cluster-idle-node) the
single-node Switchboard run they are compared with. Their
tables go between `<!-- cluster:begin -->` and `<!-- cluster:end -->`.

The long-poll scenario (`longpoll-room`, issue 16) runs LONGPOLL_ROWS: the Rust bench server
and the Socket.IO peer, each started with env SB_LONGPOLL=1, their subscribers long-polling
and then on WebSockets (loadgen `--transport`). Its table goes between
`<!-- longpoll:begin -->` and `<!-- longpoll:end -->`.

Standard library only, so it runs with any python3 >= 3.9.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
BEGIN = "<!-- e2e:begin -->"
END = "<!-- e2e:end -->"
CLUSTER_BEGIN = "<!-- cluster:begin -->"
CLUSTER_END = "<!-- cluster:end -->"
LONGPOLL_BEGIN = "<!-- longpoll:begin -->"
LONGPOLL_END = "<!-- longpoll:end -->"


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class Server:
    key: str  # what --servers selects
    label: str  # the table row
    protocol: str  # loadgen --protocol
    argv: tuple[str, ...]  # the loadgen picks the URL path from the protocol
    switchboard: bool = False  # runs the Switchboard-only scenarios (presence)
    phoenix: bool = False  # speaks Phoenix channels, so runs the Phoenix-only ones (roundtrip)
    history: bool = False  # keeps bench:* history, so runs the history-only ones (resume)
    env: tuple[tuple[str, str], ...] = ()  # set for the server process, besides PORT
    only: tuple[str, ...] = ()  # the scenario keys it runs (empty: every one it applies to)


SB_JSON = "Switchboard (phoenix-json)"
SB_HISTORY = "Switchboard (phoenix-json), history 100"
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
        # The same server keeping the last 100 broadcasts of every bench:* topic (docs/HISTORY.md):
        # what history costs the fan-out (issue: at most 1.2x sb-json's CPU per delivery), and
        # the resume scenario, which needs it.
        Server("sb-history", SB_HISTORY, "phoenix-json", (bench,), switchboard=True, phoenix=True,
               history=True, env=(("SB_HISTORY", "100"),),
               only=("burst-small", "burst-large", "paced", "resume")),
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
    history_only: bool = False  # needs bench:* history (servers with history=True)
    cluster: bool = False  # runs CLUSTER_ROWS (two nodes over a broker) instead of the servers
    longpoll: bool = False  # runs LONGPOLL_ROWS (each server per transport) instead
    note: str = ""
    # Server key -> (loadgen flags replacing `args`, what the row says about it): a smaller
    # size for a server that cannot run the full one within the timeout, labeled in its row.
    scaled: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)


def scenarios(quick: bool, per_node: int | None = None) -> list[Scenario]:
    # Full sizes follow issue 6 (targets at 10,000 subscribers); --quick is a sanity check.
    n_small, n_large = (50, 200) if quick else (1_000, 10_000)
    burst_small_msgs, burst_large_msgs = (20, 20) if quick else (500, 50)
    # The cluster burst sends 4x burst-large's broadcasts: each node's CPU is read in 10 ms
    # ticks, and 50 broadcasts to 5,000 subscribers are ~20 ticks (±5 %), too coarse for a
    # target of 1.2x; 200 are ~70 ticks.
    cluster_burst_msgs = 20 if quick else 200
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
    # The resume: 1,000 clients, 100 missed messages each (all the sb-history row
    # keeps), a 10 s outage.
    resume_clients, resume_msgs, outage = (50, 100, 1) if quick else (1_000, 100, 10)
    # Issue 13: two nodes of 5,000 subscribers each, the same 10,000 as burst-large and paced;
    # each table's single-node row runs the same loadgen arguments on one server.
    per_node = per_node or (100 if quick else 5_000)
    # Issue 16: 1,000 long-polling clients in one room, 20 broadcasts/s for 15 s.
    lp_clients, lp_rate, lp_secs = (50, 20, 3) if quick else (1_000, 20, 15)
    cluster_note = (f"Two nodes, {per_node:,} subscribers of one topic on each (the same "
                    f"{2 * per_node:,} on one node for the first row), the publisher on node 1. ")
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
        Scenario("resume", f"Resume, {resume_clients:,} clients × {resume_msgs} missed messages",
                 "resume",
                 ("--clients", str(resume_clients), "--messages", str(resume_msgs),
                  "--outage-secs", str(outage)),
                 "resume", history_only=True,
                 note=f"{resume_clients:,} clients join one topic with `_since: null` and keep the "
                      f"position `sb_recovery` names; all disconnect; {resume_msgs} broadcasts are "
                      f"published during an outage of at least {outage} s; then all reconnect at "
                      "once and rejoin with `_since`. *Resume all* = time from the first reconnect "
                      "until every client has `sb_recovery` with `recovered: true` and all "
                      f"{resume_msgs} messages (each client must get exactly those, in order, once); "
                      "*per client* = from its own reconnect; server CPU over that phase (TCP and "
                      "WebSocket handshakes, joins, replays) per replayed message and per client. "
                      "Servers with history only."),
        Scenario("longpoll-room", f"Long-poll room, {lp_clients:,} subscribers", "longpoll-room",
                 ("--subscribers", str(lp_clients), "--rate", str(lp_rate),
                  "--seconds", str(lp_secs)),
                 "longpoll", longpoll=True,
                 note=f"{lp_clients:,} subscribers of one room; one publisher on a WebSocket "
                      f"broadcasts {lp_rate} messages/s to it for {lp_secs} s "
                      f"({lp_rate * lp_secs:,} broadcasts, {lp_clients * lp_rate * lp_secs:,} "
                      "deliveries); every subscriber must get every message once."),
        Scenario("cluster-burst", f"Cluster burst, 2 nodes × {per_node:,} subscribers", "burst",
                 ("--subscribers", str(2 * per_node), "--messages", str(cluster_burst_msgs)),
                 "cluster", cluster=True,
                 note=cluster_note + f"{cluster_burst_msgs} broadcasts back to back."),
        Scenario("cluster-paced", f"Cluster paced, 2 nodes × {per_node:,} subscribers", "paced",
                 ("--subscribers", str(2 * per_node), "--broadcasts", str(paced_msgs)),
                 "cluster", cluster=True,
                 note=cluster_note + f"One broadcast per second, {paced_msgs} in all; *reach all* = "
                      "time from the publish until the last subscriber of either node has it. At "
                      "one broadcast a second the broker's CPU per broadcast is within its idle "
                      "noise (its cron, the heartbeats): the burst table has the one to read."),
        Scenario("cluster-idle-node", "Cluster, a node with no subscriber of the topic", "burst",
                 ("--subscribers", str(n_small), "--messages", str(burst_small_msgs),
                  "--all-on-first"),
                 "cluster_idle", cluster=True,
                 note=f"Two nodes; all {n_small:,} subscribers and the publisher on node 1, "
                      f"{burst_small_msgs} broadcasts back to back. Node 2 is a member of the "
                      "cluster with no subscriber of the topic: its CPU per broadcast (threads' "
                      "`schedstat`, ns) is what one channel per app costs a node for a broadcast "
                      "it delivers to nobody (docs/CLUSTER.md, \"One channel per app\")."),
    ]


# --------------------------------------------------------------------- cluster rows


@dataclass(frozen=True)
class ClusterRow:
    server: str  # the Server key whose process runs the nodes (what --servers selects)
    label: str  # the table row
    broker: str | None  # "redis" or "nats"; None: one node, no broker (the single-node figure)


SB_ONE_NODE = "Switchboard, one node"
SIO_REDIS = "Socket.IO + Redis adapter, 2 nodes"
CLUSTER_ROWS = (
    ClusterRow("sb-json", SB_ONE_NODE, None),
    ClusterRow("sb-json", "Switchboard over Redis, 2 nodes", "redis"),
    ClusterRow("sb-json", "Switchboard over NATS, 2 nodes", "nats"),
    # History kept in Redis (docs/HISTORY.md): one script per broadcast appends to the topic's
    # stream and publishes; every node delivers from Redis, the publishing one included.
    ClusterRow("sb-history", "Switchboard over Redis, history 100, 2 nodes", "redis"),
    # bench/peers/socketio-node with SB_CLUSTER: @socket.io/redis-adapter (Socket.IO has no
    # NATS adapter of its own).
    ClusterRow("socketio", SIO_REDIS, "redis"),
)


@dataclass(frozen=True)
class LongPollRow:
    server: str  # the Server key whose process runs it (what --servers selects)
    label: str  # the table row
    transport: str  # the loadgen's --transport for the subscribers: polling or websocket


SB_LP = "Switchboard, long-poll"
SB_LP_WS = "Switchboard, WebSocket"
SIO_POLLING = "Socket.IO (Node), polling"
# Both servers run with env SB_LONGPOLL=1 in every row, WebSocket rows included: Switchboard
# serves long-poll on /socket (10 s window), Socket.IO its default transports.
LONGPOLL_ROWS = (
    LongPollRow("sb-json", SB_LP, "polling"),
    LongPollRow("sb-json", SB_LP_WS, "websocket"),
    LongPollRow("socketio", SIO_POLLING, "polling"),
    LongPollRow("socketio", "Socket.IO (Node), WebSocket", "websocket"),
)


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


def start_server(srv: Server, timeout: float,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        srv.argv, cwd=ROOT, env={**os.environ, "PORT": "0", **dict(srv.env), **(env or {})},
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


def run_loadgen(out: Outcome, loadgen: Path, srv: Server, sc: Scenario, args: tuple[str, ...],
                addr: str, procs: dict[str, subprocess.Popen], timeout: float,
                drain_timeout: int) -> Outcome:
    """Runs the loadgen against the server at `addr`, whose process is the first of `procs`
    (every one of them must outlive the run), and fills `out` in."""
    server = next(iter(procs.values()))
    cmd = [str(loadgen), sc.command, "--protocol", srv.protocol,
           "--url", f"ws://{addr}", *args, "--server-pid", str(server.pid),
           # Loss is reported in the table; a non-zero exit then means a failed run.
           "--allow-loss", "--timeout-s", str(drain_timeout)]
    out.command = cmd
    log(f"{out.server} / {sc.title}: {shlex.join(cmd)}")
    try:
        lg = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=sys.stderr,
                            text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        out.error = f"loadgen timed out after {timeout:.0f} s"
        return out
    out.result = parse_result(lg.stdout)
    dead = [(name, p.returncode) for name, p in procs.items() if p.poll() is not None]
    if dead:
        out.error = f"{dead[0][0]} exited during the run (status {dead[0][1]})"
    elif lg.returncode != 0:
        out.error = f"loadgen exit status {lg.returncode}"
    elif out.result is None:
        out.error = "loadgen printed no JSON result line"
    return out


def run_one(loadgen: Path, srv: Server, sc: Scenario, timeout: float, drain_timeout: int,
            label: str | None = None) -> Outcome:
    args, out_note = sc.scaled.get(srv.key, (sc.args, None))
    out = Outcome(label or srv.label, sc.key, note=out_note)
    try:
        proc, addr = start_server(srv, 30)
    except (OSError, RuntimeError) as e:
        out.error = f"server did not start: {e}"
        return out
    try:
        return run_loadgen(out, loadgen, srv, sc, args, addr, {"server": proc}, timeout,
                           drain_timeout)
    finally:
        stop_server(proc)


# -------------------------------------------------------------------------- brokers


@dataclass
class Broker:
    name: str  # the program, for messages
    proc: subprocess.Popen
    url: str  # what the nodes get as SB_CLUSTER
    stats: str  # the loadgen's --broker-stats: where it reads the publish counter


def find_binary(name: str, env_var: str, pkg: str) -> str:
    """Env `env_var`, else `name` in PATH, /usr/sbin, /usr/bin, /usr/local/bin (Debian puts
    nats-server in /usr/sbin), as tests/lib/brokers.mjs looks for them."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/usr/local/bin"])
    found = shutil.which(name, path=path)
    if not found:
        raise RuntimeError(f"{name} not found (PATH, /usr/sbin, /usr/bin, /usr/local/bin): "
                           f"`apt-get install {pkg}` (scripts/test.sh installs it) or set {env_var}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_exchange(port: int, send: bytes, until: bytes, wait: float = 1.0) -> bytes:
    """Sends `send` to 127.0.0.1:`port` and reads until `until` shows up, the server closes or
    `wait` seconds pass; b"" when nothing answers."""
    got = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
            if send:
                s.sendall(send)
            while until not in got:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
    except OSError:
        pass
    return got


def broker_ready(kind: str, proc: subprocess.Popen, port: int, monitor: int) -> bool:
    """Answers as the server we started: Redis names its process id in INFO (so a foreign
    server that grabbed the port is not mistaken for it); NATS greets with INFO and its
    monitoring port serves /varz."""
    if kind == "redis":
        # run_id comes after process_id in INFO server.
        info = tcp_exchange(port, b"INFO server\r\n", b"run_id:")
        return f"\nprocess_id:{proc.pid}\r\n".encode() in info
    return (tcp_exchange(port, b"", b"\r\n").startswith(b"INFO ")
            and b"in_msgs" in tcp_exchange(monitor, b"GET /varz HTTP/1.0\r\n\r\n", b"in_msgs"))


def start_broker(kind: str, timeout: float = 10) -> Broker:
    """A redis-server or nats-server of our own on free 127.0.0.1 ports, nothing persisted;
    another free port when the chosen one was taken in between (3 tries)."""
    if kind == "redis":
        name, binary = "redis-server", find_binary("redis-server", "SB_REDIS_SERVER", "redis-server")
    else:
        name, binary = "nats-server", find_binary("nats-server", "SB_NATS_SERVER", "nats-server")
    why = ""
    for _ in range(3):
        port, monitor = free_port(), free_port()
        if kind == "redis":
            argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--daemonize", "no"]
            url = stats = f"redis://127.0.0.1:{port}"
        else:
            # -m: the monitoring port, where the loadgen reads in_msgs from /varz.
            argv = [binary, "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor)]
            url, stats = f"nats://127.0.0.1:{port}", f"http://127.0.0.1:{monitor}"
        out = tempfile.TemporaryFile()
        proc = subprocess.Popen(argv, cwd=tempfile.gettempdir(), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if broker_ready(kind, proc, port, monitor):
                log(f"{name} (pid {proc.pid}) on {url}")
                return Broker(name, proc, url, stats)
            time.sleep(0.05)
        stop_server(proc)
        out.seek(0)
        tail = out.read().decode(errors="replace").strip().splitlines()[-5:]
        why = f"{shlex.join(argv)} did not answer within {timeout:.0f} s: {' / '.join(tail)}"
        if "in use" not in why:
            break
    raise RuntimeError(why)


def run_cluster(loadgen: Path, srv: Server, row: ClusterRow, sc: Scenario, timeout: float,
                drain_timeout: int) -> Outcome:
    """One cluster row: its broker, two nodes of `srv` on it, the loadgen over both (the
    publisher on node 1); every process stopped by PID afterwards, the nodes first."""
    if row.broker is None:
        return run_one(loadgen, srv, sc, timeout, drain_timeout, label=row.label)
    out = Outcome(row.label, sc.key)
    started: list[subprocess.Popen] = []
    try:
        try:
            broker = start_broker(row.broker)
        except (OSError, RuntimeError) as e:
            out.error = f"broker did not start: {e}"
            return out
        started.append(broker.proc)
        nodes = []
        for i in (1, 2):
            env = {"SB_CLUSTER": broker.url, "SB_NODE": f"bench-{i}@127.0.0.1"}
            try:
                proc, addr = start_server(srv, 30, env)
            except (OSError, RuntimeError) as e:
                out.error = f"node {i} did not start: {e}"
                return out
            started.append(proc)
            nodes.append((proc, addr))
        (node1, addr1), (node2, addr2) = nodes
        args = (*sc.args, "--second-url", f"ws://{addr2}", "--second-server-pid", str(node2.pid),
                "--broker-pid", str(broker.proc.pid), "--broker-stats", broker.stats)
        procs = {"node 1": node1, "node 2": node2, broker.name: broker.proc}
        return run_loadgen(out, loadgen, srv, sc, args, addr1, procs, timeout, drain_timeout)
    finally:
        for proc in reversed(started):
            stop_server(proc)


def run_longpoll(loadgen: Path, srv: Server, row: LongPollRow, sc: Scenario, timeout: float,
                 drain_timeout: int) -> Outcome:
    """One long-poll row: `srv` with env SB_LONGPOLL=1, the loadgen's subscribers on
    `row.transport`."""
    out = Outcome(row.label, sc.key)
    try:
        proc, addr = start_server(srv, 30, {"SB_LONGPOLL": "1"})
    except (OSError, RuntimeError) as e:
        out.error = f"server did not start: {e}"
        return out
    try:
        args = (*sc.args, "--transport", row.transport)
        return run_loadgen(out, loadgen, srv, sc, args, addr, {"server": proc}, timeout,
                           drain_timeout)
    finally:
        stop_server(proc)


def runs(sc: Scenario,
         selected: list[Server]) -> list[tuple[Server, ClusterRow | LongPollRow | None]]:
    """What `sc` runs: each selected server it applies to, or for a cluster or long-poll
    scenario each of its rows whose server is selected."""
    if sc.longpoll:
        by_key = {srv.key: srv for srv in selected}
        return [(by_key[row.server], row) for row in LONGPOLL_ROWS if row.server in by_key]
    if sc.cluster:
        by_key = {srv.key: srv for srv in selected}
        # cluster-idle-node is Switchboard's design check (docs/CLUSTER.md): no one-node row,
        # and no Socket.IO row: with its subscribers all local, Socket.IO's node 1 had sent
        # Redis only ~15 % of its publishes by the time its fan-out was done (they queue
        # behind it), so its node 2 figure per broadcast would count broadcasts it never got.
        return [(by_key[row.server], row) for row in CLUSTER_ROWS if row.server in by_key
                and (sc.metric != "cluster_idle" or (row.broker and by_key[row.server].switchboard))]
    return [(srv, None) for srv in selected
            if not sc.longpoll and (srv.switchboard or not sc.switchboard_only) and (srv.phoenix or not sc.phoenix_only)
            and (srv.history or not sc.history_only) and (not srv.only or sc.key in srv.only)]


# ------------------------------------------------------------------------ rendering


def num(v, digits=1) -> str:
    if v is None:
        return "–"
    if isinstance(v, int) or abs(v) >= 1000:
        return f"{round(v):,}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def get(r, *path):
    """`r[path[0]][path[1]]...` (keys of objects, indexes of lists), or None when any step is
    missing."""
    for k in path:
        if isinstance(r, dict):
            r = r.get(k)
        elif isinstance(r, list) and isinstance(k, int) and -len(r) <= k < len(r):
            r = r[k]
        else:
            return None
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
                                                   ("out_of_order", "out of order"),
                                                   ("bad_refs", "bad refs"),
                                                   ("not_recovered", "not recovered"),
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
    "resume": [
        ("resume all ms", lambda r: num(r.get("resume_all_ms"), 1)),
        ("per client p50 ms", lambda r: num(ms(get(r, "resume_latency", "p50_us")), 2)),
        ("p99 ms", lambda r: num(ms(get(r, "resume_latency", "p99_us")), 2)),
        ("max ms", lambda r: num(ms(get(r, "resume_latency", "max_us")), 2)),
        ("server CPU µs/replayed message", lambda r: num(r.get("server_cpu_us_per_replayed"), 2)),
        ("server CPU µs/client", lambda r: num(r.get("server_cpu_us_per_client"), 0)),
        ("outage s", lambda r: num(r.get("outage_s"), 1)),
        # Reconnects dropped for a full accept queue: each waited for the 1 s SYN retry.
        ("listen queue overflows", lambda r: num(r.get("listen_overflows"), 0)),
        ("lost", lost),
    ],
    "rss_client": [
        ("server RSS/client KiB", lambda r: num(kib(r.get("server_rss_bytes_per_client")), 2)),
        ("server RSS MiB", lambda r: num(kib(r.get("server_rss_kib_after")), 1)),
        ("server CPU s while idle", lambda r: num(r.get("server_cpu_s_while_idle"), 2)),
        ("dropped", lambda r: num(r.get("closed_early"), 0)),
    ],
}


def node_cpu(r: dict, node: int):
    """Node `node`'s server CPU µs per delivery; a one-node run is all node 0."""
    if "cluster" not in r:
        return r.get("server_cpu_us_per_delivery") if node == 0 else None
    return get(r, "cluster", "nodes", node, "server_cpu_us_per_delivery")


def cluster_columns(sc: Scenario, rows: list[Outcome]) -> list[tuple[str, object]]:
    """The cluster table's columns; the two ratios are the targets of issue 13."""
    by_label = {o.server: o.result for o in rows if o.result}
    one_node = (by_label.get(SB_ONE_NODE) or {}).get("server_cpu_us_per_delivery")
    sio = (by_label.get(SIO_REDIS) or {}).get("server_cpu_us_per_delivery")

    def receiving(r: dict) -> str:
        # Only Switchboard's nodes (the Phoenix rows) are compared with Switchboard on one node.
        v = node_cpu(r, 1)
        phoenix = str(r.get("protocol", "")).startswith("phoenix")
        return "–" if v is None or not one_node or not phoenix else f"{v / one_node:.2f}×"

    def vs_sio(r: dict) -> str:
        v = r.get("server_cpu_us_per_delivery")
        return "–" if not v or not sio else f"{sio / v:.1f}×"

    cols = [
        ("node 1 CPU µs/delivery", lambda r: num(node_cpu(r, 0), 2)),
        ("node 2 CPU µs/delivery", lambda r: num(node_cpu(r, 1), 2)),
        ("total server CPU µs/delivery", lambda r: num(r.get("server_cpu_us_per_delivery"), 2)),
        ("deliveries/s", lambda r: num(r.get("deliveries_per_s"), 0)),
        *LATENCY,
        ("lost", lost),
        ("broker CPU µs/broadcast", lambda r: num(get(r, "cluster", "broker", "cpu_us_per_broadcast"), 1)),
        ("broker publishes/broadcast",
         lambda r: num(get(r, "cluster", "broker", "publishes_per_broadcast"), 2)),
        ("receiving node ÷ one node (target ≤ 1.2×)", receiving),
        ("Socket.IO+Redis total ÷ this (target ≥ 5×)", vs_sio),
    ]
    if sc.command == "paced":
        cols[4:4] = [("reach all median ms", lambda r: num(r.get("all_reached_ms_median"), 1)),
                     ("reach all max ms", lambda r: num(r.get("all_reached_ms_max"), 1))]
    return cols


def idle_node_columns() -> list[tuple[str, object]]:
    """The cluster-idle-node table: what a broadcast costs the node that delivers it to nobody,
    beside what it costs the node that delivers it."""
    return [
        ("node 2 CPU µs/broadcast (no subscriber)",
         lambda r: num(get(r, "cluster", "nodes", 1, "server_cpu_us_per_broadcast"), 1)),
        ("node 1 CPU µs/broadcast", lambda r: num(get(r, "cluster", "nodes", 0, "server_cpu_us_per_broadcast"), 0)),
        ("node 1 CPU µs/delivery", lambda r: num(node_cpu(r, 0), 2)),
        ("deliveries/s", lambda r: num(r.get("deliveries_per_s"), 0)),
        ("lost", lost),
        ("broker CPU µs/broadcast", lambda r: num(get(r, "cluster", "broker", "cpu_us_per_broadcast"), 1)),
        ("broker publishes/broadcast",
         lambda r: num(get(r, "cluster", "broker", "publishes_per_broadcast"), 2)),
    ]


def longpoll_columns(rows: list[Outcome]) -> list[tuple[str, object]]:
    """The long-poll table: the fan-out figures, poll answers per delivery, and the row's CPU
    per delivery over the Switchboard WebSocket row's and over Socket.IO polling's."""
    by_label = {o.server: o.result for o in rows if o.result}
    cpu = "server_cpu_us_per_delivery"

    def over(base_label: str):
        base = (by_label.get(base_label) or {}).get(cpu)
        return lambda r: "–" if r.get(cpu) is None or not base else f"{r[cpu] / base:.2f}×"

    return [
        ("server CPU µs/delivery", lambda r: num(r.get(cpu), 2)),
        ("deliveries/s", lambda r: num(r.get("deliveries_per_s"), 0)),
        *LATENCY,
        ("lost", lost),
        ("deliveries/poll", lambda r: num(r.get("deliveries_per_poll"), 2)),
        (f"CPU/delivery ÷ {SB_LP_WS}", over(SB_LP_WS)),
        (f"CPU/delivery ÷ {SIO_POLLING}", over(SIO_POLLING)),
    ]


def table(sc: Scenario, rows: list[Outcome]) -> str:
    if sc.longpoll:
        return rows_table(longpoll_columns(rows), rows)
    if sc.metric == "cluster_idle":
        return rows_table(idle_node_columns(), rows)
    if sc.cluster:
        return rows_table(cluster_columns(sc, rows), rows)
    cols = list(COLUMNS[sc.metric])
    if sc.command == "paced":
        cols[2:2] = [("reach all median ms", lambda r: num(r.get("all_reached_ms_median"), 1)),
                     ("reach all max ms", lambda r: num(r.get("all_reached_ms_max"), 1))]
    if sc.metric not in KEY:  # resume: only the history row runs it, nothing to divide by
        return rows_table(cols, rows)
    ratio_head, key = KEY[sc.metric]
    base = next((key(o.result) for o in rows if o.result and o.server == SB_JSON), None)

    def ratio(r: dict) -> str:
        v = key(r)
        # Round-trip rates of the two hosts sit close together: two decimals.
        digits = 2 if sc.metric == "roundtrip" else 1
        return "–" if v is None or not base else f"{v / base:.{digits}f}×"

    return rows_table([*cols, (ratio_head, ratio)], rows)


def rows_table(cols: list[tuple[str, object]], rows: list[Outcome]) -> str:
    """A markdown table: one row per outcome, one column per (heading, cell function)."""
    heads = ["server", *[h for h, _ in cols]]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for o in rows:
        label = o.server + (f" ({o.note})" if o.note else "")
        if o.result is None:
            cells = [label, f"failed: {o.error}", *[""] * (len(heads) - 2)]
        else:
            cells = [label, *[f(o.result) for _, f in cols]]
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


def cluster_info() -> list[tuple[str, str]]:
    """The brokers and the Socket.IO adapter of the cluster rows."""
    def version(name: str, env_var: str, pkg: str) -> str:
        try:
            return sh(find_binary(name, env_var, pkg), "--version")
        except RuntimeError:
            return "not installed"
    return [
        ("brokers", f"{version('redis-server', 'SB_REDIS_SERVER', 'redis-server')}; "
                    f"{version('nats-server', 'SB_NATS_SERVER', 'nats-server')}"),
        ("Socket.IO cluster", f"@socket.io/redis-adapter "
                              f"{npm_version('socketio-node', '@socket.io/redis-adapter')} on redis "
                              f"(node-redis) {npm_version('socketio-node', 'redis')}"),
    ]


# ---------------------------------------------------------------------------- output


E2E_INTRO = (
    "Server and load generator share the machine's cores. *Server CPU µs/delivery* is the "
    "server process's user+system CPU time (`/proc/PID/stat`) over the measured phase "
    "divided by the messages delivered to subscribers (the kernel reports CPU time in 10 ms "
    "ticks, so small runs read coarse); latency runs from the publisher's "
    "send to a subscriber's receive (HdrHistogram); *lost* counts expected deliveries "
    "that never arrived.")

# Appended to E2E_INTRO when the history row ran.
HISTORY_INTRO = (
    f" *{SB_HISTORY}* is the Rust bench server keeping the last 100 broadcasts of every "
    "`bench:*` topic (env `SB_HISTORY=100`, docs/HISTORY.md), so every broadcast is also "
    "appended to the topic's log and carries its stream position as `ref`: its ratio column is "
    "what history costs the fan-out (target at most 1.2×).")

CLUSTER_INTRO = (
    "Each row starts its own broker (redis-server or nats-server on free loopback ports, "
    "nothing persisted) and two server processes joined through it; the publisher is on node 1 "
    "and the subscribers alternate between the nodes, so node 1 delivers each broadcast to its "
    "half and hands it to the broker, and node 2 gets it from the broker and delivers it to the "
    "other half. Servers, broker and load generator share the machine's cores. *Node CPU "
    "µs/delivery* is that node's user+system CPU time (`/proc/PID/stat`, 10 ms ticks) over the "
    "measured phase divided by the deliveries to its own subscribers; *total* is both nodes' "
    "CPU over all deliveries. *Broker CPU µs/broadcast* is the broker process's CPU time over "
    "the phase (its threads' `schedstat`, in ns) per broadcast; *broker publishes/broadcast* "
    "counts what the nodes published over the phase (Redis `INFO commandstats` calls of "
    "PUBLISH, NATS `/varz` `in_msgs`) per broadcast. Both are net of the broker's background "
    "(Switchboard's node heartbeats, one per node per second; Redis's cron) at the rates "
    "measured over 2 s of quiet before the phase. Latency, *reach all* and *lost* cover the subscribers of both "
    "nodes. The ratios are issue 13's targets: node 2's CPU per delivery over Switchboard's on "
    "one node with the same subscribers and broadcasts (at most 1.2×), and Socket.IO's total "
    "CPU per delivery with the Redis adapter over the row's (at least 5×).")


LONGPOLL_INTRO = (
    "Each row is one server process and one transport for the subscribers; the publisher is "
    "on a WebSocket in every row. Both servers run with env `SB_LONGPOLL=1` in all their rows: "
    "the Rust bench server serves Phoenix long-poll on `/socket` beside the WebSocket (10 s "
    "window), the Socket.IO peer Socket.IO's default transports (`polling`, `websocket`). A "
    "polling subscriber is one keep-alive HTTP/1.1 connection with one request at a time, as "
    "phoenix.js's `LongPoll` and Engine.IO's polling transport poll: Phoenix long-poll opens a "
    "session with a GET, joins with an ndjson POST and then polls with GETs that carry the "
    "session token; Engine.IO polling handshakes with a GET, POSTs `40` and the `join` event "
    "and then polls, POSTing `3` for each ping. *Server CPU µs/delivery* is the server "
    "process's user+system CPU time (`/proc/PID/stat`, 10 ms ticks) over the measured phase "
    "(from the first publish until every subscriber has every message) over the deliveries; "
    "latency runs from the publish to the subscriber's receipt; *deliveries/poll* is the "
    "messages a poll answer carried on average. The ratio columns divide the row's CPU per "
    "delivery by the Switchboard WebSocket row's and by the Socket.IO polling row's: lower is "
    "better.")

SECTIONS = {
    # kind: (heading, begin marker, end marker)
    "e2e": ("## End to end over loopback WebSockets", BEGIN, END),
    "cluster": ("## Cluster: two nodes over a broker", CLUSTER_BEGIN, CLUSTER_END),
    "longpoll": ("## Long-poll (issue 16)", LONGPOLL_BEGIN, LONGPOLL_END),
}


def section_of(sc: Scenario) -> str:
    """Which BENCHMARKS.md section `sc`'s table goes in."""
    return "cluster" if sc.cluster else "longpoll" if sc.longpoll else "e2e"


def render(outcomes: list[Outcome], scs: list[Scenario], info: list[tuple[str, str]],
           command: str, quick: bool, kind: str = "e2e") -> str | None:
    """The markdown section `kind` (a key of SECTIONS) of the scenarios that ran; None when
    none of its scenarios ran."""
    tables = []
    for sc in scs:
        rows = [o for o in outcomes if o.scenario == sc.key]
        if section_of(sc) == kind and rows:
            tables += ["", f"### {sc.title}", "", sc.note, "", table(sc, rows)]
    if not tables:
        return None
    intro = {
        "cluster": CLUSTER_INTRO,
        "longpoll": LONGPOLL_INTRO,
        "e2e": E2E_INTRO + (HISTORY_INTRO if any(o.server == SB_HISTORY for o in outcomes) else ""),
    }[kind]
    parts = [
        SECTIONS[kind][0],
        "",
        f"Command: `{command}` (bench/README.md explains the method and the servers)."
        + (" **Quick sanity sizes: not figures to quote.**" if quick else ""),
        "",
        *[f"- {k}: {v}" for k, v in info],
        "",
        intro,
        *tables,
    ]
    return "\n".join(parts) + "\n"


def write_section(path: Path, section: str, begin: str = BEGIN, end: str = END) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{section}{end}"
    if begin in text and end in text and text.index(begin) < text.index(end):
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


# ------------------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a sanity check, writes nothing")
    ap.add_argument("--servers", help="comma-separated subset of: sb-json,sb-binary,sb-history,sb-c,sb-node,"
                                      "sb-python,socketio,ws,python-socketio")
    ap.add_argument("--scenarios", help="comma-separated subset of: burst-small,burst-large,paced,rooms,"
                                        "connect-storm,idle,presence,roundtrip,resume,cluster-burst,"
                                        "cluster-paced,cluster-idle-node,longpoll-room")
    ap.add_argument("--cluster-per-node", type=int, default=None, metavar="N",
                    help="subscribers on each of the two nodes in the cluster scenarios "
                         "(default 5000; 100 with --quick)")
    ap.add_argument("--target-dir", type=Path,
                    default=Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")))
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "latest.jsonl",
                    help="where every outcome goes as a JSON line, overwritten per run "
                         "(default bench/results/latest.jsonl)")
    ap.add_argument("--from-results", type=Path,
                    help="render tables from a --results file instead of running anything")
    ap.add_argument("--write", type=Path, default=None,
                    help="markdown file whose e2e, cluster and long-poll sections to replace (default: "
                         "BENCHMARKS.md on a full run, nothing with --quick)")
    ap.add_argument("--no-write", action="store_true", help="print the section, write no file")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per loadgen run")
    ap.add_argument("--drain-timeout", type=int, default=300,
                    help="loadgen --timeout-s: seconds to wait for deliveries after the last publish")
    ap.add_argument("--command", default=None, help=argparse.SUPPRESS)  # as shown in the section
    a = ap.parse_args()

    target_dir = a.target_dir if a.target_dir.is_absolute() else (ROOT / a.target_dir)
    all_servers = servers(target_dir)
    scs = scenarios(a.quick, a.cluster_per_node)
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
            for srv, row in runs(sc, all_servers):
                if isinstance(row, LongPollRow):
                    o = run_longpoll(loadgen, srv, row, sc, a.timeout, a.drain_timeout)
                elif row:
                    o = run_cluster(loadgen, srv, row, sc, a.timeout, a.drain_timeout)
                else:
                    o = run_one(loadgen, srv, sc, a.timeout, a.drain_timeout)
                outcomes.append(o)
                with a.results.open("a") as f:
                    f.write(json.dumps(o.__dict__) + "\n")
                if o.error:
                    log(f"{o.server} / {sc.title}: {o.error}")
                time.sleep(1)  # let the last connections' sockets close before the next server

    command = a.command or ("bench/run.sh" + (" --quick" if a.quick else ""))
    target = a.write if a.write else (None if a.quick else ROOT / "BENCHMARKS.md")
    info = machine_info()
    for kind, (_, begin, end) in SECTIONS.items():
        # The long-poll rows run the Rust bench server and Socket.IO only: no Python line.
        extra = cluster_info() if kind == "cluster" else []
        kept = [(k, v) for k, v in info if kind != "longpoll" or k != "Python"]
        section = render(outcomes, scs, kept + extra, command, a.quick, kind)
        if section is None:
            continue
        print(section)
        if target and not a.no_write:
            write_section(target, section, begin, end)
            log(f"wrote the {kind} section of {target}")
    failed = [o for o in outcomes if o.error]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
