// A hand-written Phoenix client over the `ws` package, for the scenarios the JS client cannot
// produce (V1 frames, stale join_refs, malformed input) and for exact server frames. It records
// every frame it receives, in order, and never answers anything by itself.

import WebSocket from "ws";

import { QUIET_MS, sleep, waitUntil, withTimeout } from "./wait.mjs";

/** Builds `ws://127.0.0.1:<port><mount>/websocket?<params>&vsn=<vsn>` (vsn omitted when null). */
export function socketUrl(port, { mount = "/socket", vsn = "2.0.0", params = {}, query } = {}) {
  let qs;
  if (query !== undefined) {
    qs = query;
  } else {
    const sp = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) sp.append(k, String(v));
    if (vsn !== null) sp.append("vsn", vsn);
    qs = sp.toString();
  }
  return `ws://127.0.0.1:${port}${mount}/websocket${qs ? `?${qs}` : ""}`;
}

/**
 * Performs one WebSocket upgrade and reports its HTTP outcome:
 * `{status, headers}` (status 101 when upgraded; the socket is closed right away).
 */
export function upgrade(url, { headers = {}, protocols } = {}) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, { headers, perMessageDeflate: false });
      ws.on("unexpected-response", (req, res) => {
        resolve({ status: res.statusCode, headers: res.headers });
        req.destroy();
        res.destroy();
      });
      ws.on("upgrade", (res) => {
        resolve({ status: 101, headers: res.headers, protocol: undefined });
      });
      ws.on("open", () => ws.close());
      ws.on("error", (e) => {
        // after a 101 a protocol mismatch surfaces here; report it to the caller
        reject(e);
      });
    }),
    5000,
    `upgrade of ${url}`,
  );
}

/** One received frame: `text` + `msg` (parsed JSON) for text frames, `binary` (Buffer) otherwise. */
function frameOf(data, isBinary) {
  const t = Date.now();
  if (isBinary) return { t, binary: Buffer.from(data) };
  const text = data.toString();
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    msg = undefined;
  }
  return { t, text, msg };
}

export class RawClient {
  /** `timeout`: default deadline (ms) of this client's waits (waitFor, waitForN, join, reply). */
  constructor(ws, vsn, { timeout = 3000 } = {}) {
    this.ws = ws;
    this.vsn = vsn;
    this.timeout = timeout;
    this.frames = [];
    this.refCounter = 100;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      });
    });
    ws.on("message", (data, isBinary) => this.frames.push(frameOf(data, isBinary)));
    ws.on("error", () => {});
  }

  /** A fresh ref string (the raw client picks its own refs like the JS client does). */
  ref() {
    this.refCounter += 1;
    return String(this.refCounter);
  }

  /** Sends a V2 array / V1 object as JSON text, or a string verbatim. */
  send(frame) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Sends a string or Buffer as a text frame, unvalidated (invalid UTF-8 goes out as is). */
  sendText(data) {
    this.ws.send(data, { binary: false });
  }

  sendBinary(buf) {
    this.ws.send(buf, { binary: true });
  }

  /** Index of the next frame to arrive, to search only frames after this point. */
  mark() {
    return this.frames.length;
  }

  /** Frames (from index `from`) whose parsed message satisfies `pred(msg, frame)`. */
  matching(pred, from = 0) {
    return this.frames.slice(from).filter((f) => pred(f.msg, f));
  }

  /**
   * Waits for the first frame from index `from` satisfying `pred(msg, frame)`; returns it.
   * Rejects once the connection has closed without such a frame (none can come any more).
   */
  async waitFor(pred, { from = 0, timeout = this.timeout, msg = "frame" } = {}) {
    return waitUntil(
      () => {
        const found = this.frames.slice(from).find((f) => pred(f.msg, f));
        if (found || !this.closeInfo) return found;
        throw new Error(
          `connection closed (${this.closeInfo.code}) while waiting for ${msg} (received: ${this.describe(from)})`,
        );
      },
      { timeout, msg: `${msg} (received so far: ${this.describe(from)})` },
    );
  }

  /** Waits until at least `n` frames after `from` satisfy `pred`; returns them. */
  async waitForN(n, pred, { from = 0, timeout = this.timeout, msg = "frames" } = {}) {
    return waitUntil(
      () => {
        const got = this.matching(pred, from);
        return got.length >= n ? got : null;
      },
      { timeout, msg: `${n} × ${msg}` },
    );
  }

  /** Waits `ms` and returns the frames (from `from`) that satisfy `pred`; callers assert none. */
  async quiet(pred = () => true, { from = this.mark(), ms = QUIET_MS } = {}) {
    await sleep(ms);
    return this.matching(pred, from);
  }

  describe(from = 0) {
    return this.frames
      .slice(from)
      .slice(-20)
      .map((f) => (f.binary ? `<binary ${f.binary.toString("hex")}>` : f.text.slice(0, 200)))
      .join(" | ");
  }

  /** V2: sends phx_join with join_ref = ref = J and waits for its reply; returns {J, reply}. */
  async join(topic, payload = {}, { J = this.ref(), timeout = this.timeout } = {}) {
    const from = this.mark();
    if (this.vsn.startsWith("1.")) {
      this.send({ topic, event: "phx_join", payload, ref: J, join_ref: J });
      const f = await this.waitFor(
        (m) => m && m.event === "phx_reply" && m.ref === J && m.topic === topic,
        { from, timeout, msg: `V1 join reply for ${topic}` },
      );
      return { J, reply: f.msg, from };
    }
    this.send([J, J, topic, "phx_join", payload]);
    const f = await this.waitFor(
      (m) => Array.isArray(m) && m[1] === J && m[2] === topic && m[3] === "phx_reply",
      { from, timeout, msg: `join reply for ${topic}` },
    );
    return { J, reply: f.msg, from };
  }

  /** V2: sends `[joinRef, R, topic, event, payload]`; returns {R, from}. */
  push(joinRef, topic, event, payload = {}) {
    const R = this.ref();
    const from = this.mark();
    if (this.vsn.startsWith("1.")) {
      const m = { topic, event, payload, ref: R };
      if (joinRef !== undefined) m.join_ref = joinRef;
      this.send(m);
    } else {
      this.send([joinRef, R, topic, event, payload]);
    }
    return { R, from };
  }

  /**
   * Waits for the reply to ref `R` (V1 or V2), on `topic` when given, and returns the parsed
   * message.
   */
  async reply(R, { from = 0, timeout = this.timeout, topic } = {}) {
    const f = await this.waitFor(
      (m) =>
        m &&
        (Array.isArray(m)
          ? m[1] === R && m[3] === "phx_reply" && (topic === undefined || m[2] === topic)
          : m.ref === R && m.event === "phx_reply" && (topic === undefined || m.topic === topic)),
      { from, timeout, msg: `reply to ref ${R}${topic === undefined ? "" : ` on ${topic.slice(0, 80)}`}` },
    );
    return f.msg;
  }

  close(code, reason) {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    try {
      if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
      else this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
  }

  /** Drops the TCP connection without a close handshake. */
  terminate() {
    this.ws.terminate();
  }

  /** Waits (default: this client's timeout) for the connection to close; returns `{code, reason}`. */
  waitClose(ms = this.timeout) {
    return withTimeout(this.closed, ms, "the server to close the connection");
  }

  /** Closes and waits (briefly) for the close to complete. */
  async shutdown() {
    this.close();
    try {
      await withTimeout(this.closed, 1000, "raw close");
    } catch {
      this.ws.terminate();
    }
  }
}

/**
 * Opens a raw client and waits for the upgrade. Options: mount, vsn (null = none), params,
 * query (a literal query string), headers, protocols, timeout (ms: the deadline of the upgrade,
 * default 5000, and of the client's waits, default 3000).
 */
export async function rawConnect(port, opts = {}) {
  const vsn = opts.vsn === undefined ? "2.0.0" : opts.vsn;
  const url = socketUrl(port, { ...opts, vsn });
  const ws = new WebSocket(url, opts.protocols, {
    headers: opts.headers || {},
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
  });
  const client = new RawClient(ws, vsn || "1.0.0", opts.timeout === undefined ? {} : { timeout: opts.timeout });
  await withTimeout(
    new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("unexpected-response", (req, res) => {
        reject(new Error(`upgrade of ${url} answered HTTP ${res.statusCode}`));
        req.destroy();
      });
      ws.once("error", reject);
    }),
    opts.timeout ?? 5000,
    `raw connect ${url}`,
  );
  return client;
}

/** Registers cleanup of raw clients on a node:test context. */
export function rawCleanup(t, ...clients) {
  t.after(async () => {
    await Promise.all(clients.map((c) => c.shutdown()));
  });
}

// ---- V2 binary frames (PROTOCOL.md 2.3) -------------------------------------------------

/** Client → server push, kind 0: `00 JR RF TP EV <join_ref><ref><topic><event><payload>`. */
export function encodeBinaryPush(joinRef, ref, topic, event, payload) {
  const parts = [joinRef, ref, topic, event].map((s) => Buffer.from(s ?? "", "utf8"));
  return Buffer.concat([Buffer.from([0, ...parts.map((p) => p.length)]), ...parts, Buffer.from(payload)]);
}

/**
 * Decodes a server → client binary frame into
 * `{kind: "push"|"reply"|"broadcast", join_ref, ref, topic, event, status, payload: Buffer}`;
 * throws on an unknown kind or lengths that overrun the frame.
 */
export function decodeServerBinary(buf) {
  const kind = buf[0];
  const take = (lens, start) => {
    let off = start;
    const out = [];
    for (const n of lens) {
      if (off + n > buf.length) throw new Error(`binary frame fields overrun: ${buf.toString("hex")}`);
      out.push(buf.subarray(off, off + n).toString("utf8"));
      off += n;
    }
    return { out, off };
  };
  if (kind === 0) {
    const { out, off } = take([buf[1], buf[2], buf[3]], 4);
    return { kind: "push", join_ref: out[0], ref: null, topic: out[1], event: out[2], payload: buf.subarray(off) };
  }
  if (kind === 1) {
    const { out, off } = take([buf[1], buf[2], buf[3], buf[4]], 5);
    return {
      kind: "reply",
      join_ref: out[0],
      ref: out[1],
      topic: out[2],
      event: "phx_reply",
      status: out[3],
      payload: buf.subarray(off),
    };
  }
  if (kind === 2) {
    const { out, off } = take([buf[1], buf[2]], 3);
    return { kind: "broadcast", join_ref: null, ref: null, topic: out[0], event: out[1], payload: buf.subarray(off) };
  }
  throw new Error(`unknown binary kind ${kind}`);
}

/** Expected V2 reply frame `[J, R, T, "phx_reply", {status, response}]`. */
export function replyFrame(J, R, T, status, response) {
  return [J, R, T, "phx_reply", { status, response }];
}

/** Expected V1 reply object (no join_ref key ever). */
export function v1Reply(R, T, status, response) {
  return { event: "phx_reply", payload: { response, status }, ref: R, topic: T };
}
