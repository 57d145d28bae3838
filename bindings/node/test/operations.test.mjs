// Operations from Node (docs/OPERATIONS.md): the metrics text served at `metricsPath` and read
// with `metrics()`, the `census()`, and the library's log events through `setLogHandler`, with
// their context.

import assert from "node:assert/strict";
import { test } from "node:test";

import { rawCleanup, rawConnect } from "../../../tests/lib/raw.mjs";
import { connectedSocket, joinOk, listening, nextMessage, sb, waitUntil } from "./helpers.mjs";

const { accept, ok, reply, setLogHandler } = sb;

/** The value of `series` (name and labels as written) in a metrics text. */
function sample(text, series) {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no ${series} in\n${text}`);
  return Number(line.slice(series.length + 1));
}

test("metrics and census follow a phoenix client", async (t) => {
  const { endpoint, port } = await listening(t, { metricsPath: "/metrics" }, (ep) => {
    ep.channel("room:*", {
      join: () => ok(),
      handleIn(_event, payload, socket) {
        socket.broadcast("shout", payload);
        return reply("ok", {});
      },
    });
  });
  const { socket } = await connectedSocket(t, port);
  const channel = socket.channel("room:ops");
  await joinOk(channel);
  const shout = nextMessage(channel, "shout");
  channel.push("shout", { n: 1 });
  await shout;
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await res.text();
  assert.equal(sample(text, 'switchboard_connections{transport="websocket"}'), 1);
  assert.equal(sample(text, "switchboard_channels"), 1);
  assert.equal(sample(text, "switchboard_broadcasts_total"), 1);
  assert.equal(sample(text, 'switchboard_host_request_duration_seconds_count{kind="handle_in"}'), 1);
  assert.equal(sample(endpoint.metrics(), "switchboard_broadcasts_total"), 1);
  const census = endpoint.census();
  assert.equal(census.channels, 1);
  assert.equal(census.cluster, null);
  assert.deepEqual(census.connections, { websocket: 1, longpoll: 0 });
  assert.deepEqual(census.topics.find((x) => x.topic === "room:ops"), { topic: "room:ops", subscribers: 1, channels: 1 });
});

test("setLogHandler gets the library's events with their context; null stops it", async (t) => {
  const events = [];
  setLogHandler((e) => events.push(e), { level: "info" });
  t.after(() => setLogHandler(null));
  const { port } = await listening(t, {}, (ep) => {
    ep.connect(() => accept({ id: "user:7" }));
    ep.channel("room:*", { join: () => ok() });
  });
  const listened = await waitUntil(() => events.find((e) => e.message.startsWith("endpoint listening")), {
    timeout: 5000,
    msg: "the 'endpoint listening' event",
  });
  assert.equal(listened.level, "info");
  assert.equal(listened.target, "switchboard::endpoint");
  assert.equal(listened.fields.addr, `127.0.0.1:${port}`);
  // A client's malformed frame: a warning naming the connection's socket id.
  const raw = await rawConnect(port);
  rawCleanup(t, raw);
  raw.sendText("not a frame");
  const malformed = await waitUntil(() => events.find((e) => e.message.startsWith("malformed frame")), {
    timeout: 5000,
    msg: "the malformed-frame warning",
  });
  assert.equal(malformed.level, "warn");
  assert.equal(malformed.fields.socket_id, "user:7");
  assert.equal(malformed.dropped, 0);
  assert.ok(events.every((e) => e.level !== "debug" && e.level !== "trace"), "nothing below info");
  assert.throws(() => setLogHandler(() => {}, { level: "loud" }), /level must be one of/);
});
