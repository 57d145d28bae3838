// Dispatch: each batch of native requests into handler calls, and their results into answers (or failures) by ticket.

"use strict";

const { codedError } = require("./errors.js");
const { decode } = require("./payload.js");
const { NOREPLY_ANSWER, ok, connectAnswer, httpAnswer, toAnswer } = require("./results.js");
const { Socket } = require("./socket.js");

/** A promise for `fn(...args)` that also catches a synchronous throw. */
async function invoke(fn, self, args) {
  return fn.apply(self, args);
}

/**
 * What failed, for the `'error'` event and the log: `kind` is the callback's name as the user
 * registered it (`connect`, `join`, `handleIn`, `handleInfo`, `handleOut`, `terminate`,
 * `httpRoute`, or `subscription` for a host subscription's listener), never the addon's.
 */
function contextOf(req) {
  switch (req.kind) {
    case "connect":
      return { kind: "connect", mount: req.connect && req.connect.mount };
    case "http":
      return { kind: "httpRoute", method: req.http && req.http.method, path: req.http && req.http.path };
    case "leave":
      return { kind: "terminate", topic: req.topic, reason: req.reason };
    case "message":
      return { kind: "subscription", topic: req.topic, event: req.event };
    default:
      return { kind: req.kind, topic: req.topic, event: req.event ?? undefined };
  }
}

/** `handleIn failed on room:lobby event new_msg`, `connect failed on mount /socket`, ... */
function describeFailure(context) {
  switch (context.kind) {
    case "connect":
      return `connect failed on mount ${context.mount}`;
    case "httpRoute":
      return `httpRoute failed on ${context.method} ${context.path}`;
    case "subscription":
      return `a subscription listener failed on ${context.topic} event ${context.event}`;
    default:
      return `${context.kind} failed${context.topic !== undefined ? ` on ${context.topic}` : ""}${context.event !== undefined ? ` event ${context.event}` : ""}`;
  }
}

/**
 * Runs on the JavaScript thread, once per batch the addon's pump hands over: each request is
 * dispatched to its handler (sync or async), awaited, and answered synchronously by ticket.
 * Ordering per channel, the request timeout and "answer exactly once" are the core's.
 */
class Dispatcher {
  #endpoint;
  #routes;
  #subscriptions;
  /** The addon's endpoint; set by `listen()` before any batch can arrive. */
  native = undefined;
  /** Set once the endpoint is closed: nothing is answered any more. */
  closed = false;

  /**
   * `endpoint`: the Endpoint (an EventEmitter for `'error'`, and what Sockets act through);
   * `routes`: its Routes; `subscriptions`: its host subscriptions by id.
   */
  constructor(endpoint, routes, subscriptions) {
    this.#endpoint = endpoint;
    this.#routes = routes;
    this.#subscriptions = subscriptions;
  }

  onBatch(batch) {
    for (const req of batch) {
      try {
        this.#dispatch(req);
      } catch (err) {
        this.#report(err, req);
      }
    }
  }

  #report(err, req) {
    const context = contextOf(req);
    if (this.#endpoint.listenerCount("error") > 0) {
      this.#endpoint.emit("error", err, context);
    } else {
      console.error(`switchboard: ${describeFailure(context)}:`, err);
    }
  }

  /** Answers unless the endpoint closed meanwhile; a stale ticket (timed out) is expected. */
  #answer(req, answer) {
    if (this.closed) return;
    try {
      if (answer === NOREPLY_ANSWER) this.native.noreply(req.ticket);
      else if (answer.kind === "http") this.native.respond(req.ticket, answer.httpStatus, answer.contentType, answer.payload);
      else this.native.answer(req.ticket, answer);
    } catch (err) {
      if (err.code === "SB_E_STALE_TICKET") return;
      this.#fail(req, err);
    }
  }

  /** Reports `err` (if any) and drops the request: the core counts it as a crash of its handler. */
  #fail(req, err) {
    if (err !== undefined) this.#report(err, req);
    if (this.closed) return;
    try {
      this.native.fail(req.ticket);
    } catch {
      // already timed out or answered: the channel has failed already
    }
  }

  /** Awaits `call`, turns its result into an answer with `toNative`, answers or fails. */
  #settle(req, call, toNative) {
    call.then(
      (result) => {
        let answer;
        try {
          answer = toNative(result);
        } catch (err) {
          return this.#fail(req, err);
        }
        this.#answer(req, answer);
      },
      (err) => this.#fail(req, err),
    );
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
        throw codedError("SB_E_INVALID_ARGUMENT", `the addon sent a request of unknown kind "${req.kind}" (the addon and index.js do not match)`);
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
    this.#settle(req, invoke(this.#routes.connect, undefined, [info]), connectAnswer);
  }

  #onChannel(req) {
    const route = this.#routes.channelFor(req.pattern);
    const socket = new Socket(this.#endpoint, req);
    const h = route && route.handler;
    let call;
    switch (req.kind) {
      case "join":
        call = h && h.join ? invoke(h.join, h, [req.topic, decode(req, route.raw), socket]) : Promise.resolve(ok());
        break;
      case "handleIn":
        if (!h || !h.handleIn) {
          // Phoenix: no matching handle_in clause crashes the channel.
          return this.#fail(req, codedError("SB_E_NOT_FOUND", `no handleIn for channel ${route ? route.pattern : req.topic}: a client message crashes the channel, as in Phoenix`));
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
    this.#settle(req, call, (result) => toAnswer(req.kind, result, socket));
  }

  #onHttp(req) {
    const h = req.http;
    const route = this.#routes.httpRouteFor(h.prefix);
    if (!route) return this.#answer(req, { kind: "http", httpStatus: 404, contentType: "text/plain; charset=utf-8", payload: "not found\n" });
    const request = { method: h.method, path: h.path, query: h.query, contentType: h.contentType ?? undefined, body: h.body ?? Buffer.alloc(0) };
    this.#settle(req, invoke(route.handler, undefined, [request]), httpAnswer);
  }

  #onLeave(req) {
    const route = this.#routes.channelFor(req.pattern);
    const h = route && route.handler;
    const done = () => {
      if (!this.closed) this.native.release(req.leaveKey);
    };
    if (!h || !h.terminate) return done();
    const socket = new Socket(this.#endpoint, req);
    const reason = { reason: req.reason, detail: req.detail ?? undefined };
    invoke(h.terminate, h, [reason, socket]).then(done, (err) => {
      this.#report(err, req);
      done();
    });
  }
}

module.exports = { Dispatcher };
