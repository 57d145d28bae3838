// Factory for the real `phoenix` client (1.8.16) over the `ws` package (Node 20 has no global
// WebSocket, PROTOCOL.md 1.7). The transport is a thin subclass of `ws` that records every
// frame the client sends and receives, per connection, in one ordered log, so tests can
// capture refs (J, R) instead of hard-coding them (PROTOCOL.md 4.1).

import { Socket, Presence } from "phoenix";
import WebSocket from "ws";

import { QUIET_MS, sleep, waitUntil, withTimeout } from "./wait.mjs";

export { Socket, Presence };

function decodeFrame(data, isBinary) {
  if (isBinary || typeof data !== "string") {
    const binary = Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    return { binary };
  }
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    msg = undefined;
  }
  return { text: data, msg };
}

/**
 * Records the traffic of one phoenix Socket. `events` holds `{dir: "out"|"in", conn, t, msg,
 * text, binary}` in the order they happened (an incoming frame is recorded before the client
 * handles it); `conns` holds one entry per transport the client opened.
 */
export class Recorder {
  constructor() {
    this.events = [];
    this.conns = [];
    const rec = this;
    this.transport = class RecordingWebSocket extends WebSocket {
      constructor(url, protocols) {
        super(url, protocols);
        const conn = {
          index: rec.conns.length,
          url,
          protocols,
          ws: this,
          opened: false,
          upgradeHeaders: null,
          close: null,
          errors: [],
          t: Date.now(),
        };
        rec.conns.push(conn);
        this._conn = conn;
        this.on("upgrade", (res) => {
          conn.upgradeHeaders = res.headers;
        });
        this.on("open", () => {
          conn.opened = true;
        });
        this.on("message", (data, isBinary) => {
          const f = decodeFrame(isBinary ? data : data.toString(), isBinary);
          rec.events.push({ dir: "in", conn: conn.index, t: Date.now(), ...f });
        });
        this.on("close", (code, reason) => {
          conn.close = { code, reason: reason.toString(), t: Date.now() };
        });
        this.on("error", (e) => {
          conn.errors.push(e.message);
        });
      }

      send(data, ...rest) {
        const f = decodeFrame(data, typeof data !== "string");
        rec.events.push({ dir: "out", conn: this._conn.index, t: Date.now(), ...f });
        return super.send(data, ...rest);
      }
    };
  }

  mark() {
    return this.events.length;
  }

  /** Sent V2 text messages (arrays) matching `pred(msg, ev)`, from index `from`. */
  sent(pred = () => true, from = 0) {
    return this.events.slice(from).filter((e) => e.dir === "out" && e.msg && pred(e.msg, e));
  }

  /** Received V2 text messages matching `pred(msg, ev)`, from index `from`. */
  received(pred = () => true, from = 0) {
    return this.events.slice(from).filter((e) => e.dir === "in" && e.msg && pred(e.msg, e));
  }

  /** Every event (in and out) whose message is on `topic`, in order. */
  onTopic(topic, from = 0) {
    return this.events.slice(from).filter((e) => Array.isArray(e.msg) && e.msg[2] === topic);
  }

  indexOf(ev) {
    return this.events.indexOf(ev);
  }

  async waitSent(pred, { from = 0, timeout = 3000, msg = "sent frame" } = {}) {
    return waitUntil(() => this.sent(pred, from)[0], { timeout, msg: `${msg}; ${this.describe(from)}` });
  }

  async waitReceived(pred, { from = 0, timeout = 3000, msg = "received frame" } = {}) {
    return waitUntil(() => this.received(pred, from)[0], { timeout, msg: `${msg}; ${this.describe(from)}` });
  }

  /** The phx_join frames sent for `topic`. */
  joins(topic, from = 0) {
    return this.sent((m) => m[2] === topic && m[3] === "phx_join", from);
  }

  describe(from = 0) {
    return this.events
      .slice(from)
      .slice(-25)
      .map((e) => `${e.dir}#${e.conn} ${e.binary ? `<bin ${e.binary.toString("hex")}>` : (e.text || "").slice(0, 160)}`)
      .join("\n  ");
  }
}

/**
 * Creates a phoenix Socket on `ws://127.0.0.1:<port><mount>` with short test timers; the
 * returned `rec` records its traffic. Options are passed to `new Socket` (mount excepted).
 */
export function makeSocket(port, { mount = "/socket", ...opts } = {}) {
  const rec = new Recorder();
  const socket = new Socket(`ws://127.0.0.1:${port}${mount}`, {
    transport: rec.transport,
    timeout: 1000,
    heartbeatIntervalMs: 30000,
    rejoinAfterMs: () => 100,
    reconnectAfterMs: () => 100,
    ...opts,
  });
  return { socket, rec };
}

/** Registers `socket.disconnect()` as cleanup on a node:test context. */
export function phxCleanup(t, ...sockets) {
  t.after(() => {
    for (const s of sockets) {
      try {
        s.disconnect();
      } catch {
        // already gone
      }
    }
  });
}

/** Connects and resolves once the socket is open. */
export function connect(socket, timeout = 3000) {
  return withTimeout(
    new Promise((resolve) => {
      const ref = socket.onOpen(() => {
        socket.off([ref]);
        resolve();
      });
      socket.connect();
    }),
    timeout,
    "socket open",
  );
}

/** `makeSocket` + `phxCleanup` on `t` + `connect`: a socket that is open; returns `{socket, rec}`. */
export async function connectedSocket(t, port, opts) {
  const c = makeSocket(port, opts);
  phxCleanup(t, c.socket);
  await connect(c.socket);
  return c;
}

/**
 * Resolves `{status, response}` for the first outcome of a Push ("ok", "error" or
 * "timeout"). Works for `channel.join()`, `channel.push()` and `channel.leave()`.
 */
export function outcome(push, timeout = 5000) {
  return withTimeout(
    new Promise((resolve) => {
      push
        .receive("ok", (response) => resolve({ status: "ok", response }))
        .receive("error", (response) => resolve({ status: "error", response }))
        .receive("timeout", () => resolve({ status: "timeout" }));
    }),
    timeout,
    "push outcome",
  );
}

/**
 * A connected phoenix client joined to `topic` of the fixture's room family (`room:*`,
 * `roomi:*`): returns `{socket, rec, ch, topic, J}` once the join's after-join push `joined`
 * arrived too (tests/fixtures/CONTRACT.md), so a test's observation window starts after every
 * frame the join caused, however late a host sends them.
 */
export async function joinedRoom(t, port, topic, opts) {
  const c = await connectedSocket(t, port, opts);
  const mark = c.rec.mark();
  const ch = c.socket.channel(topic);
  await joinOk(ch);
  await c.rec.waitReceived(
    (m) => (Array.isArray(m) ? m[2] === topic && m[3] === "joined" : m && m.topic === topic && m.event === "joined"),
    { from: mark },
  );
  return { ...c, ch, topic, J: ch.joinRef() };
}

/** Joins a channel and resolves with the ok response; rejects on error / timeout. */
export async function joinOk(channel, timeout) {
  const r = await outcome(timeout === undefined ? channel.join() : channel.join(timeout));
  if (r.status !== "ok") throw new Error(`join of ${channel.topic} ended ${r.status}: ${JSON.stringify(r.response)}`);
  return r.response;
}

/** Waits until `channel` is joined (state "joined"). */
export function waitJoined(channel, timeout = 3000) {
  return waitUntil(() => channel.state === "joined", { timeout, msg: `${channel.topic} joined` });
}

export { sleep, QUIET_MS };
