// The chat demo as a cluster (examples/chat/CONTRACT.md "Cluster", docs/CLUSTER.md): for Redis
// and for NATS, a real broker server of the test's own (tests/lib/brokers.mjs), three chat demo
// processes sharing it (SB_CLUSTER, distinct SB_NODE, SB_HEARTBEAT_MS=100 so they start fast)
// and one stock phoenix client per node, each with its own user, all in `room:lobby`:
//
// - every client sends 1 000 `new_msg` (a few in flight at once) and then an end marker; every
//   client receives every message of every sender exactly once, in each sender's order;
// - a message sent on node 2 appears on nodes 1 and 3;
// - each node said on stderr that it joined the cluster (name and URL);
// - without SB_NODE two demos on one machine get distinct default names (the core refuses a
//   second live node with a name already in use, so both starting shows it);
// - a long-poll session opened on node 1 joins through node 2 and polls node 3 (each request
//   is forwarded through the broker to the session's node: no sticky sessions), gets a message
//   sent on node 1 and sends one that every node's client gets;
// - while the broker is down a message still reaches the sender's node, is answered ok and
//   the channel stays; once the broker is back (same port) messages cross again.
//
// And, without a broker: a bad SB_CLUSTER URL, or SB_CLUSTER without SB_SECRET_KEY_BASE (the
// demos serve long-poll, which in a cluster needs one secret on every node), makes the demo exit
// non-zero with the core's message on stderr.
//
// The demo command is env SB_CHAT_CMD (a JSON argv array), default the Rust example binary,
// as for tests/browser (tests/lib/server.mjs). Every wait has a deadline; every process the
// suite starts is stopped by its PID (ServerProcess.stop, the broker's stop()).

import { execFile } from "node:child_process";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { CLUSTER_SECRET_KEY_BASE, chatCommand, startChatServer } from "../browser/chat_server.mjs";
import { redisCli, startNats, startRedis } from "../lib/brokers.mjs";
import { lpOpen, lpPollUntil, lpPost } from "../lib/longpoll.mjs";
import { connect, joinOk, makeSocket, outcome } from "../lib/phx.mjs";
import { REPO } from "../lib/server.mjs";
import { deferred, waitUntil, withTimeout } from "../lib/wait.mjs";

const TOPIC = "room:lobby";
const NODES = 3;
/** `new_msg` per sender in the all-to-all test (3 senders: 3 000 messages at every client). */
const MESSAGES = 1000;
/** Pushes a client has in flight (sent, reply not yet received) at most. */
const WINDOW = 16;
/** Deadline of one push's reply, of a join, and of all deliveries of one test, in ms. */
const PUSH_MS = 15_000;
const JOIN_MS = 15_000;
const DELIVERY_MS = 60_000;
const START_MS = 30_000;
const TEST = { timeout: 120_000 };
const HOOK = { timeout: 90_000 };

/**
 * The env of a demo joining the cluster at `url` as `node` (SB_NODE empty, which the demos
 * read as unset, when `node` is undefined: an SB_NODE of the test's own env is not inherited),
 * with the secret every node shares for long-poll's session tokens.
 */
function clusterEnv(url, node) {
  return { SB_CLUSTER: url, SB_NODE: node ?? "", SB_HEARTBEAT_MS: "100", SB_SECRET_KEY_BASE: CLUSTER_SECRET_KEY_BASE };
}

/**
 * Starts one demo per entry of `envs` in parallel; resolves with them all, or stops the ones
 * that started and rejects with the first failure.
 */
async function startNodes(envs, label) {
  const settled = await Promise.allSettled(
    envs.map((env, i) => startChatServer({ name: `${label} ${i + 1}`, env, timeoutMs: START_MS })),
  );
  const started = settled.filter((s) => s.status === "fulfilled").map((s) => s.value);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) {
    await Promise.all(started.map((n) => n.stop()));
    throw failed.reason;
  }
  return started;
}

/** One stock phoenix client on one node, joined to `room:lobby`, recording its `new_msg`s. */
class ChatClient {
  /** `node`: the ServerProcess it connects to. */
  constructor(node, user) {
    this.node = node;
    this.user = user;
    /** Every `new_msg` payload received, in order. */
    this.got = [];
    /** How many times each body was received (so that waits cost O(1) per message). */
    this.counts = new Map();
    /** Channel errors and socket closes seen (a client that lost its channel misses messages). */
    this.troubles = [];
    this.waiters = new Set();
    const { socket, rec } = makeSocket(node.port, { params: { user }, timeout: PUSH_MS });
    this.socket = socket;
    this.rec = rec;
  }

  async open() {
    await connect(this.socket, JOIN_MS);
    this.socket.onClose((e) => this.troubles.push(`socket closed (${e?.code ?? "?"})`));
    this.ch = this.socket.channel(TOPIC);
    this.ch.on("new_msg", (m) => this.#received(m));
    this.ch.onError((e) => this.troubles.push(`channel error ${JSON.stringify(e ?? null)}`));
    await joinOk(this.ch, JOIN_MS);
    return this;
  }

  #received(m) {
    this.got.push(m);
    this.counts.set(m?.body, (this.counts.get(m?.body) ?? 0) + 1);
    for (const w of this.waiters) {
      if (w.pred()) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  /** How many times a `new_msg` with this body was received. */
  seen(body) {
    return this.counts.get(body) ?? 0;
  }

  /** Resolves once `pred()` holds, checked after every message; rejects after `ms`. */
  async until(pred, what, ms = DELIVERY_MS) {
    if (pred()) return;
    const d = deferred();
    const w = { pred, resolve: d.resolve };
    this.waiters.add(w);
    try {
      await withTimeout(d.promise, ms, `${what} at ${this.user} (on ${this.node.name})`);
    } catch (e) {
      e.message += `; ${this.got.length} new_msg received; troubles: ${this.troubles.join(", ") || "none"}`;
      throw e;
    } finally {
      this.waiters.delete(w);
    }
  }

  /** Pushes `new_msg {body}`; resolves with `{status, response}` ("ok", "error", "timeout"). */
  send(body) {
    return outcome(this.ch.push("new_msg", { body }, PUSH_MS), PUSH_MS + 5000);
  }

  /** Sends every body in order with at most WINDOW replies outstanding; all must be ok. */
  async sendAll(bodies) {
    const inflight = [];
    const results = [];
    for (const body of bodies) {
      inflight.push(this.send(body).then((r) => results.push({ body, ...r })));
      if (inflight.length >= WINDOW) await inflight.shift();
    }
    await Promise.all(inflight);
    const bad = results.filter((r) => r.status !== "ok");
    assert.deepEqual(bad, [], `replies to ${this.user}'s new_msg that were not ok`);
  }

  close() {
    try {
      this.socket.disconnect();
    } catch {
      // already gone
    }
  }
}

/** The `new_msg`s of `client` whose body starts with `tag`. */
function tagged(client, tag) {
  return client.got.filter((m) => typeof m.body === "string" && m.body.startsWith(`${tag} `));
}

let runs = 0;
/** A tag no other test of this process uses. */
function newTag(name) {
  runs += 1;
  return `${name}-${process.pid}-${runs}`;
}

/** Failure context: each node's last output lines. */
function tails(nodes) {
  return nodes.map((n) => `--- ${n.name} (${n.address}):\n${n.tail(15)}`).join("\n");
}

for (const [brokerName, startBroker] of [
  ["Redis", startRedis],
  ["NATS", startNats],
]) {
  describe(`three chat demos clustered over ${brokerName}`, () => {
    let broker;
    let nodes = [];
    let clients = [];

    before(async () => {
      broker = await startBroker();
      nodes = await startNodes(
        Array.from({ length: NODES }, (_, i) => clusterEnv(broker.url, `chat-${i + 1}`)),
        "chat node",
      );
      clients = nodes.map((n, i) => new ChatClient(n, `user${i + 1}`));
      await Promise.all(clients.map((c) => c.open()));
    }, HOOK);

    after(async () => {
      for (const c of clients) c.close();
      await Promise.all(nodes.map((n) => n.stop()));
      await broker?.stop();
    }, HOOK);

    test("each node says on stderr that it joined the cluster, with its name and the URL", TEST, async () => {
      for (const [i, node] of nodes.entries()) {
        await waitUntil(
          () => node.output.some((l) => /joined the cluster/.test(l) && l.includes(`chat-${i + 1}`) && l.includes(broker.url)),
          { timeout: 5000, msg: `the "joined the cluster" line of ${node.name}\n${node.tail(10)}` },
        );
      }
    });

    test(`every client receives every sender's ${MESSAGES} messages exactly once, in order`, TEST, async () => {
      const tag = newTag("all");
      const ends = (c) => clients.filter((_, k) => c.seen(`${tag} ${k} end`) > 0).length;
      // Per-sender order means a sender's end marker comes after all of its messages, so once
      // every client has every sender's marker, whatever it got of this test is all there is.
      const delivered = clients.map((c) => c.until(() => ends(c) === NODES, `the ${NODES} end markers`));
      delivered.forEach((p) => p.catch(() => {})); // awaited below
      await Promise.all(
        clients.map((c, k) =>
          c.sendAll([...Array.from({ length: MESSAGES }, (_, i) => `${tag} ${k} ${i}`), `${tag} ${k} end`]),
        ),
      );
      try {
        await Promise.all(delivered);
      } catch (e) {
        e.message += `\n${tails(nodes)}`;
        throw e;
      }
      const expected = [...Array.from({ length: MESSAGES }, (_, i) => String(i)), "end"];
      for (const c of clients) {
        const got = tagged(c, tag);
        assert.equal(got.length, NODES * (MESSAGES + 1), `messages at ${c.user} (on ${c.node.name})`);
        for (const [k, sender] of clients.entries()) {
          const fromSender = got.filter((m) => m.body.startsWith(`${tag} ${k} `));
          assert.ok(
            fromSender.every((m) => m.user === sender.user),
            `${sender.user}'s messages at ${c.user} carry the user ${sender.user}`,
          );
          assert.deepEqual(
            fromSender.map((m) => m.body.slice(`${tag} ${k} `.length)),
            expected,
            `${sender.user}'s messages at ${c.user} (on ${c.node.name}): each once, in order`,
          );
        }
        assert.deepEqual(c.troubles, [], `${c.user} kept its channel`);
      }
    });

    test("a message sent on node 2 appears on nodes 1 and 3", TEST, async () => {
      const tag = newTag("one");
      const body = `${tag} hello from node 2`;
      const seen = (c) => tagged(c, tag).filter((m) => m.body === body);
      const sender = clients[1];
      const reply = await sender.send(body);
      assert.equal(reply.status, "ok", `reply to the new_msg: ${JSON.stringify(reply)}`);
      // A second message after it: once it arrived, the first one arrived as often as it will.
      assert.equal((await sender.send(`${tag} after`)).status, "ok");
      try {
        await Promise.all(clients.map((c) => c.until(() => c.seen(`${tag} after`) > 0, "the second message")));
      } catch (e) {
        e.message += `\n${tails(nodes)}`;
        throw e;
      }
      for (const c of clients) {
        assert.deepEqual(seen(c), [{ user: sender.user, body }], `at ${c.user} (on ${c.node.name})`);
      }
    });

    test("a long-poll session's requests may reach any node: opened on 1, joined through 2, polled on 3", TEST, async () => {
      const tag = newTag("lp");
      const [one, two, three] = nodes;
      const token = await lpOpen(one.port, "user=poller&vsn=2.0.0&");
      // The channel's frames: join ref "1" (its phx_join's ref), then each push's own ref.
      const frame = (ref, event, payload) => JSON.stringify(["1", ref, TOPIC, event, payload]);
      const poll = (node, pred, what) =>
        lpPollUntil(node.port, token, pred, { timeout: DELIVERY_MS }).catch((e) => {
          e.message += ` (${what})\n${tails(nodes)}`;
          throw e;
        });
      assert.deepEqual(await lpPost(two.port, token, [frame("1", "phx_join", {})]), { status: 200 });
      const joined = await poll(three, (f) => f[1] === "1" && f[3] === "phx_reply", "the join reply");
      assert.deepEqual(joined.find((f) => f[1] === "1")[4], { status: "ok", response: {} });

      // A message sent on node 1 reaches the poller, polling node 2.
      const toPoller = `${tag} to the poller`;
      assert.equal((await clients[0].send(toPoller)).status, "ok");
      const got = await poll(two, (f) => f[3] === "new_msg" && f[4].body === toPoller, "the message from node 1");
      assert.deepEqual(got.find((f) => f[3] === "new_msg" && f[4].body === toPoller)[4], { user: clients[0].user, body: toPoller });

      // The poller's message, posted through node 3, reaches every node's client.
      const fromPoller = `${tag} from the poller`;
      assert.deepEqual(await lpPost(three.port, token, [frame("2", "new_msg", { body: fromPoller })]), { status: 200 });
      const replied = await poll(one, (f) => f[1] === "2" && f[3] === "phx_reply", "the new_msg reply");
      assert.deepEqual(replied.find((f) => f[1] === "2")[4], { status: "ok", response: {} });
      for (const c of clients) await c.until(() => c.seen(fromPoller) > 0, "the poller's message");
      for (const c of clients) {
        assert.deepEqual(tagged(c, tag).filter((m) => m.body === fromPoller), [{ user: "poller", body: fromPoller }]);
      }
    });

    test("without SB_NODE, two demos on one machine get distinct names and both start", TEST, async () => {
      const extra = await startNodes([clusterEnv(broker.url), clusterEnv(broker.url)], "unnamed chat node");
      try {
        const names = [];
        for (const node of extra) {
          const line = await waitUntil(
            () => node.output.find((l) => /joined the cluster/.test(l) && l.includes(broker.url)),
            { timeout: 5000, msg: `the "joined the cluster" line of ${node.name}\n${node.tail(10)}` },
          );
          names.push(/node (\S+) joined/.exec(line)?.[1]);
        }
        assert.ok(names.every(Boolean), `node names in ${JSON.stringify(names)}`);
        assert.notEqual(names[0], names[1]);
      } finally {
        await Promise.all(extra.map((n) => n.stop()));
      }
    });

    // Last: it stops the broker. Every demo's handler catches the broker error of a broadcast
    // that could not cross (CONTRACT.md "Cluster"), so the sender's channel stays.
    test("while the broker is down messages stay on their node and channels stay; once it is back they cross again", TEST, async () => {
      const tag = newTag("down");
      const [first] = clients;
      await broker.stop();
      // Until the node has seen the link go down, a message may still be queued for the broker;
      // then its broadcasts fail and the demo says so. Every reply is ok, every message reaches
      // the sender's own node.
      let i = 0;
      await waitUntil(
        async () => {
          const body = `${tag} local ${i++}`;
          const r = await first.send(body);
          assert.equal(r.status, "ok", `reply to ${body} while the broker is down: ${JSON.stringify(r)}`);
          await first.until(() => first.seen(body) > 0, `${body} on its own node`, PUSH_MS);
          return first.node.output.some((l) => l.includes("reached this node only"));
        },
        { timeout: 30_000, interval: 50, msg: `"reached this node only" in ${first.node.name}'s output\n${tails(nodes)}` },
      );
      assert.deepEqual(first.troubles, [], `${first.user} kept its channel`);
      assert.equal(first.ch.state, "joined");

      await broker.restart();
      // Each node reconnects by itself (backoff from 100 ms): probe each link of the ring
      // 1 → 2 → 3 → 1 until a message crosses it, so every node publishes and receives again.
      for (const [k, sender] of clients.entries()) {
        const receiver = clients[(k + 1) % NODES];
        let j = 0;
        await waitUntil(
          async () => {
            const body = `${tag} probe ${k} ${j++}`;
            assert.equal((await sender.send(body)).status, "ok");
            await sender.until(() => sender.seen(body) > 0, `${body} on its own node`, PUSH_MS);
            return tagged(receiver, `${tag} probe ${k}`).length > 0;
          },
          { timeout: DELIVERY_MS, interval: 100, msg: `a message from ${sender.node.name} on ${receiver.node.name} after the broker restarted\n${tails(nodes)}` },
        );
      }
      // Then all to all again, each message once and in order.
      const again = newTag("again");
      const count = 20;
      const ends = (c) => clients.filter((_, k) => c.seen(`${again} ${k} end`) > 0).length;
      const delivered = clients.map((c) => c.until(() => ends(c) === NODES, "the end markers after the restart"));
      delivered.forEach((p) => p.catch(() => {}));
      await Promise.all(
        clients.map((c, k) => c.sendAll([...Array.from({ length: count }, (_, n) => `${again} ${k} ${n}`), `${again} ${k} end`])),
      );
      await Promise.all(delivered);
      for (const c of clients) {
        for (const k of clients.keys()) {
          assert.deepEqual(
            tagged(c, again).filter((m) => m.body.startsWith(`${again} ${k} `)).map((m) => m.body.slice(`${again} ${k} `.length)),
            [...Array.from({ length: count }, (_, n) => String(n)), "end"],
            `node ${k + 1}'s messages at ${c.user} after the restart`,
          );
        }
        assert.deepEqual(c.troubles, [], `${c.user} kept its channel`);
      }
    });
  });
}

/**
 * Runs the demo with `env` to completion (it must not start, so a demo that does is killed
 * after START_MS), and asserts that it exited non-zero without listening. Resolves with its
 * stderr and a text showing the whole run for failure messages.
 */
async function refusedRun(env) {
  const [cmd, ...args] = chatCommand();
  // Run to completion, so its whole stderr is there to read.
  const run = await new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: REPO, env: { ...process.env, PORT: "0", ...env }, timeout: START_MS, killSignal: "SIGKILL" },
      (err, stdout, stderr) => resolve({ code: err ? (err.killed ? `killed after ${START_MS} ms` : err.code) : 0, stdout, stderr }),
    );
  });
  const shown = `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
  assert.ok(Number.isInteger(run.code) && run.code !== 0, `the demo exits non-zero: ${shown}`);
  assert.doesNotMatch(run.stdout, /^LISTENING /m, shown);
  return { stderr: run.stderr, shown };
}

test("a bad SB_CLUSTER URL makes the demo exit non-zero with the core's message on stderr", TEST, async () => {
  const url = "bogus://127.0.0.1:1";
  const { stderr, shown } = await refusedRun(clusterEnv(url, "bad"));
  // The core's words (docs/OPTIONS.md): `broker` must be a broker URL ... (got the string "bogus://...").
  assert.match(stderr, /`broker` must be a broker URL/, shown);
  assert.ok(stderr.includes(url), `stderr names the URL: ${shown}`);
});

test("SB_CLUSTER without SB_SECRET_KEY_BASE makes the demo exit non-zero with the core's message on stderr", TEST, async () => {
  // Nothing listens there: the core refuses the options before it connects to the broker.
  // SB_SECRET_KEY_BASE empty reads as unset (one of the test's own env is not inherited).
  const { stderr, shown } = await refusedRun({ ...clusterEnv("redis://127.0.0.1:1", "no-secret"), SB_SECRET_KEY_BASE: "" });
  // The core's words; Node spells the option in camelCase.
  assert.match(
    stderr,
    /long-poll in a cluster needs `(secret_key_base|secretKeyBase)`, the same on every node, so that every node accepts the others' session tokens/,
    shown,
  );
});

/** Publishes `count` messages of `bytes` bytes of garbage on `channel` over one connection. */
function flood(port, channel, count, bytes) {
  return new Promise((resolve, reject) => {
    const data = "x".repeat(bytes);
    const command = `*3\r\n$7\r\nPUBLISH\r\n$${channel.length}\r\n${channel}\r\n$${data.length}\r\n${data}\r\n`;
    const conn = net.connect(port, "127.0.0.1");
    let replies = 0;
    conn.on("data", (chunk) => {
      replies += (chunk.toString().match(/\r\n/g) ?? []).length;
      if (replies >= count) {
        conn.end();
        resolve();
      }
    });
    conn.on("error", reject);
    conn.on("connect", () => {
      for (let i = 0; i < count; i++) conn.write(command);
    });
  });
}

test("a node Redis cuts at its client-output-buffer-limit (stopped, then flooded) notices, reconnects and gets messages again", TEST, async () => {
  // Redis drops a pub/sub client as soon as 64 kB wait unread for it.
  const broker = await startRedis({ args: ["--client-output-buffer-limit", "pubsub 64kb 32kb 1"] });
  const nodes = await startNodes([clusterEnv(broker.url, "cut-a"), clusterEnv(broker.url, "cut-b")], "cut");
  const [a, b] = nodes;
  const clients = [];
  try {
    for (const [k, node] of nodes.entries()) clients.push(await new ChatClient(node, `cutter${k}`).open());
    const pubsubClients = async () => (await redisCli(broker.port, "CLIENT", "LIST", "TYPE", "pubsub")).trim().split("\n").filter(Boolean).length;
    assert.equal(await pubsubClients(), 2);
    // b stops reading (the whole process stops); 16 MB for it fill the socket buffers, then Redis cuts it.
    b.proc.kill("SIGSTOP");
    let stopped = true;
    try {
      await flood(broker.port, "switchboard", 160, 100_000);
      await waitUntil(async () => (await pubsubClients()) === 1, { timeout: 30_000, interval: 100, msg: `Redis cut b's subscriber\n${tails(nodes)}` });
    } finally {
      if (stopped) b.proc.kill("SIGCONT");
      stopped = false;
    }
    // b reads what was buffered, finds the connection closed, reconnects: a message from a reaches b again.
    const tag = newTag("cut");
    const [onA, onB] = clients;
    let j = 0;
    await waitUntil(
      async () => {
        const body = `${tag} probe ${j++}`;
        assert.equal((await onA.send(body)).status, "ok");
        await onA.until(() => onA.seen(body) > 0, `${body} on its own node`, PUSH_MS);
        return tagged(onB, `${tag} probe`).length > 0;
      },
      { timeout: DELIVERY_MS, interval: 200, msg: `a message from a on b after Redis cut b\n${tails(nodes)}` },
    );
    assert.equal(await pubsubClients(), 2, "both nodes subscribed again");
    // The Rust demo prints the core's log: the node said it lost the link and got it back.
    if (!process.env.SB_CHAT_CMD) {
      assert.ok(b.output.some((l) => l.includes("broker link lost")), tails([b]));
      assert.ok(b.output.some((l) => l.includes("broker link back")), tails([b]));
    }
  } finally {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await broker.stop();
  }
});
