// The wire side of the chat contract (examples/chat/CONTRACT.md), checked with the stock
// phoenix client on Node so that every host language's chat server is held to the same rules
// the page relies on: connect needs a non-empty `user`; only `room:*` routes; `new_msg` is
// broadcast as `{user, body}` with the name from the connect params and answered ok; presence
// is tracked per join with meta `{online_at: <ms since epoch>}` and a `presence_state` push.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";
import { startChatServer } from "./chat_server.mjs";
import { join, push, within, withChatServer } from "./chat_client.mjs";

const ctx = withChatServer(startChatServer);

function wsUrl(query) {
  return `${ctx.server.base.replace("http:", "ws:")}/socket/websocket?${new URLSearchParams({ ...query, vsn: "2.0.0" })}`;
}

/** The HTTP status of a WebSocket upgrade (101 when it succeeds). */
function upgradeStatus(query) {
  return within(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl(query));
      ws.once("open", () => {
        ws.terminate();
        resolve(101);
      });
      ws.once("unexpected-response", (_req, res) => {
        resolve(res.statusCode);
        ws.terminate();
      });
      ws.once("error", (e) => {
        if (!/Unexpected server response/.test(e.message)) reject(e);
      });
    }),
    "the upgrade answer",
  );
}

function connect(user) {
  const socket = new Socket(`${ctx.server.base.replace("http:", "ws:")}/socket`, {
    transport: WebSocket,
    params: { user },
    reconnectAfterMs: () => 60_000,
  });
  ctx.sockets.push(socket);
  socket.connect();
  return socket;
}

test("connect is refused (403) without a non-empty user, accepted with one", { timeout: 30_000 }, async () => {
  assert.equal(await upgradeStatus({}), 403);
  assert.equal(await upgradeStatus({ user: "" }), 403);
  assert.equal(await upgradeStatus({ user: "   " }), 403);
  assert.equal(await upgradeStatus({ user: "carol" }), 101);
});

test("only room:* topics route", { timeout: 30_000 }, async () => {
  const socket = connect("dave");
  const reply = await within(
    new Promise((resolve) => {
      socket.channel("lobby", {}).join().receive("error", resolve).receive("ok", () => resolve("joined"));
    }),
    "the unmatched join",
  );
  assert.deepEqual(reply, { reason: "unmatched topic" });
});

test("new_msg is broadcast as {user, body} to the whole room and answered ok {}", { timeout: 30_000 }, async () => {
  const topic = `room:contract-${Date.now()}`;
  const erin = connect("erin").channel(topic, {});
  const frank = connect("frank").channel(topic, {});
  await join(erin);
  await join(frank);

  const seenBy = (channel) =>
    within(new Promise((resolve) => channel.on("new_msg", resolve)), `new_msg on ${channel.topic}`);
  const atFrank = seenBy(frank);
  const atErin = seenBy(erin);
  // A `user` in the payload is ignored: the name comes from the connect params.
  assert.deepEqual(await push(erin, "new_msg", { body: "hi <all>", user: "mallory" }), { status: "ok", response: {} });
  assert.deepEqual(await atFrank, { user: "erin", body: "hi <all>" });
  assert.deepEqual(await atErin, { user: "erin", body: "hi <all>" });

  const bad = await push(erin, "new_msg", { body: 42 });
  assert.equal(bad.status, "error");
  assert.deepEqual(bad.response, { reason: "body must be a string" });
});

test("a new_msg over 8 192 bytes is answered {reason: message too long} and not broadcast", { timeout: 30_000 }, async () => {
  const topic = `room:long-${Date.now()}`;
  const hal = connect("hal").channel(topic, {});
  const ivy = connect("ivy").channel(topic, {});
  await join(hal);
  await join(ivy);
  const seen = [];
  let sawLast;
  const last = new Promise((resolve) => (sawLast = resolve));
  ivy.on("new_msg", (m) => {
    seen.push(m.body);
    if (m.body === "after") sawLast();
  });
  // {"body":"…"} is 11 bytes of JSON around the text: 8 181 characters make 8 192 bytes.
  const atLimit = "a".repeat(8192 - 11);
  assert.deepEqual(await push(hal, "new_msg", { body: atLimit }), { status: "ok", response: {} });
  const long = await push(hal, "new_msg", { body: atLimit + "b" });
  assert.deepEqual(long, { status: "error", response: { reason: "message too long" } });
  // Broadcasts reach ivy in order: once the last one arrived, every earlier one had.
  assert.deepEqual(await push(hal, "new_msg", { body: "after" }), { status: "ok", response: {} });
  await within(last, "the broadcast of the last message");
  assert.deepEqual(seen, [atLimit, "after"]);
});

test("a frame over the default 65 536 bytes closes the connection with 1009", { timeout: 30_000 }, async () => {
  const ws = new WebSocket(wsUrl({ user: "jay" }));
  await within(new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject)), "the upgrade");
  const closed = within(new Promise((resolve) => ws.once("close", resolve)), "the close");
  const topic = "room:frame-limit";
  // Just under the limit: a well-formed frame is served (its join is answered).
  const pad = "p".repeat(65_536 - 200);
  ws.send(JSON.stringify(["1", "1", topic, "phx_join", { pad }]));
  const reply = await within(new Promise((resolve) => ws.once("message", (m) => resolve(JSON.parse(m)))), "the join reply");
  assert.deepEqual(reply.slice(0, 4), ["1", "1", topic, "phx_reply"]);
  assert.equal(reply[4].status, "ok");
  ws.send(JSON.stringify(["1", "2", topic, "new_msg", { body: "x".repeat(65_536) }]));
  assert.equal(await closed, 1009);
});

test("each join is tracked with {online_at: ms since epoch} and gets presence_state", { timeout: 30_000 }, async () => {
  const topic = `room:presence-${Date.now()}`;
  const gina = connect("gina").channel(topic, {});
  // Bound before the join, as the page does, so that it sees the first presence_state.
  const presence = new Presence(gina);
  const state = within(new Promise((resolve) => gina.on("presence_state", resolve)), "presence_state");
  const before = Date.now();
  await join(gina);
  const first = await state;
  assert.deepEqual(Object.keys(first), ["gina"]);
  assert.equal(first.gina.metas.length, 1);
  const meta = first.gina.metas[0];
  assert.equal(typeof meta.phx_ref, "string");
  assert.ok(Number.isInteger(meta.online_at), `online_at is an integer: ${meta.online_at}`);
  assert.ok(Math.abs(meta.online_at - before) < 60_000, `online_at is ms since epoch: ${meta.online_at}`);

  // A second connection with the same name adds a second meta under the same key, seen
  // through the JS Presence class as the page uses it; closing it removes only that meta.
  const synced = (pred, what) =>
    within(
      new Promise((resolve) => {
        const check = () => {
          const list = presence.list((name, { metas }) => ({ name, n: metas.length }));
          if (pred(list)) resolve(list);
        };
        presence.onSync(check);
      }),
      what,
    );
  const twice = synced((l) => l.length === 1 && l[0].n === 2, "two metas for gina");
  const socket2 = connect("gina");
  await join(socket2.channel(topic, {}));
  assert.deepEqual(await twice, [{ name: "gina", n: 2 }]);

  const once = synced((l) => l.length === 1 && l[0].n === 1, "one meta for gina after a disconnect");
  socket2.disconnect();
  assert.deepEqual(await once, [{ name: "gina", n: 1 }]);
});
