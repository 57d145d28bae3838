// Bad input: 10,000 joins on one connection (PROTOCOL.md 3.1 F5, max_channels_per_transport =
// 100 on the fixture's /socket mount). Every join is answered: the first 100 distinct topics
// ok, every later one `{"reason":"too many channels joined"}`; the connection keeps working and
// a second, well-behaved client is asserted healthy before, during and after.

import { test } from "node:test";
import assert from "node:assert/strict";

import { connect, useBystander } from "./harness.mjs";

const JOINS = 10_000;
const LIMIT = 100;

const ctx = useBystander("many-joins", "before the join flood");

test(`${JOINS} joins on one connection: ${LIMIT} ok, the rest refused, all answered`, { timeout: 120_000 }, async () => {
  const { fx, bystander } = ctx;
  const client = await connect(fx);
  const prefix = `room:flood-${Date.now()}-`;
  const topic = (i) => `${prefix}${i}`;

  // Collect replies by ref as they come (a waitFor per join would be quadratic).
  const replies = new Map();
  const allAnswered = new Promise((resolve, reject) => {
    client.ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(data.toString("utf8"));
      if (Array.isArray(m) && m[3] === "phx_reply" && m[2].startsWith(prefix)) {
        replies.set(m[1], m);
        if (replies.size === JOINS) resolve();
      }
    });
    client.closed.then((info) => reject(new Error(`connection closed (${info.code}) after ${replies.size} replies`)));
  });

  const flood = (async () => {
    // Sent as one burst, as a hostile client would.
    for (let i = 0; i < JOINS; i++) {
      const ref = `j${i}`;
      client.send([ref, ref, topic(i), "phx_join", {}]);
    }
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${replies.size} of ${JOINS} joins answered`)), 90_000);
      allAnswered.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  })();
  await bystander.checkDuring("join flood", flood);

  for (let i = 0; i < JOINS; i++) {
    const ref = `j${i}`;
    const m = replies.get(ref);
    assert.ok(m, `join ${i} answered`);
    assert.equal(m[0], ref, `join ${i} reply join_ref`);
    assert.equal(m[2], topic(i), `join ${i} reply topic`);
    const expected =
      i < LIMIT
        ? { status: "ok", response: {} }
        : { status: "error", response: { reason: "too many channels joined" } };
    assert.deepEqual(m[4], expected, `join ${i} reply`);
  }

  // The server holds exactly the first 100 channels and nothing for the refused ones.
  assert.equal(await fx.channels(topic(0)), 1);
  assert.equal(await fx.channels(topic(LIMIT - 1)), 1);
  assert.equal(await fx.channels(topic(LIMIT)), 0);
  assert.equal(await fx.channels(topic(JOINS - 1)), 0);

  // The connection still works: heartbeat, echo on a joined channel, and a broadcast to it.
  const { R: hb } = client.push(null, "phoenix", "heartbeat", {});
  assert.deepEqual((await client.reply(hb, { topic: "phoenix" }))[4], { status: "ok", response: {} });
  const { R: echo } = client.push("j7", topic(7), "echo", { still: "here" });
  assert.deepEqual((await client.reply(echo, { topic: topic(7) }))[4], { status: "ok", response: { still: "here" } });
  const got = client.waitFor((m) => Array.isArray(m) && m[2] === topic(42) && m[3] === "after_flood", { msg: "broadcast after the flood" });
  await fx.broadcast(topic(42), "after_flood", { n: 42 });
  assert.deepEqual((await got).msg, [null, null, topic(42), "after_flood", { n: 42 }]);

  // Leaving one channel frees a slot: the next distinct topic may join again.
  const { R: leave } = client.push("j0", topic(0), "phx_leave", {});
  assert.equal((await client.reply(leave, { topic: topic(0) }))[4].status, "ok");
  await client.waitFor((m) => Array.isArray(m) && m[2] === topic(0) && m[3] === "phx_close", { msg: "phx_close after leave" });
  const again = await client.join(`${prefix}again`);
  assert.equal(again.reply[4].status, "ok");

  assert.equal(client.closeInfo, null);
  client.terminate();
  await bystander.check("after the join flood");
});
