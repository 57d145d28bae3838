// The chat contract over long-poll (examples/chat/CONTRACT.md "Long-poll"), checked with the
// stock phoenix client on Node (`transport: LongPoll`, tests/lib/longpoll.mjs) against every
// host language's demo (SB_CHAT_CMD), started with a short window (SB_LONGPOLL_WINDOW_MS):
//
// - /socket/longpoll is served: connect needs a non-empty `user` there too (403 in the
//   session-open answer), and a poll with nothing to deliver is answered 204 after the window;
// - a long-poll client joins a room, sends `new_msg` and receives the broadcast through a poll;
// - a long-poll and a WebSocket client in one room list each other online and see each other's
//   messages;
// - a long-poll client that stops polling leaves the room when its session ends; polling again,
//   it is answered 410 `session_gone`, closes 3410, reconnects, rejoins and chats.
//
// Every wait is on an event (a reply, a broadcast, a presence sync, a close) with a deadline.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Presence, Socket } from "phoenix";
import WebSocket from "ws";
import { startChatServer } from "./chat_server.mjs";
import { join, push, within, withChatServer } from "./chat_client.mjs";
import { lpOpen, lpRequest, makeLongPollSocket, polledFrames } from "../lib/longpoll.mjs";
import { connect } from "../lib/phx.mjs";

/** The demo's long-poll window: a session ends 1.5 windows after its last poll. */
const WINDOW_MS = 1000;
/** Deadline of a session's end: well under the default window's 15 s (an ignored env fails). */
const SESSION_END_MS = WINDOW_MS * 8;
const TEST = { timeout: 60_000 };

const ctx = withChatServer(() => startChatServer({ env: { SB_LONGPOLL_WINDOW_MS: String(WINDOW_MS) } }));

const port = () => Number(new URL(ctx.server.base).port);
const room = (name) => `room:longpoll-${name}-${process.pid}-${Date.now()}`;

/** A stock phoenix client over LongPoll as `user`, open; `log` records its HTTP requests. */
async function longPollClient(user) {
  // Pushes wait longer than the helper's 1 s: a loaded machine must not time them out.
  const { socket, log } = makeLongPollSocket(port(), { params: { user }, timeout: 10_000 });
  ctx.sockets.push(socket);
  await connect(socket, 10_000);
  return { socket, log };
}

/** A stock phoenix client over WebSocket as `user`, connecting. */
function webSocketClient(user) {
  const socket = new Socket(`${ctx.server.base.replace("http:", "ws:")}/socket`, {
    transport: WebSocket,
    params: { user },
    reconnectAfterMs: () => 100,
  });
  ctx.sockets.push(socket);
  socket.connect();
  return socket;
}

/**
 * A member of `topic` on `socket`: its channel, the `new_msg` payloads it got and its
 * presence list, with `until(pred, what)` resolving once `pred()` holds, re-checked at every
 * message and presence sync. Bound before the join, as the page does.
 */
function member(socket, topic) {
  const m = { channel: socket.channel(topic, {}), got: [], waiters: new Set() };
  const wake = () => {
    for (const w of m.waiters) w();
  };
  m.presence = new Presence(m.channel);
  m.presence.onSync(wake);
  m.channel.on("new_msg", (payload) => {
    m.got.push(payload);
    wake();
  });
  m.online = () => m.presence.list((name) => name).sort();
  m.until = (pred, what, ms) =>
    within(
      new Promise((resolve) => {
        const check = () => {
          if (pred()) {
            m.waiters.delete(check);
            resolve();
          }
        };
        m.waiters.add(check);
        check();
      }),
      what,
      ms,
    );
  return m;
}

/** Sends `body` from `from` and waits until every one of `to` got it from `user`. */
async function chat(from, user, body, to) {
  assert.deepEqual(await push(from.channel, "new_msg", { body }), { status: "ok", response: {} });
  for (const m of to) {
    await m.until(() => m.got.some((p) => p.body === body), `"${body}" from ${user}`);
    assert.deepEqual(m.got.find((p) => p.body === body), { user, body });
  }
}

test("/socket/longpoll is served: connect needs a user, an idle poll is answered 204 after the window", TEST, async () => {
  for (const query of ["vsn=2.0.0&", "user=&vsn=2.0.0&", "user=%20%20&vsn=2.0.0&"]) {
    const refused = await lpRequest(port(), "GET", query);
    assert.equal(refused.status, 200, query);
    assert.deepEqual(refused.json, { status: 403 }, `connect refused without a user (${query})`);
  }
  const token = await lpOpen(port(), "user=kim&vsn=2.0.0&");
  const started = Date.now();
  const idle = await lpRequest(port(), "GET", `user=kim&vsn=2.0.0&token=${encodeURIComponent(token)}`);
  const waited = Date.now() - started;
  assert.deepEqual(idle.json, { status: 204, token, messages: [] });
  // SB_LONGPOLL_WINDOW_MS reached the mount: the default window would hold the poll 10 s.
  assert.ok(waited >= WINDOW_MS * 0.8 && waited < WINDOW_MS * 5, `the idle poll took ${waited} ms`);
});

test("a long-poll client joins a room, sends new_msg and gets the broadcast through a poll", TEST, async () => {
  const topic = room("alone");
  const { socket, log } = await longPollClient("lena");
  const lena = member(socket, topic);
  assert.deepEqual(await join(lena.channel), {});
  await lena.until(() => lena.online().join() === "lena", "lena's own presence");
  await chat(lena, "lena", "hello over long-poll", [lena]);
  // It all went over HTTP: the push as an ndjson POST, the broadcast in a poll's answer.
  assert.ok(log.requests.every((r) => new URL(r.url).pathname === "/socket/longpoll"));
  assert.ok(log.requests.some((r) => r.method === "POST" && r.body.includes("hello over long-poll")));
  assert.ok(
    polledFrames(log).some((f) => f[2] === topic && f[3] === "new_msg" && f[4].body === "hello over long-poll"),
    "the broadcast came in a poll",
  );
});

test("a long-poll and a WebSocket client in one room list each other online and see each other's messages", TEST, async () => {
  const topic = room("mixed");
  const lp = await longPollClient("poller");
  const poller = member(lp.socket, topic);
  const sock = member(webSocketClient("socket"), topic);
  await join(poller.channel);
  await join(sock.channel);
  for (const m of [poller, sock]) {
    await m.until(() => m.online().join() === "poller,socket", "both users online");
  }
  await chat(poller, "poller", "from the poller", [poller, sock]);
  await chat(sock, "socket", "from the socket", [poller, sock]);
});

test("a poller that stops polling leaves when its session ends; polling again it closes 3410, rejoins and chats", TEST, async () => {
  const topic = room("gone");
  const lp = await longPollClient("sleeper");
  const sleeper = member(lp.socket, topic);
  const watcher = member(webSocketClient("watcher"), topic);
  await join(sleeper.channel);
  await join(watcher.channel);
  await watcher.until(() => watcher.online().join() === "sleeper,watcher", "both users online");
  const joinRef = sleeper.channel.joinRef();
  const token = lp.log.requests[0].response.token;

  const gone = new Promise((resolve) => lp.socket.onClose((e) => e.code === 3410 && resolve(e)));

  // The client stops polling (a laptop lid closed): its GETs are held back from now on.
  lp.log.hold = true;
  try {
    // Its session ends 1.5 windows after the last poll, like a closed WebSocket: presence leave.
    await watcher.until(() => watcher.online().join() === "watcher", "the sleeper leaving", SESSION_END_MS);
    assert.deepEqual(lp.log.closes, [], "the client itself noticed nothing yet");
  } finally {
    lp.log.release();
  }
  // Its next poll is answered 410 (session gone): the client closes 3410, reconnects with a new
  // session and rejoins the room.
  const closed = await within(gone, "close 3410");
  assert.equal(closed.reason, "session_gone");
  await sleeper.until(
    () => sleeper.channel.state === "joined" && sleeper.channel.joinRef() !== joinRef && sleeper.online().includes("sleeper"),
    "the sleeper rejoined",
  );
  const reopened = lp.log.requests.filter((r) => r.response?.status === 410 && r.response.token !== token);
  assert.ok(reopened.length >= 1, "a new session was opened");
  await watcher.until(() => watcher.online().join() === "sleeper,watcher", "the sleeper online again");
  await chat(sleeper, "sleeper", "back again", [sleeper, watcher]);
  await chat(watcher, "watcher", "welcome back", [sleeper, watcher]);
});
