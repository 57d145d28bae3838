// Switchboard for Node.js: the public API (hand-written; `native.js` is generated and private).
//
// Rust runs the endpoint, the WebSockets, the fan-out and presence. A pump thread in the
// addon hands host requests (connect, join, handle_in, handle_info, handle_out, terminate)
// to `#onBatch` here, one call per batch; each request is dispatched to the async handler
// registered for it, awaited, and answered synchronously by ticket. Ordering per channel,
// the request timeout and "answer exactly once" are enforced by the core (docs/BINDINGS.md
// "One host layer"), so this file only translates. Types and docs: index.d.ts.

"use strict";

const { EventEmitter } = require("node:events");
const { NativeEndpoint, checkOptions, checkPattern } = require("./native.js");

// ---------------------------------------------------------------------------------------
// errors

/** An `Error` with a stable `code` (the C ABI's status names, e.g. `SB_E_INVALID_STATE`). */
function codedError(code, message) {
  const err = new Error(message);
  err.code = code;
  return err;
}

/** Native errors carry `code` already; anything else thrown by napi is a bad argument. */
function native(fn) {
  try {
    return fn();
  } catch (err) {
    if (err && typeof err === "object" && typeof err.code === "string" && err.code.startsWith("SB_E_")) {
      throw err;
    }
    const wrapped = codedError("SB_E_INVALID_ARGUMENT", err && err.message ? err.message : String(err));
    wrapped.cause = err;
    throw wrapped;
  }
}

// ---------------------------------------------------------------------------------------
// payloads

/**
 * JSON text sent as is (validated by Rust, never re-serialized), or received as is when a
 * channel is registered with `{ raw: true }`. `data` is a string or a Buffer of UTF-8 JSON.
 */
class RawJson {
  constructor(data) {
    if (typeof data !== "string" && !Buffer.isBuffer(data)) {
      throw codedError("SB_E_INVALID_ARGUMENT", "RawJson takes a string or a Buffer of JSON text");
    }
    this.data = data;
  }

  /** The JSON text. */
  get text() {
    return typeof this.data === "string" ? this.data : this.data.toString("utf8");
  }

  /** The parsed value. */
  parse() {
    return JSON.parse(this.text);
  }

  toJSON() {
    return this.parse();
  }
}

/** `[data, binary]` for a native call: Buffer/Uint8Array → binary, RawJson → its text. */
function encode(payload) {
  if (payload === undefined) return ["{}", false];
  if (payload instanceof RawJson) return [payload.data, false];
  if (Buffer.isBuffer(payload)) return [payload, true];
  if (payload instanceof Uint8Array) return [Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), true];
  const text = JSON.stringify(payload);
  if (text === undefined) {
    throw codedError("SB_E_INVALID_ARGUMENT", `payload of type ${typeof payload} is not JSON-serializable`);
  }
  return [text, false];
}

/** A request's payload for a handler: parsed JSON, a RawJson (raw channels), or a Buffer. */
function decode(req, raw) {
  if (req.binary !== undefined && req.binary !== null) return req.binary;
  if (req.payload === undefined || req.payload === null) return undefined;
  return raw ? new RawJson(req.payload) : JSON.parse(req.payload);
}

// ---------------------------------------------------------------------------------------
// handler results (Phoenix callback return values)

const RESULT = Symbol("switchboard.result");

/** Join accepted; `reply` is the join reply (default `{}`). */
function ok(reply) {
  return { [RESULT]: "joinOk", payload: reply };
}

/** Join refused with `reply`, e.g. `{reason: "unauthorized"}`. */
function error(reply) {
  return { [RESULT]: "joinError", payload: reply };
}

/** `{:reply, {status, payload}, socket}`: `status` is `"ok"`, `"error"` or any word. */
function reply(status, payload) {
  if (typeof status !== "string" || status === "") {
    throw codedError("SB_E_INVALID_ARGUMENT", "reply(status, payload): status must be a non-empty string");
  }
  return { [RESULT]: "reply", status, payload };
}

/** `{:noreply, socket}` (also what returning `undefined` means). */
function noreply() {
  return NOREPLY;
}
const NOREPLY = Object.freeze({ [RESULT]: "noreply" });

/**
 * `{:stop, reason, socket}`: `"normal"` or `"shutdown"` close the channel (`phx_close`),
 * any other reason fails it (`phx_error`). `options.reply` (`{status, payload}`) is sent
 * first; `options.detail` qualifies a shutdown.
 */
function stop(reason = "normal", options = {}) {
  return { [RESULT]: "stop", reason, ...options };
}

/** Connect accepted with `assigns` (copied into every channel) and an optional socket `id`. */
function accept({ assigns, id } = {}) {
  return { [RESULT]: "connectOk", assigns, id };
}

/** Connect refused: the upgrade gets this HTTP status (default 403). */
function refuse(status = 403) {
  return { [RESULT]: "connectRefused", status };
}

// ---------------------------------------------------------------------------------------
// sockets

/**
 * What a handler sees of its channel (Phoenix `socket`), valid after the handler returns:
 * keep it to push later. Actions throw `SB_E_NOT_FOUND` once the channel has ended.
 */
class Socket {
  #endpoint;
  #assigns;
  #assignsText;

  constructor(endpoint, req) {
    this.#endpoint = endpoint;
    /** Channel id (bigint), stable for the channel's life. */
    this.channelId = req.channel;
    this.topic = req.topic;
    /** The join_ref, raw JSON text (e.g. `"\"3\""`), or undefined. */
    this.joinRef = req.joinRef ?? undefined;
    /** The socket id from connect, if any. */
    this.id = req.socketId ?? undefined;
    /** The ref of the message being handled (handleIn), raw JSON text. */
    this.ref = req.ref ?? undefined;
    this.#assignsText = req.assigns;
    this.#assigns = undefined;
  }

  /** Channel assigns (a plain object). Changes made by a handler are kept for later requests. */
  get assigns() {
    if (this.#assigns === undefined) {
      this.#assigns = this.#assignsText ? JSON.parse(this.#assignsText) : {};
    }
    return this.#assigns;
  }

  set assigns(value) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw codedError("SB_E_INVALID_ARGUMENT", "assigns must be a plain object");
    }
    this.#assigns = value;
  }

  /** Sets one assign (Phoenix `assign/3`); returns the socket. */
  assign(key, value) {
    this.assigns[key] = value;
    return this;
  }

  /** JSON text of the assigns if a handler touched them, else undefined (unchanged). */
  _assignsOut() {
    return this.#assigns === undefined ? undefined : JSON.stringify(this.#assigns);
  }

  #native() {
    return this.#endpoint._native();
  }

  /** Pushes `event` to this client only (payload must be an object or binary). */
  push(event, payload) {
    const [data, binary] = encode(payload);
    native(() => this.#native().channelSend("push", this.channelId, event, data, binary));
  }

  /** Broadcasts `event` to every subscriber of this channel's topic, this client included. */
  broadcast(event, payload) {
    const [data, binary] = encode(payload);
    native(() => this.#native().channelSend("broadcast", this.channelId, event, data, binary));
  }

  /** Broadcasts `event` to every subscriber of the topic but this client (Phoenix `broadcast_from`). */
  broadcastFrom(event, payload) {
    const [data, binary] = encode(payload);
    native(() => this.#native().channelSend("broadcastFrom", this.channelId, event, data, binary));
  }

  /**
   * Replies later to the push with `ref` (default: the message being handled; Phoenix
   * `socket_ref` + `reply/2`). Return `noreply()` from the handler first.
   */
  reply(status, payload, ref = this.ref) {
    if (ref === undefined) throw codedError("SB_E_INVALID_ARGUMENT", "no ref to reply to (the client sent none)");
    const [data, binary] = encode(payload);
    native(() => this.#native().channelReply(this.channelId, ref, status, data, binary));
  }

  /** Tracks presence `key` with `meta` (an object) on this topic; returns its `phx_ref`. */
  track(key, meta = {}) {
    return native(() => this.#native().channelTrack(this.channelId, String(key), JSON.stringify(meta)));
  }

  /** Stops tracking `key` for this channel. */
  untrack(key) {
    native(() => this.#native().channelUntrack(this.channelId, String(key)));
  }

  /** Replaces the meta of `key`; returns the new `phx_ref`. */
  update(key, meta) {
    return native(() => this.#native().channelUpdate(this.channelId, String(key), JSON.stringify(meta)));
  }

  /** This topic's presence list: `{key: {metas: [...]}}`. */
  presenceList() {
    return JSON.parse(native(() => this.#native().channelPresenceList(this.channelId)));
  }

  /** Subscribes this channel to another topic; its broadcasts reach `handleInfo`. */
  subscribe(topic) {
    native(() => this.#native().channelSubscribe(this.channelId, topic));
  }

  /** Undoes `subscribe`; false if it was not subscribed. */
  unsubscribe(topic) {
    return native(() => this.#native().channelUnsubscribe(this.channelId, topic));
  }

  /** Sends `message` (any JSON value) to this channel's `handleInfo` (Phoenix `send(self(), msg)`). */
  sendInfo(message) {
    const text = JSON.stringify(message);
    if (text === undefined) throw codedError("SB_E_INVALID_ARGUMENT", "message is not JSON-serializable");
    native(() => this.#native().channelSendInfo(this.channelId, text));
  }
}

// ---------------------------------------------------------------------------------------
// host-side subscriptions

/**
 * Broadcasts on one topic, received by the host (Phoenix `Endpoint.subscribe/1`). An
 * EventEmitter (`'message'` with `{topic, event, payload}`) and an async iterator.
 */
class Subscription extends EventEmitter {
  #endpoint;
  #buffer = [];
  #waiters = [];
  #closed = false;

  constructor(endpoint, id, topic, raw) {
    super();
    this.#endpoint = endpoint;
    this.id = id;
    this.topic = topic;
    this.raw = raw;
  }

  _deliver(message) {
    if (this.#closed) return;
    this.emit("message", message);
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ value: message, done: false });
    else if (this.listenerCount("message") === 0) this.#buffer.push(message);
  }

  /** Unsubscribes; a pending iteration ends. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#endpoint._unsubscribe(this);
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
    this.emit("close");
  }

  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this.#buffer.length > 0) return Promise.resolve({ value: this.#buffer.shift(), done: false });
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}

// ---------------------------------------------------------------------------------------
// the endpoint

/**
 * The options object as JSON for the core, which holds every default and check (the same for
 * C, Python and Node; docs/OPTIONS.md). `undefined` entries are left out (the default); a
 * value JSON cannot carry (a function, a BigInt, NaN) becomes `{"$unsupported": type}` so
 * the core's error can name it instead of JSON dropping it silently.
 */
function optionsJson(options) {
  return JSON.stringify(options, function (key, value) {
    if (key === "connect" && this === options) return undefined;
    const type = typeof value;
    if (type === "function" || type === "symbol" || type === "bigint") return { $unsupported: type };
    if (type === "number" && !Number.isFinite(value)) return { $unsupported: String(value) };
    return value;
  });
}

/** Phoenix topic routing: `prefix*` or an exact topic; first registered match wins. */
function matches(pattern, topic) {
  return pattern.endsWith("*") ? topic.startsWith(pattern.slice(0, -1)) : topic === pattern;
}

/** A promise for `fn(...args)` that also catches a synchronous throw. */
async function invoke(fn, self, args) {
  return fn.apply(self, args);
}

const STATES = { created: 0, listening: 1, closing: 2, closed: 3 };

/**
 * One Switchboard endpoint. Events (observation only): `'error'` (a handler threw or
 * rejected; the channel already failed), `'listening'`, `'close'`.
 */
class Endpoint extends EventEmitter {
  #options;
  #routes = [];
  #httpRoutes = [];
  #connect;
  #native;
  #state = STATES.created;
  #refed = true;
  #subscriptions = new Map();
  #address;

  constructor(options = {}) {
    super();
    if (options === null || typeof options !== "object") {
      throw codedError("SB_E_INVALID_ARGUMENT", "new Endpoint(options): options must be an object");
    }
    // A snapshot: later changes to the caller's object do not reach listen().
    this.#options = { ...options };
    native(() => checkOptions(optionsJson(this.#options)));
    if (options.connect !== undefined) this.connect(options.connect);
  }

  /**
   * Sets the connect callback (Phoenix `connect/3`), called for every WebSocket upgrade with
   * `{mount, params, authToken, peerAddr, origin, userAgent}`. Return `accept({assigns, id})`
   * or a plain `{assigns, id}`, `true`/`undefined` (accept), `false` or `refuse(status)`.
   */
  connect(handler) {
    if (typeof handler !== "function") throw codedError("SB_E_INVALID_ARGUMENT", "connect(handler): handler must be a function");
    this.#beforeListen("connect");
    this.#connect = handler;
    return this;
  }

  /**
   * Routes topics matching `pattern` (`"room:*"` or an exact topic) to `handler`, an object
   * with optional async `join`, `handleIn`, `handleInfo`, `handleOut`, `terminate`.
   * `options.intercepts` lists events that reach `handleOut`; `options.raw` hands JSON
   * payloads to the handler as `RawJson` instead of parsed values.
   */
  channel(pattern, handler, options = {}) {
    if (typeof pattern !== "string") throw codedError("SB_E_INVALID_ARGUMENT", "channel(pattern, ...): pattern must be a string");
    native(() => checkPattern(pattern));
    if (!handler || typeof handler !== "object" && typeof handler !== "function") {
      throw codedError("SB_E_INVALID_ARGUMENT", "channel(pattern, handler): handler must be an object");
    }
    this.#beforeListen("channel");
    const intercepts = (options.intercepts || []).map(String);
    this.#routes.push({ pattern, handler, intercepts, raw: Boolean(options.raw) });
    return this;
  }

  /**
   * Answers HTTP requests whose path is `prefix` or below it (`/api` serves `/api` and
   * `/api/x`, not `/apix`), any method, on the endpoint's port. `handler({method, path,
   * query, contentType, body})` (body a Buffer, at most 1 MiB) returns `{status, contentType,
   * body}`: a Buffer or string body is sent as is, anything else as JSON. Unanswered within
   * `requestTimeoutMs` → 504; a throw → 500.
   */
  httpRoute(prefix, handler) {
    if (typeof prefix !== "string" || !prefix.startsWith("/")) throw codedError("SB_E_INVALID_ARGUMENT", "httpRoute(prefix, handler): prefix must be an absolute path such as \"/api\"");
    if (typeof handler !== "function") throw codedError("SB_E_INVALID_ARGUMENT", "httpRoute(prefix, handler): handler must be a function");
    this.#beforeListen("httpRoute");
    this.#httpRoutes.push({ prefix, handler });
    return this;
  }

  #beforeListen(what) {
    if (this.#state !== STATES.created) {
      throw codedError("SB_E_INVALID_STATE", `${what}() must be called before listen()`);
    }
  }

  /** The native endpoint; throws SB_E_INVALID_STATE unless listening. */
  _native() {
    if (this.#state !== STATES.listening && this.#state !== STATES.closing) {
      throw codedError("SB_E_INVALID_STATE", this.#state === STATES.created ? "the endpoint is not listening (await listen() first)" : "the endpoint is closed");
    }
    return this.#native;
  }

  /**
   * Binds `host:port` (options, or `port` given here) and serves. Resolves with
   * `{address, port}` once connections are accepted. Keeps the process alive until
   * `close()` or `unref()`.
   */
  async listen(port) {
    if (this.#state !== STATES.created) throw codedError("SB_E_INVALID_STATE", "listen() was already called");
    const config = {
      options: optionsJson(port === undefined ? this.#options : { ...this.#options, port }),
      channels: this.#routes.map((r) => ({ pattern: r.pattern, intercepts: r.intercepts })),
      hostConnect: this.#connect !== undefined,
      httpRoutes: this.#httpRoutes.map((r) => r.prefix),
    };
    const nativeEndpoint = native(() => new NativeEndpoint(config, (batch) => this.#onBatch(batch)));
    let addr;
    try {
      addr = native(() => nativeEndpoint.start());
    } catch (err) {
      await nativeEndpoint.close();
      nativeEndpoint.stopPump();
      throw err;
    }
    this.#native = nativeEndpoint;
    this.#state = STATES.listening;
    if (!this.#refed) nativeEndpoint.unref();
    const i = addr.lastIndexOf(":");
    this.#address = { address: addr.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(addr.slice(i + 1)) };
    this.emit("listening", this.#address);
    return this.#address;
  }

  /** `{address, port}` while listening, else null. */
  address() {
    return this.#state === STATES.listening ? { ...this.#address } : null;
  }

  /** Keeps the process alive while listening (the default), like `net.Server#ref`. */
  ref() {
    this.#refed = true;
    if (this.#state === STATES.listening) this.#native.ref();
    return this;
  }

  /** Lets the process exit although the endpoint listens, like `net.Server#unref`. */
  unref() {
    this.#refed = false;
    if (this.#state === STATES.listening) this.#native.unref();
    return this;
  }

  /**
   * Drains (every connection closed with 1012 after its channels terminate), stops
   * listening and releases every thread; afterwards no handler is called and the process
   * may exit. Idempotent.
   */
  async close() {
    if (this.#state === STATES.created) {
      this.#state = STATES.closed;
      this.emit("close");
      return;
    }
    if (this.#state !== STATES.listening) return this.#closing;
    this.#state = STATES.closing;
    this.#closing = (async () => {
      try {
        await this.#native.close();
      } finally {
        this.#native.stopPump();
        this.#state = STATES.closed;
        for (const sub of this.#subscriptions.values()) sub.close();
        this.emit("close");
      }
    })();
    return this.#closing;
  }

  #closing;

  /** Broadcasts `event` with `payload` to every subscriber of `topic` (all nodes). */
  broadcast(topic, event, payload) {
    const [data, binary] = encode(payload);
    native(() => this._native().broadcast(false, topic, event, data, binary));
  }

  /** Like `broadcast`, to this node's subscribers only. */
  localBroadcast(topic, event, payload) {
    const [data, binary] = encode(payload);
    native(() => this._native().broadcast(true, topic, event, data, binary));
  }

  /** Closes every connection whose connect returned socket id `id` (close 1001). */
  disconnect(id) {
    native(() => this._native().disconnect(id));
  }

  /** Presence list of `topic`: `{key: {metas: [...]}}`. */
  presenceList(topic) {
    return JSON.parse(native(() => this._native().presenceList(topic)));
  }

  /** Live channels on `topic` over all connections of this node. */
  channelCount(topic) {
    return this._native().channelCount(topic);
  }

  /**
   * Subscribes the host to `topic`. The Subscription emits `'message'` `{topic, event,
   * payload}` and is an async iterator; `close()` it to unsubscribe. `options.raw` keeps
   * JSON payloads as RawJson.
   */
  subscribe(topic, options = {}) {
    const id = native(() => this._native().subscribe(topic));
    const sub = new Subscription(this, id, topic, Boolean(options.raw));
    this.#subscriptions.set(id, sub);
    return sub;
  }

  _unsubscribe(sub) {
    this.#subscriptions.delete(sub.id);
    if (this.#state === STATES.listening) this.#native.unsubscribe(sub.id);
  }

  // -------------------------------------------------------------------------------------
  // dispatch (runs on the JS thread, once per batch)

  #onBatch(batch) {
    for (const req of batch) {
      try {
        this.#dispatch(req);
      } catch (err) {
        this.#report(err, req);
      }
    }
  }

  #route(topic) {
    for (const r of this.#routes) if (matches(r.pattern, topic)) return r;
    return undefined;
  }

  #report(err, req) {
    if (this.listenerCount("error") > 0) {
      this.emit("error", err, { kind: req.kind, topic: req.topic, event: req.event });
    } else {
      console.error(`switchboard: ${req.kind} handler failed${req.topic ? ` on ${req.topic}` : ""}:`, err);
    }
  }

  /** Answers unless the endpoint closed meanwhile; a stale ticket (timed out) is expected. */
  #answer(req, answer) {
    if (this.#state === STATES.closed) return;
    try {
      if (answer === NOREPLY_ANSWER) this.#native.noreply(req.ticket);
      else if (answer.kind === "http") this.#native.respond(req.ticket, answer.httpStatus, answer.contentType, answer.payload);
      else this.#native.answer(req.ticket, answer);
    } catch (err) {
      if (err.code === "SB_E_STALE_TICKET") return;
      this.#fail(req, err);
    }
  }

  #fail(req, err) {
    if (err !== undefined) this.#report(err, req);
    if (this.#state === STATES.closed) return;
    try {
      this.#native.fail(req.ticket);
    } catch {
      // already timed out or answered: the channel has failed already
    }
  }

  #dispatch(req) {
    switch (req.kind) {
      case "connect":
        return this.#onConnect(req);
      case "join":
      case "handleIn":
      case "handleInfo":
      case "handleOut":
        return this.#onChannel(req);
      case "leave":
        return this.#onLeave(req);
      case "http":
        return this.#onHttp(req);
      case "message": {
        const sub = this.#subscriptions.get(req.subscription);
        if (sub) sub._deliver({ topic: req.topic, event: req.event, payload: decode(req, sub.raw) });
        return;
      }
      default:
        throw codedError("SB_E_INVALID_ARGUMENT", `unknown request kind ${req.kind}`);
    }
  }

  #onConnect(req) {
    const c = req.connect;
    const info = {
      mount: c.mount,
      params: JSON.parse(c.params),
      authToken: c.authToken ?? undefined,
      peerAddr: c.peerAddr ?? undefined,
      origin: c.origin ?? undefined,
      userAgent: c.userAgent ?? undefined,
    };
    invoke(this.#connect, undefined, [info]).then(
      (result) => {
        let answer;
        if (result === undefined || result === true) answer = { kind: "connectOk" };
        else if (result === false || result === null) answer = { kind: "connectRefused", httpStatus: 403 };
        else if (result[RESULT] === "connectRefused") answer = { kind: "connectRefused", httpStatus: result.status };
        else {
          answer = { kind: "connectOk" };
          if (result.assigns !== undefined) answer.assigns = JSON.stringify(result.assigns);
          if (result.id !== undefined && result.id !== null) answer.socketId = String(result.id);
        }
        this.#answer(req, answer);
      },
      (err) => this.#fail(req, err),
    );
  }

  #onChannel(req) {
    const route = this.#route(req.topic);
    const socket = new Socket(this, req);
    const h = route && route.handler;
    let call;
    switch (req.kind) {
      case "join":
        call = h && h.join ? invoke(h.join, h, [req.topic, decode(req, route.raw), socket]) : Promise.resolve(ok());
        break;
      case "handleIn":
        if (!h || !h.handleIn) {
          // Phoenix: no matching handle_in clause crashes the channel.
          return this.#fail(req, codedError("SB_E_NOT_FOUND", `no handleIn for ${req.topic}`));
        }
        call = invoke(h.handleIn, h, [req.event, decode(req, route.raw), socket]);
        break;
      case "handleInfo": {
        if (!h || !h.handleInfo) return this.#answer(req, NOREPLY_ANSWER);
        const msg = req.info === "broadcast"
          ? { topic: req.infoTopic, event: req.event, payload: decode(req, route.raw) }
          : decode(req, false);
        call = invoke(h.handleInfo, h, [msg, socket]);
        break;
      }
      case "handleOut":
        call = h && h.handleOut
          ? invoke(h.handleOut, h, [req.event, decode(req, route.raw), socket])
          : invoke(() => {
            socket.push(req.event, decode(req, true));
          }, undefined, []);
        break;
    }
    call.then(
      (result) => {
        let answer;
        try {
          answer = toAnswer(req.kind, result, socket);
        } catch (err) {
          return this.#fail(req, err);
        }
        this.#answer(req, answer);
      },
      (err) => this.#fail(req, err),
    );
  }

  #onHttp(req) {
    const h = req.http;
    const route = this.#httpRoutes.find((r) => r.prefix === "/" || h.path === r.prefix || h.path.startsWith(`${r.prefix}/`));
    if (!route) return this.#answer(req, { kind: "http", httpStatus: 404, contentType: "text/plain; charset=utf-8", payload: "not found\n" });
    const request = { method: h.method, path: h.path, query: h.query, contentType: h.contentType ?? undefined, body: h.body ?? Buffer.alloc(0) };
    invoke(route.handler, undefined, [request]).then(
      (res) => {
        let answer;
        try {
          answer = httpAnswer(res);
        } catch (err) {
          return this.#fail(req, err);
        }
        this.#answer(req, answer);
      },
      (err) => this.#fail(req, err),
    );
  }

  #onLeave(req) {
    const route = this.#route(req.topic);
    const h = route && route.handler;
    const done = () => {
      if (this.#state !== STATES.closed) this.#native.release(req.leaveKey);
    };
    if (!h || !h.terminate) return done();
    const socket = new Socket(this, req);
    const reason = { reason: req.reason, detail: req.detail ?? undefined };
    invoke(h.terminate, h, [reason, socket]).then(done, (err) => {
      this.#report(err, req);
      done();
    });
  }
}

const NOREPLY_ANSWER = Object.freeze({ kind: "noreply" });

/** An HTTP handler's `{status, contentType, body}` as a native answer. */
function httpAnswer(res = {}) {
  const status = res.status === undefined ? 200 : res.status;
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw codedError("SB_E_INVALID_ARGUMENT", `HTTP status must be an integer 100..999 (got ${status})`);
  }
  let body = res.body;
  let contentType = res.contentType;
  if (body === undefined || body === null) body = "";
  if (Buffer.isBuffer(body)) contentType ??= "application/octet-stream";
  else if (typeof body === "string") contentType ??= "text/plain; charset=utf-8";
  else {
    body = JSON.stringify(body);
    contentType ??= "application/json";
  }
  return { kind: "http", httpStatus: status, contentType, payload: body };
}

/** A handler's return value as a native answer. */
function toAnswer(kind, result, socket) {
  const assigns = socket._assignsOut();
  let answer;
  if (result === null || (result !== undefined && typeof result !== "object" && typeof result !== "boolean")) {
    throw codedError("SB_E_INVALID_ARGUMENT", `${kind} returned ${String(result)}: use ok()/error() for join, reply()/noreply()/stop() otherwise`);
  }
  if (kind === "join") {
    if (result === undefined || result === true) answer = { kind: "joinOk" };
    else if (result !== false && result[RESULT] === "joinOk" || result[RESULT] === "joinError") {
      answer = { kind: result[RESULT] };
      if (result.payload !== undefined) [answer.payload, answer.binary] = encode(result.payload);
    } else if (result === false) {
      answer = { kind: "joinError" };
    } else {
      // null and other values fall through to the error below
      throw codedError("SB_E_INVALID_ARGUMENT", "join must return ok(reply), error(reply), true/false or undefined");
    }
  } else if (result === undefined || result === NOREPLY) {
    if (assigns === undefined) return NOREPLY_ANSWER;
    answer = { kind: "noreply" };
  } else if (result[RESULT] === "reply") {
    answer = { kind: "reply", status: result.status };
    [answer.payload, answer.binary] = encode(result.payload);
  } else if (result[RESULT] === "noreply") {
    answer = { kind: "noreply" };
  } else if (result[RESULT] === "stop") {
    answer = { kind: "stop", reason: String(result.reason) };
    if (result.detail !== undefined) answer.detail = String(result.detail);
    if (result.reply !== undefined) {
      answer.reply = true;
      answer.status = result.reply.status || "ok";
      [answer.payload, answer.binary] = encode(result.reply.payload);
    }
  } else {
    throw codedError("SB_E_INVALID_ARGUMENT", `${kind} must return reply(...), noreply(), stop(...) or undefined`);
  }
  if (assigns !== undefined && answer.kind !== "joinError") answer.assigns = assigns;
  return answer;
}

module.exports = {
  Endpoint,
  Socket,
  Subscription,
  RawJson,
  ok,
  error,
  reply,
  noreply,
  stop,
  accept,
  refuse,
};
