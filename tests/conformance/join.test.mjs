// PROTOCOL.md 9.2 scenarios 14-24: joins.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { connectedSocket, joinOk, outcome, QUIET_MS, sleep } from "../lib/phx.mjs";
import { rawCleanup, rawConnect, replyFrame, v1Reply } from "../lib/raw.mjs";
import { T, uniq, useFixture } from "../lib/suite.mjs";
import { rawRoundTrip, waitUntil } from "../lib/wait.mjs";

const UNMATCHED = { reason: "unmatched topic" };

describe("join", () => {
  const ctx = useFixture();

  const client = (t, opts) => connectedSocket(t, ctx.fx.port, opts);

  test("14. join ok: reply first, then user_entered, then joined", T, async (t) => {
    const { socket, rec } = await client(t);
    const topic = "room:lobby";
    const ch = socket.channel(topic);
    await joinOk(ch);
    const [joinFrame] = rec.joins(topic);
    const J = joinFrame.msg[0];
    assert.equal(joinFrame.msg[1], J, "join frame has join_ref === ref");
    assert.deepEqual(joinFrame.msg, [J, J, topic, "phx_join", {}]);
    await waitUntil(() => rec.received((m) => m[2] === topic).length >= 3, { msg: "3 frames" });
    assert.deepEqual(
      rec.received((m) => m[2] === topic).slice(0, 3).map((e) => e.msg),
      [
        replyFrame(J, J, topic, "ok", {}),
        [null, null, topic, "user_entered", { user: null }],
        [J, null, topic, "joined", { status: "connected" }],
      ],
    );
  });

  test("14. [vsn 1.0.0] join ok: reply first, then user_entered, then joined", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const topic = uniq("room:lobby-v1-");
    const { J, from } = await raw.join(topic);
    const frames = await raw.waitForN(3, (m) => m && m.topic === topic, { from });
    assert.deepEqual(
      frames.slice(0, 3).map((f) => f.msg),
      [
        v1Reply(J, topic, "ok", {}),
        { event: "user_entered", payload: { user: null }, ref: null, topic },
        { event: "joined", payload: { status: "connected" }, ref: null, topic },
      ],
    );
  });

  test("15. join reply payload: joinreply:1 → receive('ok') gets {welcome:true}", T, async (t) => {
    const { socket, rec } = await client(t);
    const ch = socket.channel("joinreply:1");
    assert.deepEqual(await joinOk(ch), { welcome: true });
    const J = ch.joinRef();
    const [reply] = rec.received((m) => m[2] === "joinreply:1");
    assert.deepEqual(reply.msg, replyFrame(J, J, "joinreply:1", "ok", { welcome: true }));
  });

  test("15. [vsn 1.0.0] join reply payload", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const { J, reply } = await raw.join("joinreply:1");
    assert.deepEqual(reply, v1Reply(J, "joinreply:1", "ok", { welcome: true }));
  });

  test("16. join params: sent as the join payload, echoed by user_entered, re-evaluated on rejoin", T, async (t) => {
    const { fx } = ctx;
    const { socket, rec } = await client(t);
    const topic = uniq("room:p-");
    const ch = socket.channel(topic, { user: "ann" });
    await joinOk(ch);
    const J = ch.joinRef();
    assert.deepEqual(rec.joins(topic)[0].msg, [J, J, topic, "phx_join", { user: "ann" }]);
    await rec.waitReceived((m) => m[2] === topic && m[3] === "user_entered");
    assert.deepEqual(rec.received((m) => m[2] === topic && m[3] === "user_entered")[0].msg, [
      null,
      null,
      topic,
      "user_entered",
      { user: "ann" },
    ]);
    const log = await fx.log();
    assert.deepEqual(log.joins.find((j) => j.topic === topic && j.join_ref === J).params, { user: "ann" });

    // params as a function: evaluated again when the channel rejoins after a crash
    const topic2 = uniq("room:pf-");
    let user = "ann";
    const ch2 = socket.channel(topic2, () => ({ user }));
    await joinOk(ch2);
    const J1 = ch2.joinRef();
    // The first join's user_entered must be in before the mark, or it could be taken for the
    // rejoin's (a race seen with the Python fixture).
    await rec.waitReceived((m) => m[2] === topic2 && m[3] === "user_entered");
    user = "bob";
    const mark = rec.mark();
    ch2.push("boom", {});
    await waitUntil(() => ch2.state === "joined" && ch2.joinRef() !== J1, { msg: "rejoin after crash" });
    const J2 = ch2.joinRef();
    assert.deepEqual(rec.joins(topic2, mark)[0].msg, [J2, J2, topic2, "phx_join", { user: "bob" }]);
    const entered = await rec.waitReceived((m) => m[2] === topic2 && m[3] === "user_entered", { from: mark });
    assert.deepEqual(entered.msg[4], { user: "bob" });
  });

  test("17. join refused: error reply, retried with a new J each time, stops after leave, no server channel", T, async (t) => {
    const { fx } = ctx;
    const { socket, rec } = await client(t);
    const topic = "auth:1";
    const ch = socket.channel(topic);
    const errors = [];
    ch.join().receive("error", (r) => errors.push(r));
    await waitUntil(() => errors.length >= 3, { msg: "3 refused joins" });
    ch.leave();
    const mark = rec.mark();
    const joins = rec.joins(topic);
    const refs = joins.map((e) => e.msg[0]);
    assert.equal(new Set(refs).size, refs.length, "every retry has a new J");
    for (const e of joins.slice(0, 3)) {
      const J = e.msg[0];
      assert.equal(e.msg[1], J);
      const reply = rec.received((m) => m[1] === J && m[3] === "phx_reply")[0];
      assert.deepEqual(reply.msg, replyFrame(J, J, topic, "error", { reason: "unauthorized" }));
    }
    for (const r of errors) assert.deepEqual(r, { reason: "unauthorized" });
    // Negative window on the client: leave() disarmed the rejoin timer (rejoinAfterMs 100 ms);
    // one still armed would fire before this longer timer (Node runs timers in deadline order).
    await sleep(QUIET_MS + 100);
    assert.deepEqual(rec.joins(topic, mark), [], "no join after leave()");
    assert.equal(await fx.channels(topic), 0);
  });

  test("17. [vsn 1.0.0] join refused", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const { J, reply } = await raw.join("auth:1");
    assert.deepEqual(reply, v1Reply(J, "auth:1", "error", { reason: "unauthorized" }));
    const again = await raw.join("auth:1");
    assert.deepEqual(again.reply, v1Reply(again.J, "auth:1", "error", { reason: "unauthorized" }));
  });

  test("18. join crash: error 'join crashed'; other channels on the connection unaffected", T, async (t) => {
    const { socket, rec } = await client(t);
    const room = socket.channel(uniq("room:c-"));
    await joinOk(room);
    const ch = socket.channel("crashjoin:1");
    const r = await outcome(ch.join());
    const J = rec.joins("crashjoin:1")[0].msg[0];
    assert.deepEqual(r, { status: "error", response: { reason: "join crashed" } });
    assert.deepEqual(
      rec.received((m) => m[1] === J)[0].msg,
      replyFrame(J, J, "crashjoin:1", "error", { reason: "join crashed" }),
    );
    ch.leave();
    assert.deepEqual(await outcome(room.push("echo", { still: "here" })), { status: "ok", response: { still: "here" } });
    assert.equal(room.state, "joined");
    assert.equal(await ctx.fx.channels("crashjoin:1"), 0);
  });

  test("18. [vsn 1.0.0] join crash", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const { J, reply } = await raw.join("crashjoin:1");
    assert.deepEqual(reply, v1Reply(J, "crashjoin:1", "error", { reason: "join crashed" }));
  });

  for (const [num, topic, title] of [
    ["19", "nope:1", "unrouted topic"],
    ["20", "phoenix", "reserved topic join"],
  ]) {
    test(`${num}. ${title}: [null, J, ${topic}, phx_reply, unmatched topic]; client retries`, T, async (t) => {
      const { socket, rec } = await client(t);
      const ch = socket.channel(topic);
      const errors = [];
      ch.join().receive("error", (r) => errors.push(r));
      await waitUntil(() => errors.length >= 2, { msg: "2 refused joins" });
      ch.leave();
      const joins = rec.joins(topic);
      assert.notEqual(joins[0].msg[0], joins[1].msg[0], "retry with a new J");
      for (const e of joins.slice(0, 2)) {
        const J = e.msg[0];
        const reply = rec.received((m) => m[1] === J && m[3] === "phx_reply")[0];
        assert.deepEqual(reply.msg, replyFrame(null, J, topic, "error", UNMATCHED), "join_ref null, ref = J");
      }
      assert.deepEqual(errors[0], UNMATCHED);
    });

    test(`${num}. [vsn 1.0.0] ${title}`, T, async (t) => {
      const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
      rawCleanup(t, raw);
      const { J, reply } = await raw.join(topic);
      assert.deepEqual(reply, v1Reply(J, topic, "error", UNMATCHED));
    });
  }

  test("21. channel limit: /limited refuses the second join; first still works; 101st join on /socket refused", T, async (t) => {
    const { socket, rec } = await client(t, { mount: "/limited" });
    const first = socket.channel(uniq("room:l-"));
    await joinOk(first);
    const second = socket.channel(uniq("room:l-"));
    const r = await outcome(second.join());
    second.leave();
    assert.deepEqual(r, { status: "error", response: { reason: "too many channels joined" } });
    const J2 = rec.joins(second.topic)[0].msg[0];
    assert.deepEqual(
      rec.received((m) => m[1] === J2 && m[3] === "phx_reply")[0].msg,
      replyFrame(J2, J2, second.topic, "error", { reason: "too many channels joined" }),
    );
    assert.deepEqual(await outcome(first.push("echo", { a: 1 })), { status: "ok", response: { a: 1 } });

    // default mount: 100 channels allowed, the 101st refused
    const raw = await rawConnect(ctx.fx.port);
    rawCleanup(t, raw);
    const prefix = uniq("room:many-");
    const refs = [];
    for (let i = 0; i < 100; i++) {
      const J = raw.ref();
      refs.push(J);
      raw.send([J, J, `${prefix}-${i}`, "phx_join", {}]);
    }
    const replies = await raw.waitForN(100, (m) => Array.isArray(m) && m[3] === "phx_reply" && refs.includes(m[1]), {
      timeout: 10000,
      msg: "100 join replies",
    });
    for (const f of replies) assert.equal(f.msg[4].status, "ok", f.text);
    const extra = await raw.join(`${prefix}-100`);
    assert.deepEqual(extra.reply, replyFrame(extra.J, extra.J, `${prefix}-100`, "error", { reason: "too many channels joined" }));
  });

  test("21. [vsn 1.0.0] channel limit on /limited", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { mount: "/limited", vsn: "1.0.0" });
    rawCleanup(t, raw);
    const a = await raw.join(uniq("room:l1-"));
    assert.equal(a.reply.payload.status, "ok");
    const topic = uniq("room:l1-");
    const b = await raw.join(topic);
    assert.deepEqual(b.reply, v1Reply(b.J, topic, "error", { reason: "too many channels joined" }));
  });

  test("22. join timeout: client leaves J1, rejoins with J2; late frames tolerated; one server channel, joined", { timeout: 20000 }, async (t) => {
    const { socket, rec } = await client(t, { timeout: 300 });
    const topic = "slowjoin:1";
    let ms = 900;
    const ch = socket.channel(topic, () => ({ ms }));
    const timeouts = [];
    ch.join().receive("timeout", () => {
      timeouts.push(Date.now());
      ms = 50; // the next joins finish in time: the happy end
    });
    await waitUntil(() => timeouts.length >= 1, { msg: "join timeout" });
    await waitUntil(() => ch.state === "joined", { timeout: 8000, msg: "eventually joined" });
    const joins = rec.joins(topic);
    const J1 = joins[0].msg[0];
    assert.deepEqual(joins[0].msg, [J1, J1, topic, "phx_join", { ms: 900 }]);
    const leave = rec.sent((m) => m[2] === topic && m[3] === "phx_leave" && m[0] === J1)[0];
    assert.ok(leave, "client sent phx_leave for the timed-out join");
    assert.deepEqual(leave.msg, [J1, leave.msg[1], topic, "phx_leave", {}]);
    assert.notEqual(leave.msg[1], J1);
    assert.ok(rec.indexOf(leave) < rec.indexOf(joins[1]), "leave J1 before the next join");
    assert.notEqual(joins[1].msg[0], J1);
    const Jf = ch.joinRef();
    // The server is done with J1 once it closed it: every path PROTOCOL.md 9.2 #22 allows ends
    // in [J1, J1, topic, phx_close] (the duplicate join J2 kills the pending J1, or J1 completes
    // and its queued leave closes it).
    await rec.waitReceived((m) => m[2] === topic && m[0] === J1 && m[3] === "phx_close", {
      timeout: 10000,
      msg: "phx_close for the timed-out join J1",
    });
    await waitUntil(async () => (await ctx.fx.channels(topic)) === 1, { timeout: 10000, msg: "one server channel" });
    // Negative window: a fixture's slowjoin handler may still be sleeping its 900 ms after J1
    // was closed, and then answers J1 (stale); no event tells when. Watch until 900 ms + QUIET_MS
    // after J1 was sent: that answer can never come earlier, and a slower one only makes this
    // check see less, never fail spuriously.
    await sleep(Math.max(0, joins[0].t + 900 + QUIET_MS - Date.now()));
    // a round trip on the final join: the server still serves it
    assert.deepEqual(await outcome(ch.push("echo", { after: 1 }, 5000)), { status: "ok", response: { after: 1 } });
    assert.equal(ch.state, "joined");
    assert.equal(ch.joinRef(), Jf);
    assert.equal(await ctx.fx.channels(topic), 1, "exactly one server channel");
    assert.deepEqual(
      rec.received((m) => m[2] === topic && m[0] === Jf && (m[3] === "phx_close" || m[3] === "phx_error")),
      [],
      "the final join is not closed",
    );
    // any frame for J1 that did arrive is one of the tolerated ones
    for (const e of rec.received((m) => m[2] === topic && m[0] === J1)) {
      assert.ok(["phx_reply", "phx_close"].includes(e.msg[3]), e.text);
    }
  });

  test("23. pushes buffered before the join completes are sent after the reply with join_ref J", T, async (t) => {
    const { socket, rec } = await client(t);
    const topic = uniq("room:b-");
    const ch = socket.channel(topic);
    ch.join();
    const p = ch.push("echo", { n: 1 });
    assert.deepEqual(await outcome(p), { status: "ok", response: { n: 1 } });
    const J = rec.joins(topic)[0].msg[0];
    const joinReply = rec.received((m) => m[1] === J && m[3] === "phx_reply")[0];
    const echo = rec.sent((m) => m[2] === topic && m[3] === "echo")[0];
    assert.equal(echo.msg[0], J);
    assert.ok(rec.indexOf(echo) > rec.indexOf(joinReply), "echo sent after the join reply");
    const reply = rec.received((m) => m[1] === echo.msg[1])[0];
    assert.deepEqual(reply.msg, replyFrame(J, echo.msg[1], topic, "ok", { n: 1 }));
  });

  for (const vsn of ["2.0.0", "1.0.0"]) {
    const tag = vsn === "2.0.0" ? "" : "[vsn 1.0.0] ";
    test(`24. ${tag}message while the join is pending (raw): queued behind the join, never 'unmatched topic'`, T, async (t) => {
      const raw = await rawConnect(ctx.fx.port, { vsn });
      rawCleanup(t, raw);
      const topic = uniq("slowjoin:2-");
      const J = raw.ref();
      const from = raw.mark();
      const v1 = vsn === "1.0.0";
      raw.send(v1 ? { topic, event: "phx_join", payload: { ms: 500 }, ref: J, join_ref: J } : [J, J, topic, "phx_join", { ms: 500 }]);
      const { R } = raw.push(J, topic, "echo", { q: 1 });
      const refOf = (m) => (v1 ? m.ref : m[1]);
      const joinReply = await raw.waitFor((m) => m && refOf(m) === J, { from, timeout: 3000, msg: "join reply" });
      assert.deepEqual(joinReply.msg, v1 ? v1Reply(J, topic, "ok", {}) : replyFrame(J, J, topic, "ok", {}));
      // the echo reaches the channel once the join completed (the fixture's slowjoin channel
      // answers `echo` like room:*), so its reply follows the join reply
      const echo = await raw.waitFor((m) => m && refOf(m) === R, { from, msg: "echo reply" });
      assert.deepEqual(echo.msg, v1 ? v1Reply(R, topic, "ok", { q: 1 }) : replyFrame(J, R, topic, "ok", { q: 1 }));
      assert.ok(raw.frames.indexOf(echo) > raw.frames.indexOf(joinReply), "answered after the join reply");
      // Barrier instead of a quiet period: a heartbeat round trip. The server reads the
      // connection's frames in order, so it routed the echo (where an "unmatched topic" reply
      // would come from) before it answered the heartbeat, and wrote any such reply first.
      await rawRoundTrip(raw);
      assert.equal(raw.matching((m) => m && refOf(m) === R, from).length, 1, "exactly one reply, never unmatched topic");
    });
  }
});
