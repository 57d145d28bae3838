// A chat room member for the history suites (docs/HISTORY.md): the stock phoenix client keeping
// what the chat page keeps (the last position it saw, passed as `_since` at every rejoin), and
// the steps the suites take with it. Used by tests/browser/chat_history.test.mjs and
// tests/cluster/chat_history_cluster.test.mjs.

import assert from "node:assert/strict";
import { Socket } from "phoenix";
import WebSocket from "ws";
import { join, within } from "./chat_client.mjs";

function connect(sockets, at, user) {
  const socket = new Socket(`${at.base.replace("http:", "ws:")}/socket`, {
    transport: WebSocket,
    params: { user },
    reconnectAfterMs: () => 10,
    rejoinAfterMs: () => 10,
  });
  sockets.push(socket);
  socket.connect();
  return socket;
}

/**
 * A room member on the chat server `at` that keeps the page's state: the position of the last
 * message it saw (first `since`), sent as `_since` at every (re)join, every `new_msg` body with
 * its ref, and every `sb_recovery`. Its socket goes into `sockets` (disconnected by the suite).
 */
export function newMember(sockets, at, user, topic, since = null) {
  const socket = connect(sockets, at, user);
  const m = { socket, since, bodies: [], refs: [], recoveries: [], waiters: [] };
  m.channel = socket.channel(topic, () => ({ _since: m.since }));
  m.channel.on("sb_recovery", (r) => {
    m.recoveries.push(r);
    if (typeof r.position === "string") m.since = r.position;
    wake(m);
  });
  m.channel.on("new_msg", (payload, ref) => {
    m.bodies.push(payload.body);
    m.refs.push(ref);
    if (typeof ref === "string") m.since = ref;
    wake(m);
  });
  return m;
}

function wake(m) {
  for (const w of [...m.waiters]) w();
}

/** Resolves once `cond()` holds, re-checked at every message of `m`. */
export function until(m, cond, what) {
  return within(
    new Promise((resolve) => {
      const check = () => {
        if (cond()) {
          m.waiters.splice(m.waiters.indexOf(check), 1);
          resolve();
        }
      };
      m.waiters.push(check);
      check();
    }),
    what,
  );
}

export function send(channel, body) {
  return within(
    new Promise((resolve, reject) => {
      channel
        .push("new_msg", { body })
        .receive("ok", resolve)
        .receive("error", (r) => reject(new Error(`new_msg error ${JSON.stringify(r)}`)))
        .receive("timeout", () => reject(new Error("new_msg timeout")));
    }),
    `the reply to new_msg ${body}`,
  );
}

/** Joins and waits for the first `sb_recovery` (every join that sends `_since` gets one). */
export async function joined(m) {
  const n = m.recoveries.length;
  await join(m.channel);
  await until(m, () => m.recoveries.length > n, "sb_recovery after the join");
  return m.recoveries.at(-1);
}

/** Closes `m`'s socket; resolves once it is closed (broadcasts from then on are missed). */
export function goOffline(m) {
  return within(new Promise((resolve) => m.socket.disconnect(resolve)), "the disconnect");
}

/** Reconnects; phoenix.js rejoins the channel with the current params function. */
export async function comeBack(m) {
  const n = m.recoveries.length;
  m.socket.connect();
  await until(m, () => m.recoveries.length > n, "sb_recovery after the rejoin");
  return m.recoveries.at(-1);
}

/**
 * `flooder` floods the room (each body its sequence number) while `reader`, after `live`
 * messages, goes offline until `away` more were broadcast, comes back with `_since`, and
 * takes `live` more; then the flood stops. Asserts the resume recovered and that the reader
 * got every sequence number once, in order, with the same refs as the flooder.
 */
export async function floodDuringResume(reader, flooder, { live, away }) {
  // The flood: one message per 2 ms at most, up to 8 awaiting their reply, until told to
  // stop; each body is its sequence number.
  let stop = false;
  let sent = 0;
  const inFlight = new Set();
  const flood = (async () => {
    while (!stop) {
      const seq = ++sent;
      const p = send(flooder.channel, String(seq)).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= 8) await Promise.race(inFlight);
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(inFlight);
  })();

  await until(reader, () => reader.bodies.length >= live, `${live} flooded messages`);
  await goOffline(reader);
  const offlineAt = sent;
  await until(flooder, () => flooder.bodies.length >= offlineAt + away, `${away} messages while the reader is away`);
  const recovery = await comeBack(reader);
  const resumedAt = reader.bodies.length;
  await until(reader, () => reader.bodies.length >= resumedAt + recovery.missed + live, `${live} live messages after the resume`);
  stop = true;
  await flood;
  await until(reader, () => reader.bodies.length >= sent, `every flooded message (${sent})`).catch(() => {});

  assert.equal(recovery.recovered, true, JSON.stringify(recovery));
  assert.ok(recovery.missed >= away, `the resume replayed what was missed (${recovery.missed})`);
  const seqs = reader.bodies.map(Number);
  const wrong = seqs.map((n, i) => [i + 1, n]).filter(([want, n]) => want !== n);
  assert.deepEqual(
    { received: seqs.length, firstWrong: wrong.slice(0, 5) },
    { received: sent, firstWrong: [] },
    `every sequence number once, in order (sb_recovery ${JSON.stringify(recovery)})`,
  );
  assert.deepEqual(reader.refs, flooder.refs);
}
