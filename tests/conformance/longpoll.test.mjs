// PROTOCOL.md 9.2 scenarios 48 and 66-71: the stock phoenix client over `transport:
// LongPoll` (the fixture's /socket mount serves long-poll with a 1 s window), plus a
// long-poll and a WebSocket client in one room, seeing each other's messages and presence.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { lpOpen, lpPollUntil, lpPost, lpRequest, makeLongPollSocket, polledFrames } from "../lib/longpoll.mjs";
import { connect, joinOk, makeSocket, outcome, phxCleanup, Presence } from "../lib/phx.mjs";
import { T, uniq, useFixture } from "../lib/suite.mjs";
import { waitUntil } from "../lib/wait.mjs";

/** The fixture's window (tests/fixtures: `longpoll_window_ms` 1000 on /socket). */
const WINDOW_MS = 1000;

describe("long-poll", () => {
  const ctx = useFixture();

  async function lpSocket(t, opts) {
    const c = makeLongPollSocket(ctx.fx.port, opts);
    phxCleanup(t, c.socket);
    await connect(c.socket);
    return c;
  }

  test("66. session open: GET …&vsn=2.0.0& without token → 200 {status 410, token}; onOpen; connect params and auth token", T, async (t) => {
    const { fx } = ctx;
    const { socket, log } = await lpSocket(t, { params: { user: "u1" }, authToken: "my-token" });
    const first = log.requests[0];
    assert.equal(first.method, "GET");
    assert.equal(first.url, `http://127.0.0.1:${fx.port}/socket/longpoll?user=u1&vsn=2.0.0&`);
    assert.equal(first.response.status, 410);
    assert.equal(typeof first.response.token, "string");
    assert.deepEqual(first.response.messages, []);
    assert.equal(socket.isConnected(), true);
    const c = (await fx.log()).connects.at(-1);
    assert.deepEqual(c.params, { user: "u1", vsn: "2.0.0" }, "the session token is not a connect param");
    assert.equal(c.auth_token, "my-token", "X-Phoenix-AuthToken reaches connect");
    // Headers of every answer (raw).
    const raw = await lpRequest(fx.port, "GET", "vsn=2.0.0&");
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get("cache-control"), "no-store");
    assert.equal(raw.headers.get("access-control-allow-origin"), "*");
    assert.match(raw.headers.get("content-type"), /^application\/json/);
  });

  test("67. join and poll: POST ndjson [J,J,topic,phx_join,{}] → {status 200}; a GET with token=T carries the join reply as a string", T, async (t) => {
    const topic = uniq("room:lp-");
    const { socket, log } = await lpSocket(t);
    const token = log.requests[0].response.token;
    const ch = socket.channel(topic);
    assert.deepEqual(await joinOk(ch), {});
    const J = ch.joinRef();
    const joinPost = log.requests.find((r) => r.method === "POST" && r.body.includes("phx_join"));
    assert.equal(joinPost.headers["Content-Type"], "application/x-ndjson");
    assert.deepEqual(JSON.parse(joinPost.body), [J, J, topic, "phx_join", {}]);
    assert.deepEqual(joinPost.response, { status: 200 });
    const poll = log.requests.find(
      (r) => r.method === "GET" && r.response?.status === 200 && r.response.messages.some((m) => m.includes("phx_reply")),
    );
    assert.equal(poll.url.endsWith(`&token=${encodeURIComponent(token)}`), true, poll.url);
    assert.equal(poll.response.token, token);
    assert.ok(
      poll.response.messages.includes(JSON.stringify([J, J, topic, "phx_reply", { status: "ok", response: {} }])),
      JSON.stringify(poll.response.messages),
    );
    // Pushes, replies, pushes from the server and broadcasts all arrive as over WebSocket.
    await waitUntil(() => polledFrames(log).some((f) => f[2] === topic && f[3] === "joined"), { msg: "joined push" });
    assert.deepEqual(await outcome(ch.push("echo", { a: 1 })), { status: "ok", response: { a: 1 } });
    const err = await outcome(ch.push("err", {}));
    assert.deepEqual(err, { status: "error", response: { why: "nope" } });
  });

  test("68. idle poll: nothing for window_ms → {status 204, token T, messages []}, and the client polls again", T, async (t) => {
    const { log } = await lpSocket(t);
    const token = log.requests[0].response.token;
    await waitUntil(
      () => {
        const i = log.requests.findIndex((r) => r.response?.status === 204);
        return i >= 0 && log.requests.slice(i + 1).some((r) => r.method === "GET");
      },
      { timeout: WINDOW_MS * 4, msg: "a 204 followed by another poll" },
    );
    const idle = log.requests.find((r) => r.response?.status === 204);
    assert.deepEqual(idle.response, { status: 204, token, messages: [] });
    assert.ok(idle.answeredSeq - idle.seq >= 1);
  });

  test("69. batching: 3 pushes in one tick → one POST of 3 lines; 150 → 100 + 50, the second after the first's 200", T, async (t) => {
    const topic = uniq("room:lpbatch-");
    const { socket, log } = await lpSocket(t);
    const ch = socket.channel(topic);
    await joinOk(ch);
    const posts = () => log.requests.filter((r) => r.method === "POST");
    const before = posts().length;
    const three = [1, 2, 3].map((n) => outcome(ch.push("echo", { n })));
    assert.deepEqual((await Promise.all(three)).map((o) => o.response.n), [1, 2, 3]);
    assert.equal(posts().length, before + 1);
    assert.equal(posts().at(-1).body.split("\n").length, 3);

    const many = Array.from({ length: 150 }, (_, n) => outcome(ch.push("echo", { n }), 10_000));
    const replies = await Promise.all(many);
    assert.deepEqual(replies.map((o) => o.response.n), Array.from({ length: 150 }, (_, n) => n));
    const [a, b] = posts().slice(before + 1);
    assert.equal(posts().length, before + 3);
    assert.equal(a.body.split("\n").length, 100);
    assert.equal(b.body.split("\n").length, 50);
    assert.ok(b.seq > a.answeredSeq, "the second batch waited for the first one's answer");
  });

  test("69. [raw] 101 lines: only the first 100 are processed", T, async () => {
    const { port } = ctx.fx;
    const token = await lpOpen(port);
    const lines = Array.from({ length: 101 }, (_, i) => JSON.stringify([null, `hb${i + 1}`, "phoenix", "heartbeat", {}]));
    assert.deepEqual(await lpPost(port, token, lines), { status: 200 });
    assert.deepEqual(await lpPost(port, token, [JSON.stringify([null, "last", "phoenix", "heartbeat", {}])]), { status: 200 });
    const frames = await lpPollUntil(port, token, (f) => f[1] === "last");
    const refs = frames.map((f) => f[1]);
    assert.deepEqual(refs, [...Array.from({ length: 100 }, (_, i) => `hb${i + 1}`), "last"]);
  });

  test("70. session expiry: no poll for 1.5 × window → terminate; POST old token → 410; the client's GET → new session, close 3410, reconnect, rejoin", T, async (t) => {
    const { fx } = ctx;
    const topic = uniq("room:lpexp-");
    const { socket, log } = await lpSocket(t);
    const ch = socket.channel(topic);
    await joinOk(ch);
    const token = log.requests[0].response.token;
    const J = ch.joinRef();
    // Stop polling: the GETs the client makes from now on are held back.
    log.hold = true;
    await waitUntil(async () => (await fx.log()).terminates.some((x) => x.topic === topic && x.join_ref === J), {
      timeout: WINDOW_MS * 5,
      msg: "the channel terminated after the session timeout",
    });
    const term = (await fx.log()).terminates.find((x) => x.topic === topic);
    assert.equal(term.reason, "closed");
    assert.deepEqual(await lpPost(fx.port, token, [JSON.stringify([null, "1", "phoenix", "heartbeat", {}])]), { status: 410 });
    log.release();
    await waitUntil(() => log.closes.some((c) => c.code === 3410 && c.reason === "session_gone"), { msg: "close 3410" });
    await waitUntil(() => ch.state === "joined" && ch.joinRef() !== J, { timeout: 5000, msg: "rejoined" });
    const reopened = log.requests.find((r) => r.response?.status === 410 && r.url.includes("token="));
    assert.ok(reopened && reopened.response.token !== token, "a GET with the old token opened a new session");
    assert.deepEqual(await outcome(ch.push("echo", { after: true })), { status: "ok", response: { after: true } });
  });

  test("71. rejection: connect refused → {status 403}; the client errors, closes 1008 and retries", T, async (t) => {
    const { socket, log } = makeLongPollSocket(ctx.fx.port, { params: { reject: "true" } });
    phxCleanup(t, socket);
    socket.connect();
    await waitUntil(() => log.closes.some((c) => c.code === 1008) && log.transports >= 2, {
      msg: "close 1008 then a retry",
    });
    assert.deepEqual(log.requests[0].response, { status: 403 });
    assert.ok(log.errors.length >= 1);
    assert.equal(log.closes[0].reason, "forbidden");
  });

  test("48. binary over long-poll: an ArrayBuffer push is a base64 line of the kind-0 frame; the server decodes it", T, async (t) => {
    const topic = uniq("room:lpbin-");
    const lp = await lpSocket(t);
    const lpCh = lp.socket.channel(topic);
    await joinOk(lpCh);
    const ws = makeSocket(ctx.fx.port);
    phxCleanup(t, ws.socket);
    await connect(ws.socket);
    const wsCh = ws.socket.channel(topic);
    await joinOk(wsCh);
    const got = new Promise((resolve) => wsCh.on("new_msg", (payload) => resolve(payload)));
    assert.deepEqual(await outcome(lpCh.push("new_msg", new Uint8Array([5, 6]).buffer)), { status: "ok", response: {} });
    const payload = await got;
    assert.ok(payload instanceof ArrayBuffer, "the WebSocket client gets the binary broadcast");
    assert.deepEqual([...new Uint8Array(payload)], [5, 6]);
    const line = lp.log.requests.find((r) => r.method === "POST" && !r.body.startsWith("[")).body;
    const frame = Buffer.from(line, "base64");
    assert.equal(frame[0], 0, "kind 0: push");
    assert.ok(frame.includes(Buffer.from(`${topic}new_msg`)));
    assert.deepEqual([...frame.subarray(-2)], [5, 6]);
  });

  test("a long-poll and a WebSocket client in one room see each other's messages and presence", T, async (t) => {
    const topic = uniq("presence:lpws-");
    const lp = await lpSocket(t);
    const ws = makeSocket(ctx.fx.port);
    phxCleanup(t, ws.socket);
    await connect(ws.socket);
    const members = [
      [lp.socket.channel(topic, { user_id: "poller" }), "poller"],
      [ws.socket.channel(topic, { user_id: "socket" }), "socket"],
    ].map(([ch, user]) => ({ ch, user, presence: new Presence(ch), got: [] }));
    for (const m of members) {
      m.ch.on("new_msg", (p) => m.got.push(p.from));
      await joinOk(m.ch);
    }
    for (const m of members) {
      await waitUntil(() => m.presence.list((k) => k).sort().join() === "poller,socket", { msg: `${m.user} lists both` });
    }
    const roomTopic = uniq("room:lpws-");
    const rooms = [lp.socket.channel(roomTopic), ws.socket.channel(roomTopic)];
    const seen = [[], []];
    rooms.forEach((ch, i) => ch.on("new_msg", (p) => seen[i].push(p.from)));
    for (const ch of rooms) await joinOk(ch);
    await outcome(rooms[0].push("new_msg", { from: "poller" }));
    await outcome(rooms[1].push("new_msg", { from: "socket" }));
    for (const s of seen) await waitUntil(() => s.length === 2, { msg: "both messages" });
    assert.deepEqual(seen, [["poller", "socket"], ["poller", "socket"]]);
    // The poller leaves by going away: after the session timeout its presence leaves.
    lp.log.hold = true;
    await waitUntil(() => members[1].presence.list((k) => k).join() === "socket", {
      timeout: WINDOW_MS * 5,
      msg: "the poller's presence left after its session ended",
    });
  });
});
