// Bad input: a client that never reads (DESIGN.md: a bounded outbound queue per connection
// with a slow-consumer policy). The attacker joins a room and stops reading its socket while
// the host broadcasts a lot to that room; the server must disconnect it (its channel ends)
// before an unbounded amount has been queued for it, and a second, well-behaved client must
// keep working before, during and after.

import { test } from "node:test";
import assert from "node:assert/strict";

import { connect, useBystander } from "./harness.mjs";

const BLOB = "s".repeat(128 * 1024); // payload bytes per broadcast
const PARALLEL = 8; // broadcasts in flight at once
const CAP_BYTES = 512 * 1024 * 1024; // give up (fail) after broadcasting this much

const ctx = useBystander("slow-consumer", "before the flood");

test("a client that never reads is disconnected; memory stays bounded; others unaffected", { timeout: 180_000 }, async (t) => {
  const { fx, bystander } = ctx;
  const attacker = await connect(fx);
  const topic = `room:never-reads-${Date.now()}`;
  assert.equal((await attacker.join(topic)).reply[4].status, "ok");
  assert.equal(await fx.channels(topic), 1);

  // Stop reading: the kernel buffers fill up, then the server's outbound queue for it.
  attacker.ws._socket.pause();

  const flood = (async () => {
    let sent = 0;
    let i = 0;
    while (sent < CAP_BYTES) {
      const batch = [];
      for (let k = 0; k < PARALLEL; k++) batch.push(fx.broadcast(topic, "flood", { i: i++, blob: BLOB }));
      await Promise.all(batch);
      sent += PARALLEL * BLOB.length;
      if ((await fx.channels(topic)) === 0) return sent;
    }
    throw new Error(`the slow consumer was still connected after ${sent} bytes of broadcasts`);
  })();
  const sent = await bystander.checkDuring("slow-consumer flood", flood);
  assert.ok(sent > 0);

  // Once reading again, the attacker sees its connection closed by the server (it gets no
  // more than what was already buffered for it, then the close).
  attacker.ws._socket.resume();
  const { code } = await attacker.waitClose();
  const floods = attacker.matching((m) => Array.isArray(m) && m[3] === "flood").length;
  assert.ok(floods * BLOB.length < sent, `the slow consumer got all ${floods} broadcasts: nothing was dropped`);
  t.diagnostic(`disconnected after ${sent} bytes broadcast; it had received ${floods} broadcasts; close ${code}`);

  // The server is healthy: new connections join and the bystander still works.
  const fresh = await connect(fx);
  assert.equal((await fresh.join(topic)).reply[4].status, "ok");
  const got = fresh.waitFor((m) => Array.isArray(m) && m[3] === "flood" && m[4]?.i === -1, { msg: "a broadcast after the flood" });
  await fx.broadcast(topic, "flood", { i: -1 });
  assert.deepEqual((await got).msg, [null, null, topic, "flood", { i: -1 }]);
  fresh.terminate();
  await bystander.check("after the flood");
});
