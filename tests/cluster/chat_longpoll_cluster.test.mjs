// Long-poll without sticky sessions (docs/LONGPOLL.md "Across a cluster"): two chat demos on
// one broker (Redis, then NATS) behind a round-robin HTTP proxy (tests/lib/rrproxy.mjs), the
// stock phoenix client with `transport: LongPoll` through the proxy and a WebSocket client on
// the other node than the session's, in `room:lobby`:
//
// - the poller's requests reach both nodes in turn, and it never loses its session: no 410
//   after the first, no close;
// - each client gets the other's messages, and both are in each other's presence list;
// - the node that holds the session is stopped: the poll it was holding breaks (close 1011),
//   or a poll forwarded to it goes unanswered and opens a new session (close 3410
//   `session_gone`); the client opens a session on the surviving node, rejoins and chats
//   with the WebSocket client there.
//
// The demo command is env SB_CHAT_CMD (tests/browser/chat_server.mjs).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { startChatServer } from "../browser/chat_server.mjs";
import { startNats, startRedis } from "../lib/brokers.mjs";
import { makeLongPollSocket } from "../lib/longpoll.mjs";
import { connect, joinOk, makeSocket, outcome, Presence } from "../lib/phx.mjs";
import { RoundRobinProxy } from "../lib/rrproxy.mjs";
import { waitUntil } from "../lib/wait.mjs";

const TOPIC = "room:lobby";
const SECRET = "chat-longpoll-cluster-test-secret-0123456789";
const WINDOW_MS = 1000;
const START_MS = 30_000;
const STEP = { timeout: 20_000 };

for (const [label, startBroker, scheme] of [
  ["Redis", startRedis, "redis"],
  ["NATS", startNats, "nats"],
]) {
  describe(`long-poll through a round-robin proxy, ${label}`, { timeout: 120_000 }, () => {
    let broker;
    let nodes = [];
    let proxy;
    const sockets = [];

    before(async () => {
      broker = await startBroker();
      const env = (i) => ({
        SB_CLUSTER: `${scheme}://127.0.0.1:${broker.port}`,
        SB_NODE: `lp-${scheme}-${i}@127.0.0.1`,
        SB_HEARTBEAT_MS: "100",
        SB_SECRET_KEY_BASE: SECRET,
        SB_LONGPOLL_WINDOW_MS: String(WINDOW_MS),
      });
      nodes = await Promise.all(
        [1, 2].map((i) => startChatServer({ name: `${label} node ${i}`, env: env(i), timeoutMs: START_MS })),
      );
      proxy = await RoundRobinProxy.start(nodes.map((n) => n.port));
    }, { timeout: 60_000 });

    after(async () => {
      for (const s of sockets) s.disconnect();
      await proxy?.stop();
      await Promise.all(nodes.map((n) => n.stop()));
      await broker?.stop();
    });

    test("the poller chats and sees presence through both nodes, then survives its node's death", { timeout: 90_000 }, async () => {
      const poller = makeLongPollSocket(proxy.port, { params: { user: "poller" }, timeout: 10_000 });
      sockets.push(poller.socket);
      await connect(poller.socket, 10_000);
      // The node holding the session is named in its token (docs/LONGPOLL.md "Tokens"); the
      // WebSocket client goes to the other one, which survives.
      const raw = Buffer.from(poller.log.requests[0].response.token, "base64url");
      const holder = raw.subarray(25, raw.length - 32).toString();
      const dead = nodes.findIndex((n, i) => holder.startsWith(`lp-${scheme}-${i + 1}@127.0.0.1#`));
      assert.ok(dead >= 0, `the token names a node of the test: ${holder}`);
      const ws = makeSocket(nodes[1 - dead].port, { params: { user: "ws" } });
      sockets.push(ws.socket);
      await connect(ws.socket);

      const members = [poller.socket, ws.socket].map((socket) => {
        const ch = socket.channel(TOPIC);
        const m = { ch, presence: new Presence(ch), got: [] };
        ch.on("new_msg", (msg) => m.got.push(`${msg.user}:${msg.body}`));
        return m;
      });
      for (const m of members) await joinOk(m.ch, 10_000);
      for (const m of members) {
        await waitUntil(() => m.presence.list((k) => k).sort().join() === "poller,ws", { ...STEP, msg: "both listed" });
      }
      assert.deepEqual(await outcome(members[0].ch.push("new_msg", { body: "from the poller" })), { status: "ok", response: {} });
      assert.deepEqual(await outcome(members[1].ch.push("new_msg", { body: "from ws" })), { status: "ok", response: {} });
      for (const m of members) {
        await waitUntil(() => m.got.length === 2, { ...STEP, msg: "both messages" });
        // Two senders on two nodes: each one's order is kept, not the order between them.
        assert.deepEqual([...m.got].sort(), ["poller:from the poller", "ws:from ws"]);
      }
      // Every request took its turn; the session held across both nodes.
      const [a, b] = nodes.map((n) => proxy.served(n.port));
      assert.ok(a >= 3 && b >= 3, `requests per node: ${a}, ${b}`);
      const statuses = poller.log.requests.slice(1).map((r) => r.response?.status);
      assert.ok(!statuses.includes(410), JSON.stringify(statuses));
      assert.deepEqual(poller.log.closes, []);

      // Stop the node that holds the session.
      const J = members[0].ch.joinRef();
      await nodes[dead].stop();
      // Its poll in progress breaks (close 1011) or a poll forwarded to it goes unanswered
      // (410: close 3410 "session_gone"); either way the client opens a session again.
      await waitUntil(() => poller.log.closes.some((c) => c.code === 3410 || c.code === 1011), {
        ...STEP,
        msg: "the poller's transport closed",
      });
      await waitUntil(() => members[0].ch.state === "joined" && members[0].ch.joinRef() !== J, {
        ...STEP,
        msg: "rejoined on the surviving node",
      });
      assert.deepEqual(await outcome(members[0].ch.push("new_msg", { body: "after" })), { status: "ok", response: {} });
      await waitUntil(() => members[1].got.includes("poller:after"), { ...STEP, msg: "the message after the move" });
      assert.ok(proxy.served(nodes[1 - dead].port) > 0);
    });
  });
}
