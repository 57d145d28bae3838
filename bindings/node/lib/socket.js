// Socket: what a channel handler sees of its channel (Phoenix `socket`): assigns, pushes, broadcasts, presence, subscriptions.

"use strict";

const { invalid, native, typeName, expectString } = require("./errors.js");
const { encode, toJson } = require("./payload.js");

/** A presence key: a string, or a number (written in decimal). */
function presenceKey(key) {
  if (typeof key === "string") return key;
  if (typeof key === "number" && Number.isFinite(key)) return String(key);
  throw invalid(`presence key must be a string (got ${typeName(key)})`);
}

/**
 * What a handler sees of its channel (Phoenix `socket`), valid after the handler returns:
 * keep it to push later. Actions throw `SB_E_NOT_FOUND` once the channel has ended (closing
 * the endpoint ends every channel).
 */
class Socket {
  #native;
  #assigns;
  #assignsText;

  /**
   * `endpoint._native(what)` gives the addon's endpoint (or throws the state error). Kept:
   * once the endpoint closed, the core answers for the channel (it has ended: NOT_FOUND).
   */
  constructor(endpoint, req) {
    this.#native = endpoint._native("Socket");
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
      throw invalid(`assigns must be a plain object (got ${typeName(value)})`);
    }
    this.#assigns = value;
  }

  /** Sets one assign (Phoenix `assign/3`); returns the socket. */
  assign(key, value) {
    this.assigns[expectString(key, "assign key")] = value;
    return this;
  }

  /** JSON text of the assigns if a handler touched them, else undefined (unchanged). */
  _assignsOut() {
    return this.#assigns === undefined ? undefined : toJson(this.#assigns, "assigns");
  }

  /** Pushes `event` to this client only (payload must be an object or binary). */
  push(event, payload) {
    expectString(event, "event");
    const [data, binary] = encode(payload);
    native(() => this.#native.channelSend("push", this.channelId, event, data, binary));
  }

  /** Broadcasts `event` to every subscriber of this channel's topic, this client included. */
  broadcast(event, payload) {
    expectString(event, "event");
    const [data, binary] = encode(payload);
    native(() => this.#native.channelSend("broadcast", this.channelId, event, data, binary));
  }

  /** Broadcasts `event` to every subscriber of the topic but this client (Phoenix `broadcast_from`). */
  broadcastFrom(event, payload) {
    expectString(event, "event");
    const [data, binary] = encode(payload);
    native(() => this.#native.channelSend("broadcastFrom", this.channelId, event, data, binary));
  }

  /**
   * Replies later to the push with `ref` (default: the message being handled; Phoenix
   * `socket_ref` + `reply/2`). Return `noreply()` from the handler first.
   */
  reply(status, payload, ref = this.ref) {
    if (typeof status !== "string" || status === "") {
      throw invalid(`reply(status, payload, ref): status must be a non-empty string (got ${typeName(status)})`);
    }
    if (ref === undefined) throw invalid("no ref to reply to (the client sent none)");
    expectString(ref, "ref");
    const [data, binary] = encode(payload);
    native(() => this.#native.channelReply(this.channelId, ref, status, data, binary));
  }

  /** Tracks presence `key` with `meta` (an object) on this topic; returns its `phx_ref`. */
  track(key, meta = {}) {
    const k = presenceKey(key);
    const text = toJson(meta, "meta");
    return native(() => this.#native.channelTrack(this.channelId, k, text));
  }

  /** Stops tracking `key` for this channel. */
  untrack(key) {
    const k = presenceKey(key);
    native(() => this.#native.channelUntrack(this.channelId, k));
  }

  /** Replaces the meta of `key`; returns the new `phx_ref`. */
  update(key, meta) {
    const k = presenceKey(key);
    const text = toJson(meta, "meta");
    return native(() => this.#native.channelUpdate(this.channelId, k, text));
  }

  /** This topic's presence list: `{key: {metas: [...]}}`. */
  presenceList() {
    return JSON.parse(native(() => this.#native.channelPresenceList(this.channelId)));
  }

  /** Subscribes this channel to another topic; its broadcasts reach `handleInfo`. */
  subscribe(topic) {
    expectString(topic, "topic");
    native(() => this.#native.channelSubscribe(this.channelId, topic));
  }

  /** Undoes `subscribe`; false if it was not subscribed. */
  unsubscribe(topic) {
    expectString(topic, "topic");
    return native(() => this.#native.channelUnsubscribe(this.channelId, topic));
  }

  /** Sends `message` (any JSON value) to this channel's `handleInfo` (Phoenix `send(self(), msg)`). */
  sendInfo(message) {
    const text = toJson(message, "message");
    native(() => this.#native.channelSendInfo(this.channelId, text));
  }
}

module.exports = { Socket };
