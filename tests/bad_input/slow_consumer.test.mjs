// Bad input: a client that never reads (DESIGN.md: a bounded outbound queue per connection
// with a slow-consumer policy). The attacker joins a room and stops reading its socket while
// the host broadcasts a lot to that room; the server must disconnect it (its channel ends)
// before an unbounded amount has been queued for it, with close 1013, its resident memory
// must stay within a bound set by the outbox limit, and a second, well-behaved client must
// keep working before, during and after.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { connect, POLL, useBystander } from "./harness.mjs";
import { rssBytes } from "../lib/proc.mjs";
import { waitUntil } from "../lib/wait.mjs";

const BLOB = "s".repeat(128 * 1024); // payload bytes per broadcast
const PARALLEL = 8; // broadcasts in flight at once
const CAP_BYTES = 512 * 1024 * 1024; // give up (fail) after broadcasting this much
const MiB = 1024 * 1024;

// rust/src/endpoint/config.rs: TransportConfig::default() (every fixture mount keeps it).
const OUTBOX_MAX_BYTES = 8 * MiB; // outbox_max_bytes
const SLOW_CONSUMER_CLOSE_CODE = 1013; // SLOW_CONSUMER_CLOSE_CODE

// How much the fixture's resident memory may grow while it floods the attacker. What the
// server holds for a client that never reads, by construction:
//   - its outbox: at most OUTBOX_MAX_BYTES of frames (one frame more overflows it, which
//     drops them all and closes the connection);
//   - the batch its writer took out of the outbox before the socket filled up, which is still
//     being written: at most what the outbox held, OUTBOX_MAX_BYTES again (plus the one
//     frame the WebSocket layer copied into its write buffer);
// so 2 × OUTBOX_MAX_BYTES for the attacker. On top of that, what the flood needs whoever
// reads it: PARALLEL broadcast requests in flight, each a 128 KiB body held a few times over
// (request body, decoded payload, encoded frame, host-language copies): FLOOD_BYTES; and
// heap slack, freed memory the process has not given back to the OS yet (malloc arenas, the
// V8 and CPython heaps), which grows with the traffic, not with what is queued: HEAP_SLACK
// covers it for the 12-20 MiB of broadcasts a disconnect takes. A fixture under
// AddressSanitizer (the C one) also keeps freed memory in ASan's quarantine, up to
// quarantine_size_mb (256 MiB by default on x86_64) before it reuses any.
// Frames queued for the attacker grow 1:1 with the broadcasts, so an outbox that never
// overflowed crosses the bound after ~100 MiB of broadcasts (~350 MiB under ASan), well
// before CAP_BYTES.
const FLOOD_BYTES = 16 * MiB;
const HEAP_SLACK = 64 * MiB;
const ASAN_QUARANTINE = 256 * MiB;

/** The RSS growth bound for fixture process `pid` (see above). */
function rssBound(pid) {
  const asan = /\blibasan\b|\bclang_rt\.asan\b/.test(readFileSync(`/proc/${pid}/maps`, "utf8"));
  return 2 * OUTBOX_MAX_BYTES + FLOOD_BYTES + HEAP_SLACK + (asan ? ASAN_QUARANTINE : 0);
}

const ctx = useBystander("slow-consumer", "before the flood");

test("a client that never reads is disconnected; memory stays bounded; others unaffected", { timeout: 180_000 }, async (t) => {
  const { fx, bystander } = ctx;
  const pid = fx.proc.pid;
  const attacker = await connect(fx);
  const topic = `room:never-reads-${Date.now()}`;
  assert.equal((await attacker.join(topic)).reply[4].status, "ok");
  assert.equal(await fx.channels(topic), 1);

  // Baseline after start-up, the bystander and the attacker's join: what grows from here is
  // the flood and whatever is queued for the attacker.
  const RSS_BOUND = rssBound(pid);
  const rssBefore = rssBytes(pid);
  let rssPeak = rssBefore;
  const sample = () => {
    const rss = rssBytes(pid);
    rssPeak = Math.max(rssPeak, rss);
    assert.ok(
      rss - rssBefore <= RSS_BOUND,
      `fixture RSS grew by ${((rss - rssBefore) / MiB).toFixed(1)} MiB (bound ${RSS_BOUND / MiB} MiB) ` +
        `while the slow consumer was connected`,
    );
  };

  // Stop reading: the kernel buffers fill up, then the server's outbound queue for it.
  attacker.ws._socket.pause();

  // Watches the attacker's channel (and the fixture's memory) while the flood runs, and
  // resumes reading as soon as the server dropped the attacker: the server's close frame
  // waits behind the unread bytes, and the server gives up writing it after its close
  // timeout (3 s), so the attacker must drain its buffers before then to read the 1013.
  let floodDone = false;
  const dropped = (async () => {
    try {
      await waitUntil(
        async () => {
          sample();
          return floodDone || (await fx.channels(topic)) === 0;
        },
        { timeout: 170_000, interval: 20, msg: "the slow consumer's channel to end" },
      );
    } finally {
      attacker.ws._socket.resume();
    }
  })();
  dropped.catch(() => {}); // awaited below

  const flood = (async () => {
    let sent = 0;
    let i = 0;
    try {
      while (sent < CAP_BYTES) {
        const batch = [];
        for (let k = 0; k < PARALLEL; k++) batch.push(fx.broadcast(topic, "flood", { i: i++, blob: BLOB }));
        await Promise.all(batch);
        sent += PARALLEL * BLOB.length;
        sample();
        if ((await fx.channels(topic)) === 0) return sent;
      }
    } finally {
      floodDone = true;
    }
    throw new Error(`the slow consumer was still connected after ${sent} bytes of broadcasts`);
  })();
  const sent = await bystander.checkDuring("slow-consumer flood", flood);
  await dropped;
  assert.ok(sent > 0);

  // Once reading again, the attacker gets what was already buffered for it, then the
  // server's close with the slow-consumer code.
  const { code, reason } = await attacker.waitClose(30_000);
  const floods = attacker.matching((m) => Array.isArray(m) && m[3] === "flood").length;
  t.diagnostic(
    `disconnected after ${sent / MiB} MiB broadcast; it had received ${floods} broadcasts; close ${code} ${reason}; ` +
      `RSS ${(rssBefore / MiB).toFixed(1)} → peak ${(rssPeak / MiB).toFixed(1)} MiB (bound +${RSS_BOUND / MiB} MiB)`,
  );
  assert.deepEqual({ code, reason }, { code: SLOW_CONSUMER_CLOSE_CODE, reason: "slow consumer" });
  assert.ok(floods * BLOB.length < sent, `the slow consumer got all ${floods} broadcasts: nothing was dropped`);
  // Nothing the server still holds for the dropped attacker: memory is back within the bound.
  sample();

  // The server is healthy: new connections join and the bystander still works.
  const fresh = await connect(fx);
  assert.equal((await fresh.join(topic)).reply[4].status, "ok");
  const got = fresh.waitFor((m) => Array.isArray(m) && m[3] === "flood" && m[4]?.i === -1, { msg: "a broadcast after the flood" });
  await fx.broadcast(topic, "flood", { i: -1 });
  assert.deepEqual((await got).msg, [null, null, topic, "flood", { i: -1 }]);
  fresh.terminate();
  await waitUntil(async () => (await fx.channels(topic)) === 0, { ...POLL, msg: "the fresh client's channel to end" });
  await bystander.check("after the flood");
});
