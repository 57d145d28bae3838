// Harness for the bad-input suite: starts the conformance fixture (tests/fixtures/CONTRACT.md)
// and provides raw `ws` clients plus a well-behaved "bystander" client whose health every test
// asserts before, during and after its attack.
//
// Kept independent of tests/lib/ on purpose: this suite must keep working whatever the
// conformance suite's helpers become.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import WebSocket from "ws";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Default wait for any single expected event, in ms. */
export const STEP_MS = 10_000;

export function fixtureCommand() {
  if (process.env.SB_FIXTURE_CMD) {
    const argv = JSON.parse(process.env.SB_FIXTURE_CMD);
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
      throw new Error("SB_FIXTURE_CMD must be a JSON array of strings (argv)");
    }
    return argv;
  }
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(REPO, process.env.CARGO_TARGET_DIR)
    : path.join(REPO, "target");
  const bin = path.join(target, "release", "examples", "conformance_fixture");
  if (!existsSync(bin)) {
    throw new Error(
      `${bin} is missing: run \`cargo build --release --example conformance_fixture\` (or set SB_FIXTURE_CMD)`,
    );
  }
  return [bin];
}

/** Rejects after `ms` with `what` in the message unless `promise` settles first. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; returns that value. */
export async function eventually(fn, what, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A running fixture process. */
export class Fixture {
  static async start({ timeoutMs = 30_000 } = {}) {
    const [cmd, ...args] = fixtureCommand();
    const proc = spawn(cmd, args, {
      cwd: REPO,
      env: { ...process.env, PORT: "0" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const fx = new Fixture(proc);
    const address = await withTimeout(
      new Promise((resolve, reject) => {
        let buf = "";
        proc.once("error", reject);
        fx.exited.then((code) => reject(new Error(`fixture exited early (${code})\n${fx.log}`)));
        proc.stdout.setEncoding("utf8");
        proc.stdout.on("data", (d) => {
          buf = (buf + d).slice(-4096);
          const m = /^LISTENING (127\.0\.0\.1:\d+)\s*$/m.exec(buf);
          if (m) resolve(m[1]);
        });
      }),
      timeoutMs,
      "the fixture's LISTENING line",
    );
    fx.address = address;
    fx.base = `http://${address}`;
    return fx;
  }

  constructor(proc) {
    this.proc = proc;
    this.log = "";
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (d) => {
      this.log = (this.log + d).slice(-20_000);
    });
    this.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve(code ?? signal)));
  }

  get alive() {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  url(mount = "/socket", vsn = "2.0.0", params = {}) {
    const q = new URLSearchParams({ ...params, vsn });
    return `ws://${this.address}${mount}/websocket?${q}`;
  }

  async request(method, route, body) {
    const res = await fetch(this.base + route, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(STEP_MS),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `${method} ${route} → ${res.status} ${text}`);
    return JSON.parse(text);
  }

  /** Host broadcast (`POST /_test/broadcast`). */
  broadcast(topic, event, payload) {
    return this.request("POST", "/_test/broadcast", { topic, event, payload });
  }

  /** Live server channels on `topic` over all connections. */
  async channels(topic) {
    const { count } = await this.request("GET", `/_test/channels?topic=${encodeURIComponent(topic)}`);
    return count;
  }

  async stop() {
    if (!this.alive) return;
    this.proc.stdin.end();
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * A raw WebSocket client speaking V2 (or V1) frames by hand. Incoming frames are kept in
 * `frames` (decoded JSON for text, Buffer for binary); `waitFor` resolves on a matching one.
 */
export class RawClient {
  static async connect(url, opts = {}) {
    const c = new RawClient(url, opts);
    await withTimeout(
      new Promise((resolve, reject) => {
        c.ws.once("open", resolve);
        c.ws.once("error", reject);
        c.ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
      }),
      STEP_MS,
      `connect ${url}`,
    );
    return c;
  }

  constructor(url, opts) {
    this.ws = new WebSocket(url, { maxPayload: 512 * 1024 * 1024, ...opts });
    this.frames = [];
    this.waiters = new Set();
    this.refs = 0;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      this.ws.once("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of this.waiters) w.check();
      });
    });
    // Transport errors (e.g. ECONNRESET after a server close) show up as the close event.
    this.ws.on("error", () => {});
    this.ws.on("message", (data, isBinary) => {
      let frame;
      if (isBinary) frame = Buffer.from(data);
      else {
        try {
          frame = JSON.parse(data.toString("utf8"));
        } catch {
          frame = { unparsable: data.toString("utf8") };
        }
      }
      this.frames.push(frame);
      for (const w of this.waiters) w.check();
    });
  }

  nextRef() {
    this.refs += 1;
    return String(this.refs);
  }

  /** Sends raw text (a string or a Buffer sent as a text frame, unvalidated). */
  sendText(data) {
    this.ws.send(data, { binary: false });
  }

  sendBinary(buf) {
    this.ws.send(buf, { binary: true });
  }

  sendV2(joinRef, ref, topic, event, payload) {
    this.sendText(JSON.stringify([joinRef, ref, topic, event, payload]));
  }

  /**
   * Resolves with the first frame (already received or future) for which `pred` is true.
   * Rejects when the connection closes first or after `ms`.
   */
  waitFor(pred, what, ms = STEP_MS) {
    let waiter;
    const p = new Promise((resolve, reject) => {
      let seen = 0;
      waiter = {
        check: () => {
          for (; seen < this.frames.length; seen++) {
            if (pred(this.frames[seen])) return resolve(this.frames[seen]);
          }
          if (this.closeInfo) reject(new Error(`connection closed (${this.closeInfo.code}) while waiting for ${what}`));
        },
      };
      this.waiters.add(waiter);
      waiter.check();
    });
    return withTimeout(p, ms, what).finally(() => this.waiters.delete(waiter));
  }

  /** Waits for the V2 reply to `ref` on `topic`; returns `{status, response}`. */
  async reply(topic, ref, ms = STEP_MS) {
    const f = await this.waitFor(
      (m) => Array.isArray(m) && m[1] === ref && m[2] === topic && m[3] === "phx_reply",
      `reply ${ref} on ${topic.slice(0, 80)}`,
      ms,
    );
    return f[4];
  }

  /** Joins `topic` (V2) and returns the reply `{status, response}`. */
  async join(topic, params = {}) {
    const ref = this.nextRef();
    this.sendV2(ref, ref, topic, "phx_join", params);
    const reply = await this.reply(topic, ref);
    return { joinRef: ref, ...reply };
  }

  /** Waits for the close event and returns `{code, reason}`. */
  waitClose(ms = STEP_MS) {
    return withTimeout(this.closed, ms, "the server to close the connection");
  }

  terminate() {
    this.ws.terminate();
  }
}

/**
 * The well-behaved client. It joins its own room and `check()` proves it is healthy: still
 * open, an `echo` push is answered ok with the same payload, a host broadcast to its room
 * arrives, and a heartbeat is answered.
 */
export class Bystander {
  static async start(fx, name = "bystander") {
    const client = await RawClient.connect(fx.url("/socket"));
    const topic = `room:${name}-${process.pid}-${Date.now()}`;
    const joined = await client.join(topic);
    assert.equal(joined.status, "ok", `bystander join: ${JSON.stringify(joined)}`);
    return new Bystander(fx, client, topic, joined.joinRef);
  }

  constructor(fx, client, topic, joinRef) {
    this.fx = fx;
    this.client = client;
    this.topic = topic;
    this.joinRef = joinRef;
    this.checks = 0;
  }

  async check(label) {
    const c = this.client;
    assert.equal(c.closeInfo, null, `bystander closed ${label}: ${JSON.stringify(c.closeInfo)}`);
    this.checks += 1;
    const nonce = `${label}-${this.checks}-${Math.random()}`;

    const ref = c.nextRef();
    c.sendV2(this.joinRef, ref, this.topic, "echo", { nonce });
    const hbRef = c.nextRef();
    c.sendV2(null, hbRef, "phoenix", "heartbeat", {});
    const got = c.waitFor(
      (m) => Array.isArray(m) && m[3] === "ping" && m[2] === this.topic && m[4]?.nonce === nonce,
      `bystander broadcast (${label})`,
    );
    got.catch(() => {}); // awaited below; avoid an unhandled rejection if a step before fails
    await this.fx.broadcast(this.topic, "ping", { nonce });

    assert.deepEqual(await c.reply(this.topic, ref), { status: "ok", response: { nonce } }, `echo ${label}`);
    assert.deepEqual(await c.reply("phoenix", hbRef), { status: "ok", response: {} }, `heartbeat ${label}`);
    const b = await got;
    assert.deepEqual(b, [null, null, this.topic, "ping", { nonce }], `broadcast ${label}`);
    // Still joined: no phx_error / phx_close was ever sent to the bystander's channel.
    assert.ok(
      !c.frames.some((m) => Array.isArray(m) && m[2] === this.topic && (m[3] === "phx_error" || m[3] === "phx_close")),
      `bystander channel ended (${label})`,
    );
  }

  /** Runs checks back to back until `promise` settles, at least once; returns its value. */
  async checkDuring(label, promise) {
    let done = false;
    const settled = promise.finally(() => {
      done = true;
    });
    settled.catch(() => {}); // reported by the caller's await below, not as unhandled
    let n = 0;
    do {
      await this.check(`${label} (during #${++n})`);
    } while (!done);
    return settled;
  }

  close() {
    this.client.terminate();
  }
}
