// The chat demo's Prometheus metrics (examples/chat/CONTRACT.md "Metrics", docs/OPERATIONS.md
// "Metrics") follow what stock phoenix clients do, against every host language's demo
// (SB_CHAT_CMD): connections, joined channels and presence entries rise and fall with the
// clients, and each push moves the message, broadcast and callback counters by exactly what it
// caused.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Presence, Socket } from "phoenix";
import WebSocket from "ws";
import { startChatServer } from "./chat_server.mjs";
import { join, push, withChatServer } from "./chat_client.mjs";
import { waitUntil } from "../lib/wait.mjs";

const ctx = withChatServer(startChatServer);

const NAMES = [
  "switchboard_connections",
  "switchboard_channels",
  "switchboard_messages_received_total",
  "switchboard_messages_sent_total",
  "switchboard_broadcasts_total",
  "switchboard_slow_consumer_disconnects_total",
  "switchboard_rate_limited_total",
  "switchboard_host_request_duration_seconds",
  "switchboard_presence_entries",
];

async function scrape() {
  const res = await fetch(`${ctx.server.base}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return res.text();
}

/** The value of `series` (its name with labels, as written) in a metrics text. */
function sample(text, series) {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no ${series} in\n${text}`);
  return Number(line.slice(series.length + 1));
}

/** A stock phoenix client in `topic` that counts the `new_msg`s it got and watches presence. */
function member(user, topic) {
  const socket = new Socket(`${ctx.server.base.replace("http:", "ws:")}/socket`, {
    transport: WebSocket,
    params: { user },
    // No heartbeat during the test: every client frame counted is one the test sent.
    heartbeatIntervalMs: 600_000,
  });
  ctx.sockets.push(socket);
  socket.connect();
  const channel = socket.channel(topic);
  const m = { socket, channel, messages: 0, presence: new Presence(channel) };
  channel.on("new_msg", () => (m.messages += 1));
  return m;
}

test("GET /metrics serves every metric in the Prometheus text format", { timeout: 30_000 }, async () => {
  const text = await scrape();
  for (const name of NAMES) assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), name);
  assert.equal(sample(text, 'switchboard_rate_limited_total{limit="messages_per_second"}'), 0);
  assert.match(text, /^switchboard_host_request_duration_seconds_bucket\{kind="join",le="\+Inf"\} \d+$/m);
  assert.doesNotMatch(text, /switchboard_broker_up/, "a single node has no broker metrics");
});

test("the metrics follow what clients do: connect, join, push, leave", { timeout: 60_000 }, async () => {
  const topic = `room:metrics-${process.pid}-${Date.now()}`;
  const start = await scrape();
  const base = (series) => sample(start, series);
  const members = ["ada", "bob", "cy"].map((user) => member(user, topic));
  for (const m of members) await join(m.channel);
  // Settled: every member sees all three in presence.
  await waitUntil(() => members.every((m) => m.presence.list().length === 3), { timeout: 10_000, msg: "presence of 3" });
  const joined = await scrape();
  const ws = 'switchboard_connections{transport="websocket"}';
  assert.equal(sample(joined, ws) - base(ws), 3);
  assert.equal(sample(joined, 'switchboard_connections{transport="longpoll"}'), 0);
  assert.equal(sample(joined, "switchboard_channels") - base("switchboard_channels"), 3);
  assert.equal(sample(joined, "switchboard_presence_entries") - base("switchboard_presence_entries"), 3);
  const joins = 'switchboard_host_request_duration_seconds_count{kind="join"}';
  assert.equal(sample(joined, joins) - base(joins), 3);

  // One push each: 3 client frames, 3 broadcasts, 3 replies + 9 deliveries written.
  for (const m of members) assert.equal((await push(m.channel, "new_msg", { body: "hi" })).status, "ok");
  await waitUntil(() => members.every((m) => m.messages === 3), { timeout: 10_000, msg: "3 messages each" });
  const pushed = await scrape();
  const delta = (series) => sample(pushed, series) - sample(joined, series);
  assert.equal(delta("switchboard_messages_received_total"), 3);
  assert.equal(delta("switchboard_broadcasts_total"), 3);
  assert.equal(delta("switchboard_messages_sent_total"), 12);
  assert.equal(delta('switchboard_host_request_duration_seconds_count{kind="handle_in"}'), 3);
  assert.ok(delta('switchboard_host_request_duration_seconds_sum{kind="handle_in"}') > 0);

  // One leaves: its connection, channel and presence go; its channel's terminate is timed.
  await new Promise((resolve) => members[0].socket.disconnect(resolve));
  const terminates = 'switchboard_host_request_duration_seconds_count{kind="terminate"}';
  const left = await waitUntil(
    async () => {
      const text = await scrape();
      const gone = (series, n) => sample(text, series) - base(series) === n;
      return gone(ws, 2) && gone("switchboard_presence_entries", 2) && gone(terminates, 1) && text;
    },
    { timeout: 10_000, msg: "the leaver's connection, presence and terminate" },
  );
  assert.equal(sample(left, "switchboard_channels") - base("switchboard_channels"), 2);
});
