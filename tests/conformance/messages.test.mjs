// PROTOCOL.md 9.2 scenarios 25-33: messages, replies, pushes, crashes and server stops.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { joinedRoom, outcome, QUIET_MS, sleep } from "../lib/phx.mjs";
import { rawCleanup, rawConnect, replyFrame, v1Reply } from "../lib/raw.mjs";
import { T, uniq, useFixture } from "../lib/suite.mjs";
import { phxRoundTrip, waitUntil } from "../lib/wait.mjs";

describe("messages, replies and pushes", () => {
  const ctx = useFixture();

  function joined(t, opts = {}, topicPrefix = "room:m-") {
    return joinedRoom(t, ctx.fx.port, uniq(topicPrefix), opts);
  }

  test("25. replies: echo → ok with the payload, err → error {why:'nope'}", T, async (t) => {
    const { ch, rec, topic, J } = await joined(t);
    assert.deepEqual(await outcome(ch.push("echo", { x: 1 })), { status: "ok", response: { x: 1 } });
    const echo = rec.sent((m) => m[2] === topic && m[3] === "echo")[0];
    const R = echo.msg[1];
    assert.deepEqual(echo.msg, [J, R, topic, "echo", { x: 1 }]);
    assert.deepEqual(rec.received((m) => m[1] === R)[0].msg, replyFrame(J, R, topic, "ok", { x: 1 }));

    assert.deepEqual(await outcome(ch.push("err", {})), { status: "error", response: { why: "nope" } });
    const R2 = rec.sent((m) => m[2] === topic && m[3] === "err")[0].msg[1];
    assert.deepEqual(rec.received((m) => m[1] === R2)[0].msg, replyFrame(J, R2, topic, "error", { why: "nope" }));
  });

  test("25. [vsn 1.0.0] replies ok and error", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const topic = uniq("room:m1-");
    const { J } = await raw.join(topic);
    const a = raw.push(J, topic, "echo", { x: 1 });
    assert.deepEqual(await raw.reply(a.R), v1Reply(a.R, topic, "ok", { x: 1 }));
    const b = raw.push(J, topic, "err", {});
    assert.deepEqual(await raw.reply(b.R), v1Reply(b.R, topic, "error", { why: "nope" }));
  });

  test("26. no reply: noreply → no frame, receive('timeout'); a late reply is ignored", T, async (t) => {
    const { socket, ch, rec, topic, J } = await joined(t, { timeout: 300 });
    const mark = rec.mark();
    assert.deepEqual(await outcome(ch.push("noreply", {})), { status: "timeout" });
    const R = rec.sent((m) => m[2] === topic && m[3] === "noreply", mark)[0].msg[1];
    // Barrier instead of a quiet period: the channel handles its messages in order, so a reply
    // to noreply would be written before the reply to this echo.
    assert.deepEqual(await outcome(ch.push("echo", { after: 1 }, 5000)), { status: "ok", response: { after: 1 } });
    assert.deepEqual(rec.received((m) => m[1] === R), [], "no reply frame at all");

    // late_reply: the reply arrives after the client's timeout and is ignored
    const seen = [];
    const p = ch.push("late_reply", { ms: 600 });
    p.receive("ok", (r) => seen.push(["ok", r])).receive("timeout", () => seen.push(["timeout"]));
    const R2 = (await rec.waitSent((m) => m[2] === topic && m[3] === "late_reply")).msg[1];
    const late = await rec.waitReceived((m) => m[1] === R2, { timeout: 3000, msg: "late reply" });
    assert.deepEqual(late.msg, replyFrame(J, R2, topic, "ok", { late: true }));
    // The client handled the late reply when it arrived (the recorder logs a frame just before
    // the client handles it); a round trip makes sure of it without a sleep.
    await phxRoundTrip(socket, rec);
    assert.deepEqual(seen, [["timeout"]], "the late reply does not fire receive('ok')");
  });

  test("27. non-object payloads (raw): the reply's response carries the same value", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port);
    rawCleanup(t, raw);
    const topic = uniq("room:np-");
    const { J } = await raw.join(topic);
    for (const value of [[1, 2], "str", 42, true]) {
      const { R } = raw.push(J, topic, "echo", value);
      assert.deepEqual(await raw.reply(R), replyFrame(J, R, topic, "ok", value), JSON.stringify(value));
    }
  });

  test("27. [vsn 1.0.0] non-object payloads", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const topic = uniq("room:np1-");
    const { J } = await raw.join(topic);
    for (const value of [[1, 2], "str"]) {
      const { R } = raw.push(J, topic, "echo", value);
      assert.deepEqual(await raw.reply(R), v1Reply(R, topic, "ok", value));
    }
  });

  test("28. stale join_ref (raw): message with the old J → no frame; null join_ref → answered with the current J", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port);
    rawCleanup(t, raw);
    const topic = uniq("room:st-");
    const j1 = await raw.join(topic);
    const j2 = await raw.join(topic);
    assert.equal(j2.reply[4].status, "ok");
    await raw.waitFor((m) => Array.isArray(m) && m[0] === j1.J && m[3] === "phx_close", { from: j2.from });
    const stale = raw.push(j1.J, topic, "echo", { stale: true });
    assert.deepEqual(await raw.quiet((m) => Array.isArray(m) && m[1] === stale.R, { from: stale.from }), [], "no frame at all");
    const fresh = raw.push(null, topic, "echo", { fresh: true });
    assert.deepEqual(await raw.reply(fresh.R), replyFrame(j2.J, fresh.R, topic, "ok", { fresh: true }));
  });

  test("28. [vsn 1.0.0] stale join_ref: no frame; no join_ref → answered", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const topic = uniq("room:st1-");
    const j1 = await raw.join(topic);
    const j2 = await raw.join(topic);
    assert.equal(j2.reply.payload.status, "ok");
    const stale = raw.push(j1.J, topic, "echo", { stale: true });
    assert.deepEqual(await raw.quiet((m) => m && m.ref === stale.R, { from: stale.from }), []);
    const fresh = raw.push(undefined, topic, "echo", { fresh: true });
    assert.deepEqual(await raw.reply(fresh.R), v1Reply(fresh.R, topic, "ok", { fresh: true }));
  });

  test("29. message to an unjoined topic (raw): unmatched topic with join_ref null", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port);
    rawCleanup(t, raw);
    const { R } = raw.push(null, "room:x", "echo", {});
    assert.deepEqual(await raw.reply(R), replyFrame(null, R, "room:x", "error", { reason: "unmatched topic" }));
    const b = raw.push("3", "room:x", "echo", {});
    assert.deepEqual(await raw.reply(b.R), replyFrame(null, b.R, "room:x", "error", { reason: "unmatched topic" }));
  });

  test("29. [vsn 1.0.0] message to an unjoined topic", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const { R } = raw.push(undefined, "room:x", "echo", {});
    assert.deepEqual(await raw.reply(R), v1Reply(R, "room:x", "error", { reason: "unmatched topic" }));
  });

  test("30. server push ordering: push_many {n:100} → 100 pushes [J,null,T,'n',{i:k}] in order, then the reply", T, async (t) => {
    const { ch, rec, topic, J } = await joined(t);
    const got = [];
    ch.on("n", (p) => got.push(p.i));
    const mark = rec.mark();
    const r = await outcome(ch.push("push_many", { n: 100 }));
    assert.equal(r.status, "ok");
    const R = rec.sent((m) => m[3] === "push_many", mark)[0].msg[1];
    const frames = rec.received((m) => m[2] === topic, mark);
    const pushes = frames.filter((e) => e.msg[3] === "n");
    assert.equal(pushes.length, 100);
    pushes.forEach((e, k) => assert.deepEqual(e.msg, [J, null, topic, "n", { i: k + 1 }]));
    const replyIdx = frames.findIndex((e) => e.msg[1] === R && e.msg[3] === "phx_reply");
    assert.equal(replyIdx, 100, "the reply follows the 100 pushes (fixture program order)");
    assert.deepEqual(got, Array.from({ length: 100 }, (_, k) => k + 1));
  });

  test("30. [vsn 1.0.0] push ordering", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const topic = uniq("room:pm1-");
    const { J } = await raw.join(topic);
    const { R, from } = raw.push(J, topic, "push_many", { n: 20 });
    await raw.reply(R, { from });
    const frames = raw.matching((m) => m && m.topic === topic && (m.event === "n" || m.ref === R), from);
    assert.deepEqual(
      frames.slice(0, 20).map((f) => f.msg),
      Array.from({ length: 20 }, (_, k) => ({ event: "n", payload: { i: k + 1 }, ref: null, topic })),
    );
    assert.equal(frames[20].msg.ref, R);
  });

  test("31. channel crash: phx_error {reason:'channel_crash'} with ref = J; rejoin with J2; errored pushes sent with J2", T, async (t) => {
    const { ch, rec, topic, J } = await joined(t);
    const errors = [];
    let buffered;
    ch.onError((p) => {
      errors.push(p);
      if (!buffered) buffered = ch.push("echo", { after: "crash" });
    });
    const mark = rec.mark();
    ch.push("boom", {});
    const err = await rec.waitReceived((m) => m[2] === topic && m[3] === "phx_error", { from: mark });
    assert.deepEqual(err.msg, [J, J, topic, "phx_error", { reason: "channel_crash" }]);
    assert.deepEqual(errors[0], { reason: "channel_crash" });
    assert.deepEqual(await outcome(buffered), { status: "ok", response: { after: "crash" } });
    const J2 = ch.joinRef();
    assert.notEqual(J2, J);
    const rejoin = rec.joins(topic, mark)[0];
    assert.deepEqual(rejoin.msg, [J2, J2, topic, "phx_join", {}]);
    const rejoinReply = rec.received((m) => m[1] === J2 && m[3] === "phx_reply")[0];
    const echo = rec.sent((m) => m[2] === topic && m[3] === "echo", mark)[0];
    assert.equal(echo.msg[0], J2);
    assert.ok(rec.indexOf(echo) > rec.indexOf(rejoinReply), "buffered push sent after the rejoin reply");
    assert.equal(ch.state, "joined");
  });

  test("31. [vsn 1.0.0] channel crash: phx_error object with ref = J", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const topic = uniq("room:cr1-");
    const { J } = await raw.join(topic);
    const { from } = raw.push(J, topic, "boom", {});
    const f = await raw.waitFor((m) => m && m.event === "phx_error", { from });
    assert.deepEqual(f.msg, { event: "phx_error", payload: { reason: "channel_crash" }, ref: J, topic });
  });

  test("32. graceful server stop: reply ok then [J,J,T,phx_close,{}]; onClose({}); channel removed; no rejoin", T, async (t) => {
    const { socket, ch, rec, topic, J } = await joined(t);
    const closes = [];
    ch.onClose((p) => closes.push(p));
    const mark = rec.mark();
    assert.deepEqual(await outcome(ch.push("stop", {})), { status: "ok", response: {} });
    const R = rec.sent((m) => m[3] === "stop", mark)[0].msg[1];
    const close = await rec.waitReceived((m) => m[2] === topic && m[3] === "phx_close", { from: mark });
    assert.deepEqual(close.msg, [J, J, topic, "phx_close", {}]);
    const reply = rec.received((m) => m[1] === R, mark)[0];
    assert.ok(rec.indexOf(reply) < rec.indexOf(close), "reply before phx_close");
    // terminate pushes you_left after phx_close (fixture contract): the channel's last frame.
    await rec.waitReceived((m) => m[0] === J && m[2] === topic && m[3] === "you_left", { from: mark, msg: "you_left" });
    // Negative window for "no rejoin": a rejoin timer (rejoinAfterMs 100 ms, makeSocket) armed
    // by the close would fire before this longer timer (Node runs timers in deadline order).
    await sleep(QUIET_MS);
    assert.deepEqual(closes, [{}]);
    assert.equal(ch.state, "closed");
    assert.ok(!socket.channels.includes(ch), "removed from socket.channels");
    assert.deepEqual(rec.joins(topic, mark), [], "no rejoin");
    const log = await ctx.fx.log();
    assert.equal(log.terminates.find((x) => x.topic === topic && x.join_ref === J)?.reason, "stop");
  });

  test("32. [vsn 1.0.0] graceful server stop", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const topic = uniq("room:stop1-");
    const { J } = await raw.join(topic);
    const { R, from } = raw.push(J, topic, "stop", {});
    const close = await raw.waitFor((m) => m && m.event === "phx_close", { from });
    assert.deepEqual(close.msg, { event: "phx_close", payload: {}, ref: J, topic });
    const reply = raw.matching((m) => m && m.ref === R, from)[0];
    assert.deepEqual(reply.msg, v1Reply(R, topic, "ok", {}));
    assert.ok(raw.frames.indexOf(reply) < raw.frames.indexOf(close));
  });

  test("33. abnormal stop reason: phx_error (not phx_close); client rejoins", T, async (t) => {
    const { socket, ch, rec, topic, J } = await joined(t);
    const mark = rec.mark();
    ch.push("stop_abnormal", {});
    const err = await rec.waitReceived((m) => m[2] === topic && (m[3] === "phx_error" || m[3] === "phx_close"), {
      from: mark,
    });
    assert.deepEqual(err.msg, [J, J, topic, "phx_error", { reason: "channel_crash" }]);
    await waitUntil(() => ch.state === "joined" && ch.joinRef() !== J, { msg: "rejoin" });
    assert.equal(rec.joins(topic, mark).length >= 1, true);
    // Barrier instead of a sleep: a phx_close for J would have been written before the reply
    // to a heartbeat sent after the rejoin completed.
    await phxRoundTrip(socket, rec);
    assert.deepEqual(rec.received((m) => m[2] === topic && m[3] === "phx_close", mark), []);
  });
});
