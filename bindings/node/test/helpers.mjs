// Shared by the binding's tests: the package under test, the repo's phoenix client helpers,
// and an endpoint on a free port that is closed after the test.

import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** The package under test (the public facade). */
export const sb = require("../index.js");

export { connectedSocket, outcome, joinOk, makeSocket, connect, phxCleanup } from "../../../tests/lib/phx.mjs";
export { sleep, waitUntil, withTimeout } from "../../../tests/lib/wait.mjs";

/**
 * A listening endpoint on 127.0.0.1:<free port>; `setup(endpoint)` registers handlers
 * first. Closed when `t` ends. Resolves `{endpoint, port}`.
 */
export async function listening(t, options = {}, setup = () => {}) {
  const endpoint = new sb.Endpoint({ port: 0, ...options });
  setup(endpoint);
  const { port } = await endpoint.listen();
  t.after(() => endpoint.close());
  return { endpoint, port };
}

/** Resolves with the next `event` message on a phoenix channel. */
export function nextMessage(channel, event, timeout = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeout} ms`)), timeout);
    const ref = channel.on(event, (payload) => {
      clearTimeout(timer);
      channel.off(event, ref);
      resolve(payload);
    });
  });
}

/** Runs `fn` and returns the error it throws (fails when it does not throw). */
export function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}
