// Bad input: rate limits (docs/OPTIONS.md `messages_per_second`, `joins_per_second`). The
// fixture's /rated mount allows 5 messages and 2 joins per second per connection
// (tests/fixtures/CONTRACT.md). A client over a limit gets `{"reason":"rate_limited"}`
// replies, and one that keeps going is closed with 1008; a well-behaved client on the same
// endpoint is unaffected, asserted before, during and after.

import { test } from "node:test";
import assert from "node:assert/strict";

import { connect, useBystander } from "./harness.mjs";

const ctx = useBystander("rated", "before all floods");

const RATE_LIMITED = { status: "error", response: { reason: "rate_limited" } };

test("messages over messages_per_second → rate_limited replies, then close 1008; the bystander is unaffected", { timeout: 60_000 }, async () => {
  const { fx, bystander } = ctx;
  const topic = `room:flood-${process.pid}-${Date.now()}`;
  const client = await connect(fx, { mount: "/rated" });
  const { J, reply } = await client.join(topic);
  assert.equal(reply[4].status, "ok");
  // The one-second burst: 5 pushes pass.
  const first = Array.from({ length: 5 }, (_, n) => client.push(J, topic, "echo", { n }));
  for (const { R, from } of first) assert.equal((await client.reply(R, { from, topic }))[4].status, "ok");
  // The next is refused, not handled.
  const over = client.push(J, topic, "echo", { over: true });
  assert.deepEqual((await client.reply(over.R, { from: over.from, topic }))[4], RATE_LIMITED);
  // Going on: closed with 1008 while the bystander keeps working.
  const flood = (async () => {
    for (let n = 0; n < 20 && !client.closeInfo; n += 1) client.push(J, topic, "echo", { n });
    return client.waitClose();
  })();
  const { code } = await bystander.checkDuring("message flood", flood);
  assert.equal(code, 1008);
  await bystander.check("after the message flood");
});

test("joins over joins_per_second → rate_limited and no channel", { timeout: 30_000 }, async () => {
  const { fx, bystander } = ctx;
  const client = await connect(fx, { mount: "/rated" });
  const base = `room:joins-${process.pid}-${Date.now()}`;
  for (const n of [1, 2]) assert.equal((await client.join(`${base}-${n}`)).reply[4].status, "ok");
  const third = await client.join(`${base}-3`);
  assert.deepEqual(third.reply[4], RATE_LIMITED);
  assert.equal(await fx.channels(`${base}-3`), 0);
  client.terminate();
  await bystander.check("after the join flood");
});
