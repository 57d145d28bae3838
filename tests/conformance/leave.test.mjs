// PROTOCOL.md 9.2 scenarios 34-39: leave, duplicate joins, second instances, rapid join/leave.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { connectedSocket, joinOk, outcome, QUIET_MS, sleep } from "../lib/phx.mjs";
import { rawCleanup, rawConnect, replyFrame, v1Reply } from "../lib/raw.mjs";
import { T, uniq, useFixture } from "../lib/suite.mjs";
import { phxRoundTrip, rawRoundTrip, waitUntil } from "../lib/wait.mjs";

const isArr = Array.isArray;

describe("leave and re-join", () => {
  const ctx = useFixture();

  const client = (t, opts) => connectedSocket(t, ctx.fx.port, opts);

  test("34. leave: reply ok then phx_close; receive('ok') and onClose('leave'); no later broadcasts", T, async (t) => {
    const { fx } = ctx;
    const { socket, rec } = await client(t);
    const topic = uniq("room:lv-");
    const ch = socket.channel(topic);
    await joinOk(ch);
    const J = ch.joinRef();
    const closes = [];
    ch.onClose((p) => closes.push(p));
    const mark = rec.mark();
    assert.deepEqual(await outcome(ch.leave()), { status: "ok", response: {} });
    const leave = rec.sent((m) => m[2] === topic && m[3] === "phx_leave", mark)[0];
    const R = leave.msg[1];
    assert.deepEqual(leave.msg, [J, R, topic, "phx_leave", {}]);
    const close = await rec.waitReceived((m) => m[2] === topic && m[3] === "phx_close", { from: mark });
    assert.deepEqual(close.msg, [J, J, topic, "phx_close", {}]);
    const reply = rec.received((m) => m[1] === R, mark)[0];
    assert.deepEqual(reply.msg, replyFrame(J, R, topic, "ok", {}));
    assert.ok(rec.indexOf(reply) < rec.indexOf(close), "reply before phx_close");
    // terminate/2 pushes you_left after phx_close (PROTOCOL.md 3.3 rule 4, fixture contract)
    const youLeft = await rec.waitReceived((m) => m[2] === topic && m[3] === "you_left", { from: mark });
    assert.deepEqual(youLeft.msg, [J, null, topic, "you_left", {}]);
    assert.ok(rec.indexOf(youLeft) > rec.indexOf(close), "you_left after phx_close");
    assert.deepEqual(closes, ["leave"]);
    assert.equal(ch.state, "closed");

    const after = rec.mark();
    await fx.broadcast(topic, "later", { n: 1 });
    // Barrier, then a negative window: the route answered once the broadcast was handed to the
    // subscribers, and the heartbeat reply is written after whatever was queued to this
    // connection before it; QUIET_MS more covers a delivery still in flight inside the server.
    await phxRoundTrip(socket, rec);
    await sleep(QUIET_MS);
    assert.deepEqual(rec.received((m) => m[2] === topic, after), [], "unsubscribed");
    assert.equal(await fx.channels(topic), 0);
    const log = await fx.log();
    assert.equal(log.terminates.find((x) => x.topic === topic && x.join_ref === J)?.reason, "left");
  });

  test("34. [vsn 1.0.0] leave: reply ok then phx_close", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const topic = uniq("room:lv1-");
    const { J } = await raw.join(topic);
    const { R, from } = raw.push(J, topic, "phx_leave", {});
    const close = await raw.waitFor((m) => m && m.event === "phx_close", { from });
    assert.deepEqual(close.msg, { event: "phx_close", payload: {}, ref: J, topic });
    const reply = raw.matching((m) => m && m.ref === R, from)[0];
    assert.deepEqual(reply.msg, v1Reply(R, topic, "ok", {}));
    assert.ok(raw.frames.indexOf(reply) < raw.frames.indexOf(close));
  });

  test("35. leave an unjoined topic (raw): ok reply echoing join_ref, no phx_close", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port);
    rawCleanup(t, raw);
    const a = raw.push("9", "room:none", "phx_leave", {});
    assert.deepEqual(await raw.reply(a.R), replyFrame("9", a.R, "room:none", "ok", {}));
    const b = raw.push(null, "room:none", "phx_leave", {});
    assert.deepEqual(await raw.reply(b.R), replyFrame(null, b.R, "room:none", "ok", {}));
    assert.deepEqual(await raw.quiet((m) => isArr(m) && m[3] === "phx_close", { from: a.from }), []);
  });

  test("35. [vsn 1.0.0] leave an unjoined topic", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const a = raw.push("9", "room:none", "phx_leave", {});
    assert.deepEqual(await raw.reply(a.R), v1Reply(a.R, "room:none", "ok", {}));
    assert.deepEqual(await raw.quiet((m) => m && m.event === "phx_close", { from: a.from }), []);
  });

  test("36. leave with a stale join_ref (raw): no frame, still joined; null join_ref → accepted", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port);
    rawCleanup(t, raw);
    const topic = uniq("room:sl-");
    const j1 = await raw.join(topic);
    const j2 = await raw.join(topic);
    await raw.waitFor((m) => isArr(m) && m[0] === j1.J && m[3] === "phx_close", { from: j2.from });
    const stale = raw.push(j1.J, topic, "phx_leave", {});
    // Barrier instead of a quiet period: the echo after the stale leave is routed after it and
    // answered by the channel after anything the leave would have made it send.
    const echo = raw.push(j2.J, topic, "echo", { ok: 1 });
    assert.deepEqual(await raw.reply(echo.R), replyFrame(j2.J, echo.R, topic, "ok", { ok: 1 }));
    assert.deepEqual(raw.matching((m) => isArr(m) && (m[1] === stale.R || m[3] === "phx_close"), stale.from), []);
    assert.equal(await ctx.fx.channels(topic), 1);

    const leave = raw.push(null, topic, "phx_leave", {});
    const close = await raw.waitFor((m) => isArr(m) && m[3] === "phx_close", { from: leave.from });
    assert.deepEqual(close.msg, [j2.J, j2.J, topic, "phx_close", {}]);
    const reply = raw.matching((m) => isArr(m) && m[1] === leave.R, leave.from)[0];
    assert.deepEqual(reply.msg, replyFrame(j2.J, leave.R, topic, "ok", {}));
    assert.ok(raw.frames.indexOf(reply) < raw.frames.indexOf(close));
    await waitUntil(async () => (await ctx.fx.channels(topic)) === 0, { msg: "channel gone" });
  });

  test("36. [vsn 1.0.0] leave with a stale join_ref", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const topic = uniq("room:sl1-");
    const j1 = await raw.join(topic);
    await raw.join(topic);
    const stale = raw.push(j1.J, topic, "phx_leave", {});
    // Barrier instead of a quiet period: the heartbeat is routed after the stale leave, and its
    // reply written after any reply to it.
    await rawRoundTrip(raw);
    assert.deepEqual(raw.matching((m) => m && m.ref === stale.R, stale.from), []);
    assert.equal(await ctx.fx.channels(topic), 1);
    const leave = raw.push(undefined, topic, "phx_leave", {});
    assert.deepEqual(await raw.reply(leave.R), v1Reply(leave.R, topic, "ok", {}));
  });

  test("37. duplicate join (raw): new join reply, then phx_close for J1; one server channel; J1 terminate not run", T, async (t) => {
    const { fx } = ctx;
    const raw = await rawConnect(fx.port);
    rawCleanup(t, raw);
    const topic = uniq("room:d-");
    const j1 = await raw.join(topic);
    await raw.waitFor((m) => isArr(m) && m[3] === "joined", { from: j1.from });
    const j2 = await raw.join(topic);
    assert.deepEqual(j2.reply, replyFrame(j2.J, j2.J, topic, "ok", {}));
    const close = await raw.waitFor((m) => isArr(m) && m[3] === "phx_close", { from: j2.from });
    assert.deepEqual(close.msg, [j1.J, j1.J, topic, "phx_close", {}]);
    const reply = raw.matching((m) => isArr(m) && m[1] === j2.J && m[3] === "phx_reply", j2.from)[0];
    assert.ok(raw.frames.indexOf(reply) < raw.frames.indexOf(close), "new join reply before the old phx_close");
    // Barrier: a round trip on the new channel. Then a negative window: a terminate of the
    // killed channel (must not run) would be an asynchronous effect with no event of its own;
    // QUIET_MS after the kill was observed is how long it gets to show up.
    const echo = raw.push(j2.J, topic, "echo", {});
    assert.deepEqual(await raw.reply(echo.R), replyFrame(j2.J, echo.R, topic, "ok", {}));
    await sleep(QUIET_MS);
    assert.equal(await fx.channels(topic), 1);
    const log = await fx.log();
    assert.deepEqual(log.terminates.filter((x) => x.topic === topic), [], "the killed channel's terminate did not run");
    assert.deepEqual(raw.matching((m) => isArr(m) && m[0] === j1.J && m[3] === "you_left", j2.from), []);
  });

  test("37. [vsn 1.0.0] duplicate join", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const topic = uniq("room:d1-");
    const j1 = await raw.join(topic);
    const j2 = await raw.join(topic);
    assert.deepEqual(j2.reply, v1Reply(j2.J, topic, "ok", {}));
    const close = await raw.waitFor((m) => m && m.event === "phx_close", { from: j2.from });
    assert.deepEqual(close.msg, { event: "phx_close", payload: {}, ref: j1.J, topic });
    const reply = raw.matching((m) => m && m.ref === j2.J, j2.from)[0];
    assert.ok(raw.frames.indexOf(reply) < raw.frames.indexOf(close));
    assert.equal(await ctx.fx.channels(topic), 1);
  });

  test("38. second instance, same topic: a's leave then b's join; a closed, b joined, one server channel", T, async (t) => {
    const { socket, rec } = await client(t);
    const topic = uniq("room:s-");
    const a = socket.channel(topic);
    await joinOk(a);
    const Ja = a.joinRef();
    const aCloses = [];
    a.onClose((p) => aCloses.push(p));
    const mark = rec.mark();
    const b = socket.channel(topic);
    const bEvents = [];
    for (const ev of ["you_left", "phx_close", "joined"]) b.on(ev, (p, ref, jr) => bEvents.push([ev, jr]));
    await joinOk(b);
    const Jb = b.joinRef();
    const sent = rec.sent((m) => m[2] === topic, mark);
    assert.deepEqual(sent[0].msg, [Ja, sent[0].msg[1], topic, "phx_leave", {}]);
    assert.deepEqual(sent[1].msg, [Jb, Jb, topic, "phx_join", {}]);
    await waitUntil(() => a.state === "closed", { msg: "a closed" });
    // The server is done with J_a once it closed it (phx_close J_a: the leave's, or the
    // duplicate join's when b's join overtook the leave); then a round trip on b.
    await rec.waitReceived((m) => m[0] === Ja && m[2] === topic && m[3] === "phx_close", { from: mark, msg: "phx_close for J_a" });
    assert.deepEqual(await outcome(b.push("echo", { b: 1 }, 5000)), { status: "ok", response: { b: 1 } });
    // Negative window: when the leave won, a's terminate pushes you_left after phx_close, on
    // its own schedule (no event marks it); QUIET_MS for it to show up and reach only a.
    await sleep(QUIET_MS);
    assert.equal(a.state, "closed");
    assert.equal(b.state, "joined");
    assert.deepEqual(aCloses, ["leave"]);
    assert.equal(await ctx.fx.channels(topic), 1);
    // frames tagged J_a that arrived (phx_close, you_left) never reached b
    assert.ok(rec.received((m) => m[0] === Ja && m[3] === "phx_close", mark).length === 1, "server closed J_a");
    assert.deepEqual(bEvents.filter(([ev]) => ev !== "joined"), []);
    assert.ok(!socket.channels.includes(a));
  });

  for (const mount of ["/socket", "/limited"]) {
    test(`39. rapid join/leave/join ×20 on ${mount}: one server channel, final instance joined`, { timeout: 20000 }, async (t) => {
      const { fx } = ctx;
      const { socket, rec } = await client(t, { mount });
      const topic = uniq("room:rapid-");
      for (let i = 0; i < 20; i++) {
        const ch = socket.channel(topic);
        ch.join();
        ch.leave();
      }
      const final = socket.channel(topic);
      final.join();
      await waitUntil(() => final.state === "joined", { timeout: 10000, msg: "final instance joined" });
      const Jf = final.joinRef();
      // Barriers instead of a sleep: the heartbeat is routed after all 41 join/leave frames
      // (a connection's frames are read in order), the echo answered by the final channel
      // after everything queued to it; the other instances' channels then go away.
      await phxRoundTrip(socket, rec);
      assert.deepEqual(await outcome(final.push("echo", { first: true }, 5000)), { status: "ok", response: { first: true } });
      await waitUntil(async () => (await fx.channels(topic)) === 1, { timeout: 10000, msg: "one server channel" });
      assert.equal(final.state, "joined");
      assert.equal(await fx.channels(topic), 1, "exactly one server channel");
      assert.deepEqual(
        rec.received((m) => m[1] === Jf && m[3] === "phx_reply" && m[4].response && m[4].response.reason === "unmatched topic"),
        [],
      );
      assert.deepEqual(await outcome(final.push("echo", { last: true })), { status: "ok", response: { last: true } });
      // the server is alive and serves new connections
      const raw = await rawConnect(fx.port);
      rawCleanup(t, raw);
      const hb = raw.push(null, "phoenix", "heartbeat", {});
      assert.deepEqual(await raw.reply(hb.R), replyFrame(null, hb.R, "phoenix", "ok", {}));
    });
  }
});
