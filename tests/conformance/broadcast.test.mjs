// PROTOCOL.md 9.2 scenarios 40-45: broadcasts.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { joinedRoom, outcome, QUIET_MS, sleep } from "../lib/phx.mjs";
import { rawCleanup, rawConnect, replyFrame } from "../lib/raw.mjs";
import { T, uniq, useFixture } from "../lib/suite.mjs";
import { phxRoundTrip } from "../lib/wait.mjs";

const isArr = Array.isArray;

describe("broadcast", () => {
  const ctx = useFixture();

  /** n phoenix clients joined to `topic`. */
  async function clients(t, n, topic) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await joinedRoom(t, ctx.fx.port, topic));
    return out;
  }

  /** A raw V1 observer joined to `topic`. */
  async function v1Observer(t, topic) {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const j = await raw.join(topic);
    await raw.waitFor((m) => m && m.event === "joined", { from: j.from });
    return raw;
  }

  test("40. broadcast reaches all including the sender, before the sender's reply; V1 observer gets the object form", T, async (t) => {
    const topic = uniq("room:b-");
    const [A, B, C] = await clients(t, 3, topic);
    const v1 = await v1Observer(t, topic);
    const marks = [A, B, C].map((c) => c.rec.mark());
    const v1mark = v1.mark();
    assert.deepEqual(await outcome(A.ch.push("new_msg", { body: "hi" })), { status: "ok", response: {} });
    const expected = [null, null, topic, "new_msg", { body: "hi" }];
    const got = await Promise.all(
      [A, B, C].map((c, i) => c.rec.waitReceived((m) => m[3] === "new_msg", { from: marks[i] })),
    );
    for (const e of got) assert.deepEqual(e.msg, expected);
    const R = A.rec.sent((m) => m[3] === "new_msg", marks[0])[0].msg[1];
    const reply = A.rec.received((m) => m[1] === R, marks[0])[0];
    assert.deepEqual(reply.msg, replyFrame(A.J, R, topic, "ok", {}));
    assert.ok(A.rec.indexOf(got[0]) < A.rec.indexOf(reply), "sender gets the broadcast before its reply");
    const v = await v1.waitFor((m) => m && m.event === "new_msg", { from: v1mark });
    assert.deepEqual(v.msg, { event: "new_msg", payload: { body: "hi" }, ref: null, topic });
  });

  test("41. broadcast_from: everyone but the sender; the sender still gets its reply", T, async (t) => {
    const topic = uniq("room:bf-");
    const [A, B, C] = await clients(t, 3, topic);
    const v1 = await v1Observer(t, topic);
    const marks = [A, B, C].map((c) => c.rec.mark());
    const v1mark = v1.mark();
    assert.deepEqual((await outcome(A.ch.push("new_msg_from", { body: "yo" }))).status, "ok");
    for (const [i, c] of [B, C].entries()) {
      const e = await c.rec.waitReceived((m) => m[3] === "new_msg_from", { from: marks[i + 1] });
      assert.deepEqual(e.msg, [null, null, topic, "new_msg_from", { body: "yo" }]);
    }
    const v = await v1.waitFor((m) => m && m.event === "new_msg_from", { from: v1mark });
    assert.deepEqual(v.msg, { event: "new_msg_from", payload: { body: "yo" }, ref: null, topic });
    // Every other subscriber has it; a round trip on A's connection (a copy queued to it
    // before is in by then), then a negative window for one still in flight in the server.
    await phxRoundTrip(A.socket, A.rec);
    await sleep(QUIET_MS);
    assert.deepEqual(A.rec.received((m) => m[3] === "new_msg_from", marks[0]), [], "not the sender");
  });

  test("42. fastlane byte identity (raw): two V2 subscribers get identical text; V1 gets the object form", T, async (t) => {
    const { fx } = ctx;
    const topic = uniq("room:f-");
    const subs = [];
    for (let i = 0; i < 2; i++) {
      const raw = await rawConnect(fx.port);
      rawCleanup(t, raw);
      const j = await raw.join(topic);
      await raw.waitFor((m) => isArr(m) && m[3] === "joined", { from: j.from });
      subs.push(raw);
    }
    const v1 = await v1Observer(t, topic);
    const marks = subs.map((s) => s.mark());
    const v1mark = v1.mark();
    const payload = { body: "same bytes", n: [1, 2, 3], nested: { "ü": "✓" } };
    await fx.broadcast(topic, "shout", payload);
    const frames = await Promise.all(subs.map((s, i) => s.waitFor((m) => isArr(m) && m[3] === "shout", { from: marks[i] })));
    assert.deepEqual(frames[0].msg, [null, null, topic, "shout", payload]);
    assert.equal(frames[0].text, frames[1].text, "byte-identical text");
    const v = await v1.waitFor((m) => m && m.event === "shout", { from: v1mark });
    assert.deepEqual(v.msg, { event: "shout", payload, ref: null, topic });

    // a broadcast from a channel (new_msg) is byte-identical too
    const m2 = subs.map((s) => s.mark());
    const { R } = subs[0].push(null, topic, "new_msg", { body: "from channel" });
    await subs[0].reply(R);
    const f2 = await Promise.all(subs.map((s, i) => s.waitFor((m) => isArr(m) && m[3] === "new_msg", { from: m2[i] })));
    assert.equal(f2[0].text, f2[1].text);
  });

  test("43. intercepted event: per-subscriber push with its own J; hidden messages dropped", T, async (t) => {
    const topic = uniq("roomi:");
    const subs = [];
    for (let i = 0; i < 2; i++) {
      const raw = await rawConnect(ctx.fx.port);
      rawCleanup(t, raw);
      const j = await raw.join(topic);
      await raw.waitFor((m) => isArr(m) && m[3] === "joined", { from: j.from });
      subs.push({ raw, J: j.J });
    }
    const v1 = await v1Observer(t, topic);
    const marks = subs.map((s) => s.raw.mark());
    const v1mark = v1.mark();
    const { R } = subs[0].raw.push(subs[0].J, topic, "new_msg", { body: "x" });
    for (const [i, s] of subs.entries()) {
      const f = await s.raw.waitFor((m) => isArr(m) && m[3] === "new_msg", { from: marks[i] });
      assert.deepEqual(f.msg, [s.J, null, topic, "new_msg", { body: "x", transport: "websocket" }]);
    }
    const reply = subs[0].raw.matching((m) => isArr(m) && m[1] === R, marks[0])[0];
    assert.deepEqual(reply?.msg, replyFrame(subs[0].J, R, topic, "ok", {}));
    const own = subs[0].raw.matching((m) => isArr(m) && m[3] === "new_msg", marks[0])[0];
    assert.ok(
      subs[0].raw.frames.indexOf(reply) < subs[0].raw.frames.indexOf(own),
      "intercepted: the reply comes before the per-socket push (PROTOCOL.md 3.3 rule 5)",
    );
    const v = await v1.waitFor((m) => m && m.event === "new_msg", { from: v1mark });
    assert.deepEqual(v.msg, { event: "new_msg", payload: { body: "x", transport: "websocket" }, ref: null, topic });

    const hideMarks = subs.map((s) => s.raw.mark());
    const h = subs[1].raw.push(subs[1].J, topic, "new_msg", { body: "secret", hide: true });
    await subs[1].raw.reply(h.R);
    // Barrier instead of a quiet period: a visible new_msg broadcast after the hidden one. Each
    // subscriber's channel runs handle_out on them in order, so once the marker is in, the
    // hidden one would have been too.
    const marker = subs[1].raw.push(subs[1].J, topic, "new_msg", { body: "marker" });
    await subs[1].raw.reply(marker.R);
    for (const [i, s] of subs.entries()) {
      await s.raw.waitFor((m) => isArr(m) && m[3] === "new_msg" && m[4].body === "marker", { from: hideMarks[i], msg: "marker new_msg" });
      assert.deepEqual(
        s.raw.matching((m) => isArr(m) && m[3] === "new_msg", hideMarks[i]).map((f) => f.msg[4].body),
        ["marker"],
        "hidden",
      );
    }
  });

  test("43. intercepted event with the phoenix client: on('new_msg') gets the handle_out payload", T, async (t) => {
    const topic = uniq("roomi:js-");
    const [A, B] = await clients(t, 2, topic);
    const got = [];
    B.ch.on("new_msg", (p) => got.push(p));
    assert.equal((await outcome(A.ch.push("new_msg", { body: "x" }))).status, "ok");
    const e = await B.rec.waitReceived((m) => m[3] === "new_msg");
    assert.deepEqual(e.msg, [B.J, null, topic, "new_msg", { body: "x", transport: "websocket" }]);
    assert.deepEqual(got, [{ body: "x", transport: "websocket" }]);
  });

  test("44. server-side broadcast and local_broadcast reach every joined client", T, async (t) => {
    const { fx } = ctx;
    const topic = uniq("room:api-");
    const cs = await clients(t, 2, topic);
    const v1 = await v1Observer(t, topic);
    for (const route of ["/_test/broadcast", "/_test/local_broadcast"]) {
      const marks = cs.map((c) => c.rec.mark());
      const v1mark = v1.mark();
      const event = route.includes("local") ? "local_news" : "news";
      await fx.post(route, { topic, event, payload: { via: route } });
      for (const [i, c] of cs.entries()) {
        const e = await c.rec.waitReceived((m) => m[3] === event, { from: marks[i] });
        assert.deepEqual(e.msg, [null, null, topic, event, { via: route }]);
      }
      const v = await v1.waitFor((m) => m && m.event === event, { from: v1mark });
      assert.deepEqual(v.msg, { event, payload: { via: route }, ref: null, topic });
    }
  });

  test("45. broadcast to a topic with no subscribers: no error, no frames", T, async (t) => {
    const { fx } = ctx;
    const [A] = await clients(t, 1, uniq("room:other-"));
    const mark = A.rec.mark();
    await fx.broadcast(uniq("room:nobody-"), "ghost", { x: 1 });
    await fx.post("/_test/local_broadcast", { topic: uniq("room:nobody-"), event: "ghost", payload: {} });
    // A round trip on A's connection, then a negative window: nothing can mark a delivery
    // that must not happen.
    const hb = await phxRoundTrip(A.socket, A.rec);
    await sleep(QUIET_MS);
    assert.deepEqual(A.rec.received(() => true, mark), [hb], "only the heartbeat reply");
    assert.deepEqual(await outcome(A.ch.push("echo", { alive: 1 })), { status: "ok", response: { alive: 1 } });
  });
});
