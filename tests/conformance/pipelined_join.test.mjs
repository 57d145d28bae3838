// PROTOCOL.md 4.5 with joins pipelined: several phx_join of one topic in ONE socket write, so the
// server reads the duplicates while the first join is still running. Phoenix's socket process
// runs one join at a time, so every join is answered: J1 ok, J2 ok, J1 phx_close, J3 ok, J2
// phx_close; the last join is the live channel and no killed channel runs terminate.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";

import { rawCleanup, rawConnect, replyFrame } from "../lib/raw.mjs";
import { T, uniq, useFixture } from "../lib/suite.mjs";
import { waitUntil } from "../lib/wait.mjs";

const isArr = Array.isArray;

/** One masked client text frame (RFC 6455 5.2), for payloads under 64 KiB. */
function maskedTextFrame(text) {
  const payload = Buffer.from(text, "utf8");
  assert.ok(payload.length < 65536);
  const head = payload.length < 126
    ? Buffer.from([0x81, 0x80 | payload.length])
    : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const mask = randomBytes(4);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ mask[i % 4];
  return Buffer.concat([head, mask, masked]);
}

/** Writes every frame in one write on the raw client's TCP socket. */
function sendInOneWrite(raw, messages) {
  raw.ws._socket.write(Buffer.concat(messages.map((m) => maskedTextFrame(JSON.stringify(m)))));
}

describe("pipelined duplicate joins", () => {
  const ctx = useFixture();

  // Join params of the first join and of the others: a slow first join is still running
  // when the others are read, whatever the host language.
  for (const [kind, n, first, rest] of [
    ["room", 2, {}, {}],
    ["room", 3, {}, {}],
    ["slowjoin", 2, { ms: 300 }, { ms: 50 }],
    ["slowjoin", 3, { ms: 300 }, { ms: 50 }],
  ]) {
    test(`4.5: ${n} joins of a ${kind}: topic in one write are each answered, in order`, T, async (t) => {
      const { fx } = ctx;
      const raw = await rawConnect(fx.port, { timeout: 10000 });
      rawCleanup(t, raw);
      const topic = uniq(`${kind}:pipe-`);
      const refs = Array.from({ length: n }, () => raw.ref());
      const from = raw.mark();
      sendInOneWrite(raw, refs.map((J, i) => [J, J, topic, "phx_join", i === 0 ? first : rest]));

      // Join replies and closes on the topic, in wire order.
      const lifecycle = (m) =>
        isArr(m) && m[2] === topic && ((m[3] === "phx_reply" && refs.includes(m[1])) || m[3] === "phx_close");
      const expected = [replyFrame(refs[0], refs[0], topic, "ok", {})];
      for (let i = 1; i < n; i++) {
        expected.push(replyFrame(refs[i], refs[i], topic, "ok", {}));
        expected.push([refs[i - 1], refs[i - 1], topic, "phx_close", {}]);
      }
      const got = await raw.waitForN(expected.length, lifecycle, { from, msg: "join replies and closes" });
      assert.deepEqual(got.map((f) => f.msg), expected);

      // One server channel, the last join's; the replaced ones ran no terminate.
      await waitUntil(async () => (await fx.channels(topic)) === 1, { msg: "one server channel", timeout: 10000 });
      const last = refs[n - 1];
      const echo = raw.push(last, topic, "echo", { n });
      assert.deepEqual(await raw.reply(echo.R, { from }), replyFrame(last, echo.R, topic, "ok", { n }));
      const log = await fx.log();
      assert.deepEqual(log.terminates.filter((x) => x.topic === topic), [], "replaced channels ran no terminate");
      assert.deepEqual(raw.matching(lifecycle, from).map((f) => f.msg), expected, "nothing else closed");
    });
  }
});
