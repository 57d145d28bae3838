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

async function attack(label, payloadFor) {
  const { fx, bystander } = ctx;
  const rssBefore = await rssBytes(fx.proc.pid);
  const sockets = [];
  for (let i = 0; i < CONNECTIONS; i++) sockets.push(await openRaw(fx.port, payloadFor(i)));
  const closed = Promise.all(sockets.map(serverClosed));
  const answers = await bystander.checkDuring(label, withTimeout(closed, CLOSED_WITHIN_MS, `the server closing ${CONNECTIONS} ${label} connections`));
  const rssAfter = await rssBytes(fx.proc.pid);
  await bystander.check(`after ${label}`);
  return { answers, rssBefore, rssAfter };
}

test(`${CONNECTIONS} TCP connections that never send a byte are closed`, { timeout: 120_000 }, async () => {
  const { answers } = await attack("silent", () => null);
  assert.ok(answers.every((a) => a === ""), "closed without an answer");
});

test(`${CONNECTIONS} upgrade requests whose headers stop half-way are closed`, { timeout: 120_000 }, async () => {
  const { answers } = await attack("slowloris", (i) =>
    `GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Slow-${i}: 1\r\n`,
  );
  assert.ok(answers.every((a) => a === ""), "closed without an answer");
});

test(`${CONNECTIONS} request heads of 400 KiB are refused (431) without holding their bytes`, { timeout: 120_000 }, async () => {
  const filler = "a".repeat(1000);
  const head = Array.from({ length: 400 }, (_, i) => `X-Filler-${i}: ${filler}\r\n`).join("");
  const { answers, rssBefore, rssAfter } = await attack("huge-headers", () =>
    `GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n${head}`,
  );
  for (const a of answers) assert.ok(a === "" || a.startsWith("HTTP/1.1 431"), `answered ${JSON.stringify(a.slice(0, 80))}`);
  // 200 × 400 KiB would be 80 MiB held; the 16 KiB header limit keeps it to a few MiB.
  const grown = rssAfter - rssBefore;
  assert.ok(grown < 32 * 1024 * 1024, `RSS grew by ${grown} bytes`);
});
