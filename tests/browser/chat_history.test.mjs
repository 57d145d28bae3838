// History and recovery through the chat demo (examples/chat/CONTRACT.md "History",
// docs/HISTORY.md), with the stock phoenix client on Node, against every host language's demo
// (SB_CHAT_CMD): a client that rejoins with `_since` gets `sb_recovery` and then exactly the
// messages it missed, in order, before live ones; unknown, trimmed, expired and malformed
// positions are answered `recovered: false` (or close the connection when the frame is too
// big), and a restarted node has a new epoch.

import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startChatServer } from "./chat_server.mjs";
import { within, withChatServer } from "./chat_client.mjs";
import { comeBack, floodDuringResume, goOffline, joined, newMember, send, until } from "./chat_member.mjs";
import { waitUntil } from "../lib/wait.mjs";

const ctx = withChatServer(startChatServer);


/** A room member on `at` (default this file's server): see tests/browser/chat_member.mjs. */
const member = (user, topic, { at = ctx.server, since = null } = {}) => newMember(ctx.sockets, at, user, topic, since);

const room = (name) => `room:history-${name}-${process.pid}-${Date.now()}`;

test("a client that reconnects gets exactly the 20 messages it missed, in order, then live ones", { timeout: 60_000 }, async () => {
  const topic = room("outage");
  const reader = member("reader", topic);
  const first = await joined(reader);
  // A first join without a position learns the room's current one.
  assert.equal(first.recovered, true);
  assert.equal(first.missed, 0);
  assert.equal(typeof first.position, "string");
  assert.ok(Number.isNaN(Number(first.position)), `positions are not numbers: ${first.position}`);

  const writer = member("writer", topic);
  await joined(writer);
  await send(writer.channel, "before");
  await until(reader, () => reader.bodies.includes("before"), "the message before the outage");
  assert.equal(typeof reader.refs.at(-1), "string", "a broadcast of a room with history has its position as ref");

  await goOffline(reader);
  const missed = Array.from({ length: 20 }, (_, i) => `missed ${i + 1}`);
  for (const body of missed) await send(writer.channel, body);
  await until(writer, () => writer.bodies.length === 21, "the writer's own 21 messages");

  const recovery = await comeBack(reader);
  assert.deepEqual(
    { recovered: recovery.recovered, missed: recovery.missed, position: recovery.position },
    { recovered: true, missed: 20, position: writer.refs.at(-1) },
  );
  await until(reader, () => reader.bodies.length === 21, "the 20 replayed messages");
  // Same refs as the writer saw live: the same messages, each once.
  assert.deepEqual(reader.bodies, ["before", ...missed]);
  assert.deepEqual(reader.refs, writer.refs);

  await send(writer.channel, "live");
  await until(reader, () => reader.bodies.length === 22, "the live message after the replay");
  assert.equal(reader.bodies.at(-1), "live");
  assert.equal(reader.recoveries.length, 2);
});

test("a resume while another client floods the room has no gap and no duplicate", { timeout: 90_000 }, async () => {
  // A history longer than the outage's flood (a resume replays at most half the client's
  // queue, 512 frames by default).
  const node = await startChatServer({ name: "chat server for the flood", env: { SB_HISTORY_SIZE: "1000" } });
  try {
    await floodOnOneNode(node);
  } finally {
    await node.stop();
  }
});

async function floodOnOneNode(node) {
  const topic = room("flood");
  const reader = member("reader", topic, { at: node });
  await joined(reader);
  const flooder = member("flooder", topic, { at: node });
  await joined(flooder);

  await floodDuringResume(reader, flooder, { live: 50, away: 10 });
}

test("positions the node does not know are answered recovered false, then the room is live", { timeout: 60_000 }, async () => {
  const topic = room("unknown");
  const writer = member("writer", topic);
  await joined(writer);
  await send(writer.channel, "one");
  await until(writer, () => writer.bodies.length === 1, "the first message");
  const [epoch, offset] = writer.refs[0].split(/:(?=[^:]*$)/);

  for (const [since, reason] of [
    ["AAAAAAAA:1", "unknown_epoch"],
    [`${epoch}:${Number(offset) + 100}`, "unknown_position"],
  ]) {
    const m = member("stranger", topic, { since });
    const r = await joined(m);
    assert.deepEqual(r, { recovered: false, missed: 0, position: writer.refs.at(-1), reason }, since);
    await send(writer.channel, `after ${reason}`);
    await until(m, () => m.bodies.includes(`after ${reason}`), "a live message after recovered false");
    await until(writer, () => writer.bodies.includes(`after ${reason}`), "the writer's own message");
    assert.deepEqual(m.bodies, [`after ${reason}`], "nothing is replayed");
  }
});

test("bad _since values get a clear answer and never take the server down", { timeout: 60_000 }, async () => {
  const topic = room("bad");
  const writer = member("writer", topic);
  await joined(writer);
  await send(writer.channel, "kept");

  for (const since of [5, { epoch: "x" }, ["a"], true, "", "no-colon", "x".repeat(60_000)]) {
    const m = member("odd", topic, { since });
    const r = await joined(m);
    const shown = JSON.stringify(since).slice(0, 40);
    assert.equal(r.recovered, false, shown);
    assert.equal(r.reason, "invalid_position", shown);
    assert.equal(r.missed, 0, shown);
    assert.equal(r.position, writer.refs[0], shown);
  }

  // A 1 MB position makes the join frame exceed the endpoint's 65 536-byte limit: that
  // connection is closed with 1009, like any oversized frame; the room goes on.
  const ws = new WebSocket(`${ctx.server.base.replace("http:", "ws:")}/socket/websocket?user=huge&vsn=2.0.0`);
  await within(new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject)), "the upgrade");
  const closed = within(new Promise((resolve) => ws.once("close", resolve)), "the close");
  ws.send(JSON.stringify(["1", "1", topic, "phx_join", { _since: "9".repeat(1 << 20) }]));
  assert.equal(await closed, 1009);

  const after = member("after", topic, { since: writer.refs[0] });
  const r = await joined(after);
  assert.deepEqual(r, { recovered: true, missed: 0, position: writer.refs[0] });
});

test("a restarted node has a new epoch: positions from before are not recovered", { timeout: 60_000 }, async () => {
  const topic = room("restart");
  let node = await startChatServer({ name: "chat server before the restart" });
  try {
    const writer = member("writer", topic, { at: node });
    await joined(writer);
    await send(writer.channel, "lost");
    await until(writer, () => writer.bodies.length === 1, "the message before the restart");
    const before = writer.refs[0];
    writer.socket.disconnect();
    await node.stop();

    node = await startChatServer({ name: "chat server after the restart" });
    const back = member("back", topic, { at: node, since: before });
    const r = await joined(back);
    assert.equal(r.recovered, false);
    assert.equal(r.reason, "unknown_epoch");
    assert.equal(r.missed, 0);
    assert.notEqual(r.position.split(":")[0], before.split(":")[0], "a new epoch");
    back.socket.disconnect();
  } finally {
    await node.stop();
  }
});

test("history keeps SB_HISTORY_SIZE messages for SB_HISTORY_TTL_MS: older positions are trimmed", { timeout: 60_000 }, async () => {
  const ttlMs = 1500;
  const node = await startChatServer({
    name: "chat server with a small history",
    env: { SB_HISTORY_SIZE: "5", SB_HISTORY_TTL_MS: String(ttlMs) },
  });
  try {
    const topic = room("trim");
    const writer = member("writer", topic, { at: node });
    const start = (await joined(writer)).position;
    for (let i = 1; i <= 8; i++) await send(writer.channel, `m${i}`);
    await until(writer, () => writer.bodies.length === 8, "8 messages");
    const sentAt = Date.now();

    // Size: only the last 5 are kept, so a resume from before the first is trimmed ...
    const early = member("early", topic, { at: node, since: start });
    assert.deepEqual(await joined(early), { recovered: false, missed: 0, position: writer.refs[7], reason: "trimmed" });
    // ... and one from the 3rd message gets the 5 after it.
    const late = member("late", topic, { at: node, since: writer.refs[2] });
    const r = await joined(late);
    assert.deepEqual(r, { recovered: true, missed: 5, position: writer.refs[7] });
    await until(late, () => late.bodies.length === 5, "the 5 kept messages");
    assert.deepEqual(late.bodies, ["m4", "m5", "m6", "m7", "m8"]);

    // TTL: the same resume stops working once the messages expire, and not before.
    let expired;
    await waitUntil(
      async () => {
        const probe = member("probe", topic, { at: node, since: writer.refs[2] });
        const answer = await joined(probe);
        probe.socket.disconnect();
        if (answer.recovered) return false;
        expired = { answer, after: Date.now() - sentAt };
        return true;
      },
      { timeout: 20_000, interval: 100, msg: "the messages to expire" },
    );
    assert.equal(expired.answer.reason, "trimmed");
    assert.ok(expired.after >= ttlMs - 50, `expired after ${expired.after} ms, TTL ${ttlMs} ms`);
  } finally {
    await node.stop();
  }
});
