// Presence across a cluster of chat demos (examples/chat/CONTRACT.md "Cluster", docs/CLUSTER.md
// "Presence across nodes"): for Redis and for NATS, a broker of the test's own and three demo
// processes (SB_HEARTBEAT_MS=100, SB_PRESENCE_BROADCAST_MS=100, SB_NODE_DOWN_MS=1500), with the
// stock phoenix client and its `Presence` class on every node:
//
// - one user per node: every client's "who's online" list has all three; a user who leaves
//   leaves every list;
// - kill -9 a node: its user leaves the others' lists after the down period; the node restarted
//   with the same name brings its new user, and the old one does not come back;
// - the broker stopped for longer than the down period and started again: no client sees
//   anyone leave, and the lists are right after;
// - SIGSTOP a node for longer than the down period: its user leaves the others' lists; SIGCONT:
//   the user comes back, and the stopped node's own list is right again.
//
// The demo command is env SB_CHAT_CMD (a JSON argv array), default the Rust example binary.
// Every wait has a deadline; every process is stopped by its PID.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { CLUSTER_SECRET_KEY_BASE, startChatServer } from "../browser/chat_server.mjs";
import { startNats, startRedis } from "../lib/brokers.mjs";
import { Presence, connect, joinOk, makeSocket } from "../lib/phx.mjs";
import { sleep } from "../lib/wait.mjs";

const TOPIC = "room:lobby";
const DOWN_MS = 1500;
const JOIN_MS = 15_000;
const START_MS = 30_000;
const CONVERGE_MS = 20_000;
const TEST = { timeout: 120_000 };
const HOOK = { timeout: 90_000 };

function nodeEnv(url, node) {
  return {
    SB_CLUSTER: url,
    SB_NODE: node,
    SB_HEARTBEAT_MS: "100",
    SB_PRESENCE_BROADCAST_MS: "100",
    SB_NODE_DOWN_MS: String(DOWN_MS),
    SB_SECRET_KEY_BASE: CLUSTER_SECRET_KEY_BASE,
  };
}

function startNode(url, node) {
  return startChatServer({ name: node, env: nodeEnv(url, node), timeoutMs: START_MS });
}

/** A stock phoenix client on `node` as `user`, its `Presence` list and every leave it saw. */
class Watcher {
  constructor(node, user) {
    this.node = node;
    this.user = user;
    this.leaves = [];
    this.joins = [];
    const { socket } = makeSocket(node.port, { params: { user }, timeout: JOIN_MS });
    this.socket = socket;
  }

  async open() {
    await connect(this.socket, JOIN_MS);
    this.ch = this.socket.channel(TOPIC);
    this.presence = new Presence(this.ch);
    this.presence.onJoin((id, current) => {
      if (!current) this.joins.push(id);
    });
    this.presence.onLeave((id, current) => {
      if (current.metas.length === 0) this.leaves.push(id);
    });
    await joinOk(this.ch, JOIN_MS);
    return this;
  }

  /** The users online, sorted. */
  online() {
    return this.presence.list((id) => id).sort();
  }

  async until(expected, what, ms = CONVERGE_MS) {
    const deadline = Date.now() + ms;
    while (JSON.stringify(this.online()) !== JSON.stringify(expected)) {
      if (Date.now() > deadline) {
        assert.fail(`${what}: ${this.user} on ${this.node.name} lists ${JSON.stringify(this.online())}, expected ${JSON.stringify(expected)}\n${this.node.tail(10)}`);
      }
      await sleep(20);
    }
    return Date.now();
  }

  close() {
    try {
      this.socket.disconnect();
    } catch {
      // already gone
    }
  }
}

for (const [brokerName, startBroker] of [
  ["Redis", startRedis],
  ["NATS", startNats],
]) {
  describe(`presence across three chat demos over ${brokerName}`, () => {
    let broker;
    let nodes = [];
    const watchers = [];
    /** The open watcher of each user. */
    const current = {};

    const watch = async (node, user) => {
      const w = await new Watcher(node, user).open();
      watchers.push(w);
      current[user] = w;
      return w;
    };

    before(async () => {
      broker = await startBroker();
      nodes = await Promise.all([1, 2, 3].map((i) => startNode(broker.url, `presence-${i}`)));
    }, HOOK);

    after(async () => {
      for (const w of watchers) w.close();
      await Promise.all(nodes.map((n) => n.stop()));
      await broker?.stop();
    }, HOOK);

    test("every client lists the users of every node, and a user who leaves leaves every list", TEST, async () => {
      const ws = [];
      for (const [i, node] of nodes.entries()) ws.push(await watch(node, `u${i + 1}`));
      for (const w of ws) await w.until(["u1", "u2", "u3"], "all three online");
      ws[1].close();
      for (const w of [ws[0], ws[2]]) await w.until(["u1", "u3"], "u2 left");
      for (const w of [ws[0], ws[2]]) assert.deepEqual(w.leaves, ["u2"]);
      // u2 back for the next tests.
      await watch(nodes[1], "u2");
      for (const w of [ws[0], ws[2]]) await w.until(["u1", "u2", "u3"], "u2 back");
    });

    test("the broker stopped longer than the down period makes nobody leave", TEST, async () => {
      const ws = [current.u1, current.u2, current.u3];
      for (const w of ws) await w.until(["u1", "u2", "u3"], "all online before");
      const leavesBefore = ws.map((w) => w.leaves.length);
      await broker.stop();
      await sleep(DOWN_MS + 700);
      await broker.restart();
      // Back and resynced: a new user on node 1 reaches the others.
      const extra = await watch(nodes[0], "u4");
      for (const w of [...ws, extra]) await w.until(["u1", "u2", "u3", "u4"], "u4 after the restart");
      // Well past the down period, counted from the restart too.
      await sleep(DOWN_MS + 500);
      for (const [k, w] of ws.entries()) {
        assert.equal(w.leaves.length, leavesBefore[k], `${w.user} saw nobody leave: ${JSON.stringify(w.leaves)}`);
        assert.deepEqual(w.online(), ["u1", "u2", "u3", "u4"]);
      }
      extra.close();
      for (const w of ws) await w.until(["u1", "u2", "u3"], "u4 left");
    });

    test("a node stopped with SIGSTOP is down, then back after SIGCONT", TEST, async () => {
      const [w1, w2, w3] = [current.u1, current.u2, current.u3];
      for (const w of [w1, w2, w3]) await w.until(["u1", "u2", "u3"], "all online before");
      const stopped = nodes[2];
      stopped.proc.kill("SIGSTOP");
      try {
        const t0 = Date.now();
        for (const w of [w1, w2]) await w.until(["u1", "u2"], "u3 down while its node is stopped");
        assert.ok(Date.now() - t0 >= DOWN_MS - 200, `not before the down period (${Date.now() - t0} ms)`);
      } finally {
        stopped.proc.kill("SIGCONT");
      }
      for (const w of [w1, w2]) await w.until(["u1", "u2", "u3"], "u3 back after SIGCONT");
      // The resumed node resyncs: its client's list is right, with nobody lost meanwhile.
      await w3.until(["u1", "u2", "u3"], "the resumed node's list");
      await sleep(DOWN_MS + 500);
      assert.deepEqual(w3.online(), ["u1", "u2", "u3"], "and it stays right");
    });

    // Last: it kills a node.
    test("kill -9: the node's user leaves after the down period; restarted with its name, only its new user is there", TEST, async () => {
      const [w1, w2] = [current.u1, current.u2];
      const killed = nodes[2];
      const t0 = Date.now();
      killed.proc.kill("SIGKILL");
      for (const w of [w1, w2]) await w.until(["u1", "u2"], "u3 gone after kill -9");
      assert.ok(Date.now() - t0 >= DOWN_MS - 200, `not before the down period (${Date.now() - t0} ms)`);
      await killed.exited;
      nodes[2] = await startNode(broker.url, "presence-3");
      const fresh = await watch(nodes[2], "u5");
      for (const w of [w1, w2, fresh]) await w.until(["u1", "u2", "u5"], "the restarted node's new user, not the old one");
      await sleep(500);
      for (const w of [w1, w2, fresh]) assert.deepEqual(w.online(), ["u1", "u2", "u5"]);
    });
  });
}
