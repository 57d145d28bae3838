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
