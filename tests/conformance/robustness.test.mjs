// PROTOCOL.md 9.2 scenarios 50-57: edge cases and robustness.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { freePort, startFixture } from "../lib/fixture.mjs";
import { connect, joinedRoom, joinOk, makeSocket, outcome, phxCleanup } from "../lib/phx.mjs";
import { rawCleanup, rawConnect, replyFrame, socketUrl, upgrade, v1Reply } from "../lib/raw.mjs";
import { T, uniq, useFixture } from "../lib/suite.mjs";
import { waitUntil, withTimeout } from "../lib/wait.mjs";

const isArr = Array.isArray;

describe("edge cases and robustness", () => {
  const ctx = useFixture();

  function joined(t, opts = {}, topic = uniq("room:r-")) {
    return joinedRoom(t, ctx.fx.port, topic, opts);
  }

  /** Raw client joined to `topic` on `mount`, after the join's pushes arrived. */
  async function rawJoined(t, topic, opts = {}) {
    const raw = await rawConnect(ctx.fx.port, opts);
    rawCleanup(t, raw);
    const j = await raw.join(topic);
    await raw.waitFor((m) => m && (isArr(m) ? m[3] === "joined" : m.event === "joined"), { from: j.from });
    return { raw, J: j.J };
  }

  test("50. very long JSON topic (room: + 10 000 × a): join reply echoes it; pushes and broadcasts work", T, async (t) => {
    const topic = "room:" + "a".repeat(10000);
    const A = await joined(t, {}, topic);
    const B = await joined(t, {}, topic);
    const [reply] = A.rec.received((m) => m[1] === A.J && m[3] === "phx_reply");
    assert.deepEqual(reply.msg, replyFrame(A.J, A.J, topic, "ok", {}));
    assert.deepEqual(await outcome(A.ch.push("echo", { long: true })), { status: "ok", response: { long: true } });
    const mark = B.rec.mark();
    assert.equal((await outcome(A.ch.push("new_msg", { body: "long" }))).status, "ok");
    const b = await B.rec.waitReceived((m) => m[3] === "new_msg", { from: mark });
    assert.deepEqual(b.msg, [null, null, topic, "new_msg", { body: "long" }]);
  });

  const malformedV2 = [
    ["text 'not json'", (raw) => raw.send("not json")],
    ["JSON object on V2", (raw) => raw.send('{"a":1}')],
    ["array shorter than 5", (raw) => raw.send("[1,2,3]")],
    ["binary frame with kind byte 1", (raw) => raw.sendBinary(Buffer.from([1, 1, 1, 1, 1, 0x31, 0x31, 0x72, 0x65]))],
  ];
  for (const [name, sendBad] of malformedV2) {
    test(`51. malformed input (raw): ${name} → connection closed 1011, its channels gone, others unaffected`, T, async (t) => {
      const { fx } = ctx;
      const topic = uniq("room:mal-");
      const bad = await rawJoined(t, topic);
      const good = await rawJoined(t, topic);
      assert.equal(await fx.channels(topic), 2);
      sendBad(bad.raw);
      const close = await withTimeout(bad.raw.closed, 3000, "close of the bad connection");
      assert.equal(close.code, 1011);
      await waitUntil(async () => (await fx.channels(topic)) === 1, { msg: "bad connection's channel gone" });
      const echo = good.raw.push(good.J, topic, "echo", { fine: true });
      assert.deepEqual(await good.raw.reply(echo.R), replyFrame(good.J, echo.R, topic, "ok", { fine: true }));
    });
  }

  for (const [name, text] of [
    ["V2 array on a V1 connection", "[null,\"1\",\"phoenix\",\"heartbeat\",{}]"],
    ["V1 object without ref", '{"topic":"phoenix","event":"heartbeat","payload":{}}'],
  ]) {
    test(`51. [vsn 1.0.0] malformed input (raw): ${name} → closed 1011`, T, async (t) => {
      const topic = uniq("room:mal1-");
      const bad = await rawJoined(t, topic, { vsn: "1.0.0" });
      const good = await rawJoined(t, topic, { vsn: "1.0.0" });
      bad.raw.send(text);
      const close = await withTimeout(bad.raw.closed, 3000, "close");
      assert.equal(close.code, 1011);
      const echo = good.raw.push(good.J, topic, "echo", {});
      assert.deepEqual(await good.raw.reply(echo.R), v1Reply(echo.R, topic, "ok", {}));
    });
  }

  test("51. malformed input from the phoenix client's connection: client reconnects and rejoins", T, async (t) => {
    const { socket, rec, ch, J } = await joined(t);
    socket.conn.send("not json");
    await waitUntil(() => rec.conns[0].close, { msg: "connection closed" });
    assert.equal(rec.conns[0].close.code, 1011);
    await waitUntil(() => ch.state === "joined" && ch.joinRef() !== J && rec.conns.length >= 2, { msg: "rejoined" });
    assert.deepEqual(await outcome(ch.push("echo", { back: 1 })), { status: "ok", response: { back: 1 } });
  });

  for (const vsn of ["2.0.0", "1.0.0"]) {
    const tag = vsn === "2.0.0" ? "" : "[vsn 1.0.0] ";
    test(`52. ${tag}invalid UTF-8 text frame (raw) → close 1007; others unaffected`, T, async (t) => {
      const topic = uniq("room:utf-");
      const bad = await rawJoined(t, topic, { vsn });
      const good = await rawJoined(t, topic);
      bad.raw.ws.send(Buffer.from([0x5b, 0xff, 0xfe, 0x5d]), { binary: false });
      const close = await withTimeout(bad.raw.closed, 3000, "close");
      assert.equal(close.code, 1007);
      const echo = good.raw.push(good.J, topic, "echo", {});
      assert.deepEqual(await good.raw.reply(echo.R), replyFrame(good.J, echo.R, topic, "ok", {}));
    });
  }

  test("53. oversize frame: /small closes a 1 MiB push with 1009, client reconnects and rejoins; /socket delivers it", { timeout: 20000 }, async (t) => {
    const big = "x".repeat(1024 * 1024);
    const small = await joined(t, { mount: "/small" });
    small.ch.push("echo", { big });
    await waitUntil(() => small.rec.conns[0].close, { timeout: 5000, msg: "close" });
    assert.equal(small.rec.conns[0].close.code, 1009);
    await waitUntil(() => small.ch.state === "joined" && small.ch.joinRef() !== small.J && small.rec.conns.length >= 2, {
      msg: "rejoined",
    });
    // under the limit still works on /small
    assert.deepEqual(await outcome(small.ch.push("echo", { s: "y".repeat(1000) })), { status: "ok", response: { s: "y".repeat(1000) } });

    const def = await joined(t);
    const r = await outcome(def.ch.push("echo", { big }, 10000), 12000);
    assert.equal(r.status, "ok");
    assert.equal(r.response.big.length, big.length);
    assert.ok(r.response.big === big);
  });

  test("53. [vsn 1.0.0] oversize frame on /small → 1009", T, async (t) => {
    const topic = uniq("room:big1-");
    const { raw, J } = await rawJoined(t, topic, { mount: "/small", vsn: "1.0.0" });
    raw.push(J, topic, "echo", { big: "x".repeat(100 * 1024) });
    const close = await withTimeout(raw.closed, 5000, "close");
    assert.equal(close.code, 1009);
  });

  test("54. disconnect by socket id: close 1001, both channels terminate, reconnects get 403 once banned", { timeout: 20000 }, async (t) => {
    const { fx } = ctx;
    const { socket, rec } = makeSocket(fx.port, { params: { user_id: "42" } });
    phxCleanup(t, socket);
    await connect(socket);
    const a = socket.channel(uniq("room:u42a-"));
    const b = socket.channel(uniq("room:u42b-"));
    await joinOk(a);
    await joinOk(b);
    const refs = { [a.topic]: a.joinRef(), [b.topic]: b.joinRef() };
    assert.equal((await fx.log()).connects.filter((c) => c.params.user_id === "42").length, 1);
    await fx.post("/_test/ban", { user_id: "42" });
    await fx.post("/_test/disconnect", { id: "user_sockets:42" });
    await waitUntil(() => rec.conns[0].close, { msg: "close" });
    assert.equal(rec.conns[0].close.code, 1001);
    const terms = await waitUntil(
      async () => {
        const got = (await fx.log()).terminates.filter((x) => refs[x.topic] === x.join_ref);
        return got.length === 2 ? got : null;
      },
      { msg: "both channels terminate" },
    );
    assert.deepEqual(terms.map((x) => x.reason), ["disconnected", "disconnected"]);
    assert.equal(await fx.channels(a.topic), 0);
    assert.equal(await fx.channels(b.topic), 0);
    // the client keeps reconnecting; each attempt is refused with 403
    await waitUntil(() => rec.conns.length >= 3 && rec.conns[2].close, { timeout: 5000, msg: "reconnect attempts" });
    for (const c of rec.conns.slice(1, 3)) {
      assert.equal(c.opened, false);
      assert.ok(c.errors.some((e) => /403/.test(e)), `attempt ${c.index}: ${c.errors}`);
    }
    socket.disconnect();
    assert.equal((await upgrade(socketUrl(fx.port, { params: { user_id: "42" } }))).status, 403);
  });

  test("54. [vsn 1.0.0] disconnect by socket id → close 1001", T, async (t) => {
    const { fx } = ctx;
    const { raw } = await rawJoined(t, uniq("room:u43-"), { vsn: "1.0.0", params: { user_id: "43" } });
    await fx.post("/_test/disconnect", { id: "user_sockets:43" });
    const close = await withTimeout(raw.closed, 3000, "close");
    assert.equal(close.code, 1001);
  });

  test("55. drain: clients see 1012; after a new server starts on the port, the client reconnects and rejoins", { timeout: 30000 }, async (t) => {
    const port = await freePort();
    let fx1 = await startFixture({ port });
    let fx2;
    t.after(async () => {
      await fx1?.stop();
      await fx2?.stop();
    });
    const { socket, rec } = makeSocket(port);
    phxCleanup(t, socket);
    await connect(socket);
    const topic = uniq("room:drain-");
    const ch = socket.channel(topic);
    await joinOk(ch);
    const J1 = ch.joinRef();
    const v1 = await rawConnect(port, { vsn: "1.0.0" });
    rawCleanup(t, v1);
    await v1.join(topic);
    await fx1.post("/_test/drain");
    await waitUntil(() => rec.conns[0].close, { timeout: 10000, msg: "drain close" });
    assert.equal(rec.conns[0].close.code, 1012);
    assert.equal((await withTimeout(v1.closed, 5000, "V1 drain close")).code, 1012, "vsn 1.0.0 client");
    assert.equal(await withTimeout(fx1.exited, 10000, "drained fixture exit"), 0);
    fx1 = null;
    fx2 = await startFixture({ port });
    await waitUntil(() => ch.state === "joined" && ch.joinRef() !== J1, { timeout: 10000, msg: "rejoined on the new server" });
    assert.ok(rec.conns.at(-1).opened);
    assert.deepEqual(await outcome(ch.push("echo", { after: "drain" })), { status: "ok", response: { after: "drain" } });
    const log = await fx2.log();
    assert.ok(log.joins.some((j) => j.topic === topic && j.join_ref === ch.joinRef()));
  });

  test("56. unknown event on the phoenix topic (raw) → unmatched topic reply", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port);
    rawCleanup(t, raw);
    const { R } = raw.push(null, "phoenix", "foo", {});
    assert.deepEqual(await raw.reply(R), replyFrame(null, R, "phoenix", "error", { reason: "unmatched topic" }));
  });

  test("56. [vsn 1.0.0] unknown event on the phoenix topic", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const { R } = raw.push(undefined, "phoenix", "foo", {});
    assert.deepEqual(await raw.reply(R), v1Reply(R, "phoenix", "error", { reason: "unmatched topic" }));
  });

  test("57. 50 channels on one connection, interleaved pushes: right topic and J on every reply, per-channel order kept", { timeout: 30000 }, async (t) => {
    const { socket, rec } = makeSocket(ctx.fx.port, { timeout: 10000 });
    phxCleanup(t, socket);
    await connect(socket);
    const prefix = uniq("room:many-");
    const chans = Array.from({ length: 50 }, (_, i) => socket.channel(`${prefix}-${i}`));
    await Promise.all(chans.map((c) => joinOk(c, 10000)));
    const mark = rec.mark();
    const pushes = [];
    for (let k = 1; k <= 5; k++) {
      for (const [i, c] of chans.entries()) pushes.push(outcome(c.push("echo", { c: i, k }), 15000));
    }
    const results = await Promise.all(pushes);
    for (const r of results) assert.equal(r.status, "ok");
    const sentByRef = new Map(rec.sent((m) => m[3] === "echo", mark).map((e) => [e.msg[1], e.msg]));
    const replies = rec.received((m) => m[3] === "phx_reply" && sentByRef.has(m[1]), mark);
    assert.equal(replies.length, 250);
    const lastK = new Map();
    for (const e of replies) {
      const [J, R, topic, , payload] = e.msg;
      const req = sentByRef.get(R);
      assert.equal(topic, req[2], "reply topic = request topic");
      assert.equal(J, req[0], "reply join_ref = the channel's J");
      assert.deepEqual(payload, { status: "ok", response: req[4] });
      assert.equal(topic, `${prefix}-${payload.response.c}`);
      const prev = lastK.get(topic) || 0;
      assert.equal(payload.response.k, prev + 1, `per-channel order on ${topic}`);
      lastK.set(topic, payload.response.k);
    }
  });

  test("57. [vsn 1.0.0] 20 channels, interleaved pushes", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const prefix = uniq("room:many1-");
    const topics = Array.from({ length: 20 }, (_, i) => `${prefix}-${i}`);
    const Js = [];
    for (const topic of topics) Js.push((await raw.join(topic)).J);
    const from = raw.mark();
    const refs = new Map();
    for (let k = 1; k <= 3; k++) {
      topics.forEach((topic, i) => {
        const { R } = raw.push(Js[i], topic, "echo", { i, k });
        refs.set(R, { topic, i, k });
      });
    }
    const replies = await raw.waitForN(60, (m) => m && m.event === "phx_reply" && refs.has(m.ref), { from });
    const lastK = new Map();
    for (const f of replies) {
      const want = refs.get(f.msg.ref);
      assert.deepEqual(f.msg, v1Reply(f.msg.ref, want.topic, "ok", { i: want.i, k: want.k }));
      assert.equal(want.k, (lastK.get(want.topic) || 0) + 1);
      lastK.set(want.topic, want.k);
    }
  });
});
