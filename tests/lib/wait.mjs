// Waiting utilities shared by the conformance suites. Every wait has a deadline so a test
// that never sees what it expects fails with a message instead of hanging.

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `cond` (sync or async) every `interval` ms until it returns a truthy value, which is
 * returned. Rejects with `msg` (plus the last value seen) after `timeout` ms.
 */
export async function waitUntil(cond, { timeout = 3000, interval = 10, msg = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await cond();
    if (last) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${msg}`);
    }
    await sleep(interval);
  }
}

/** A promise with its resolve/reject exposed. */
export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Races `promise` against a deadline; rejects with `msg` when the deadline passes first. */
export function withTimeout(promise, ms, msg = "operation") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${msg}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Default quiet period used to assert "no frame at all". */
export const QUIET_MS = 300;

/**
 * A round trip on the connection of a phoenix `socket` whose traffic `rec` records (a
 * `Recorder` from phx.mjs): sends a heartbeat and resolves with its reply. The server reads a
 * connection's frames in order, so it had routed every frame the client sent before this one
 * (and written what routing answers at once) when the reply arrives: a barrier to put before a
 * negative check, instead of a sleep.
 */
export function phxRoundTrip(socket, rec, { timeout = 5000 } = {}) {
  const ref = socket.makeRef();
  const from = rec.mark();
  socket.push({ topic: "phoenix", event: "heartbeat", payload: {}, ref });
  return rec.waitReceived((m) => m[1] === ref && m[2] === "phoenix" && m[3] === "phx_reply", {
    from,
    timeout,
    msg: "heartbeat reply (round trip)",
  });
}

/** The same round trip for a `RawClient` from raw.mjs (V2 or V1 frames); resolves with the reply. */
export function rawRoundTrip(raw, { timeout = 5000 } = {}) {
  const { R, from } = raw.push(raw.vsn.startsWith("1.") ? undefined : null, "phoenix", "heartbeat", {});
  return raw.reply(R, { from, timeout, topic: "phoenix" });
}
