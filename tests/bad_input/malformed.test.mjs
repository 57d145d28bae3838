// Bad input: malformed JSON, wrong arity, binary garbage and invalid UTF-8 (PROTOCOL.md 2.5,
// 1.5). Each attack comes from its own connection, which first joins a room; the server must
// close that connection with the defined code (1011 for a frame it cannot decode, 1007 for
// invalid UTF-8 in a text frame), end the attacker's channels, and keep serving a second,
// well-behaved client, asserted before, during and after every attack.

import { test } from "node:test";
import assert from "node:assert/strict";

import { waitUntil } from "../lib/wait.mjs";
import { connect, POLL, useBystander } from "./harness.mjs";

const ctx = useBystander("malformed", "before all attacks");

const bin = (...bytes) => Buffer.from(bytes.flat());
const ascii = (s) => [...Buffer.from(s, "utf8")];

// [name, vsn, frame kind, frame, expected close code]
const cases = [
  ["V2: not JSON", "2.0.0", "text", "not json", 1011],
  ["V2: a JSON object instead of an array", "2.0.0", "text", '{"a":1}', 1011],
  ["V2: a 3-element array", "2.0.0", "text", "[1,2,3]", 1011],
  ["V2: a JSON string", "2.0.0", "text", '"phx_join"', 1011],
  ["V2: wrong arity, 4 elements", "2.0.0", "text", '[null,"9","phoenix","heartbeat"]', 1011],
  ["V2: empty text frame", "2.0.0", "text", "", 1011],
  ["V2: truncated JSON", "2.0.0", "text", '[null,"9","phoenix","heartbeat",{', 1011],
  ["V1: an array instead of an object", "1.0.0", "text", '[null,"9","phoenix","heartbeat",{}]', 1011],
  ["V1: wrong arity, object without ref", "1.0.0", "text", '{"topic":"phoenix","event":"heartbeat","payload":{}}', 1011],
  ["V1: not JSON", "1.0.0", "text", "{topic: phoenix}", 1011],
  ["V1: a binary frame (V1 has no binary form)", "1.0.0", "binary", bin(0, 0, 1, 7, 4, ascii("1phoenixping")), 1011],
  ["binary: kind byte 1 (reply kind is server-only)", "2.0.0", "binary", bin(1, 1, 1, 7, 2, ascii("11phoenixok"), 0xab), 1011],
  ["binary: unknown kind byte 7", "2.0.0", "binary", bin(7, 0, 1, 7, 4, ascii("1phoenixping")), 1011],
  ["binary: truncated header", "2.0.0", "binary", bin(0, 1), 1011],
  ["binary: empty frame", "2.0.0", "binary", bin(), 1011],
  ["binary: field lengths overrun the frame", "2.0.0", "binary", bin(0, 5, 5, 200, 5, ascii("abc")), 1011],
  ["binary: random garbage", "2.0.0", "binary", bin(0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef), 1011],
  ["invalid UTF-8 in a V2 text frame", "2.0.0", "text", bin(ascii('[null,"9","phoenix","heartbeat",{"x":"'), 0xff, 0xfe, ascii('"}]')), 1007],
  ["invalid UTF-8 in a V1 text frame", "1.0.0", "text", bin(0xc3, 0x28), 1007],
];

/** Joins `topic` on an attacker connection in the connection's own serializer. */
async function attackerJoin(client, vsn, topic) {
  const { reply } = await client.join(topic);
  return vsn === "2.0.0" ? reply[4].status : reply.payload.status;
}

cases.forEach(([name, vsn, kind, frame, code], i) => {
  test(`${name} → close ${code}; another client is unaffected`, { timeout: 60_000 }, async () => {
    const { fx, bystander } = ctx;
    const topic = `room:attacker-${i}-${Date.now()}`;
    const attacker = await connect(fx, { vsn });
    assert.equal(await attackerJoin(attacker, vsn, topic), "ok");
    assert.equal(await fx.channels(topic), 1);

    const closed = (async () => {
      if (kind === "text") attacker.sendText(frame);
      else attacker.sendBinary(frame);
      return attacker.waitClose();
    })();
    const { code: got } = await bystander.checkDuring(name, closed);
    assert.equal(got, code, `close code for ${name}`);

    // The attacker's channel died with its connection (no orphaned server channel).
    await waitUntil(async () => (await fx.channels(topic)) === 0, {
      ...POLL,
      msg: `the attacker's channel on ${topic} to end`,
    });
    await bystander.check(`after ${name}`);
    assert.ok(fx.alive, "fixture still running");
  });
});

test("V2: extra array elements are ignored (the first five are the message)", { timeout: 30_000 }, async () => {
  const { fx, bystander } = ctx;
  const client = await connect(fx);
  const topic = `room:extra-${Date.now()}`;
  client.send(["1", "1", topic, "phx_join", {}, "extra", 42]);
  assert.deepEqual((await client.reply("1", { topic }))[4], { status: "ok", response: {} });
  client.send(["1", "2", topic, "echo", { x: 1 }, null]);
  assert.deepEqual((await client.reply("2", { topic }))[4], { status: "ok", response: { x: 1 } });
  assert.equal(client.closeInfo, null);
  client.terminate();
  await bystander.check("after extra elements");
});

test("a well-formed frame after a reconnect works: the attacker can come back", { timeout: 30_000 }, async () => {
  const { fx } = ctx;
  const bad = await connect(fx);
  bad.sendText("not json");
  assert.equal((await bad.waitClose()).code, 1011);
  const again = await connect(fx);
  const { reply } = await again.join(`room:comeback-${Date.now()}`);
  assert.equal(reply[4].status, "ok");
  again.terminate();
});
