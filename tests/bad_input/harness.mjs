// What only the bad-input suite needs on top of tests/lib/: a well-behaved "bystander" client
// whose health every test asserts before, during and after its attack, and the per-file setup
// (one fixture, one bystander) every test file of the suite shares.

import { after, before } from "node:test";
import assert from "node:assert/strict";

import { startFixture } from "../lib/fixture.mjs";
import { rawConnect } from "../lib/raw.mjs";

/** Default wait for any single expected event, in ms. */
export const STEP_MS = 10_000;

/** Options of `waitUntil` for polling the fixture's control routes. */
export const POLL = { timeout: STEP_MS, interval: 50 };

/** A raw V2 client on the fixture's `mount` whose waits default to STEP_MS. */
export function connect(fx, { mount = "/socket", vsn = "2.0.0" } = {}) {
  return rawConnect(fx.port, { mount, vsn, timeout: STEP_MS });
}

/**
 * The well-behaved client. It joins its own room and `check()` proves it is healthy: still
 * open, an `echo` push is answered ok with the same payload, a host broadcast to its room
 * arrives, and a heartbeat is answered.
 */
export class Bystander {
  static async start(fx, name = "bystander") {
    const client = await connect(fx);
    const topic = `room:${name}-${process.pid}-${Date.now()}`;
    const { J, reply } = await client.join(topic);
    assert.equal(reply[4].status, "ok", `bystander join: ${JSON.stringify(reply)}`);
    return new Bystander(fx, client, topic, J);
  }

  constructor(fx, client, topic, joinRef) {
    this.fx = fx;
    this.client = client;
    this.topic = topic;
    this.joinRef = joinRef;
    this.checks = 0;
  }

  async check(label) {
    const c = this.client;
    assert.equal(c.closeInfo, null, `bystander closed ${label}: ${JSON.stringify(c.closeInfo)}`);
    this.checks += 1;
    const nonce = `${label}-${this.checks}-${Math.random()}`;

    // Refs are unique per client and the nonce per check, so earlier frames cannot match.
    const from = c.mark();
    const { R: ref } = c.push(this.joinRef, this.topic, "echo", { nonce });
    const { R: hbRef } = c.push(null, "phoenix", "heartbeat", {});
    const got = c.waitFor(
      (m) => Array.isArray(m) && m[3] === "ping" && m[2] === this.topic && m[4]?.nonce === nonce,
      { from, msg: `bystander broadcast (${label})` },
    );
    got.catch(() => {}); // awaited below; avoid an unhandled rejection if a step before fails
    await this.fx.broadcast(this.topic, "ping", { nonce });

    const echo = await c.reply(ref, { from, topic: this.topic });
    assert.deepEqual(echo[4], { status: "ok", response: { nonce } }, `echo ${label}`);
    const hb = await c.reply(hbRef, { from, topic: "phoenix" });
    assert.deepEqual(hb[4], { status: "ok", response: {} }, `heartbeat ${label}`);
    const b = await got;
    assert.deepEqual(b.msg, [null, null, this.topic, "ping", { nonce }], `broadcast ${label}`);
    // Still joined: no phx_error / phx_close was ever sent to the bystander's channel.
    assert.ok(
      !c.matching((m) => Array.isArray(m) && m[2] === this.topic && (m[3] === "phx_error" || m[3] === "phx_close"))
        .length,
      `bystander channel ended (${label})`,
    );
  }

  /** Runs checks back to back until `promise` settles, at least once; returns its value. */
  async checkDuring(label, promise) {
    let done = false;
    const settled = promise.finally(() => {
      done = true;
    });
    settled.catch(() => {}); // reported by the caller's await below, not as unhandled
    let n = 0;
    do {
      await this.check(`${label} (during #${++n})`);
    } while (!done);
    return settled;
  }

  close() {
    this.client.terminate();
  }
}

/**
 * Per-file setup: before the tests, starts a fixture and a bystander named `name` and checks
 * the bystander once (labelled `label`); after them, closes it and stops the fixture.
 * Returns a context whose `fx` and `bystander` are set once the setup ran.
 */
export function useBystander(name, label) {
  const ctx = { fx: null, bystander: null };
  before(async () => {
    ctx.fx = await startFixture({ startTimeout: 30_000 });
    ctx.bystander = await Bystander.start(ctx.fx, name);
    await ctx.bystander.check(label);
  });
  after(async () => {
    ctx.bystander?.close();
    await ctx.fx?.stop();
  });
  return ctx;
}
