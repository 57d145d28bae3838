// Endpoint: one Switchboard endpoint's options, registration, lifecycle (listen, ref, close) and host-side actions.

"use strict";

const { EventEmitter } = require("node:events");
const { NativeEndpoint, checkOptions } = require("../native.js");
const { codedError, invalid, native, typeName, expectString, checkKeys } = require("./errors.js");
const { encode } = require("./payload.js");
const { Routes } = require("./routes.js");
const { Subscription } = require("./subscription.js");
const { Dispatcher } = require("./dispatch.js");

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

/** The signals `listen({handleSignals: true})` drains on. */
const SIGNALS = ["SIGINT", "SIGTERM"];

const STATES = { created: 0, listening: 1, closing: 2, closed: 3 };

/**
 * One Switchboard endpoint. Events (observation only): `'error'` (a handler threw or
 * rejected; the channel already failed), `'listening'`, `'close'`.
 */
class Endpoint extends EventEmitter {
  #options;
  #routes = new Routes();
  #subscriptions = new Map();
  #dispatcher;
  #native;
  #state = STATES.created;
  /** While `listen()` waits for the native start: the promise of that start. */
  #starting = null;
  #refed = true;
  #address;
  #closing;

  constructor(options = {}) {
    super();
    if (options === null || typeof options !== "object" || Array.isArray(options)) {
      throw invalid(`new Endpoint(options): options must be an object (got ${typeName(options)})`);
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
    this.#beforeListen("connect");
    this.#routes.setConnect(handler);
    return this;
  }

  /**
   * Routes topics matching `pattern` (`"room:*"` or an exact topic) to `handler`, an object
   * with optional async `join`, `handleIn`, `handleInfo`, `handleOut`, `terminate`.
   * `options.intercepts` lists events that reach `handleOut`; `options.raw` hands JSON
   * payloads to the handler as `RawJson` instead of parsed values. Checked here (lib/routes.js).
   */
  channel(pattern, handler, options = {}) {
    this.#beforeListen("channel");
    this.#routes.addChannel(pattern, handler, options);
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
    this.#beforeListen("httpRoute");
    this.#routes.addHttpRoute(prefix, handler);
    return this;
  }

  #beforeListen(what) {
    if (this.#state === STATES.created && !this.#starting) return;
    throw codedError(
      "SB_E_INVALID_STATE",
      this.#state === STATES.closed ? `${what}(): the endpoint is closed` : `${what}() must be called before listen()`,
    );
  }

  /**
   * The native endpoint while listening (or draining); else throws SB_E_INVALID_STATE
   * naming `what`, the call that needed it.
   */
  _native(what) {
    if (this.#state === STATES.listening || this.#state === STATES.closing) return this.#native;
    const why = this.#state === STATES.created ? "the endpoint is not listening (await listen() first)" : "the endpoint is closed";
    throw codedError("SB_E_INVALID_STATE", what === undefined ? why : `${what}(): ${why}`);
  }

  /**
   * Binds `host:port` (options, or `port` given here) and serves. Resolves with
   * `{address, port}` once connections are accepted. Keeps the process alive until
   * `close()` or `unref()`. With `{handleSignals: true}` (as `listen(port, opts)` or
   * `listen(opts)`), SIGINT and SIGTERM call `close()`: clients get 1012 and every channel's
   * `terminate` runs before the process exits (Python's `serve(handle_signals=True)`).
   */
  async listen(port, opts) {
    if (typeof port === "object" && port !== null && opts === undefined) {
      [port, opts] = [undefined, port];
    }
    const handleSignals = opts?.handleSignals ?? false;
    if (typeof handleSignals !== "boolean") {
      throw codedError("SB_E_INVALID_ARGUMENT", "listen(): `handleSignals` must be true or false");
    }
    if (this.#state === STATES.listening || this.#starting) throw codedError("SB_E_INVALID_STATE", "listen() was already called");
    if (this.#state !== STATES.created) throw codedError("SB_E_INVALID_STATE", "listen(): the endpoint is closed");
    const config = {
      options: optionsJson(port === undefined ? this.#options : { ...this.#options, port }),
      ...this.#routes.nativeConfig(),
    };
    const dispatcher = new Dispatcher(this, this.#routes, this.#subscriptions);
    const nativeEndpoint = native(() => new NativeEndpoint(config, (batch) => dispatcher.onBatch(batch)));
    dispatcher.native = nativeEndpoint;
    // Off the JS thread: a clustered endpoint waits for its broker before it listens.
    this.#starting = nativeEndpoint.start();
    let started;
    try {
      started = await this.#starting;
    } finally {
      this.#starting = null;
    }
    if (started.code !== undefined && started.code !== null) {
      await nativeEndpoint.close();
      nativeEndpoint.stopPump();
      throw codedError(started.code, started.message);
    }
    const addr = started.addr;
    native(() => nativeEndpoint.ref());
    this.#native = nativeEndpoint;
    this.#dispatcher = dispatcher;
    this.#state = STATES.listening;
    if (!this.#refed) nativeEndpoint.unref();
    const i = addr.lastIndexOf(":");
    this.#address = { address: addr.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(addr.slice(i + 1)) };
    if (handleSignals) this.#handleSignals();
    this.emit("listening", this.#address);
    return this.#address;
  }

  /** SIGINT/SIGTERM → `close()`, once; the handlers leave with the endpoint. */
  #handleSignals() {
    const onSignal = () => {
      for (const sig of SIGNALS) process.off(sig, onSignal);
      this.close().catch((e) => this.emit("error", e));
    };
    for (const sig of SIGNALS) process.on(sig, onSignal);
    this.once("close", () => {
      for (const sig of SIGNALS) process.off(sig, onSignal);
    });
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
   * listening and releases every thread; afterwards no handler is called, every action
   * throws SB_E_INVALID_STATE, and the process may exit. Idempotent.
   */
  async close() {
    // A listen() under way finishes first (its endpoint is then closed like any other).
    while (this.#starting) await this.#starting.catch(() => {});
    if (this.#state === STATES.created) {
      this.#state = STATES.closed;
      this.emit("close");
      return;
    }
    if (this.#state !== STATES.listening) return this.#closing;
    this.#state = STATES.closing;
    this.#closing = (async () => {
      try {
        await this.#native.shutdown();
        // The drain's leave requests may still be on their way to JavaScript: let them all
        // reach terminate (which may still broadcast) before the runtime stops, and any
        // straggler before the pump stops.
        await this.#native.flush();
        await this.#native.close();
        await this.#native.flush();
      } finally {
        this.#native.stopPump();
        this.#dispatcher.closed = true;
        this.#state = STATES.closed;
        for (const sub of this.#subscriptions.values()) sub.close();
        this.emit("close");
      }
    })();
    return this.#closing;
  }

  /** Broadcasts `event` with `payload` to every subscriber of `topic` (all nodes). */
  broadcast(topic, event, payload) {
    expectString(topic, "topic");
    expectString(event, "event");
    const [data, binary] = encode(payload);
    native(() => this._native("broadcast").broadcast(false, topic, event, data, binary));
  }

  /** Like `broadcast`, to this node's subscribers only. */
  localBroadcast(topic, event, payload) {
    expectString(topic, "topic");
    expectString(event, "event");
    const [data, binary] = encode(payload);
    native(() => this._native("localBroadcast").broadcast(true, topic, event, data, binary));
  }

  /** Closes every connection whose connect returned socket id `id` (close 1001). */
  disconnect(id) {
    expectString(id, "id");
    native(() => this._native("disconnect").disconnect(id));
  }

  /**
   * `topic`'s kept broadcasts (docs/HISTORY.md "Host API"): `{messages: [{position, event,
   * payload}], position, recovered, reason?}`, oldest first: the first `limit` after the
   * position `since`, or the latest `limit` without it (0 or absent: every kept one). A binary
   * payload comes as `binary` (a Buffer) instead of `payload`.
   */
  history(topic, since = null, limit = 0) {
    expectString(topic, "topic");
    if (since !== null && since !== undefined) expectString(since, "since");
    const page = JSON.parse(
      native(() => this._native("history").history(topic, since ?? null, limit)),
    );
    for (const message of page.messages) {
      if (message.binary !== undefined) message.binary = Buffer.from(message.binary, "base64");
    }
    return page;
  }

  /**
   * The endpoint's metrics in the Prometheus text format 0.0.4 (docs/OPERATIONS.md "Metrics"),
   * as option `metricsPath` serves them: for an app that exports its own metrics.
   */
  metrics() {
    return native(() => this._native("metrics").metrics());
  }

  /**
   * What the endpoint holds now (docs/OPERATIONS.md "Introspection"): `{node, connections:
   * {websocket, longpoll}, channels, topics: [{topic, subscribers, channels}], presence:
   * [{topic, entries}], cluster: null | {broker, up, nodes: [{node, incarnation,
   * last_heartbeat_ms}]}}`.
   */
  census() {
    return JSON.parse(native(() => this._native("census").census()));
  }

  /** Presence list of `topic`: `{key: {metas: [...]}}`. */
  presenceList(topic) {
    expectString(topic, "topic");
    return JSON.parse(native(() => this._native("presenceList").presenceList(topic)));
  }

  /** Live channels on `topic` over all connections of this node. */
  channelCount(topic) {
    expectString(topic, "topic");
    return native(() => this._native("channelCount").channelCount(topic));
  }

  /**
   * Subscribes the host to `topic`. The Subscription emits `'message'` `{topic, event,
   * payload}` and is an async iterator; `close()` it to unsubscribe. `options.raw` keeps
   * JSON payloads as RawJson.
   */
  subscribe(topic, options = {}) {
    expectString(topic, "topic");
    if (options === null || typeof options !== "object") {
      throw invalid(`subscribe(topic, options): options must be an object (got ${typeName(options)})`);
    }
    checkKeys(options, ["raw"], "subscribe()'s options");
    if (options.raw !== undefined && typeof options.raw !== "boolean") {
      throw invalid(`subscribe(topic, options): raw must be a boolean (got ${typeName(options.raw)})`);
    }
    const id = native(() => this._native("subscribe").subscribe(topic));
    const sub = new Subscription(this, id, topic, options.raw === true);
    this.#subscriptions.set(id, sub);
    return sub;
  }

  _unsubscribe(sub) {
    this.#subscriptions.delete(sub.id);
    if (this.#state === STATES.listening) this.#native.unsubscribe(sub.id);
  }
}

module.exports = { Endpoint };
