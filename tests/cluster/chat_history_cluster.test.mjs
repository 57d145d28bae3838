// History in a cluster (docs/HISTORY.md "Where history lives", examples/chat/CONTRACT.md
// "History"): two chat demos on a Redis server of the test's own share each room's history, so
// a stock phoenix client that loses its connection to one node and reconnects to the other
// gets exactly what it missed, in order, then live messages; every node sees the same
// positions; a resume while another client floods the room through the other node has no gap
// and no duplicate. On NATS the demos keep no history (`recovered: false`, `no_history`).
//
// The demo command is env SB_CHAT_CMD (a JSON argv array), default the Rust example binary.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { CLUSTER_SECRET_KEY_BASE, startChatServer } from "../browser/chat_server.mjs";
import { floodDuringResume, goOffline, joined, newMember, send, until } from "../browser/chat_member.mjs";
import { startNats, startRedis } from "../lib/brokers.mjs";

const START_MS = 30_000;
const TEST = { timeout: 120_000 };
const HOOK = { timeout: 90_000 };

const room = (name) => `room:cluster-history-${name}-${process.pid}-${Date.now()}`;

/** Starts `n` demos on the broker at `url` (SB_HEARTBEAT_MS=100 so they start fast). */
async function startNodes(url, n, label) {
  const nodes = [];
  try {
    for (let i = 1; i <= n; i++) {
      const env = {
        SB_CLUSTER: url,
        SB_NODE: `${label}-${i}@127.0.0.1`,
        SB_HEARTBEAT_MS: "100",
        SB_SECRET_KEY_BASE: CLUSTER_SECRET_KEY_BASE,
      };
      nodes.push(await startChatServer({ name: `${label} node ${i}`, env, timeoutMs: START_MS }));
    }
  } catch (e) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw e;
  }
  return nodes;
}

describe("on Redis", () => {
  let redis;
  let nodes = [];
  const sockets = [];
  const member = (at, user, topic, since = null) => newMember(sockets, at, user, topic, since);

  before(async () => {
    redis = await startRedis();
    nodes = await startNodes(`redis://127.0.0.1:${redis.port}`, 2, "history");
  }, HOOK);

  after(async () => {
    for (const s of sockets) s.disconnect();
    await Promise.all(nodes.map((node) => node.stop()));
    await redis?.stop();
  }, HOOK);

  test("a client that reconnects to the other node gets the 20 messages it missed, then live ones", TEST, async () => {
    const [a, b] = nodes;
    const topic = room("move");
    const reader = member(a, "reader", topic);
    await joined(reader);
    const writer = member(b, "writer", topic);
    await joined(writer);

    await send(writer.channel, "before");
    await until(reader, () => reader.bodies.length === 1, "the first message on the other node");
    await until(writer, () => writer.bodies.length === 1, "the writer's own first message");
    // One order per topic, decided in Redis: both nodes give the message the same position.
    assert.equal(typeof reader.refs[0], "string");
    assert.equal(reader.refs[0], writer.refs[0]);

    await goOffline(reader);
    const missed = Array.from({ length: 20 }, (_, i) => `missed ${i + 1}`);
    for (const body of missed) await send(writer.channel, body);
    await until(writer, () => writer.bodies.length === 21, "the writer's 21 messages");

    // The same client state (its last position), now on node b.
    const moved = member(b, "reader", topic, reader.since);
    const recovery = await joined(moved);
    assert.deepEqual(recovery, { recovered: true, missed: 20, position: writer.refs.at(-1) });
    await until(moved, () => moved.bodies.length === 20, "the 20 replayed messages");
    assert.deepEqual(moved.bodies, missed);
    assert.deepEqual(moved.refs, writer.refs.slice(1));

    await send(writer.channel, "live");
    await until(moved, () => moved.bodies.length === 21, "a live message after the replay");
    assert.equal(moved.bodies.at(-1), "live");

    // And back to node a, from the same position: the same 20 and the live one.
    const back = member(a, "reader", topic, reader.since);
    assert.deepEqual(await joined(back), { recovered: true, missed: 21, position: writer.refs.at(-1) });
    await until(back, () => back.bodies.length === 21, "the 21 replayed messages on node a");
    assert.deepEqual(back.bodies, [...missed, "live"]);
  });

  test("a resume on one node while a client floods the room through the other has no gap and no duplicate", TEST, async () => {
    const [a, b] = nodes;
    const topic = room("flood");
    const reader = member(a, "reader", topic);
    await joined(reader);
    const flooder = member(b, "flooder", topic);
    await joined(flooder);

    await floodDuringResume(reader, flooder, { live: 30, away: 5 });
  });
});

describe("on NATS", () => {
  let nats;
  let nodes = [];
  const sockets = [];

  before(async () => {
    nats = await startNats();
    nodes = await startNodes(`nats://127.0.0.1:${nats.port}`, 1, "nats-history");
  }, HOOK);

  after(async () => {
    for (const s of sockets) s.disconnect();
    await Promise.all(nodes.map((node) => node.stop()));
    await nats?.stop();
  }, HOOK);

  test("the demos keep no history: a resume is answered no_history, broadcasts have no position", TEST, async () => {
    const topic = room("nats");
    const m = newMember(sockets, nodes[0], "nats", topic);
    assert.deepEqual(await joined(m), { recovered: false, missed: 0, position: null, reason: "no_history" });
    await send(m.channel, "hi");
    await until(m, () => m.bodies.length === 1, "the message");
    assert.equal(m.refs[0], null);
  });
});
