// Bad input: a client that sends WebSocket pings as fast as it can and never reads (each ping
// makes the server owe a pong). The server must bound what it buffers for it and close it as
// a slow consumer, however long it keeps pinging; a well-behaved client is asserted healthy.

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { randomBytes } from "node:crypto";

import { rssBytes } from "../lib/proc.mjs";
import { withTimeout } from "../lib/wait.mjs";
import { useBystander } from "./harness.mjs";

const ctx = useBystander("ping-flood", "before the flood");

/** A masked client ping frame with a 125-byte body (the largest control frame). */
function pingFrame() {
  const body = randomBytes(125);
  const mask = randomBytes(4);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
  return Buffer.concat([Buffer.from([0x89, 0x80 | 125]), mask, body]);
}

/** A WebSocket upgrade over a raw socket that will never read after the 101. */
function upgradedSocket(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.write(
        "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
          "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      );
    });
    s.once("error", reject);
    let head = "";
    const onData = (d) => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      s.off("data", onData);
      if (!head.startsWith("HTTP/1.1 101")) return reject(new Error(`upgrade refused: ${head.slice(0, 80)}`));
      s.pause(); // never read again
      resolve(s);
    };
    s.on("data", onData);
  });
}

test("a client that pings without reading is closed; the server's memory stays bounded", { timeout: 180_000 }, async (t) => {
  const { fx, bystander } = ctx;
  const rssBefore = rssBytes(fx.proc.pid);
  const s = await upgradedSocket(fx.port);
  let peak = rssBefore;
  let pings = 0;
  const flood = new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (!done) resolve((done = true));
    };
    s.on("error", finish);
    s.on("close", finish);
    const frames = Buffer.concat(Array.from({ length: 64 }, pingFrame));
    const pump = async () => {
      while (!done) {
        pings += 64;
        if (!s.write(frames)) await new Promise((r) => s.once("drain", r).once("close", r));
        if (pings % 65_536 === 0) peak = Math.max(peak, rssBytes(fx.proc.pid));
      }
    };
    pump();
  });
  // Before the fix the server answered every ping forever (+2 GB in 10 s); it must now cut
  // the connection (the server closes it: writes fail) well within the deadline.
  await bystander.checkDuring("ping flood", withTimeout(flood, 120_000, "the server closing the ping flooder"));
  s.destroy();
  t.diagnostic(`closed after ${pings} pings; RSS ${rssBefore} -> peak ${peak}`);
  // What it may hold for one connection: its outbox (8 MiB) plus tungstenite's write buffer
  // (8 MiB + 128 KiB) and kernel buffers; allow 64 MiB for allocator slack.
  assert.ok(peak - rssBefore < 64 * 1024 * 1024, `RSS grew by ${peak - rssBefore} bytes`);
  await bystander.check("after the flood");
});
