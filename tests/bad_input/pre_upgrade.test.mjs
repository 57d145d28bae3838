// Bad input before the WebSocket exists (hyper's limits, docs/DESIGN.md "Bounded everything"):
// TCP connections that never send a byte, upgrade requests whose headers stop half-way, and
// request heads of 400 KiB are all closed by the server within its header read timeout (10 s
// by default), holding a bounded amount of memory meanwhile; a well-behaved client is asserted
// healthy throughout.

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";

import { rssBytes } from "../lib/proc.mjs";
import { withTimeout } from "../lib/wait.mjs";
import { useBystander } from "./harness.mjs";

const ctx = useBystander("pre-upgrade", "before the attacks");

/** Default header read timeout (HandshakeConfig) plus generous slack for a loaded machine. */
const CLOSED_WITHIN_MS = 10_000 + 20_000;
const CONNECTIONS = 200;

/** Opens a TCP connection, writes `bytes` (maybe none) and resolves once it is open. */
function openRaw(port, bytes) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => {
      if (bytes) s.write(bytes);
      resolve(s);
    });
    s.on("error", () => {}); // a reset by the server is the expected end
    s.once("error", reject);
  });
}

/** Resolves when the server has closed `s` (EOF or reset), with the bytes it answered. */
function serverClosed(s) {
  return new Promise((resolve) => {
    const got = [];
    s.on("data", (d) => got.push(d));
    s.once("close", () => resolve(Buffer.concat(got).toString("latin1")));
  });
}

/** Opens `CONNECTIONS` connections each writing `payloadFor(i)`; returns their sockets. */
async function openAll(port, payloadFor) {
  const sockets = [];
  for (let i = 0; i < CONNECTIONS; i++) sockets.push(await openRaw(port, payloadFor(i)));
  return sockets;
}

const FILLER = "a".repeat(1000);
const HUGE_HEAD = Array.from({ length: 400 }, (_, i) => `X-Filler-${i}: ${FILLER}\r\n`).join("");

// The three attacks run at once, so the suite waits for one header read timeout, not three.
test(`${CONNECTIONS} silent, ${CONNECTIONS} half-sent and ${CONNECTIONS} 400 KiB request heads are all closed; memory stays bounded`, { timeout: 120_000 }, async () => {
  const { fx, bystander } = ctx;
  const rssBefore = rssBytes(fx.proc.pid);
  const silent = await openAll(fx.port, () => null);
  const slowloris = await openAll(fx.port, (i) =>
    `GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Slow-${i}: 1\r\n`,
  );
  const huge = await openAll(fx.port, () => `GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n${HUGE_HEAD}`);
  const rssHolding = rssBytes(fx.proc.pid);
  const closed = (sockets) => Promise.all(sockets.map(serverClosed));
  const all = Promise.all([closed(silent), closed(slowloris), closed(huge)]);
  const [silentAnswers, slowAnswers, hugeAnswers] = await bystander.checkDuring(
    "pre-upgrade attacks",
    withTimeout(all, CLOSED_WITHIN_MS, `the server closing ${3 * CONNECTIONS} connections`),
  );
  assert.ok(silentAnswers.every((a) => a === ""), "silent connections closed without an answer");
  assert.ok(slowAnswers.every((a) => a === ""), "half-sent heads closed without an answer");
  for (const a of hugeAnswers) assert.ok(a === "" || a.startsWith("HTTP/1.1 431"), `answered ${JSON.stringify(a.slice(0, 80))}`);
  // 200 × 400 KiB held would be 80 MiB; the 16 KiB head limit keeps it to a few MiB.
  const grown = rssHolding - rssBefore;
  assert.ok(grown < 32 * 1024 * 1024, `RSS grew by ${grown} bytes while the attackers held their connections`);
  await bystander.check("after the attacks");
});
