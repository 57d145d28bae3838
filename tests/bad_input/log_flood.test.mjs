// Bad input aimed at the server's log: messages a client can send at will (pushes to topics it
// never joined, with 10 KB event names and topics) must not turn into a log line each, nor
// carry the client's text in full. The server's stdout + stderr (where every fixture logs at
// its default level) is measured; a well-behaved client is asserted healthy throughout.

import { test } from "node:test";
import assert from "node:assert/strict";

import { connect, useBystander } from "./harness.mjs";

const ctx = useBystander("logflood", "before the flood");

const PUSHES = 20_000;
const LOG_BUDGET = 1024 * 1024;

test(`${PUSHES} pushes to un-joined topics with 10 KB event names write at most 1 MB of log`, { timeout: 180_000 }, async (t) => {
  const { fx, bystander } = ctx;
  const attacker = await connect(fx);
  const event = "e".repeat(10 * 1024);
  const topic = `room:never-joined-${"t".repeat(10 * 1024)}`;
  const before = fx.outputBytes;
  const flood = (async () => {
    let last;
    for (let i = 0; i < PUSHES; i++) {
      last = attacker.ref();
      attacker.send([null, last, topic, event, {}]);
      // Let the socket drain now and then instead of queueing 200 MB in the client.
      if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
    }
    // Every push is answered "unmatched topic" in order: the last answer means all were read.
    const reply = await attacker.reply(last, { timeout: 120_000 });
    assert.deepEqual(reply[4], { status: "error", response: { reason: "unmatched topic" } });
  })();
  await bystander.checkDuring("during the flood", flood);
  await bystander.check("after the flood");
  const logged = fx.outputBytes - before;
  t.diagnostic(`the flood wrote ${logged} bytes of log`);
  assert.ok(
    logged <= LOG_BUDGET,
    `the flood wrote ${logged} bytes of log (budget ${LOG_BUDGET}); last lines:\n${fx.tail(5).slice(0, 2000)}`,
  );
  attacker.terminate();
});
