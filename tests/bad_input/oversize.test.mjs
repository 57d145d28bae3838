// Bad input: frames larger than the mount's max frame size (PROTOCOL.md 1.5 → close 1009), and
// a 100 KB topic (DESIGN.md "Bounded everything": an error reply, the connection stays usable).
// A second, well-behaved client is asserted healthy before, during and after each attack.

import { test } from "node:test";
import assert from "node:assert/strict";

import { waitUntil } from "../lib/wait.mjs";
import { connect, POLL, useBystander } from "./harness.mjs";

const SMALL_LIMIT = 65_536; // the /small mount's max frame size (tests/fixtures/CONTRACT.md)
const MiB = 1024 * 1024;

const ctx = useBystander("oversize", "before all attacks");

/** An echo push on `topic` whose whole V2 text frame is exactly `bytes` long. */
function echoFrameOfSize(joinRef, ref, topic, bytes) {
  const empty = JSON.stringify([joinRef, ref, topic, "echo", { pad: "" }]);
  const pad = "x".repeat(bytes - Buffer.byteLength(empty));
  const frame = JSON.stringify([joinRef, ref, topic, "echo", { pad }]);
  assert.equal(Buffer.byteLength(frame), bytes);
  return { frame, pad };
}

test("/small: a frame just under the limit is served", { timeout: 30_000 }, async () => {
  const client = await connect(ctx.fx, { mount: "/small" });
  const topic = `room:under-${Date.now()}`;
  const { J: joinRef, reply } = await client.join(topic);
  assert.equal(reply[4].status, "ok");
  const ref = client.ref();
  const { frame, pad } = echoFrameOfSize(joinRef, ref, topic, SMALL_LIMIT - 16);
  client.sendText(frame);
  assert.deepEqual((await client.reply(ref, { topic }))[4], { status: "ok", response: { pad } });
  assert.equal(client.closeInfo, null);
  client.terminate();
});

for (const kind of ["text", "binary"]) {
  test(`/small: a 1 MiB ${kind} frame → close 1009; another client is unaffected`, { timeout: 60_000 }, async () => {
    const { fx, bystander } = ctx;
    const attacker = await connect(fx, { mount: "/small" });
    const topic = `room:oversize-${kind}-${Date.now()}`;
    const { J: joinRef, reply } = await attacker.join(topic);
    assert.equal(reply[4].status, "ok");

    const closed = (async () => {
      if (kind === "text") {
        attacker.sendText(echoFrameOfSize(joinRef, attacker.ref(), topic, MiB).frame);
      } else {
        const header = Buffer.from([0, joinRef.length, 1, topic.length, 4]);
        const head = Buffer.concat([header, Buffer.from(`${joinRef}9${topic}echo`)]);
        attacker.sendBinary(Buffer.concat([head, Buffer.alloc(MiB - head.length, 0x61)]));
      }
      return attacker.waitClose();
    })();
    const { code } = await bystander.checkDuring(`1 MiB ${kind} frame`, closed);
    assert.equal(code, 1009);

    await waitUntil(async () => (await fx.channels(topic)) === 0, {
      ...POLL,
      msg: `the attacker's channel on ${topic} to end`,
    });
    await bystander.check(`after the 1 MiB ${kind} frame`);
  });
}

test("a 100 KB topic → error reply {reason: topic too long}; the connection stays usable", { timeout: 60_000 }, async () => {
  const { fx, bystander } = ctx;
  const client = await connect(fx);
  const long = `room:${"t".repeat(100 * 1024)}`;

  const attack = (async () => {
    const { reply } = await client.join(long);
    // A following well-formed join on the same connection is served normally.
    const ok = await client.join(`room:after-long-topic-${Date.now()}`);
    return { reply, ok };
  })();
  const { reply, ok } = await bystander.checkDuring("100 KB topic", attack);

  const { status, response } = reply[4];
  assert.deepEqual({ status, response }, {
    status: "error",
    response: { reason: "topic too long" },
  });
  assert.equal(ok.reply[4].status, "ok");
  // No channel was started for the long topic: nothing was pushed on it after the error.
  assert.ok(
    !client.matching((m) => Array.isArray(m) && m[2] === long && m[3] !== "phx_reply").length,
    "a push or broadcast arrived on the refused topic",
  );

  // Heartbeat and echo still work on the attacker's own connection.
  const { R: hb } = client.push(null, "phoenix", "heartbeat", {});
  assert.deepEqual((await client.reply(hb, { topic: "phoenix" }))[4], { status: "ok", response: {} });
  assert.equal(client.closeInfo, null);

  // A push (not a join) on the long topic is not served either and does not kill the
  // connection: the topic is not joined on this connection, so the push is answered like any
  // message for an unjoined topic (PROTOCOL.md 3.1, F7): an error reply "unmatched topic" with
  // a null join_ref, echoing the topic and the ref.
  const { R: pushRef, from: pushFrom } = client.push(ok.J, long, "echo", { x: 1 });
  const { R: hb2 } = client.push(null, "phoenix", "heartbeat", {});
  // The server reads a connection's frames in order: once the heartbeat is answered, the push
  // before it has been answered too.
  const hbReply = await client.waitFor((m) => Array.isArray(m) && m[1] === hb2 && m[2] === "phoenix", {
    from: pushFrom,
    msg: "the heartbeat reply after the push on the long topic",
  });
  assert.deepEqual(hbReply.msg[4], { status: "ok", response: {} });
  // Exactly the error reply arrived on the long topic before it (no echo, no push from a
  // channel). Compared as text: a mismatch then prints the frames, not a 100 KB diff.
  const expected = JSON.stringify([null, pushRef, long, "phx_reply", {
    status: "error",
    response: { reason: "unmatched topic" },
  }]);
  const onLong = client.frames
    .slice(pushFrom, client.frames.indexOf(hbReply))
    .filter((f) => Array.isArray(f.msg) && f.msg[2] === long)
    .map((f) => JSON.stringify(f.msg));
  assert.ok(
    onLong.length === 1 && onLong[0] === expected,
    `expected only the unmatched-topic reply on the long topic, got ${onLong.length} frame(s): ` +
      onLong.map((f) => f.replace(/t{100}t*/, "t…")).join(" | "),
  );
  assert.equal(client.closeInfo, null);
  client.terminate();

  await bystander.check("after the 100 KB topic");
});
