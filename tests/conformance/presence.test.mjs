// PROTOCOL.md 9.2 scenarios 58-64: presence with the JS Presence class (65 is multi-node,
// out of scope).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { connect, joinOk, makeSocket, outcome, phxCleanup, Presence, QUIET_MS, sleep } from "../lib/phx.mjs";
import { rawCleanup, rawConnect } from "../lib/raw.mjs";
import { Relay } from "../lib/relay.mjs";
import { T, uniq, useFixture } from "../lib/suite.mjs";
import { phxRoundTrip, waitUntil } from "../lib/wait.mjs";

const snapshot = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/** `[[key, [phx_ref, ...]], ...]` of a Presence. */
const refsOf = (presence) => presence.list((key, p) => [key, p.metas.map((m) => m.phx_ref)]);

describe("presence", () => {
  const ctx = useFixture();

  /** A phoenix client joined to `topic` as `userId`, with a Presence recording its callbacks. */
  async function member(t, topic, userId, { port = ctx.fx.port } = {}) {
    const c = makeSocket(port);
    phxCleanup(t, c.socket);
    await connect(c.socket);
    const ch = c.socket.channel(topic, { user_id: userId });
    const presence = new Presence(ch);
    const m = { ...c, ch, presence, syncs: 0, joins: [], leaves: [] };
    presence.onSync(() => {
      m.syncs += 1;
    });
    presence.onJoin((key, current, joined) => m.joins.push([key, snapshot(current), snapshot(joined)]));
    presence.onLeave((key, current, left) => m.leaves.push([key, snapshot(current), snapshot(left)]));
    await joinOk(ch);
    m.J = ch.joinRef();
    return m;
  }

  /** Waits until `m`'s Presence lists `key` with `n` metas. */
  function waitMetas(m, key, n, msg = `${key} with ${n} metas`) {
    return waitUntil(() => {
      const e = m.presence.list((k, p) => [k, p.metas.length]).find(([k]) => k === key);
      return n === 0 ? !e : e && e[1] === n;
    }, { msg });
  }

  test("58. self presence: presence_state with J and presence_diff with the same phx_ref; list has u1 once; onSync", T, async (t) => {
    const topic = uniq("presence:lobby-");
    const A = await member(t, topic, "u1");
    const state = await A.rec.waitReceived((m) => m[2] === topic && m[3] === "presence_state");
    const diff = await A.rec.waitReceived((m) => m[2] === topic && m[3] === "presence_diff");
    const joinReply = A.rec.received((m) => m[1] === A.J && m[3] === "phx_reply")[0];
    assert.ok(A.rec.indexOf(state) > A.rec.indexOf(joinReply) && A.rec.indexOf(diff) > A.rec.indexOf(joinReply));
    const meta = state.msg[4].u1.metas[0];
    const P1 = meta.phx_ref;
    assert.equal(typeof P1, "string");
    assert.ok(P1.length > 0);
    assert.equal(typeof meta.online_at, "number");
    assert.deepEqual(state.msg, [A.J, null, topic, "presence_state", { u1: { metas: [{ online_at: meta.online_at, phx_ref: P1 }] } }]);
    assert.deepEqual(diff.msg, [
      null,
      null,
      topic,
      "presence_diff",
      { joins: { u1: { metas: [{ online_at: meta.online_at, phx_ref: P1 }] } }, leaves: {} },
    ]);
    await waitUntil(() => A.syncs >= 1, { msg: "onSync" });
    assert.deepEqual(refsOf(A.presence), [["u1", [P1]]]);
  });

  test("58. [vsn 1.0.0] self presence: object-form presence_state and presence_diff", T, async (t) => {
    const topic = uniq("presence:v1-");
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const { from } = await raw.join(topic, { user_id: "u1" });
    const state = await raw.waitFor((m) => m && m.event === "presence_state", { from });
    const diff = await raw.waitFor((m) => m && m.event === "presence_diff", { from });
    const meta = state.msg.payload.u1.metas[0];
    assert.deepEqual(state.msg, { event: "presence_state", payload: { u1: { metas: [meta] } }, ref: null, topic });
    assert.deepEqual(diff.msg, { event: "presence_diff", payload: { joins: { u1: { metas: [meta] } }, leaves: {} }, ref: null, topic });
  });

  test("59. second device, same key: diff joins u1 with P2; list shows both metas (old first); onJoin(u1, current, {metas:[P2]})", T, async (t) => {
    const topic = uniq("presence:two-");
    const A = await member(t, topic, "u1");
    await waitMetas(A, "u1", 1);
    const [[, [P1]]] = refsOf(A.presence);
    const mark = A.rec.mark();
    const joinsBefore = A.joins.length;
    const B = await member(t, topic, "u1");
    await waitMetas(B, "u1", 2);
    const diff = await A.rec.waitReceived((m) => m[3] === "presence_diff", { from: mark });
    const metas = diff.msg[4].joins.u1.metas;
    assert.equal(metas.length, 1);
    const P2 = metas[0].phx_ref;
    assert.notEqual(P2, P1);
    assert.deepEqual(diff.msg[4].leaves, {});
    await waitMetas(A, "u1", 2);
    assert.deepEqual(refsOf(A.presence), [["u1", [P1, P2]]]);
    const call = A.joins.slice(joinsBefore).find(([, , joined]) => joined.metas.some((m) => m.phx_ref === P2));
    assert.ok(call, "onJoin fired for P2");
    assert.equal(call[0], "u1");
    assert.deepEqual(call[1].metas.map((m) => m.phx_ref), [P1], "current presence before the join");
    assert.deepEqual(call[2].metas.map((m) => m.phx_ref), [P2]);
  });

  test("60. leave via disconnect: diff leaves u1 P2; onLeave(u1, remaining P1, left P2); key stays", T, async (t) => {
    const topic = uniq("presence:dis-");
    const A = await member(t, topic, "u1");
    const B = await member(t, topic, "u1");
    await waitMetas(A, "u1", 2);
    await waitMetas(B, "u1", 2);
    const [[, [P1, P2]]] = refsOf(A.presence);
    const bState = B.rec.received((m) => m[3] === "presence_state")[0];
    assert.ok(
      bState.msg[4].u1.metas.some((m) => m.phx_ref === P2),
      "P2 is B's own meta (the one tracked by B's join)",
    );
    const mark = A.rec.mark();
    B.socket.disconnect();
    const diff = await A.rec.waitReceived((m) => m[3] === "presence_diff", { from: mark });
    assert.deepEqual(diff.msg[4].joins, {});
    assert.deepEqual(Object.keys(diff.msg[4].leaves), ["u1"]);
    assert.deepEqual(diff.msg[4].leaves.u1.metas.map((m) => m.phx_ref), [P2]);
    await waitMetas(A, "u1", 1);
    assert.deepEqual(refsOf(A.presence), [["u1", [P1]]]);
    const call = A.leaves.find(([, , left]) => left.metas.some((m) => m.phx_ref === P2));
    assert.ok(call, "onLeave fired");
    assert.equal(call[0], "u1");
    assert.deepEqual(call[1].metas.map((m) => m.phx_ref), [P1]);
    assert.deepEqual(call[2].metas.map((m) => m.phx_ref), [P2]);
  });

  test("61. update: one diff with u1 in joins (P3, phx_ref_prev P1) and in leaves (P1) for every subscriber", T, async (t) => {
    const topic = uniq("presence:upd-");
    const A = await member(t, topic, "u1");
    const B = await member(t, topic, "u2");
    await waitMetas(A, "u2", 1);
    await waitMetas(B, "u1", 1);
    const oldMeta = A.presence.list((k, p) => (k === "u1" ? p.metas[0] : null)).find(Boolean);
    const P1 = oldMeta.phx_ref;
    const marks = [A.rec.mark(), B.rec.mark()];
    assert.deepEqual(await outcome(A.ch.push("away", {})), { status: "ok", response: {} });
    const diffs = [];
    for (const [i, m] of [A, B].entries()) {
      diffs.push(await m.rec.waitReceived((x) => x[3] === "presence_diff", { from: marks[i] }));
    }
    // Negative window for a second diff: the tracker sends diffs on its own, so no frame marks
    // "no more"; QUIET_MS after both subscribers had the first one.
    await sleep(QUIET_MS);
    for (const [i, m] of [A, B].entries()) {
      assert.equal(m.rec.received((x) => x[3] === "presence_diff", marks[i]).length, 1, "exactly one diff");
    }
    const d = diffs[0].msg[4];
    assert.deepEqual(diffs[1].msg, diffs[0].msg, "same diff for every subscriber");
    assert.deepEqual(diffs[0].msg.slice(0, 4), [null, null, topic, "presence_diff"]);
    const P3 = d.joins.u1.metas[0].phx_ref;
    assert.equal(typeof P3, "string");
    assert.notEqual(P3, P1);
    assert.deepEqual(d, {
      joins: { u1: { metas: [{ status: "away", phx_ref: P3, phx_ref_prev: P1 }] } },
      leaves: { u1: { metas: [oldMeta] } },
    });
    for (const m of [A, B]) {
      await waitUntil(() => m.presence.list((k, p) => (k === "u1" ? p.metas : null)).find(Boolean)?.[0]?.status === "away");
      const metas = m.presence.list((k, p) => (k === "u1" ? p.metas : null)).find(Boolean);
      assert.equal(metas.length, 1);
      assert.equal(metas[0].status, "away");
      assert.equal(metas[0].phx_ref, P3);
    }
  });

  test("62. diff before state (relay reorders): client buffers the diff; list as in 58; onSync fires once", T, async (t) => {
    const { fx } = ctx;
    const topic = uniq("presence:order-");
    const relay = await new Relay(fx.port, {
      filter: (conn, f) => {
        if (!Array.isArray(f.msg) || f.msg[2] !== topic) return [f];
        if (f.msg[3] === "presence_state" && !conn.diffSeen) {
          conn.held = f;
          return [];
        }
        if (f.msg[3] === "presence_diff" && !conn.diffSeen) {
          conn.diffSeen = true;
          const out = [f];
          if (conn.held) out.push(conn.held);
          conn.held = null;
          return out;
        }
        return [f];
      },
    }).start();
    t.after(() => relay.stop());
    const A = await member(t, topic, "u1", { port: relay.port });
    const state = await A.rec.waitReceived((m) => m[3] === "presence_state");
    const diff = A.rec.received((m) => m[3] === "presence_diff")[0];
    assert.ok(diff && A.rec.indexOf(diff) < A.rec.indexOf(state), "the client saw the diff first");
    // Barrier instead of a quiet period: the client handles each frame when it arrives, and a
    // frame written before the heartbeat reply arrives before it.
    await phxRoundTrip(A.socket, A.rec);
    const P1 = state.msg[4].u1.metas[0].phx_ref;
    assert.deepEqual(refsOf(A.presence), [["u1", [P1]]]);
    assert.equal(A.syncs, 1, "onSync fired once");
  });

  test("63. rejoin resync: after a crash the server pushes a new presence_state for J2; final lists correct, no duplicates", T, async (t) => {
    const topic = uniq("presence:crash-");
    const A = await member(t, topic, "u1");
    const B = await member(t, topic, "u2");
    await waitMetas(A, "u2", 1);
    await waitMetas(B, "u1", 1);
    const [[, [P1]]] = A.presence.list((k, p) => [k, p.metas.map((m) => m.phx_ref)]).filter(([k]) => k === "u1");
    const J1 = A.J;
    const mark = A.rec.mark();
    A.ch.push("boom", {});
    await waitUntil(() => A.ch.state === "joined" && A.ch.joinRef() !== J1, { msg: "rejoined" });
    const J2 = A.ch.joinRef();
    const state2 = await A.rec.waitReceived((m) => m[3] === "presence_state" && m[0] === J2, { from: mark });
    const rejoinReply = A.rec.received((m) => m[1] === J2 && m[3] === "phx_reply", mark)[0];
    assert.ok(A.rec.indexOf(state2) > A.rec.indexOf(rejoinReply));
    assert.deepEqual(state2.msg.slice(0, 4), [J2, null, topic, "presence_state"]);
    await waitUntil(
      () => {
        const l = refsOf(A.presence);
        const u1 = l.find(([k]) => k === "u1");
        return u1 && u1[1].length === 1 && u1[1][0] !== P1;
      },
      { msg: "u1 re-tracked in A's list" },
    );
    // B converges through its diffs (the crash's leave, the rejoin's join), which can come
    // after A's new state: wait for B to list the same, then compare.
    await waitUntil(
      () => {
        const sorted = (p) => JSON.stringify(refsOf(p).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
        return sorted(B.presence) === sorted(A.presence);
      },
      { timeout: 10000, msg: "B's list converges to A's" },
    );
    const listA = Object.fromEntries(refsOf(A.presence));
    const listB = Object.fromEntries(refsOf(B.presence));
    assert.deepEqual(Object.keys(listA).sort(), ["u1", "u2"]);
    assert.equal(listA.u1.length, 1, "no duplicate u1 metas");
    assert.equal(listA.u2.length, 1);
    assert.deepEqual(listB, listA, "both clients converge");
    assert.deepEqual(Object.keys(state2.msg[4]).sort(), ["u1", "u2"]);
    assert.deepEqual(state2.msg[4].u1.metas.map((m) => m.phx_ref), listA.u1);
  });

  test("64. prototype keys: '__proto__' and 'constructor' are listed as normal keys", T, async (t) => {
    const topic = uniq("presence:proto-");
    const A = await member(t, topic, "__proto__");
    const B = await member(t, topic, "constructor");
    await waitMetas(A, "constructor", 1);
    await waitMetas(B, "__proto__", 1);
    for (const m of [A, B]) {
      const keys = m.presence.list((k) => k).sort();
      assert.deepEqual(keys, ["__proto__", "constructor"]);
      for (const [, refs] of refsOf(m.presence)) assert.equal(refs.length, 1);
    }
    const state = B.rec.received((m) => m[3] === "presence_state")[0];
    assert.ok(Object.prototype.hasOwnProperty.call(state.msg[4], "__proto__"), "own __proto__ key in presence_state");
    assert.ok(Array.isArray(state.msg[4].__proto__.metas));
  });
});
