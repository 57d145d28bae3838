// What the chat suites share on the client side: a deadline on every wait, and joins with the
// stock phoenix client that resolve on "ok" and fail on anything else; the suite's server.

import { before, after } from "node:test";

/** Deadline of one step of a chat suite. */
export const STEP_MS = 10_000;

/** Races `promise` against `ms`; the error names `what` the test was waiting for. */
export function within(promise, what, ms = STEP_MS) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Joins `channel`; resolves with the ok response, rejects on an error reply or a timeout. */
export function join(channel) {
  return within(
    new Promise((resolve, reject) => {
      channel
        .join()
        .receive("ok", resolve)
        .receive("error", (r) => reject(new Error(`join error ${JSON.stringify(r)}`)))
        .receive("timeout", () => reject(new Error("join timeout")));
    }),
    `join ${channel.topic}`,
  );
}

/** Pushes `event` and resolves `{status, response}` with its outcome ("ok", "error" or "timeout"). */
export function push(channel, event, payload) {
  return within(
    new Promise((resolve) => {
      channel
        .push(event, payload)
        .receive("ok", (r) => resolve({ status: "ok", response: r }))
        .receive("error", (r) => resolve({ status: "error", response: r }))
        .receive("timeout", () => resolve({ status: "timeout" }));
    }),
    `reply to ${event}`,
  );
}

/**
 * Starts a chat server before the file's tests and, after them, disconnects every socket the
 * tests pushed into `sockets` and stops it. Use `ctx.server` inside tests.
 */
export function withChatServer(startChatServer) {
  const ctx = { server: null, sockets: [] };
  before(async () => {
    ctx.server = await startChatServer();
  });
  after(async () => {
    for (const s of ctx.sockets) s.disconnect();
    await ctx.server?.stop();
  });
  return ctx;
}
