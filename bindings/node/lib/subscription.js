// Subscription: broadcasts on one topic received by the host, as `message` events and an async iterator.

"use strict";

const { EventEmitter } = require("node:events");

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

module.exports = { Subscription };
