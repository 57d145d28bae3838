// Per-file fixture lifecycle: one fixture per test file (fast), fresh sockets per test.

import { after, before } from "node:test";

import { startFixture } from "./fixture.mjs";

/**
 * Call inside a `describe` block: starts a fixture before its tests and stops it after.
 * Returns a context whose `fx` property is the running Fixture.
 */
export function useFixture(opts = {}) {
  const ctx = { fx: null };
  before(async () => {
    ctx.fx = await startFixture(opts);
  });
  after(async () => {
    if (ctx.fx) await ctx.fx.stop();
  });
  return ctx;
}

/** Unique suffix so topics and user ids never collide between tests sharing a fixture. */
let counter = 0;
export function uniq(prefix) {
  counter += 1;
  return `${prefix}${process.pid}-${counter}`;
}

/** Default per-test timeout (ms). */
export const T = { timeout: 15000 };
