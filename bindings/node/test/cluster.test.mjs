// Clustering (docs/CLUSTER.md) through the Node binding: two endpoints in this process,
// nodes "a" and "b", share a real redis-server or nats-server (tests/lib/brokers.mjs starts
// one per test on a free port). Broadcasts cross, local broadcasts do not, a namesake is
// refused at listen(), and a stopped broker is SB_E_BROKER until it comes back.

import assert from "node:assert/strict";
import { test } from "node:test";

import { startNats, startRedis } from "../../../tests/lib/brokers.mjs";
import { sb, sleep, waitUntil } from "./helpers.mjs";

const { Endpoint } = sb;

const BROKERS = { redis: startRedis, nats: startNats };
/** Short heartbeat: listen() waits 1.5 heartbeats for a namesake. */
const HEARTBEAT_MS = 100;

/** A broker server of `kind`, stopped when `t` ends. */
async function broker(t, kind) {
  const server = await BROKERS[kind]();
  t.after(() => server.stop());
  return server;
}

/** A listening endpoint on port 0 named `node` on `url`'s broker, closed when `t` ends. */
async function clusterNode(t, url, node, options = {}) {
  const endpoint = new Endpoint({ port: 0, broker: url, node, brokerHeartbeatMs: HEARTBEAT_MS, ...options });
  t.after(() => endpoint.close());
  await endpoint.listen();
  return endpoint;
}

/** Every message a host subscription to `topic` on `endpoint` receives, in order. */
function record(endpoint, topic) {
  const seen = [];
  endpoint.subscribe(topic).on("message", (m) => seen.push(m));
  return seen;
}

for (const kind of Object.keys(BROKERS)) {
  test(`${kind}: a broadcast on node a reaches a host subscription on node b; local_broadcast stays on a`, async (t) => {
    const { url } = await broker(t, kind);
    const a = await clusterNode(t, url, "a");
    const b = await clusterNode(t, url, "b");
    const onA = record(a, "room:x");
    const onB = record(b, "room:x");
    const otherTopicOnB = record(b, "room:y");

    const payload = { text: "héllo ☃", n: 1, nested: { list: [1, null, true] } };
    a.broadcast("room:x", "news", payload);
    await waitUntil(() => onB.length >= 1, { timeout: 5000, msg: "the broadcast on b" });
    assert.deepEqual(onB[0], { topic: "room:x", event: "news", payload });
    // a's own subscriber got it once (delivered locally, the broker's echo dropped).
    await waitUntil(() => onA.length >= 1, { msg: "the broadcast on a" });

    a.localBroadcast("room:x", "local", { n: 2 });
    // A later broadcast from the same publisher is a marker: per-publisher order means that
    // had the local one crossed, b would have had it first.
    a.broadcast("room:x", "marker", { n: 3 });
    await waitUntil(() => onB.length >= 2, { timeout: 5000, msg: "the marker on b" });
    await waitUntil(() => onA.length >= 3, { msg: "the local broadcast and the marker on a" });
    await sleep(100);
    assert.deepEqual(
      onB.map((m) => m.event),
      ["news", "marker"],
    );
    assert.deepEqual(
      onA.map((m) => m.event),
      ["news", "local", "marker"],
    );
    assert.deepEqual(onB[1], { topic: "room:x", event: "marker", payload: { n: 3 } });
    assert.deepEqual(otherTopicOnB, []);
  });

  test(`${kind}: a second live node named "a" on the same broker is refused with SB_E_BROKER`, async (t) => {
    const { url } = await broker(t, kind);
    const a = await clusterNode(t, url, "a");
    const b = await clusterNode(t, url, "b");
    const namesake = new Endpoint({ port: 0, broker: url, node: "a", brokerHeartbeatMs: HEARTBEAT_MS });
    t.after(() => namesake.close());
    await assert.rejects(namesake.listen(), (err) => {
      assert.equal(err.code, "SB_E_BROKER");
      assert.match(err.message, /node name "a" is already used by a live process/);
      return true;
    });
    // The node that was already serving keeps serving.
    const onB = record(b, "room:x");
    a.broadcast("room:x", "still", { ok: true });
    await waitUntil(() => onB.length >= 1, { timeout: 5000, msg: "a broadcast from a on b" });
    assert.deepEqual(onB[0], { topic: "room:x", event: "still", payload: { ok: true } });
  });
}

test("redis: broker stopped, broadcasts are SB_E_BROKER but reach a; broker back, they cross again", async (t) => {
  const redis = await broker(t, "redis");
  const options = { brokerReconnectMaxMs: 200 };
  const a = await clusterNode(t, redis.url, "a", options);
  const b = await clusterNode(t, redis.url, "b", options);
  const onA = record(a, "room:x");
  const onB = record(b, "room:x");

  a.broadcast("room:x", "before", { n: 0 });
  await waitUntil(() => onB.length >= 1, { timeout: 5000, msg: "the first broadcast on b" });

  await redis.stop();
  // The node marks the link down when its connection fails; until then a broadcast may still
  // be queued (and lost). Broadcast until one is refused.
  let refused;
  let n = 0;
  await waitUntil(
    () => {
      n += 1;
      try {
        a.broadcast("room:x", "down", { n });
        return false;
      } catch (err) {
        refused = err;
        return true;
      }
    },
    { timeout: 5000, interval: 20, msg: "a broadcast refused with SB_E_BROKER" },
  );
  assert.equal(refused.code, "SB_E_BROKER", refused.message);
  assert.match(refused.message, /delivered on this node only/);
  // Refused for the other nodes, but a's own subscriber has it.
  const refusedN = n;
  await waitUntil(() => onA.some((m) => m.event === "down" && m.payload.n === refusedN), {
    msg: `the refused broadcast n=${refusedN} on a`,
  });

  await redis.restart();
  // Both nodes reconnect by themselves (backoff 100 ms doubling up to 200 ms).
  let back = 0;
  await waitUntil(
    () => {
      if (onB.some((m) => m.event === "back")) return true;
      back += 1;
      try {
        a.broadcast("room:x", "back", { back });
      } catch (err) {
        assert.equal(err.code, "SB_E_BROKER", err.message);
      }
      return false;
    },
    { timeout: 10_000, interval: 100, msg: "a broadcast from a on b after the broker restarted" },
  );
  // Up again: no error, and the next one crosses too.
  a.broadcast("room:x", "after", { n: 1 });
  await waitUntil(() => onB.some((m) => m.event === "after"), { timeout: 5000, msg: "the next broadcast on b" });
  assert.ok(
    !onB.some((m) => m.event === "down" && m.payload.n === refusedN),
    "the refused broadcast never reaches b",
  );
});

test("listen() waits for the broker off the JS thread: timers keep firing meanwhile", async (t) => {
  // Nothing listens on this port: listen() waits the whole connect timeout, then starts alone.
  const { freePort } = await import("../../../tests/lib/fixture.mjs");
  const url = `redis://127.0.0.1:${await freePort()}`;
  const endpoint = new Endpoint({ port: 0, broker: url, node: "lonely", brokerConnectTimeoutMs: 500 });
  t.after(() => endpoint.close());
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  const began = Date.now();
  await endpoint.listen();
  clearInterval(timer);
  assert.ok(Date.now() - began >= 450, "listen() waited for the broker");
  assert.ok(ticks >= 20, `the event loop ran meanwhile (${ticks} ticks of 10 ms)`);
  // Alone, it still serves and its broadcasts say the remote part failed.
  assert.throws(() => endpoint.broadcast("room:x", "e", {}), { code: "SB_E_BROKER" });
});
