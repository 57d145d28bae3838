// Public types of switchboard-node (hand-written; `native.d.ts` is generated and private).
//
// Threading: everything here runs on the Node.js thread that created the endpoint. Rust
// threads never call JavaScript directly; requests arrive in batches through one
// ThreadsafeFunction and handlers are awaited on the event loop.
//
// Errors: every failure throws (or rejects with) an `Error` whose `code` is one of
// `SwitchboardErrorCode`, the same names as the C ABI's `sb_status` and the Python binding,
// and whose message says what was wrong in our words (never a bare TypeError):
//   - mistakes in what is registered are refused at registration: a handler object's
//     unknown or misspelt callback (`handle_in`, `handleIN`), a callback that is not a
//     function, an unknown channel option, a connect or HTTP handler that is not a function;
//     unknown endpoint options are refused by `new Endpoint` (docs/OPTIONS.md);
//   - a value JSON cannot carry (a BigInt, a function, a symbol, a cycle) in a payload,
//     assigns, a presence meta or a `sendInfo` message is SB_E_INVALID_ARGUMENT naming where
//     it is: `payload must be JSON-serializable: BigInt at payload.count`;
//   - a topic, event or socket id that is not a string is SB_E_INVALID_ARGUMENT
//     `topic must be a string (got number)`;
//   - after `await endpoint.close()` every endpoint call that acts is SB_E_INVALID_STATE
//     `broadcast(): the endpoint is closed`; a socket kept from a handler gives
//     SB_E_NOT_FOUND (close ended its channel).
// Pushes, replies and broadcasts are made before the call returns, so their errors (the
// channel ended, a client whose serializer cannot carry the payload, a broker error) are
// thrown to the caller, with the same code and words as in C and Python.
// A handler that throws, rejects or returns something that cannot be sent fails its request
// and is reported (the endpoint's `'error'` event, else the console, as
// `switchboard: handleIn failed on room:lobby event new_msg: ...`).

/// <reference types="node" />

import { EventEmitter } from "node:events";

/** Stable `err.code` values (the C ABI's status names). */
export type SwitchboardErrorCode =
  /**
   * A value out of its documented range, or of the wrong type: an unknown option or handler
   * name, a non-string topic, a payload JSON cannot carry, ...
   */
  | "SB_E_INVALID_ARGUMENT"
  /** The channel has ended (or the id was never issued). */
  | "SB_E_NOT_FOUND"
  /** The request was already answered. */
  | "SB_E_ALREADY_ANSWERED"
  /** The request timed out (the channel already failed) or its connection ended. */
  | "SB_E_STALE_TICKET"
  /** A message cannot be encoded: a non-object push/broadcast payload, binary under V1, ... */
  | "SB_E_ENCODE"
  /**
   * Wrong state: acting before `listen()` or after `close()` (the message names the call:
   * `broadcast(): the endpoint is closed`), registering after `listen()`, listening twice.
   */
  | "SB_E_INVALID_STATE"
  /** JSON text (a RawJson, assigns, metas) is not valid JSON. */
  | "SB_E_INVALID_JSON"
  /** Operating-system error, e.g. the address is in use. */
  | "SB_E_IO"
  /** The answer does not fit the request (the request stays pending). */
  | "SB_E_WRONG_ANSWER"
  /** A bounded queue is full: the channel's inbox (the channel crashes) or the request queue. */
  | "SB_E_QUEUE_FULL"
  /** A presence call was refused: already tracked, or nothing to update. */
  | "SB_E_PRESENCE"
  /** Local delivery happened; forwarding to other nodes failed. */
  | "SB_E_BROKER";

/** An `Error` thrown by this package. */
export interface SwitchboardError extends Error {
  code: SwitchboardErrorCode;
}

/** A JSON value as `JSON.parse` returns it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * JSON text sent as is (validated by Rust, never re-serialized), and how `raw: true`
 * channels receive JSON payloads.
 */
export class RawJson {
  /** `data`: JSON text, as a string or a Buffer of UTF-8. */
  constructor(data: string | Buffer);
  readonly data: string | Buffer;
  /** The JSON text. */
  readonly text: string;
  /** `JSON.parse(text)`. */
  parse(): Json;
  toJSON(): Json;
}

/**
 * An outgoing payload: any JSON-serializable value (pushes and broadcasts need an object
 * under the V2 serializer), `Buffer`/`Uint8Array` for binary (V2 binary frames only), or
 * `RawJson`. `undefined` means `{}`. A BigInt, function or symbol anywhere in it, or a
 * cycle, is refused with SB_E_INVALID_ARGUMENT naming its path (`BigInt at
 * payload.items[2].id`) instead of being dropped or throwing a TypeError; `undefined`
 * members are left out and values with a `toJSON` (Date, Buffer) use it, as in JSON.stringify.
 */
export type OutPayload = unknown;

/** An incoming payload: parsed JSON, `Buffer` for binary, `RawJson` on raw channels. */
export type InPayload = Json | Buffer | RawJson;

/** Per-socket and per-channel state: a JSON object. */
export type Assigns = { [key: string]: Json };

/** Presence list of a topic: `{key: {metas: [{...meta, phx_ref}]}}`. */
export type PresenceList = { [key: string]: { metas: Array<{ phx_ref: string; [k: string]: Json }> } };

declare const RESULT: unique symbol;
/** A value built by `ok`, `error`, `reply`, `noreply`, `stop`, `accept` or `refuse`. */
export interface HandlerResult<K extends string> {
  readonly [RESULT]: K;
}

/** Join accepted (Phoenix `{:ok, reply, socket}`); `reply` defaults to `{}`. */
export function ok(reply?: OutPayload): HandlerResult<"joinOk">;
/** Join refused (Phoenix `{:error, reply}`), e.g. `error({reason: "unauthorized"})`. */
export function error(reply?: OutPayload): HandlerResult<"joinError">;
/** `{:reply, {status, payload}, socket}`; `status` (a non-empty string) is usually `"ok"` or `"error"`. */
export function reply(status: string, payload?: OutPayload): HandlerResult<"reply">;
/** `{:noreply, socket}`; returning `undefined` means the same. */
export function noreply(): HandlerResult<"noreply">;
/**
 * `{:stop, reason, socket}`. `"normal"` and `"shutdown"` close the channel (`phx_close`, no
 * rejoin); any other reason fails it (`phx_error`, the client rejoins). `reply` is sent
 * first; `detail` qualifies a shutdown. A reason that is not a string, or another key in
 * `options`, throws SB_E_INVALID_ARGUMENT.
 */
export function stop(
  reason?: "normal" | "shutdown" | (string & {}),
  options?: { reply?: { status: string; payload?: OutPayload }; detail?: string },
): HandlerResult<"stop">;
/** Connect accepted with assigns (copied into every channel) and a socket id; another key throws SB_E_INVALID_ARGUMENT. */
export function accept(options?: { assigns?: Assigns; id?: string }): HandlerResult<"connectOk">;
/** Connect refused: the upgrade is answered with `status`, an integer from 400 to 599 (default 403; else SB_E_INVALID_ARGUMENT). */
export function refuse(status?: number): HandlerResult<"connectRefused">;

/** One of the library's log events (docs/OPERATIONS.md "Logs"). */
export interface LogEvent {
  level: "error" | "warn" | "info" | "debug" | "trace";
  /** The emitting module, e.g. `switchboard::endpoint::connection`. */
  target: string;
  /** The text with its fields, e.g. `malformed frame, closing with 1011 socket_id=u1` (`-`: no socket id). */
  message: string;
  /** The context by name: `socket_id`, `topic`, `node`, `error`, ... */
  fields: Record<string, string>;
  /** Events dropped so far because the event loop did not keep up. */
  dropped: number;
}

/**
 * Sends the library's log events at `level` (default `"warn"`) or more severe to `handler`,
 * on the JavaScript thread; process-wide, off by default; `null` stops. Never keeps the
 * process alive.
 */
export function setLogHandler(
  handler: ((event: LogEvent) => void) | null,
  options?: { level?: "error" | "warn" | "info" | "debug" | "trace" },
): void;

/**
 * What a handler sees of its channel (Phoenix `socket`). It stays usable after the handler
 * returns (keep it to push later); actions throw `SB_E_NOT_FOUND` once the channel ended.
 */
export class Socket<A extends Assigns = Assigns> {
  private constructor();
  /** Channel id, stable for the channel's life. */
  readonly channelId: bigint;
  /** The channel topic, e.g. `"room:lobby"`. */
  readonly topic: string;
  /** The join_ref as raw JSON text (e.g. `"\"3\""`). */
  readonly joinRef: string | undefined;
  /** The socket id returned by connect. */
  readonly id: string | undefined;
  /** The ref of the message being handled (`handleIn`), raw JSON text. */
  readonly ref: string | undefined;
  /** Channel assigns; changes made in a handler persist for the channel's next requests. */
  assigns: A;
  /** Sets one assign (Phoenix `assign/3`). */
  assign<K extends keyof A>(key: K, value: A[K]): this;
  /** Pushes to this client only. Throws SB_E_ENCODE for a non-object JSON payload. */
  push(event: string, payload?: OutPayload): void;
  /** Broadcasts to the channel's topic, this client included. */
  broadcast(event: string, payload?: OutPayload): void;
  /** Broadcasts to the channel's topic except this client (Phoenix `broadcast_from`). */
  broadcastFrom(event: string, payload?: OutPayload): void;
  /** Replies later to the push with `ref` (default: the message being handled). */
  reply(status: string, payload?: OutPayload, ref?: string): void;
  /**
   * Tracks presence `key` (a string; a number is written in decimal) with `meta` on this
   * topic; returns the meta's `phx_ref`.
   */
  track(key: string | number, meta?: { [k: string]: Json }): string;
  /** Stops tracking `key` for this channel. */
  untrack(key: string | number): void;
  /** Replaces the meta of `key`; returns the new `phx_ref`. */
  update(key: string | number, meta: { [k: string]: Json }): string;
  /** The topic's presence list. */
  presenceList(): PresenceList;
  /** Subscribes this channel to `topic`: its broadcasts reach `handleInfo`. */
  subscribe(topic: string): void;
  /** Undoes `subscribe`; false when it was not subscribed. */
  unsubscribe(topic: string): boolean;
  /** Sends `message` to this channel's `handleInfo` (Phoenix `send(self(), msg)`). */
  sendInfo(message: Json): void;
}

/** What `handleInfo` receives: a subscribed topic's broadcast, or a `sendInfo` message. */
export type InfoMessage = { topic: string; event: string; payload: InPayload } | Json;

/** Why a channel ended (Phoenix terminate reasons). */
export interface TerminateReason {
  reason: "left" | "closed" | "disconnected" | "drain" | "stop" | "crash";
  /** For `stop`: `"normal"`, `"shutdown"`, `"shutdown:<detail>"` or the abnormal reason; for `crash`: the message (the same text in every language). */
  detail?: string;
}

type MaybePromise<T> = T | Promise<T>;

/**
 * Handlers of one topic pattern: a plain object, or an instance of a class (methods on its
 * prototype count). All optional and may be async. Calls for one channel never overlap and
 * arrive in order; each must settle within `requestTimeoutMs`, else the channel fails
 * (`phx_error`). A throw or rejection fails only that channel.
 *
 * Checked by `endpoint.channel()` (SB_E_INVALID_ARGUMENT): a plain object may hold only
 * these names (`join`, `handleIn`, `handleInfo`, `handleOut`, `terminate`, and the channel
 * options `intercepts`, `raw`); any other key is refused, with a guess when it is near one
 * (`unknown handler "handle_in" for channel room:*: expected one of join, handleIn, ...
 * (did you mean "handleIn"?)`). A class instance (or a module namespace) may also have
 * fields, helper methods or exports of its own, but a name that is a callback's but for case
 * or an inner `_` / `-` (`handle_in`, `HandleInfo`; `_join` is a helper) is refused as a
 * misspelling. A callback must be a function (`undefined` counts as absent). Pass an
 * instance, not the class.
 */
export interface ChannelHandler<A extends Assigns = Assigns> extends ChannelOptions {
  /** Phoenix `join/3`. Missing: every join is accepted with `{}`. */
  join?(topic: string, payload: InPayload, socket: Socket<A>): MaybePromise<HandlerResult<"joinOk" | "joinError"> | boolean | void>;
  /** Phoenix `handle_in/3`. Missing: every client message crashes the channel. */
  handleIn?(event: string, payload: InPayload, socket: Socket<A>): MaybePromise<HandlerResult<"reply" | "noreply" | "stop"> | void>;
  /** Phoenix `handle_info/2`. Missing: ignored. */
  handleInfo?(message: InfoMessage, socket: Socket<A>): MaybePromise<HandlerResult<"noreply" | "stop"> | void>;
  /** Phoenix `handle_out/3` for intercepted events. Missing: pushed unchanged. */
  handleOut?(event: string, payload: InPayload, socket: Socket<A>): MaybePromise<HandlerResult<"noreply" | "stop"> | void>;
  /** Phoenix `terminate/2`. Pushes made here after a graceful end go out after `phx_close`. */
  terminate?(reason: TerminateReason, socket: Socket<A>): MaybePromise<void>;
}

/**
 * Options of a channel: `channel()`'s third argument, or (Phoenix's `intercept`, the Python
 * binding's class attributes) on the handler itself. Intercepts given in both places add up;
 * `raw` given in both must agree. Another key is SB_E_INVALID_ARGUMENT.
 */
export interface ChannelOptions {
  /** Events whose broadcasts go through `handleOut` per subscriber (Phoenix `intercept`). */
  intercepts?: string[];
  /** Hand JSON payloads to the handlers as `RawJson` (no parse); binary stays a Buffer. */
  raw?: boolean;
}

/** What the connect callback sees (Phoenix `connect/3` params and connect_info). */
export interface ConnectInfo {
  /** The socket mount path, e.g. `"/socket"`. */
  mount: string;
  /** Query params, Plug-style nesting (`user[id]=7` → `{user: {id: "7"}}`), `vsn` included. */
  params: { [key: string]: Json };
  /** Token of the `base64url.bearer.phx.<token>` subprotocol. */
  authToken?: string;
  /** `ip:port` of the peer. */
  peerAddr?: string;
  origin?: string;
  userAgent?: string;
}

/**
 * The connect callback: accept (`accept`, `{assigns, id}`, `true`, `undefined`) or refuse
 * (`false`, `refuse(status)`). Anything else (or a throw) answers the upgrade with 500 and is
 * reported as a failure of `connect`.
 */
export type ConnectHandler = (
  info: ConnectInfo,
) => MaybePromise<HandlerResult<"connectOk" | "connectRefused"> | { assigns?: Assigns; id?: string } | boolean | void>;

/** Limits of a socket mount; set on the endpoint (every mount) or per mount. */
export interface MountLimits {
  /** Channels one connection may join at once (default 100, Phoenix `max_channels`). */
  maxChannels?: number;
  /**
   * Client messages (joins and heartbeats aside) and joins one connection may send per second
   * (default 0: no limit). Over it: an error reply `{reason: "rate_limited"}`; a client that
   * keeps going for another second's worth is closed with 1008.
   */
  messagesPerSecond?: number;
  joinsPerSecond?: number;
  /** Decode the auth token subprotocol (default true). */
  authToken?: boolean;
  /**
   * Allowed `Origin`s: a non-empty list, `true` (the default: a page of the host the request
   * was sent to) or `false` (no check). Clients without an `Origin` are always accepted.
   */
  checkOrigin?: string[] | boolean;
  /** Largest accepted frame, in bytes (default 65 536); bigger closes with 1009. */
  maxFrameBytes?: number;
  /** Close connections silent this long, in ms (default 60 000). */
  idleTimeoutMs?: number;
  /**
   * Outbound queue limit per connection, in frames (default 1 024) and bytes (default
   * 8 MiB); a client that falls further behind is closed as a slow consumer (1013).
   */
  outboxMaxFrames?: number;
  outboxMaxBytes?: number;
  /** After the server's close frame: how long the client has to close, in ms (default 3 000). */
  closeTimeoutMs?: number;
  /**
   * Also serve the long-poll transport at `<path>/longpoll` (default false, as Phoenix);
   * docs/LONGPOLL.md.
   */
  longpoll?: boolean;
  /** How long a poll waits for messages before it is answered 204, in ms (default 10 000). */
  longpollWindowMs?: number;
  /** A long-poll session ends after this long without a poll, in ms (default 1.5 × the window). */
  longpollSessionTimeoutMs?: number;
}

/** Options of `listen()`. */
export interface ListenOptions {
  /** SIGINT and SIGTERM call `close()` (drain, then exit). Default false. */
  handleSignals?: boolean;
}

/** One socket mount with its own limits (unset ones take the endpoint's). */
export interface MountOptions extends MountLimits {
  /** Mount path, e.g. `"/socket"`; the transport is at `<path>/websocket`. */
  path: string;
}

export interface EndpointOptions extends MountLimits {
  /** Connections (WebSocket and long-poll sessions) served at once; one more gets 503 (default 0: no limit). */
  maxConnections?: number;
  /** Connection attempts per second that reach `connect`, endpoint-wide; the others get 429 (default 0: no limit). */
  connectionsPerSecond?: number;
  /** Serve the metrics (Prometheus text format) at `GET` this path, e.g. `"/metrics"` (default: not served). */
  metricsPath?: string;
  /** Listen address (default `"127.0.0.1"`). */
  host?: string;
  /** Listen port (default 0 = any free port; read it from `listen()`'s result). */
  port?: number;
  /** This node's name; presence `phx_ref`s are unique per node, and every live node of a cluster needs its own (default `"switchboard@localhost"`). */
  node?: string;
  /**
   * Joins a cluster (docs/CLUSTER.md): `redis://host:port`, `rediss://host:port` or
   * `nats://host:port`; `""` (the default) is a single node. Broadcasts then reach every
   * node; while the broker is unreachable they stay local and throw SB_E_BROKER.
   */
  broker?: string;
  /** The Redis channel / NATS subject of this app (default `"switchboard"`). */
  brokerPrefix?: string;
  /** Bounds each broker connection attempt and the wait at `listen()` (ms, default 5000). */
  brokerConnectTimeoutMs?: number;
  /** Longest wait between reconnect attempts (ms, default 5000). */
  brokerReconnectMaxMs?: number;
  /** How often the node says it is alive; `listen()` listens 1.5 of these for a namesake (ms, default 1000). */
  brokerHeartbeatMs?: number;
  /** How often presence changes go to the other nodes (ms, default 1500; Phoenix's `broadcast_period`). */
  presenceBroadcastPeriodMs?: number;
  /** A node silent this long is down: its presences leave on the others (ms, default 30 000; at least twice the heartbeat and the broadcast period). */
  presenceDownPeriodMs?: number;
  /** A node silent this long is forgotten (ms, default 1 200 000; longer than the down period). */
  presencePermdownPeriodMs?: number;
  /** Socket mounts (default `["/socket"]`). */
  mounts?: Array<string | MountOptions>;
  /** How long a handler may take, in ms (default 10 000); then the channel fails. */
  requestTimeoutMs?: number;
  /** Requests awaiting an answer at once before new ones are refused (default 65 536). */
  maxPending?: number;
  /** PubSub shards and runtime threads (default 0 = one per core). */
  shards?: number;
  workerThreads?: number;
  /** Files served with GET on the same port, read on every request. */
  staticFiles?: Array<{ route: string; path: string; contentType: string }>;
  /**
   * Topics whose broadcasts are kept so that a client rejoining with `_since` gets what it
   * missed (docs/HISTORY.md): a topic pattern as for channels, messages kept per topic, and
   * how long each is kept (ms). Refused together with `broker` (single node for now).
   */
  history?: Array<{ topic: string; size: number; ttlMs: number }>;
  /**
   * Signs long-poll session tokens, at least 32 bytes (default: random per process). Every
   * node of a cluster with long-poll needs the same one.
   */
  secretKeyBase?: string;
  /** Drain at `close()`: connections per batch, pause between batches (ms), total limit (ms). */
  drain?: { batchSize?: number; intervalMs?: number; timeoutMs?: number };
  /** Time a client has to send its request head, in ms (default 10 000). */
  headerReadTimeoutMs?: number;
  /** Largest request head, in bytes (default 16 384, at least 8 192); bigger gets 431. */
  maxHeaderBytes?: number;
  /** Connections that have not sent their request head yet, at most (default 4 096). */
  maxPendingConnections?: number;
  /** The connect callback (same as `endpoint.connect(fn)`). */
  connect?: ConnectHandler;
}

/** One kept broadcast: `payload` for JSON, `binary` for a binary payload. */
export interface HistoryMessage {
  /** Its stream position (`"<epoch>:<offset>"`, opaque), the `ref` clients saw. */
  position: string;
  event: string;
  payload?: Record<string, unknown>;
  binary?: Buffer;
}

/** What `endpoint.census()` reads (docs/OPERATIONS.md "Introspection"). */
export interface Census {
  /** This node's name. */
  node: string;
  /** Live connections; long-poll: sessions held by this node. */
  connections: { websocket: number; longpoll: number };
  /** Joined channels on this node. */
  channels: number;
  /** Every topic with a local subscriber (channels, socket ids, host subscriptions) or channel. */
  topics: Array<{ topic: string; subscribers: number; channels: number }>;
  /** Presence metas per topic (every node's, in a cluster). */
  presence: Array<{ topic: string; entries: number }>;
  /** The broker link and the other nodes heard from in the last minute; null on a single node. */
  cluster: null | {
    broker: string;
    up: boolean;
    nodes: Array<{ node: string; incarnation: string; last_heartbeat_ms: number }>;
  };
}

/** What `endpoint.history()` reads. */
export interface HistoryPage {
  messages: HistoryMessage[];
  /** The topic's latest position, or null when nothing is kept. */
  position: string | null;
  /** False when `messages` do not follow `since` without a gap (then the latest are given). */
  recovered: boolean;
  /** Why not recovered: `unknown_epoch`, `unknown_position` or `trimmed`. */
  reason?: string;
}

/** An HTTP request on a host route, read in full (at most 1 MiB; larger ones get 413). */
export interface HttpRequest {
  /** `GET`, `POST`, ... as sent. */
  method: string;
  /** The path, percent-encoded as sent, e.g. `/api/items`. */
  path: string;
  /** The query string without `?` (`""` when none). */
  query: string;
  contentType?: string;
  body: Buffer;
}

/**
 * The answer to an HTTP request. `status` defaults to 200. A Buffer body is sent as is
 * (default type `application/octet-stream`), a string as text (`text/plain; charset=utf-8`),
 * anything else as JSON (`application/json`). Another key (`statusCode`, `headers`), a
 * status out of 100..999 or a body JSON cannot carry answers 500 and is reported as a
 * failure of the route.
 */
export interface HttpResponse {
  status?: number;
  contentType?: string;
  body?: Buffer | string | Json;
}

/** A broadcast received by a host subscription. */
export interface Message {
  topic: string;
  event: string;
  payload: InPayload;
}

/** Host-side subscription to one topic (Phoenix `Endpoint.subscribe/1`). */
export class Subscription extends EventEmitter implements AsyncIterable<Message> {
  private constructor();
  readonly id: number;
  readonly topic: string;
  /** Unsubscribes; a pending iteration ends. */
  close(): void;
  on(event: "message", listener: (message: Message) => void): this;
  on(event: "close", listener: () => void): this;
  [Symbol.asyncIterator](): AsyncIterator<Message>;
}

/** The callback that failed, by the name it was registered under (`subscription`: a host subscription's `'message'` listener). */
export type HandlerKind = "connect" | "join" | "handleIn" | "handleInfo" | "handleOut" | "terminate" | "httpRoute" | "subscription";

/**
 * Which request a reported failure was for (the `'error'` event's second argument; the same
 * words start the console line when nobody listens:
 * `switchboard: handleIn failed on room:lobby event new_msg: ...`).
 */
export interface FailureContext {
  kind: HandlerKind;
  /** The channel's topic (channel callbacks), the subscribed topic (`subscription`). */
  topic?: string;
  /** The event (`handleIn`, `handleOut`, a broadcast's in `handleInfo`, `subscription`). */
  event?: string;
  /** Why the channel ended (`terminate`). */
  reason?: TerminateReason["reason"];
  /** The socket mount (`connect`). */
  mount?: string;
  /** The request's method and path (`httpRoute`). */
  method?: string;
  path?: string;
}

/**
 * One Switchboard endpoint. Register `connect` and `channel`s, then `await listen()`.
 * Events (observation only): `'listening'` `{address, port}`, `'error'` (a handler threw,
 * rejected or returned something that cannot be sent; its request already failed), `'close'`.
 * After `close()`, every call that acts throws SB_E_INVALID_STATE.
 */
export class Endpoint extends EventEmitter {
  constructor(options?: EndpointOptions);
  /** Sets the connect callback (a function, else SB_E_INVALID_ARGUMENT). Before `listen()` only (else SB_E_INVALID_STATE). */
  connect(handler: ConnectHandler): this;
  /**
   * Routes topics matching `pattern` (`"room:*"` or exact) to `handler`. Before `listen()`
   * only. The pattern, the handler (see `ChannelHandler`) and the options are checked here.
   */
  channel<A extends Assigns = Assigns>(pattern: string, handler: ChannelHandler<A>, options?: ChannelOptions): this;
  /**
   * Answers HTTP requests on `prefix` and below (`/api` serves `/api` and `/api/x`, not
   * `/apix`), any method, on the endpoint's port. Unanswered within `requestTimeoutMs`: 504;
   * a throw or rejection: 500. Before `listen()` only; `handler` must be a function.
   */
  httpRoute(prefix: string, handler: (request: HttpRequest) => MaybePromise<HttpResponse | void>): this;
  /**
   * Binds and serves; resolves once connections are accepted. Rejects SB_E_IO when the port
   * is taken. `handleSignals: true`: SIGINT and SIGTERM drain and close the endpoint (clients
   * get 1012, every `terminate` runs), after which the process exits by itself.
   */
  listen(port?: number, options?: ListenOptions): Promise<{ address: string; port: number }>;
  listen(options: ListenOptions): Promise<{ address: string; port: number }>;
  /** `{address, port}` while listening, else null. */
  address(): { address: string; port: number } | null;
  /** Keep the process alive while listening (default). */
  ref(): this;
  /** Let the process exit although listening. */
  unref(): this;
  /** Drain (close 1012), stop listening, release all threads. Idempotent. */
  close(): Promise<void>;
  /** Broadcast to every subscriber of `topic` (all nodes). */
  broadcast(topic: string, event: string, payload?: OutPayload): void;
  /** Broadcast to this node's subscribers only. */
  localBroadcast(topic: string, event: string, payload?: OutPayload): void;
  /** Close the connections whose socket id is `id` (close 1001). */
  disconnect(id: string): void;
  /**
   * A topic's kept broadcasts, oldest first: the first `limit` after the position `since`, or
   * the latest `limit` without it (0: all). Throws SB_E_INVALID_ARGUMENT for a topic without
   * a history rule or a `since` that is not a position.
   */
  history(topic: string, since?: string | null, limit?: number): HistoryPage;
  /** Presence list of any topic. */
  presenceList(topic: string): PresenceList;
  /** The metrics in the Prometheus text format 0.0.4, as `metricsPath` serves them (while listening). */
  metrics(): string;
  /** What the endpoint holds now: connections, channels, topics, presence, cluster (while listening). */
  census(): Census;
  /** Live channels on `topic` (this node). */
  channelCount(topic: string): number;
  /** Receive `topic`'s broadcasts in the host. */
  subscribe(topic: string, options?: { raw?: boolean }): Subscription;

  on(event: "listening", listener: (address: { address: string; port: number }) => void): this;
  on(event: "error", listener: (err: Error, context: FailureContext) => void): this;
  on(event: "close", listener: () => void): this;
}
