// Soak of the chat demo under hostile clients (issue 11). Run through scripts/soak.sh, which
// builds the demo with `--features heap-stats` (its `GET /_heap` answers the live heap bytes).
//
// For SOAK_SECONDS (default 600) this process keeps seven attacks going at once, each a loop of
// short, bounded cycles (the client side stays small), against one chat server:
//
//   ping       a WebSocket that sends pings and never reads: the server must close it as a slow
//              consumer (1013);
//   preupgrade TCP connections that send nothing, half a request head, or a 400 KiB request head
//              that never ends: closed at the 10 s header read timeout, or answered 431;
//   dupjoin    2-3 phx_join of one topic in one write: every join answered, the superseded ones
//              closed, one subscription left (a message comes back once);
//   unjoined   pushes to a topic never joined, with 10 KB event names: each answered
//              "unmatched topic";
//   churn      connect / join (the demo tracks presence) / leave, close or drop;
//   bigpayload new_msg payloads of ~55 KiB with 3,500 keys (refused by the demo before parsing:
//              "message too long") and one of ~320 KiB (over the 64 KiB frame limit: 1009);
//   slow       a member of a busy room (a publisher sends 8 KiB messages to it) that never
//              reads: the server must drop it (1013) while the room goes on.
//
// How many loops of each run at once and their pauses are in `runAbuse` (the mix); on the
// project's 2-core machine it keeps the server at ~40-60 % of one core. SOAK_ATTACKS=a,b runs
// only those attacks (to find which one a heap growth comes from).
//
// Beside them a bystander, the stock phoenix client in a worker thread (its own event loop, so
// the attackers' JavaScript cannot delay it), is joined to `room:soak-bystander` and sends
// `new_msg` every 200 ms, timing each until its own broadcast comes back. It also records how
// late its own timers fire, so a slow sample can be told apart from a starved client thread.
//
// Phases: a warm-up (SOAK_WARMUP_SECONDS, default 60, at most a fifth of the run) of the same
// abuse lets every table reach its working size; the attacks then stop and everything drains
// (the rooms' presence, watched by one member per room, back to that member alone; the live
// heap steady), and the live heap is the *baseline*. The abuse runs for the rest of the time,
// stops, drains the same way, and the live heap is the *final* figure. `GET /_heap` and the
// server's RSS are sampled every 5 s throughout.
//
// Exit status 1 when: the bystander's max latency is >= SOAK_LATENCY_MS (100) or it lost a
// message or its connection; the final live heap exceeds the baseline by more than
// SOAK_HEAP_TOLERANCE bytes (default 1 MiB, see HEAP_TOLERANCE); an attack saw an outcome
// marked BAD (the server failed to bound or answer it); the server died.
//
// The same file is the bystander's worker (workerData.role === "bystander") and exports the
// pieces that tests/soak/connections.mjs (the 10,000-connection run) shares.

import http from "node:http";
import net from "node:net";
import os from "node:os";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { performance } from "node:perf_hooks";
import { execFileSync } from "node:child_process";

import WebSocket from "ws";

import { makeSocket, connect as phxConnect, joinOk } from "../lib/phx.mjs";
import { rssBytes } from "../lib/proc.mjs";
import { rawConnect, socketUrl } from "../lib/raw.mjs";
import { REPO, ServerProcess, serverCommand } from "../lib/server.mjs";
import { sleep, waitUntil, withTimeout } from "../lib/wait.mjs";

export const KiB = 1024;
export const MiB = 1024 * 1024;

// ---- settings ------------------------------------------------------------------------------

function envNumber(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

/** Bystander pass mark: every message must come back in less than this (ms). */
export const LATENCY_LIMIT_MS = envNumber("SOAK_LATENCY_MS", 100);
/** Bystander send interval (ms). */
export const BYSTANDER_INTERVAL_MS = envNumber("SOAK_BYSTANDER_INTERVAL_MS", 200);

/**
 * How much more live heap the final figure may show than the baseline. Both are taken in the
 * same state (attacks stopped, every attack connection gone, the bystander alone), so what may
 * differ is allocator-independent noise: the bystander's message in flight, buffers that a
 * hash map or a tokio slab grew during the second phase and keeps (the warm-up made most of
 * them reach their working size already), log rate-limit state. Measured: 0 to ~4 KiB (per
 * attack alone and all together, 20-60 s runs). 1 MiB is far above that noise, and a leak of
 * ~40 bytes per join (the size of the old presence-delta leak) over the ~500,000 joins a
 * 10-minute run makes (55,960 in a 60 s run here) is ~20 MB: it fails. The run prints the joins and
 * connections it made, so the per-join sensitivity of a run is tolerance / joins.
 */
export const HEAP_TOLERANCE = envNumber("SOAK_HEAP_TOLERANCE", 1 * MiB);

// ---- small helpers ---------------------------------------------------------------------------

export const fmtMiB = (b) => `${(b / MiB).toFixed(2)} MiB`;
export const fmtKiB = (b) => `${(b / KiB).toFixed(1)} KiB`;
export const fmtMs = (ms) => (ms === undefined || ms === null || Number.isNaN(ms) ? "n/a" : `${ms.toFixed(1)} ms`);
export const signed = (b) => `${b >= 0 ? "+" : "−"}${Math.abs(b).toLocaleString("en-US")} B`;

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** `{count, p50, p99, max}` of a list of latencies (ms). */
export function latencyStats(list) {
  const s = [...list].sort((a, b) => a - b);
  return { count: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1] : NaN };
}

export function log(msg) {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Resolves with the first of `events` that `emitter` emits, or "timeout" after `ms`. */
export function firstEvent(emitter, events, ms) {
  return new Promise((resolve) => {
    const handlers = {};
    let timer;
    const done = (what) => {
      clearTimeout(timer);
      for (const [e, h] of Object.entries(handlers)) emitter.off(e, h);
      resolve(what);
    };
    for (const e of events) {
      handlers[e] = () => done(e);
      emitter.on(e, handlers[e]);
    }
    if (ms !== undefined) timer = setTimeout(() => done("timeout"), ms);
  });
}

/** `GET http://127.0.0.1:<port><path>` on a fresh connection; resolves `{status, body}`. */
export function httpGet(port, path, ms = 5000) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = http.get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode, body }));
        res.on("error", reject);
      });
      req.on("error", reject);
    }),
    ms,
    `GET ${path}`,
  );
}

/** The server's live heap in bytes (`GET /_heap`, the chat demo built with `heap-stats`). */
export async function liveHeap(port) {
  const r = await httpGet(port, "/_heap");
  if (r.status !== 200 || !/^-?\d+\s*$/.test(r.body)) {
    throw new Error(
      `GET /_heap answered ${r.status} ${JSON.stringify(r.body.slice(0, 80))}: the chat demo must be built with ` +
        "`--features heap-stats` (scripts/soak.sh does)",
    );
  }
  return Number(r.body.trim());
}

/** User + system CPU seconds of process `pid` so far. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

/**
 * Waits until the live heap is steady (the last 6 samples, 0.5 s apart, within 32 KiB of each
 * other) and returns their median; throws after `timeout` ms.
 */
export async function settledHeap(port, { timeout = 60_000 } = {}) {
  const samples = [];
  const deadline = Date.now() + timeout;
  for (;;) {
    samples.push(await liveHeap(port));
    const last = samples.slice(-6);
    if (last.length === 6 && Math.max(...last) - Math.min(...last) <= 32 * KiB) {
      return [...last].sort((a, b) => a - b)[3];
    }
    if (Date.now() > deadline) throw new Error(`live heap not steady after ${timeout} ms: ${samples.slice(-8).join(", ")}`);
    await sleep(500);
  }
}

/** Starts the chat demo (SB_CHAT_CMD or the release `chat` example) with PORT=0. */
export async function startChat() {
  const server = await ServerProcess.start(serverCommand("SB_CHAT_CMD", "chat"), {
    name: "chat demo",
    env: { RUST_LOG: process.env.RUST_LOG ?? "info" },
    startTimeout: 30_000,
  });
  // Never leave it running behind this process (the demo does not exit on stdin EOF).
  process.on("exit", () => server.alive && server.proc.kill("SIGKILL"));
  try {
    await liveHeap(server.port); // fails early with the hint when the feature is missing
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

/** Commit and machine, for the summary. */
export function environment() {
  let commit = "unknown";
  let dirty = "";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO, encoding: "utf8" }).trim();
    const st = execFileSync("git", ["status", "--porcelain"], { cwd: REPO, encoding: "utf8" }).trim();
    if (st) dirty = " + uncommitted changes";
  } catch {
    // not a git checkout
  }
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const load = os.loadavg()[0].toFixed(2);
  return {
    commit: `${commit}${dirty}`,
    machine: `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${load} at the start`,
  };
}

// ---- the bystander (a worker thread) ---------------------------------------------------------

/**
 * Starts the bystander worker on `port`; resolves once it is joined. The returned object keeps
 * every latency sample `{t, ms}` (t = Date.now() at the send), and `stop()` resolves with its
 * final stats once it stopped sending and its last messages came back (or 5 s passed).
 */
export async function startBystander(port) {
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { role: "bystander", port, intervalMs: BYSTANDER_INTERVAL_MS },
  });
  const b = {
    samples: [],
    lags: [],
    problems: [],
    worker,
    final: null,
    /** Samples whose send time lies in [from, to). */
    between(from, to) {
      return this.samples.filter((s) => s.t >= from && s.t < to).map((s) => s.ms);
    },
    /** The worst delay of the bystander's own event loop in [from, to) (0 if none over 5 ms). */
    maxLag(from = 0, to = Infinity) {
      return this.lags.filter((s) => s.t >= from && s.t < to).reduce((m, s) => Math.max(m, s.ms), 0);
    },
    stop() {
      worker.postMessage({ type: "stop" });
      return withTimeout(this.done, 20_000, "the bystander's final report");
    },
  };
  let readyResolve, readyReject, doneResolve;
  const ready = new Promise((res, rej) => ((readyResolve = res), (readyReject = rej)));
  b.done = new Promise((res) => (doneResolve = res));
  worker.on("message", (m) => {
    if (m.type === "ready") readyResolve();
    else if (m.type === "sample") b.samples.push({ t: m.t, ms: m.ms });
    else if (m.type === "lag") b.lags.push({ t: m.t, ms: m.ms });
    else if (m.type === "problem") b.problems.push(m.what);
    else if (m.type === "done") {
      b.final = m;
      doneResolve(m);
    }
  });
  worker.on("error", (e) => {
    b.problems.push(`worker error: ${e.stack || e}`);
    readyReject(e);
    doneResolve({ type: "done", sent: 0, received: 0, lost: 0, errors: ["worker died"] });
  });
  await withTimeout(ready, 15_000, "the bystander to join");
  return b;
}

async function bystanderMain({ port, intervalMs }) {
  const TOPIC = "room:soak-bystander";
  const { socket } = makeSocket(port, { params: { user: "bystander" }, timeout: 10_000 });
  let stopping = false; // disconnect() at the end closes the socket and errors the channel
  const problem = (what) => stopping || parentPort.postMessage({ type: "problem", what });
  socket.onError(() => problem("socket error"));
  socket.onClose((e) => problem(`socket closed (${e?.code})`));
  await phxConnect(socket, 10_000);
  const channel = socket.channel(TOPIC);
  channel.onError((reason) => problem(`channel error (${JSON.stringify(reason)})`));
  const pending = new Map(); // body -> {t0, t}
  let sent = 0;
  let received = 0;
  const errors = [];
  channel.on("new_msg", (p) => {
    const at = performance.now();
    const s = p && p.user === "bystander" ? pending.get(p.body) : undefined;
    if (!s) return;
    pending.delete(p.body);
    received += 1;
    parentPort.postMessage({ type: "sample", t: s.t, ms: at - s.t0 });
  });
  await joinOk(channel, 10_000);
  parentPort.postMessage({ type: "ready" });

  // How late the worker's own timers fire: a latency sample is the server's only if the
  // bystander's event loop (and its thread's share of the CPU) was not the one that was late.
  let expected = performance.now() + 10;
  const lagTimer = setInterval(() => {
    const now = performance.now();
    const lag = now - expected;
    if (lag > 5) parentPort.postMessage({ type: "lag", t: Date.now(), ms: lag });
    expected = now + 10;
  }, 10);

  let seq = 0;
  const send = () => {
    const body = `b-${++seq}`;
    pending.set(body, { t0: performance.now(), t: Date.now() });
    sent += 1;
    channel
      .push("new_msg", { body }, 10_000)
      .receive("error", (r) => errors.push(`reply error ${JSON.stringify(r)}`))
      .receive("timeout", () => errors.push("reply timeout"));
  };
  const timer = setInterval(send, intervalMs);
  send();
  parentPort.on("message", async (m) => {
    if (m.type !== "stop") return;
    clearInterval(timer);
    clearInterval(lagTimer);
    const deadline = Date.now() + 5_000;
    while (pending.size > 0 && Date.now() < deadline) await sleep(20);
    const lost = pending.size;
    stopping = true;
    socket.disconnect();
    parentPort.postMessage({ type: "done", sent, received, lost, errors: errors.slice(0, 20), errorCount: errors.length });
    parentPort.close();
  });
}

// ---- a lightweight long-lived client -------------------------------------------------------

/**
 * A V2 client over `ws` that keeps nothing it receives (RawClient keeps every frame, fine for a
 * short cycle, not for a member of a busy room for ten minutes): each message goes to the
 * waiters registered for it and to `onMessage`. Sends a heartbeat every 20 s (the server's idle
 * timeout is 60 s).
 */
export class Lite {
  static open(port, user, { timeout = 10_000 } = {}) {
    const url = socketUrl(port, { params: { user } });
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * MiB });
    const c = new Lite(ws, timeout);
    return withTimeout(
      new Promise((resolve, reject) => {
        ws.once("open", () => resolve(c));
        ws.once("unexpected-response", (req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
        ws.once("error", reject);
      }),
      timeout,
      `connect ${url}`,
    );
  }

  constructor(ws, timeout) {
    this.ws = ws;
    this.timeout = timeout;
    this.refs = 0;
    this.waiters = new Set();
    this.onMessage = null;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        clearInterval(this.hb);
        for (const w of this.waiters) w.reject(new Error(`connection closed (${code})`));
        this.waiters.clear();
        resolve(this.closeInfo);
      });
    });
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      let m;
      try {
        m = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (this.onMessage) this.onMessage(m);
      for (const w of this.waiters) {
        if (w.pred(m)) {
          this.waiters.delete(w);
          w.resolve(m);
        }
      }
    });
    this.hb = setInterval(() => this.push(null, "phoenix", "heartbeat", {}), 20_000);
  }

  ref() {
    this.refs += 1;
    return String(this.refs);
  }

  /** Registers a waiter now (before anything is sent) for the first message matching `pred`. */
  waitFor(pred, { timeout = this.timeout, msg = "message" } = {}) {
    if (this.closeInfo) return Promise.reject(new Error(`connection closed (${this.closeInfo.code})`));
    let w;
    const p = new Promise((resolve, reject) => {
      w = { pred, resolve, reject };
      this.waiters.add(w);
    });
    return withTimeout(p, timeout, msg).finally(() => this.waiters.delete(w));
  }

  push(joinRef, topic, event, payload) {
    const R = this.ref();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify([joinRef, R, topic, event, payload]));
    return R;
  }

  /** Pushes and resolves with the reply's `{status, response}`. */
  request(joinRef, topic, event, payload, opts) {
    const R = String(this.refs + 1);
    const got = this.waitFor((m) => Array.isArray(m) && m[1] === R && m[3] === "phx_reply", { msg: `reply to ${event}`, ...opts });
    this.push(joinRef, topic, event, payload);
    return got.then((m) => m[4]);
  }

  /** Joins `topic`; resolves with the join ref once answered ok. */
  async join(topic) {
    const J = String(this.refs + 1);
    const r = await this.request(J, topic, "phx_join", {});
    if (r.status !== "ok") throw new Error(`join ${topic}: ${JSON.stringify(r)}`);
    return J;
  }

  close() {
    clearInterval(this.hb);
    try {
      this.ws.close();
    } catch {
      this.ws.terminate();
    }
  }

  terminate() {
    clearInterval(this.hb);
    this.ws.terminate();
  }
}

/**
 * A member of `topic` that follows its presence (presence_state, then presence_diff joins and
 * leaves, by phx_ref) and counts what it sees. `othersOnline()` is how many metas other than its
 * own the topic holds: once the attacks stopped and their connections are gone, it must drop
 * to 0 (a channel that ended without untracking would stay).
 */
export class Watcher {
  /** `stays`: presence keys of other long-lived members of the topic (not attackers). */
  static async start(port, topic, stays = []) {
    const user = `watch-${topic.slice(5)}`;
    const c = await Lite.open(port, user);
    const w = new Watcher(c, topic, user, stays);
    const state = c.waitFor((m) => Array.isArray(m) && m[2] === topic && m[3] === "presence_state", { msg: `presence_state of ${topic}` });
    w.J = await c.join(topic);
    w.apply({ joins: (await state)[4], leaves: {} });
    return w;
  }

  constructor(c, topic, user, stays) {
    this.c = c;
    this.stays = stays;
    this.topic = topic;
    this.user = user;
    this.online = new Map(); // key -> Set(phx_ref)
    this.diffs = 0;
    this.messages = 0;
    c.onMessage = (m) => {
      if (!Array.isArray(m) || m[2] !== topic) return;
      if (m[3] === "presence_diff") {
        this.diffs += 1;
        this.apply(m[4]);
      } else if (m[3] === "new_msg") this.messages += 1;
    };
  }

  apply({ joins = {}, leaves = {} }) {
    for (const [key, { metas }] of Object.entries(joins)) {
      const set = this.online.get(key) ?? new Set();
      for (const meta of metas) set.add(meta.phx_ref);
      this.online.set(key, set);
    }
    for (const [key, { metas }] of Object.entries(leaves)) {
      const set = this.online.get(key);
      if (!set) continue;
      for (const meta of metas) set.delete(meta.phx_ref);
      if (set.size === 0) this.online.delete(key);
    }
  }

  othersOnline() {
    let n = 0;
    for (const [key, set] of this.online) {
      n += key === this.user || this.stays.includes(key) ? Math.max(0, set.size - 1) : set.size;
    }
    return n;
  }

  close() {
    this.c.close();
    return withTimeout(this.c.closed, 5_000, "watcher close").catch(() => this.c.terminate());
  }
}

// ---- the attacks ---------------------------------------------------------------------------

/** Connections opened and joins sent by the attacks and their watchers (for the summary). */
const made = { connections: 0, joins: 0 };

/** Per-attack counters: cycles, and outcomes by name (names starting with "BAD" fail the run). */
class Stats {
  constructor() {
    this.attacks = new Map();
  }

  of(name) {
    if (!this.attacks.has(name)) this.attacks.set(name, { cycles: 0, outcomes: new Map(), notes: new Map() });
    return this.attacks.get(name);
  }

  cycle(name) {
    this.of(name).cycles += 1;
  }

  count(name, outcome, n = 1) {
    const o = this.of(name).outcomes;
    o.set(outcome, (o.get(outcome) ?? 0) + n);
  }

  /** Keeps the max of a numeric note (e.g. the longest time until the server closed). */
  max(name, note, value) {
    const n = this.of(name).notes;
    n.set(note, Math.max(n.get(note) ?? -Infinity, value));
  }

  add(name, note, value) {
    const n = this.of(name).notes;
    n.set(note, (n.get(note) ?? 0) + value);
  }

  bad() {
    const out = [];
    for (const [name, a] of this.attacks) for (const [o, n] of a.outcomes) if (o.startsWith("BAD")) out.push(`${name}: ${o} ×${n}`);
    return out;
  }

  brief() {
    return [...this.attacks].map(([name, a]) => `${name} ${a.cycles}`).join(" · ");
  }
}

/** A masked client ping frame with a 125-byte body (the largest control frame). */
function pingFrame() {
  const body = Buffer.alloc(125, 0x70);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
  return Buffer.concat([Buffer.from([0x89, 0x80 | 125]), mask, body]);
}
const PINGS_PER_WRITE = 64;
const PING_BATCH = Buffer.concat(Array.from({ length: PINGS_PER_WRITE }, pingFrame));

/** Opens a WebSocket over a raw TCP socket; resolves `{s, rest}` after the 101 (paused). */
function rawUpgrade(port, user) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.write(
          `GET /socket/websocket?vsn=2.0.0&user=${user} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        );
      });
      s.on("error", () => {});
      s.once("error", reject);
      let head = Buffer.alloc(0);
      const onData = (d) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        s.off("data", onData);
        s.pause();
        const status = head.subarray(0, end).toString("latin1");
        if (!status.startsWith("HTTP/1.1 101")) {
          s.destroy();
          reject(new Error(`upgrade refused: ${status.slice(0, 40)}`));
        } else resolve({ s, rest: head.subarray(end + 4) });
      };
      s.on("data", onData);
    }),
    10_000,
    "raw upgrade",
  );
}

/** Parses server (unmasked) WebSocket frames from `buf`; returns `{frames: [{op, payload}], rest}`. */
function parseFrames(buf) {
  const frames = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const op = buf[off] & 0x0f;
    let len = buf[off + 1] & 0x7f;
    let hdr = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      hdr = 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = Number(buf.readBigUInt64BE(off + 2));
      hdr = 10;
    }
    if (buf.length - off < hdr + len) break;
    frames.push({ op, payload: buf.subarray(off + hdr, off + hdr + len) });
    off += hdr + len;
  }
  return { frames, rest: buf.subarray(off) };
}

/**
 * ping: pings (8.5 KB per write, ~8 MB/s) without reading until the server stops reading them
 * (no write drained for 1 s) or drops the connection; then reads what it was sent to find the
 * close frame (the server's close waits behind the unread pongs, for its 3 s close timeout).
 */
async function pingCycle(port, st) {
  const A = "ping";
  made.connections += 1;
  const { s, rest } = await rawUpgrade(port, "pinger");
  let closed = false;
  s.once("close", () => (closed = true));
  const t0 = Date.now();
  let pings = 0;
  let ended = "stall";
  while (!closed) {
    const ok = s.write(PING_BATCH);
    pings += PINGS_PER_WRITE;
    if (!ok) {
      const e = await firstEvent(s, ["drain", "close"], 1_000);
      if (e === "timeout") break;
      if (e === "close") ended = "closed";
    } else {
      await sleep(1);
    }
    if (Date.now() - t0 > 60_000) {
      st.count(A, "BAD: still reading pings after 60 s");
      s.destroy();
      return;
    }
  }
  if (closed) ended = "closed";
  st.add(A, "pings", pings);
  st.max(A, "max pings before the server stopped reading or closed", pings);
  st.max(A, "max s pinging", (Date.now() - t0) / 1000);
  // Read: pongs, then (normally) the close frame.
  let buf = rest;
  let code = null;
  const gotClose = new Promise((resolve) => {
    s.on("data", (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      const { frames, rest: r } = parseFrames(buf);
      buf = Buffer.from(r);
      for (const f of frames) {
        if (f.op === 0x8) {
          code = f.payload.length >= 2 ? `${f.payload.readUInt16BE(0)} ${f.payload.subarray(2).toString()}` : "no code";
          resolve();
        }
      }
    });
    s.once("close", resolve);
    if (closed) resolve();
  });
  s.resume();
  await withTimeout(gotClose, 15_000, "close").catch(() => {});
  // A client that never reads may see only the TCP connection end (the server drops it
  // `close_timeout` after its close frame, which waits behind the unread pongs).
  if (code) st.count(A, `close ${code}`);
  else if (s.destroyed || closed) st.count(A, `TCP closed without a close frame (${ended === "closed" ? "while pinging" : "after the stall"})`);
  else st.count(A, "BAD: not closed 15 s after it stopped reading pings");
  st.max(A, "max s until closed", (Date.now() - t0) / 1000);
  s.destroy();
}

const FILLER = "a".repeat(1000);
const HUGE_HEAD =
  "GET /socket/websocket?vsn=2.0.0&user=huge HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
  Array.from({ length: 400 }, (_, i) => `X-Filler-${i}: ${FILLER}\r\n`).join("");
const HALF_HEAD = "GET /socket/websocket?vsn=2.0.0&user=half HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n";
const PRE_PER_KIND = 16;

/** preupgrade: 16 silent, 16 half-sent and 16 400 KiB request heads; waits until all closed. */
async function preUpgradeCycle(port, st) {
  const A = "preupgrade";
  const one = (kind, bytes) =>
    new Promise((resolve) => {
      const t0 = Date.now();
      const got = [];
      let err = null;
      const s = net.connect(port, "127.0.0.1", () => {
        if (bytes) s.write(bytes);
      });
      s.on("data", (d) => got.push(d));
      s.on("error", (e) => (err = e.code));
      s.once("close", () => resolve({ kind, s, ms: Date.now() - t0, answer: Buffer.concat(got).toString("latin1"), err }));
      setTimeout(() => {
        if (!s.destroyed) {
          s.destroy();
          resolve({ kind, s, ms: Date.now() - t0, answer: null, err: "not closed by the server" });
        }
      }, 40_000).unref();
    });
  const all = [];
  made.connections += 3 * PRE_PER_KIND;
  for (let i = 0; i < PRE_PER_KIND; i++) {
    all.push(one("silent", null), one("half-sent", HALF_HEAD), one("400 KiB head", HUGE_HEAD));
  }
  for (const r of await Promise.all(all)) {
    let o;
    if (r.answer === null) o = `BAD: ${r.kind} not closed within 40 s`;
    else if (r.answer.startsWith("HTTP/1.1 ")) o = `${r.kind}: answered ${r.answer.slice(9, 12)}`;
    else if (r.answer === "") o = `${r.kind}: closed without an answer${r.err ? ` (${r.err})` : ""}`;
    else o = `BAD: ${r.kind}: answered ${JSON.stringify(r.answer.slice(0, 40))}`;
    st.count(A, o);
    st.max(A, `max s until ${r.kind} closed`, r.ms / 1000);
  }
}

/**
 * dupjoin: 2 or 3 phx_join of one topic in one TCP write. Every join must be answered ok, every
 * superseded one closed (phx_close with its join_ref), the last one joined: a new_msg on it
 * comes back exactly once.
 */
async function dupJoinCycle(port, st, n) {
  const A = "dupjoin";
  const joins = 2 + (n % 2);
  const topic = `room:soak-dup-${n % 4}`;
  made.connections += 1;
  made.joins += joins;
  const c = await rawConnect(port, { params: { user: `dup-${n % 10}` }, timeout: 10_000 });
  try {
    const refs = Array.from({ length: joins }, () => c.ref());
    const sock = c.ws._socket;
    sock.cork();
    for (const J of refs) c.send([J, J, topic, "phx_join", {}]);
    process.nextTick(() => sock.uncork());
    const isReply = (J) => (m) => Array.isArray(m) && m[1] === J && m[2] === topic && m[3] === "phx_reply";
    const isClose = (J) => (m) => Array.isArray(m) && m[0] === J && m[2] === topic && m[3] === "phx_close";
    const replies = (await Promise.all(refs.map((J) => c.waitFor(isReply(J), { msg: `reply to join ${J}` })))).map((f) => f.msg);
    await Promise.all(refs.slice(0, -1).map((J) => c.waitFor(isClose(J), { msg: `phx_close of join ${J}` })));
    const last = refs[refs.length - 1];
    const body = `dup-${n}`;
    const { R } = c.push(last, topic, "new_msg", { body });
    const reply = await c.reply(R, { topic });
    // The broadcast is queued before the reply on this connection: every copy came before it.
    const copies = c.matching((m) => Array.isArray(m) && m[2] === topic && m[3] === "new_msg" && m[4]?.body === body).length;
    const seq = c
      .matching((m) => Array.isArray(m) && m[2] === topic && (m[3] === "phx_reply" || m[3] === "phx_close") && refs.includes(m[0]))
      .filter((f) => f.msg[1] !== R)
      .map((f) => `J${refs.indexOf(f.msg[0]) + 1} ${f.msg[3] === "phx_close" ? "close" : f.msg[4].status}`)
      .join(", ");
    const allOk = replies.every((m) => m[4].status === "ok");
    const lastClosed = c.matching(isClose(last)).length > 0;
    if (!allOk || lastClosed || reply[4].status !== "ok" || copies !== 1) {
      st.count(A, `BAD: ${seq}; new_msg ${reply[4].status}, ${copies} copies`);
    } else st.count(A, `${joins} joins: ${seq}; 1 copy`);
  } finally {
    if (n % 2) c.terminate();
    else await c.shutdown();
  }
}

const NJ_EVENT = "e".repeat(10 * 1024);
const NJ_PUSHES = 500;

/** unjoined: 500 pushes with 10 KB event names to a topic this connection never joined. */
async function unjoinedCycle(port, st, n) {
  const A = "unjoined";
  made.connections += 1;
  const c = await rawConnect(port, { params: { user: "unjoined" }, timeout: 10_000 });
  try {
    const topic = `room:soak-never-joined-${n}`;
    let last;
    for (let i = 0; i < NJ_PUSHES; i++) {
      last = c.ref();
      c.send([null, last, topic, NJ_EVENT, {}]);
      if (i % 50 === 49) await sleep(1);
    }
    // Answered in order: the last answer means all were read.
    const r = await c.reply(last, { timeout: 60_000 });
    const answered = c.matching((m) => Array.isArray(m) && m[2] === topic && m[3] === "phx_reply").length;
    const ok = r[4].status === "error" && r[4].response?.reason === "unmatched topic" && answered === NJ_PUSHES;
    st.count(A, ok ? `${NJ_PUSHES} pushes: all answered "unmatched topic"` : `BAD: ${answered} answered, last ${JSON.stringify(r[4])}`);
    st.add(A, "pushes", NJ_PUSHES);
  } finally {
    c.terminate();
  }
}

const CHURN_LOOPS = 12;

/** churn: connect, join (presence tracked), then leave, close or drop. */
async function churnCycle(port, st, loop, n) {
  const A = "churn";
  const topic = `room:soak-churn-${(loop + n) % 4}`; // the loops share 4 rooms
  made.connections += 1;
  made.joins += 1;
  const c = await rawConnect(port, { params: { user: `churn-${n % 20}` }, timeout: 10_000 });
  const end = ["leave", "close", "drop"][n % 3];
  try {
    const { J, reply } = await c.join(topic);
    if (reply[4].status !== "ok") {
      st.count(A, `BAD: join ${JSON.stringify(reply[4])}`);
      return;
    }
    await c.waitFor((m) => Array.isArray(m) && m[2] === topic && m[3] === "presence_state", { msg: "presence_state" });
    if (end === "leave") {
      const { R } = c.push(J, topic, "phx_leave", {});
      const r = await c.reply(R, { topic });
      await c.waitFor((m) => Array.isArray(m) && m[0] === J && m[2] === topic && m[3] === "phx_close", { msg: "phx_close after leave" });
      st.count(A, `joined, presence_state, left (leave ${r[4].status}, phx_close)`);
    } else st.count(A, `joined, presence_state, ${end === "close" ? "closed" : "dropped the TCP connection"}`);
  } finally {
    if (end === "drop") c.terminate();
    else await c.shutdown();
  }
}

/** A JSON object of `keys` keys (`"kNNNNN":"vvvvv"`, 16 bytes each) and a body. */
function manyKeys(keys) {
  const o = {};
  for (let i = 0; i < keys; i++) o[`k${String(i).padStart(5, "0")}`] = "vvvvv";
  o.body = "many keys";
  return JSON.stringify(o);
}
let big; // built on first use (not in the bystander's worker, which loads this file too)
// Under the endpoint's 64 KiB frame limit but over the demo's 8 KiB message limit; and a
// ~320 KiB one, over the frame limit.
const bigPayloads = () => (big ??= { under: manyKeys(3_500), over: manyKeys(20_000) });

/**
 * bigpayload: on one connection, 12 new_msg of ~55 KiB with 3,500 keys (under the 64 KiB frame
 * limit, over the demo's 8 KiB message limit: answered "message too long" before any parsing,
 * nothing broadcast), then one of ~320 KiB with 20,000 keys (over the frame limit: close 1009).
 */
async function bigPayloadCycle(port, st, n) {
  const A = "bigpayload";
  const topic = "room:soak-big";
  const { under: UNDER, over: OVER } = bigPayloads();
  made.connections += 1;
  made.joins += 1;
  const c = await rawConnect(port, { params: { user: "big" }, timeout: 30_000 });
  try {
    const { J, reply } = await c.join(topic);
    if (reply[4].status !== "ok") return st.count(A, `BAD: join ${JSON.stringify(reply[4])}`);
    for (let i = 0; i < 12; i++) {
      const R = c.ref();
      const from = c.mark();
      c.sendText(`["${J}","${R}","${topic}","new_msg",${UNDER}]`);
      const r = (await c.reply(R, { from, topic }))[4];
      const echoed = c.matching((m) => Array.isArray(m) && m[2] === topic && m[3] === "new_msg" && m[4]?.user === "big", from);
      const want = r.status === "error" && r.response?.reason === "message too long" && echoed.length === 0;
      st.count(A, want ? `55 KiB, 3,500 keys: error "message too long"` : `BAD: 55 KiB: ${JSON.stringify(r).slice(0, 120)}, ${echoed.length} broadcasts`);
      st.add(A, "bytes sent", UNDER.length);
      c.frames.length = 0; // keep the client small: nothing earlier is looked at again
    }
    c.sendText(`["${J}","${c.ref()}","${topic}","new_msg",${OVER}]`);
    st.add(A, "bytes sent", OVER.length);
    const { code } = await c.waitClose();
    st.count(A, code === 1009 ? "320 KiB, 20,000 keys: close 1009" : `BAD: 320 KiB: close ${code}`);
  } finally {
    c.terminate();
  }
}

// Just under the demo's 8 KiB message limit ({"body":"…"} adds 11 bytes).
const BUSY_BODY = "m".repeat(8 * KiB - 64);

/**
 * slow: a member of the busy room that never reads, while the publisher sends 8 KiB messages to
 * the room (at most 100/s, each waiting for its reply) until the server ends the member's channel
 * (its presence leaves the room, seen by the publisher); then it reads again to get the close.
 */
async function slowCycle(port, st, n, publisher) {
  const A = "slow";
  const topic = "room:soak-busy";
  const user = `slow-${n}`;
  made.connections += 1;
  made.joins += 1;
  const c = await rawConnect(port, { params: { user }, timeout: 10_000 });
  let published = 0;
  try {
    const diff = (m) => Array.isArray(m) && m[2] === topic && m[3] === "presence_diff";
    const joinedSeen = publisher.c.waitFor((m) => diff(m) && m[4].joins?.[user], { msg: "the slow member's presence" });
    const { reply } = await c.join(topic);
    if (reply[4].status !== "ok") return st.count(A, `BAD: join ${JSON.stringify(reply[4])}`);
    await joinedSeen;
    const left = publisher.c.waitFor((m) => diff(m) && m[4].leaves?.[user], {
      msg: "the slow member to be dropped",
      timeout: 90_000,
    });
    let gone = false;
    left.then(
      () => (gone = true),
      () => (gone = true),
    );
    c.ws._socket.pause(); // never reads from here on
    const t0 = Date.now();
    while (!gone && Date.now() - t0 < 60_000) {
      const tick = Date.now();
      const r = await publisher.c.request(publisher.J, topic, "new_msg", { body: BUSY_BODY }, { timeout: 30_000 });
      if (r.status !== "ok") throw new Error(`publisher new_msg: ${JSON.stringify(r)}`);
      published += BUSY_BODY.length;
      const wait = 10 - (Date.now() - tick);
      if (wait > 0) await sleep(wait);
    }
    c.ws._socket.resume();
    if (!gone) {
      st.count(A, "BAD: still in the room after 60 s of messages it never read");
      return;
    }
    st.max(A, "max MiB published before the drop", published / MiB);
    const { code, reason } = await c.waitClose(15_000).catch(() => ({ code: "none within 15 s", reason: "" }));
    st.count(A, code === 1013 ? `dropped, close ${code} ${reason}` : `dropped, close ${code} ${reason} (expected 1013)`);
  } finally {
    c.terminate();
    st.add(A, "MiB published", published / MiB);
  }
}

/**
 * Runs every attack until `until` (Date.now() ms): each loop starts cycles until then and
 * finishes the one it is in. Long-lived members (watchers of every room the attacks use, the
 * busy room's publisher) live for the phase; at its end, once every loop finished, the phase
 * waits until every watcher sees its room's presence back to itself alone (every attacker's
 * meta left), then closes them.
 */
async function runAbuse(port, st, until, label) {
  const rooms = [0, 1, 2, 3].flatMap((k) => [`room:soak-churn-${k}`, `room:soak-dup-${k}`]).concat(["room:soak-big", "room:soak-busy"]);
  // The busy room's publisher joins first; it stays for the phase like the watchers.
  const pubConn = await Lite.open(port, "publisher");
  const publisher = { c: pubConn, J: await pubConn.join("room:soak-busy") };
  const watchers = await Promise.all(rooms.map((t) => Watcher.start(port, t, ["publisher"])));
  made.connections += rooms.length + 1;
  made.joins += rooms.length + 1;
  let n = 0;
  const loop = (name, fn, pauseMs) =>
    (async () => {
      while (Date.now() < until) {
        const i = n++;
        st.cycle(name);
        try {
          await fn(i);
        } catch (e) {
          st.count(name, `BAD: cycle failed: ${String(e.message).split("\n")[0].slice(0, 100)}`);
        }
        if (pauseMs) await sleep(pauseMs);
      }
    })();
  // How many loops of each attack run at once, and the pause between two cycles of a loop (ms).
  const mix = [
    ["ping", 1, 500, () => pingCycle(port, st)],
    ["preupgrade", 1, 0, () => preUpgradeCycle(port, st)],
    ["dupjoin", 3, 0, (i) => dupJoinCycle(port, st, i)],
    ["unjoined", 1, 100, (i) => unjoinedCycle(port, st, i)],
    ["churn", CHURN_LOOPS, 0, (i, k) => churnCycle(port, st, k, i)],
    ["bigpayload", 1, 0, (i) => bigPayloadCycle(port, st, i)],
    ["slow", 1, 200, (i) => slowCycle(port, st, i, publisher)],
  ];
  const only = process.env.SOAK_ATTACKS ? process.env.SOAK_ATTACKS.split(",").map((a) => a.trim()) : null;
  for (const a of only ?? []) if (!mix.some(([name]) => name === a)) throw new Error(`SOAK_ATTACKS: no attack ${a}`);
  const chosen = only ? mix.filter(([name]) => only.includes(name)) : mix;
  await Promise.all(chosen.flatMap(([name, loops, pause, fn]) => Array.from({ length: loops }, (_, k) => loop(name, (i) => fn(i, k), pause))));
  log(`${label}: attacks stopped; waiting for the rooms' presence to empty`);
  st.cycle("presence");
  try {
    await waitUntil(() => watchers.every((w) => w.othersOnline() === 0), { timeout: 30_000, interval: 100, msg: "presence" });
    st.count("presence", "every attacker's meta left its room");
  } catch {
    const still = watchers.filter((w) => w.othersOnline()).map((w) => `${w.topic}: ${w.othersOnline()}`);
    st.count("presence", `BAD: still online 30 s after the attacks stopped: ${still.join(", ")}`);
  }
  const diffs = watchers.reduce((a, w) => a + w.diffs, 0);
  st.add("presence", "diffs seen by the watchers", diffs);
  publisher.c.close();
  const publisherClosed = withTimeout(publisher.c.closed, 5_000, "publisher close").catch(() => publisher.c.terminate());
  await Promise.all([...watchers.map((w) => w.close()), publisherClosed]);
}

// ---- the run -------------------------------------------------------------------------------

/** Samples the live heap and RSS every `everyMs`, printing a progress line. */
export function startSampler(server, { everyMs = 5_000, line = () => "" } = {}) {
  const samples = [];
  let stopped = false;
  const t0 = Date.now();
  const done = (async () => {
    while (!stopped && server.alive) {
      try {
        const heap = await liveHeap(server.port);
        const rss = rssBytes(server.proc.pid);
        samples.push({ t: Date.now(), heap, rss });
        log(`t=${Math.round((Date.now() - t0) / 1000)}s heap ${fmtMiB(heap)} rss ${fmtMiB(rss)} ${line()}`);
      } catch (e) {
        if (server.alive) log(`sample failed: ${e.message}`);
      }
      const next = Date.now() + everyMs;
      while (!stopped && Date.now() < next) await sleep(100);
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await done;
    },
    maxHeap: () => Math.max(...samples.map((s) => s.heap)),
    maxRss: () => Math.max(...samples.map((s) => s.rss)),
  };
}

/** The bystander's line for the progress log. */
export function bystanderLine(b) {
  const s = latencyStats(b.samples.slice(-500).map((x) => x.ms));
  const max = b.samples.reduce((m, x) => Math.max(m, x.ms), 0);
  return `bystander n=${b.samples.length} p50 ${fmtMs(s.p50)} max ${fmtMs(max)}`;
}

async function main() {
  const seconds = envNumber("SOAK_SECONDS", 600);
  const warmupSeconds = envNumber("SOAK_WARMUP_SECONDS", Math.min(60, seconds / 5));
  if (warmupSeconds >= seconds) throw new Error("SOAK_WARMUP_SECONDS must be less than SOAK_SECONDS");
  const env = environment();
  log(`soak: ${seconds} s of abuse (${warmupSeconds} s warm-up) against the chat demo; commit ${env.commit}`);

  const server = await startChat();
  const pid = server.proc.pid;
  log(`chat demo pid ${pid} on port ${server.port}`);
  const cpu0 = cpuSeconds(pid);
  const clientCpu0 = process.cpuUsage();
  const st = new Stats();
  let failure = null;
  let stopping = false;
  const died = server.exited.then((code) => {
    if (!stopping) failure = `the server exited (${code}); last lines:\n${server.tail(30)}`;
  });
  const bystander = await startBystander(server.port);
  const sampler = startSampler(server, { line: () => `${bystanderLine(bystander)} | ${st.brief()}` });
  const heapAtStart = await settledHeap(server.port);
  const rssAtStart = rssBytes(pid);
  const logBytes0 = server.outputBytes;

  const start = Date.now();
  const result = {};
  try {
    log(`warm-up: ${warmupSeconds} s of abuse`);
    await Promise.race([runAbuse(server.port, st, start + warmupSeconds * 1000, "warm-up"), died]);
    if (failure) throw new Error(failure);
    result.baseline = await settledHeap(server.port);
    result.rssBaseline = rssBytes(pid);
    result.mainStart = Date.now();
    log(`baseline live heap ${fmtMiB(result.baseline)} (${result.baseline} B), RSS ${fmtMiB(result.rssBaseline)}`);
    await Promise.race([runAbuse(server.port, st, Date.now() + (seconds - warmupSeconds) * 1000, "abuse"), died]);
    if (failure) throw new Error(failure);
    result.mainEnd = Date.now();
    result.final = await settledHeap(server.port);
    result.rssFinal = rssBytes(pid);
    log(`final live heap ${fmtMiB(result.final)} (${result.final} B), RSS ${fmtMiB(result.rssFinal)}`);
  } catch (e) {
    failure ??= e.stack || String(e);
  }
  const by = await bystander.stop().catch((e) => ({ sent: 0, received: 0, lost: NaN, errors: [e.message], errorCount: 1 }));
  await sampler.stop();
  const cpu = server.alive ? cpuSeconds(pid) - cpu0 : NaN;
  const clientCpu = process.cpuUsage(clientCpu0);
  const clientCpuS = (clientCpu.user + clientCpu.system) / 1e6;
  const logBytes = server.outputBytes - logBytes0;
  if (!server.alive) failure ??= `the server exited (${server.exitCode})`;
  stopping = true;
  await server.stop();

  const lat = latencyStats(bystander.samples.map((s) => s.ms));
  const growth = result.final - result.baseline;
  const problems = [];
  if (failure) problems.push(failure);
  if (!(lat.max < LATENCY_LIMIT_MS)) problems.push(`bystander max latency ${fmtMs(lat.max)} ≥ ${LATENCY_LIMIT_MS} ms`);
  if (by.lost > 0 || by.errorCount > 0 || bystander.problems.length > 0) {
    problems.push(`bystander: ${by.lost} lost, errors ${JSON.stringify(by.errors)}, ${bystander.problems.join("; ")}`);
  }
  if (!(growth <= HEAP_TOLERANCE)) problems.push(`final live heap ${signed(growth)} over the baseline (tolerance ${HEAP_TOLERANCE} B)`);
  problems.push(...st.bad());

  const lines = [];
  lines.push(`### Soak: ${seconds} s of mixed abuse (${warmupSeconds} s warm-up), commit ${env.commit}`);
  lines.push("");
  lines.push(`Machine: ${env.machine}; server = chat demo (\`--features heap-stats\`), RUST_LOG=${process.env.RUST_LOG ?? "info"}.`);
  lines.push("");
  lines.push("| figure | value |");
  lines.push("|---|---|");
  lines.push(`| live heap at start (bystander only) | ${fmtMiB(heapAtStart)} |`);
  lines.push(`| live heap baseline, after the warm-up drained | ${fmtMiB(result.baseline)} (${result.baseline?.toLocaleString("en-US")} B) |`);
  lines.push(`| live heap final, after the abuse drained | ${fmtMiB(result.final)} (${result.final?.toLocaleString("en-US")} B) |`);
  lines.push(`| final − baseline | ${signed(growth)} (tolerance ${fmtKiB(HEAP_TOLERANCE)}) |`);
  lines.push(`| live heap max during the run (5 s samples) | ${fmtMiB(sampler.maxHeap())} |`);
  lines.push(`| server RSS: start / baseline / max / final | ${fmtMiB(rssAtStart)} / ${fmtMiB(result.rssBaseline)} / ${fmtMiB(sampler.maxRss())} / ${fmtMiB(result.rssFinal)} |`);
  const wall = (Date.now() - start) / 1000;
  lines.push(`| server CPU over the run | ${cpu.toFixed(1)} s in ${wall.toFixed(0)} s (${((100 * cpu) / wall).toFixed(0)} % of one core); the attack + bystander process: ${clientCpuS.toFixed(1)} s (${((100 * clientCpuS) / wall).toFixed(0)} %) |`);
  lines.push(`| server log output over the run | ${fmtKiB(logBytes)} |`);
  lines.push(`| bystander new_msg round trips | ${lat.count} (sent ${by.sent}, lost ${by.lost}, reply errors ${by.errorCount ?? 0}) |`);
  lines.push(`| bystander latency p50 / p99 / max | ${fmtMs(lat.p50)} / ${fmtMs(lat.p99)} / ${fmtMs(lat.max)} (limit ${LATENCY_LIMIT_MS} ms) |`);
  lines.push(`| bystander's own event loop, worst delay | ${fmtMs(bystander.maxLag())} |`);
  lines.push(`| connections opened / joins sent by the attacks | ${made.connections.toLocaleString("en-US")} / ${made.joins.toLocaleString("en-US")} (tolerance / joins = ${(HEAP_TOLERANCE / Math.max(1, made.joins)).toFixed(1)} B per join) |`);
  lines.push("");
  lines.push("| attack | cycles | outcomes | notes |");
  lines.push("|---|---|---|---|");
  for (const [name, a] of st.attacks) {
    const outs = [...a.outcomes].map(([o, c]) => `${o} ×${c.toLocaleString("en-US")}`).join("; ");
    const notes = [...a.notes].map(([k, v]) => `${k}: ${Number.isInteger(v) ? v.toLocaleString("en-US") : v.toFixed(1)}`).join("; ");
    lines.push(`| ${name} | ${a.cycles.toLocaleString("en-US")} | ${outs} | ${notes} |`);
  }
  lines.push("");
  lines.push(problems.length ? `**FAILED**: ${problems.map((p) => p.split("\n")[0]).join(" · ")}` : "Result: **passed** (flat live heap, bystander under the limit, every attack bounded).");
  printSummary(lines, problems);
}

/** Prints the summary block for BENCHMARKS.md and, when the run failed, why (exit status 1). */
export function printSummary(lines, problems) {
  process.stdout.write(`\n----- summary (paste into BENCHMARKS.md) -----\n${lines.join("\n")}\n----- end of summary -----\n`);
  if (problems.length) {
    process.stdout.write(`\nFAILED:\n- ${problems.join("\n- ")}\n`);
    process.exitCode = 1;
  }
}

if (!isMainThread && workerData?.role === "bystander") {
  bystanderMain(workerData).catch((e) => {
    parentPort.postMessage({ type: "problem", what: `bystander failed: ${e.message}` });
    throw e;
  });
} else if (isMainThread && process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

