// Many idle clients against the chat demo (issue 11's "10,000 connections"), run through
// `scripts/soak.sh --connections [N]` (which builds the demo with `--features heap-stats`).
//
// N clients (default 10,000) speak the Phoenix V2 protocol over plain `ws` (the `phoenix` npm
// client costs too much memory at that count): each connects with `user=c<i>` and joins
// `room:soak-conn-<i/10>` (rooms of 10; the demo tracks presence on join, so every room gets its
// presence_state and diffs), in at most SOAK_CONNECT_CONCURRENCY (100) handshakes at once. They
// stay connected, idle but for a heartbeat every 25 s, for SOAK_HOLD_SECONDS (30); then the
// first member of every room sends one new_msg, which must reach all 10 members (N deliveries);
// then every client closes. The bystander of tests/soak/soak.mjs (the stock phoenix client in
// a worker thread, a new_msg every 200 ms) times its messages throughout.
//
// This runs twice (SOAK_ROUNDS, default 2): the first round also lets the server's tables
// (connection registry, PubSub shards, presence, tokio's I/O slab) grow to N; the second round's
// final live heap is compared with the heap after the first round (both with the bystander
// alone), with the same tolerance as the abuse soak. The growth of the first round over the
// heap at start (tables keeping their capacity) is reported too; with SOAK_ROUNDS=1 the heap
// is only reported.
//
// The end of a round closes every client at once; SOAK_DISCONNECT_BATCH=k closes k per 10 ms
// instead, and SOAK_DISCONNECT=terminate drops the TCP connections without a close handshake.
//
// Reports: time to connect and join all (and the per-client connect+join latency), live heap and
// RSS per connected client, the broadcast's time to reach all, the bystander's latency per phase,
// and the live heap before / after. Exit status 1 when a client failed to connect or join, a
// delivery is missing, the bystander's max latency is >= SOAK_LATENCY_MS (100) or it lost a
// message, the live heap after the last round exceeds the one after the first by more than the
// tolerance, or the server died.

import WebSocket from "ws";

import { rssBytes } from "../lib/proc.mjs";
import { socketUrl } from "../lib/raw.mjs";
import { sleep, waitUntil } from "../lib/wait.mjs";
import {
  HEAP_TOLERANCE,
  LATENCY_LIMIT_MS,
  bystanderLine,
  cpuSeconds,
  environment,
  fmtKiB,
  fmtMiB,
  fmtMs,
  latencyStats,
  log,
  printSummary,
  settledHeap,
  signed,
  startBystander,
  startChat,
  startSampler,
} from "./soak.mjs";

function envInt(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

const N = Number(process.argv[2] ?? 10_000);
if (!Number.isInteger(N) || N < 10) throw new Error(`the number of connections must be an integer >= 10, got ${process.argv[2]}`);
const HOLD_SECONDS = envInt("SOAK_HOLD_SECONDS", 30);
const CONCURRENCY = envInt("SOAK_CONNECT_CONCURRENCY", 100);
const ROUNDS = envInt("SOAK_ROUNDS", 2);
/** Clients closed per 10 ms at the end of a round (default: all of them at once). */
const DISCONNECT_BATCH = envInt("SOAK_DISCONNECT_BATCH", N);
/** How they go: a WebSocket close handshake (`close`, default) or a dropped TCP connection (`terminate`). */
const DISCONNECT = process.env.SOAK_DISCONNECT ?? "close";
if (!["close", "terminate"].includes(DISCONNECT)) throw new Error("SOAK_DISCONNECT must be close or terminate");
const ROOM_SIZE = 10;
const HEARTBEAT_SLOTS = 25; // each client heartbeats once per 25 s (the server's idle timeout is 60 s)

/** One client: connects, joins its room, counts its room's broadcast; keeps nothing else. */
function openClient(port, i) {
  const room = Math.floor(i / ROOM_SIZE);
  const topic = `room:soak-conn-${room}`;
  const c = { i, topic, body: `hello-${room}`, ws: null, joined: false, got: 0, closed: false, refs: 1 };
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(socketUrl(port, { params: { user: `c${i}` } }), { perMessageDeflate: false });
    c.ws = ws;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`client ${i}: not joined within 30 s`));
    }, 30_000);
    ws.on("open", () => ws.send(JSON.stringify(["1", "1", topic, "phx_join", {}])));
    ws.on("message", (data) => {
      const m = JSON.parse(data.toString());
      if (!c.joined && m[1] === "1" && m[3] === "phx_reply") {
        clearTimeout(timer);
        if (m[4].status !== "ok") {
          ws.terminate();
          reject(new Error(`client ${i}: join ${JSON.stringify(m[4])}`));
          return;
        }
        c.joined = true;
        c.ms = performance.now() - t0;
        resolve(c);
      } else if (m[3] === "new_msg" && m[4]?.body === c.body) c.got += 1;
    });
    ws.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`client ${i}: ${e.message}`));
    });
    ws.on("close", (code) => {
      c.closed = true;
      c.closeCode = code;
      clearTimeout(timer);
      if (!c.joined) reject(new Error(`client ${i}: closed (${code}) before its join reply`));
    });
  });
}

/** Connects clients 0..N-1, CONCURRENCY at a time; resolves `{clients, failures}`. */
async function connectAll(port) {
  const clients = new Array(N);
  const failures = [];
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      try {
        clients[i] = await openClient(port, i);
      } catch (e) {
        failures.push(e.message);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { clients: clients.filter(Boolean), failures };
}

async function round(server, bystander, r, phases) {
  const port = server.port;
  const mark = (name) => phases.push({ round: r, name, t: Date.now() });
  const out = {};

  const pid = server.proc.pid;
  mark("connect + join");
  let cpu = cpuSeconds(pid);
  const t0 = performance.now();
  const { clients, failures } = await connectAll(port);
  out.connectS = (performance.now() - t0) / 1000;
  out.connectCpu = cpuSeconds(pid) - cpu;
  out.failures = failures;
  out.joinLat = latencyStats(clients.map((c) => c.ms));
  log(`round ${r}: ${clients.length} of ${N} joined in ${out.connectS.toFixed(1)} s (${failures.length} failed${failures.length ? `: ${failures[0]}` : ""})`);

  let tick = 0;
  const hb = setInterval(() => {
    const slot = tick++ % HEARTBEAT_SLOTS;
    for (let k = slot; k < clients.length; k += HEARTBEAT_SLOTS) {
      const c = clients[k];
      if (c.ws.readyState === WebSocket.OPEN) c.ws.send(JSON.stringify([null, String(++c.refs), "phoenix", "heartbeat", {}]));
    }
  }, 1_000);

  try {
    mark("connected, idle");
    out.heapConnected = await settledHeap(port);
    out.rssConnected = rssBytes(server.proc.pid);
    log(`round ${r}: live heap ${fmtMiB(out.heapConnected)}, RSS ${fmtMiB(out.rssConnected)} with ${clients.length} connected`);
    const holdUntil = Date.now() + HOLD_SECONDS * 1000;
    while (Date.now() < holdUntil && server.alive) await sleep(250);
    out.droppedWhileIdle = clients.filter((c) => c.closed).length;

    mark("broadcast to every room");
    const t1 = performance.now();
    for (const c of clients) {
      if (c.i % ROOM_SIZE === 0 && c.ws.readyState === WebSocket.OPEN) {
        c.ws.send(JSON.stringify(["1", String(++c.refs), c.topic, "new_msg", { body: c.body }]));
      }
    }
    const expected = clients.length;
    const delivered = () => clients.reduce((a, c) => a + c.got, 0);
    await waitUntil(() => delivered() >= expected, { timeout: 60_000, interval: 20, msg: "every room's broadcast" }).catch(() => {});
    out.broadcastMs = performance.now() - t1;
    out.delivered = delivered();
    out.expected = expected;
    log(`round ${r}: ${out.delivered} of ${expected} deliveries in ${fmtMs(out.broadcastMs)}`);
  } finally {
    clearInterval(hb);
  }

  mark("disconnect");
  cpu = cpuSeconds(pid);
  const t2 = performance.now();
  for (let k = 0; k < clients.length; k += DISCONNECT_BATCH) {
    if (k > 0) await sleep(10);
    for (const c of clients.slice(k, k + DISCONNECT_BATCH)) c.ws[DISCONNECT]();
  }
  await waitUntil(() => clients.every((c) => c.closed), { timeout: 60_000, interval: 50, msg: "every client closed" }).catch(() => {
    for (const c of clients) if (!c.closed) c.ws.terminate();
  });
  out.disconnectS = (performance.now() - t2) / 1000;
  out.disconnectCpu = cpuSeconds(pid) - cpu;
  mark("after");
  out.heapAfter = await settledHeap(port);
  out.rssAfter = rssBytes(server.proc.pid);
  log(`round ${r}: all closed in ${out.disconnectS.toFixed(1)} s; live heap ${fmtMiB(out.heapAfter)}, RSS ${fmtMiB(out.rssAfter)}`);
  return out;
}

async function main() {
  const env = environment();
  log(`connections: ${N} clients in rooms of ${ROOM_SIZE}, ${ROUNDS} rounds, ${HOLD_SECONDS} s idle each; commit ${env.commit}`);
  const server = await startChat();
  const pid = server.proc.pid;
  let stopping = false;
  let failure = null;
  const died = server.exited.then((code) => {
    if (!stopping) failure = `the server exited (${code}); last lines:\n${server.tail(30)}`;
  });
  const cpu0 = cpuSeconds(pid);
  const bystander = await startBystander(server.port);
  const sampler = startSampler(server, { line: () => bystanderLine(bystander) });
  const start = Date.now();
  const phases = [{ round: 0, name: "before", t: start }];
  const heapStart = await settledHeap(server.port);
  const rssStart = rssBytes(pid);
  log(`live heap at start ${fmtMiB(heapStart)}, RSS ${fmtMiB(rssStart)}`);
  const rounds = [];
  try {
    for (let r = 1; r <= ROUNDS; r++) {
      rounds.push(await Promise.race([round(server, bystander, r, phases), died.then(() => Promise.reject(new Error(failure)))]));
    }
  } catch (e) {
    failure ??= e.stack || String(e);
  }
  const end = Date.now();
  const by = await bystander.stop().catch((e) => ({ sent: 0, received: 0, lost: NaN, errors: [e.message], errorCount: 1 }));
  await sampler.stop();
  const cpu = server.alive ? cpuSeconds(pid) - cpu0 : NaN;
  if (!server.alive) failure ??= `the server exited (${server.exitCode})`;
  stopping = true;
  await server.stop();

  const lat = latencyStats(bystander.samples.map((s) => s.ms));
  const problems = [];
  if (failure) problems.push(failure);
  if (!(lat.max < LATENCY_LIMIT_MS)) problems.push(`bystander max latency ${fmtMs(lat.max)} ≥ ${LATENCY_LIMIT_MS} ms`);
  if (by.lost > 0 || by.errorCount > 0 || bystander.problems.length > 0) {
    problems.push(`bystander: ${by.lost} lost, errors ${JSON.stringify(by.errors)}, ${bystander.problems.join("; ")}`);
  }
  rounds.forEach((o, k) => {
    if (o.failures.length) problems.push(`round ${k + 1}: ${o.failures.length} clients failed (${o.failures[0]})`);
    if (o.delivered !== o.expected) problems.push(`round ${k + 1}: ${o.delivered} of ${o.expected} deliveries`);
    if (o.droppedWhileIdle) problems.push(`round ${k + 1}: ${o.droppedWhileIdle} clients closed while idle`);
  });
  const last = rounds[rounds.length - 1];
  // With one round there is no reference in the same state (the start has the tables small):
  // the heap is reported, not judged.
  const growth = rounds.length > 1 && last ? last.heapAfter - rounds[0].heapAfter : NaN;
  if (ROUNDS > 1 && !(growth <= HEAP_TOLERANCE)) {
    problems.push(`live heap after the last round ${signed(growth)} over the one after round 1 (tolerance ${HEAP_TOLERANCE} B)`);
  }

  // Bystander latency per phase (all rounds together).
  const bounds = [...phases, { name: "end", t: end + 1 }];
  const perPhase = new Map();
  for (let k = 0; k < bounds.length - 1; k++) {
    const name = bounds[k].name;
    const p = perPhase.get(name) ?? { list: [], lag: 0 };
    p.list.push(...bystander.between(bounds[k].t, bounds[k + 1].t));
    p.lag = Math.max(p.lag, bystander.maxLag(bounds[k].t, bounds[k + 1].t));
    perPhase.set(name, p);
  }

  const lines = [];
  lines.push(`### Connections: ${N.toLocaleString("en-US")} clients in rooms of ${ROOM_SIZE}, ${ROUNDS} rounds, commit ${env.commit}`);
  lines.push("");
  const how = `${DISCONNECT}, ${DISCONNECT_BATCH >= N ? "all at once" : `${DISCONNECT_BATCH} per 10 ms`}`;
  lines.push(
    `Machine: ${env.machine}; server = chat demo (\`--features heap-stats\`), RUST_LOG=${process.env.RUST_LOG ?? "info"}; ` +
      `${CONCURRENCY} handshakes in flight, ${HOLD_SECONDS} s idle; disconnect: ${how}.`,
  );
  lines.push("");
  lines.push(`| figure | ${rounds.map((_, k) => `round ${k + 1}`).join(" | ")} |`);
  lines.push(`|---|${rounds.map(() => "---").join("|")}|`);
  const row = (label, f) => lines.push(`| ${label} | ${rounds.map(f).join(" | ")} |`);
  row("connect + join all", (o) => `${o.connectS.toFixed(1)} s (${Math.round(N / o.connectS).toLocaleString("en-US")}/s), ${o.failures.length} failed`);
  row("server CPU per connect + join", (o) => `${((o.connectCpu / N) * 1e6).toFixed(0)} µs`);
  row("per-client connect + join p50 / p99 / max", (o) => `${fmtMs(o.joinLat.p50)} / ${fmtMs(o.joinLat.p99)} / ${fmtMs(o.joinLat.max)}`);
  row("live heap, all connected", (o) => fmtMiB(o.heapConnected));
  row("live heap per connected client", (o) => fmtKiB((o.heapConnected - heapStart) / N));
  row("server RSS, all connected (per client)", (o) => `${fmtMiB(o.rssConnected)} (${fmtKiB((o.rssConnected - rssStart) / N)})`);
  row("broadcast to every room: deliveries, time to reach all", (o) => `${o.delivered.toLocaleString("en-US")} of ${o.expected.toLocaleString("en-US")}, ${fmtMs(o.broadcastMs)}`);
  row("all closed in", (o) => `${o.disconnectS.toFixed(1)} s`);
  row("server CPU per disconnect (until all closed)", (o) => `${((o.disconnectCpu / N) * 1e6).toFixed(0)} µs`);
  row("live heap after all left", (o) => `${fmtMiB(o.heapAfter)} (${o.heapAfter.toLocaleString("en-US")} B)`);
  row("server RSS after all left", (o) => fmtMiB(o.rssAfter));
  lines.push("");
  lines.push(`Live heap at start (bystander only): ${heapStart.toLocaleString("en-US")} B. After round 1: ${signed((rounds[0]?.heapAfter ?? NaN) - heapStart)} over the start (tables keep the capacity they grew to).` +
    (rounds.length > 1 ? ` After round ${rounds.length}: **${signed(growth)}** over round 1 (tolerance ${fmtKiB(HEAP_TOLERANCE)}).` : ""));
  lines.push(`Server CPU over the run: ${cpu.toFixed(1)} s in ${((end - start) / 1000).toFixed(0)} s. Live heap max ${fmtMiB(sampler.maxHeap())}, RSS max ${fmtMiB(sampler.maxRss())}.`);
  lines.push("");
  lines.push("| bystander phase | round trips | p50 | p99 | max | its event loop's worst delay |");
  lines.push("|---|---|---|---|---|---|");
  for (const [name, { list, lag }] of perPhase) {
    const s = latencyStats(list);
    lines.push(`| ${name} | ${s.count} | ${fmtMs(s.p50)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} | ${fmtMs(lag)} |`);
  }
  lines.push(`| **all** | ${lat.count} (sent ${by.sent}, lost ${by.lost}) | ${fmtMs(lat.p50)} | ${fmtMs(lat.p99)} | **${fmtMs(lat.max)}** (limit ${LATENCY_LIMIT_MS} ms) | ${fmtMs(bystander.maxLag())} |`);
  lines.push("");
  lines.push(problems.length ? `**FAILED**: ${problems.map((p) => p.split("\n")[0]).join(" · ")}` : "Result: **passed**.");
  printSummary(lines, problems);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
