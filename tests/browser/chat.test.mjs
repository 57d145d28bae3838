// Browser test of the chat demo (issue 2, point 10): headless Debian Chromium driven by
// playwright-core opens the chat page twice in the same room. One page sends a message, the
// other shows it with the sender's name; both list both users online; closing one page
// removes that user from the other's list. A page that loses its connection (a TCP relay in
// front of the server is cut) shows the messages sent meanwhile once it is back, and a note
// when they could not be recovered (the relay then leads to a freshly started server).
// The two-page flow runs once over WebSocket and once with the page on long-poll
// (`/?transport=longpoll`), each checked from Chromium's own traffic (WebSockets opened,
// requests to /socket/longpoll); and a page whose WebSocket cannot get through (a relay that
// drops upgrades) falls back to long-poll by itself and chats.
// Contract: examples/chat/CONTRACT.md.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readFileSync, existsSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { REPO, startChatServer } from "./chat_server.mjs";

const CHROMIUM = process.env.SB_CHROMIUM || "/usr/bin/chromium";
const STEP_MS = 15_000;
/**
 * The server's long-poll window (SB_LONGPOLL_WINDOW_MS): a long-poll page that is closed
 * sends nothing, so it leaves the others' lists when its session ends, 1.5 windows after its
 * last poll (the default window would make that 15 s).
 */
const LONGPOLL_WINDOW_MS = 1000;

let server;
let context;
let profileDir;
const pageErrors = [];

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run ./scripts/test.sh (it installs chromium) or apt-get install -y chromium`);
  }
  server = await startChatServer({ env: { SB_LONGPOLL_WINDOW_MS: String(LONGPOLL_WINDOW_MS) } });
  profileDir = mkdtempSync(path.join(tmpdir(), "sb-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  context.setDefaultTimeout(STEP_MS);
});

after(async () => {
  await context?.close().catch(() => {});
  await server?.stop();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

/** Per page, what Chromium itself did on the socket's routes (see `openChat`). */
const traffic = new WeakMap();

/**
 * Opens the page at `base` (with `query`, e.g. `?transport=longpoll`), joins `room` as `name`
 * and waits until it is joined. `traffic.get(page)` then records, from Chromium's side, the
 * WebSockets the page opened to /socket/websocket and the method of every request to
 * /socket/longpoll.
 */
async function openChat(name, room, { base = server.base, query = "" } = {}) {
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${name}: ${e.message}`));
  const seen = { websockets: 0, longpoll: [] };
  traffic.set(page, seen);
  page.on("websocket", (ws) => {
    if (new URL(ws.url()).pathname === "/socket/websocket") seen.websockets += 1;
  });
  page.on("request", (req) => {
    if (new URL(req.url()).pathname === "/socket/longpoll") seen.longpoll.push(req.method());
  });
  await page.goto(`${base}/${query}`);
  await page.fill("#name", name);
  await page.fill("#room", room);
  await page.click("#join");
  await page.waitForSelector('#status[data-state="joined"]');
  return page;
}

const onlineItem = (name) => `#online li[data-user="${name}"]`;

test("GET / and /app.js serve the page; /phoenix.mjs serves the stock npm client", { timeout: 30_000 }, async () => {
  const page = await fetch(`${server.base}/`, { signal: AbortSignal.timeout(STEP_MS) });
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  assert.equal(await page.text(), readFileSync(path.join(REPO, "examples/chat/index.html"), "utf8"));

  const app = await fetch(`${server.base}/app.js`, { signal: AbortSignal.timeout(STEP_MS) });
  assert.equal(app.status, 200);
  assert.match(app.headers.get("content-type") ?? "", /javascript/);
  assert.equal(await app.text(), readFileSync(path.join(REPO, "examples/chat/app.js"), "utf8"));

  const client = await fetch(`${server.base}/phoenix.mjs`, { signal: AbortSignal.timeout(STEP_MS) });
  assert.equal(client.status, 200);
  assert.match(client.headers.get("content-type") ?? "", /javascript/);
  assert.equal(
    await client.text(),
    readFileSync(path.join(REPO, "node_modules/phoenix/priv/static/phoenix.mjs"), "utf8"),
  );
});

/** Asserts that `page` talked to the socket over `transport` only ("websocket" or "longpoll"). */
function assertTransport(page, transport) {
  const seen = traffic.get(page);
  const shown = JSON.stringify(seen);
  if (transport === "longpoll") {
    assert.equal(seen.websockets, 0, `no WebSocket opened: ${shown}`);
    // The session's polls, and the pushes (join, new_msg) as ndjson POSTs.
    assert.ok(seen.longpoll.includes("GET") && seen.longpoll.includes("POST"), `polls and posts: ${shown}`);
  } else {
    assert.ok(seen.websockets >= 1, `a WebSocket opened: ${shown}`);
    // The WebSocket opened and answered its ping in time: no fallback to long-poll.
    assert.deepEqual(seen.longpoll, [], `no long-poll request: ${shown}`);
  }
}

const TRANSPORTS = [
  { name: "WebSocket", transport: "websocket", query: "" },
  { name: "long-poll (?transport=longpoll)", transport: "longpoll", query: "?transport=longpoll" },
];

/** Two pages (on `transport`, opened with `query`) chat in one room, see each other online,
 *  and a closed page leaves the list. */
async function twoPagesChat({ transport, query }) {
  const room = `browser-${transport}-${process.pid}-${Date.now()}`;
  const alice = await openChat("alice", room, { query });
  const bob = await openChat("bob", room, { query });

  // Both pages list both users, driven by presence_state / presence_diff.
  for (const page of [alice, bob]) {
    await page.waitForSelector(onlineItem("alice"));
    await page.waitForSelector(onlineItem("bob"));
    assert.equal(await page.locator("#online li").count(), 2);
  }

  // Alice sends; Bob sees the message with Alice's name, and so does Alice (the broadcast
  // includes the sender). The ok reply clears Alice's input.
  const text = `hello bob from alice ${Date.now()}`;
  await alice.fill("#body", text);
  await alice.click("#send");
  for (const page of [bob, alice]) {
    const item = page.locator('#messages li[data-user="alice"]', { hasText: text });
    await item.waitFor();
    assert.equal(await item.locator(".user").textContent(), "alice");
    assert.equal(await item.locator(".body").textContent(), text);
  }
  await alice.waitForFunction(() => document.querySelector("#body").value === "");

  // Bob answers with markup: it is shown as text, never parsed as HTML.
  const markup = `<img src=x onerror="window.__pwned=1"><b>bold?</b> & ${Date.now()}`;
  await bob.fill("#body", markup);
  await bob.click("#send");
  for (const page of [alice, bob]) {
    const item = page.locator('#messages li[data-user="bob"]').last();
    await item.waitFor();
    assert.equal(await item.locator(".body").textContent(), markup);
    assert.equal(await page.locator("#messages img, #messages b").count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
  }
  for (const page of [alice, bob]) assertTransport(page, transport);

  // Closing Alice's page closes her socket (over long-poll: her session ends for want of
  // polls); the server untracks her and Bob's list follows.
  await alice.close();
  await bob.waitForSelector(onlineItem("alice"), { state: "detached" });
  await bob.waitForSelector(onlineItem("bob"));
  assert.equal(await bob.locator("#online li").count(), 1);
  assert.equal(await bob.getAttribute("#status", "data-state"), "joined");

  await bob.close();
  assert.deepEqual(pageErrors, []);
}

for (const mode of TRANSPORTS) {
  test(`two pages chat in one room, see each other online, and a closed page leaves the list, over ${mode.name}`, { timeout: 120_000 }, () =>
    twoPagesChat(mode),
  );
}

/**
 * A TCP relay to `port`: `cut()` closes every connection through it and refuses new ones
 * (the page's network is gone) until `restore(port)`, which may lead to another server. With
 * `dropUpgrades`, a connection that asks for /socket/websocket is closed at its first bytes,
 * as by a proxy that does not pass WebSocket upgrades.
 */
async function tcpRelay(port, { dropUpgrades = false } = {}) {
  const relay = { port: 0, upstream: port, down: false, conns: new Set() };
  const link = (client, head) => {
    const upstream = net.connect(relay.upstream, "127.0.0.1");
    if (head) upstream.write(head);
    for (const [a, b] of [[client, upstream], [upstream, client]]) {
      relay.conns.add(a);
      a.on("error", () => b.destroy());
      a.on("close", () => {
        relay.conns.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  };
  const srv = net.createServer((client) => {
    if (relay.down) return client.destroy();
    if (!dropUpgrades) return link(client);
    // Counted until it is linked too, so that `cut()` closes it.
    relay.conns.add(client);
    client.on("close", () => relay.conns.delete(client));
    // The first chunk holds the request head (Chromium opens a connection of its own for each
    // WebSocket); linked in the same tick, so that no later chunk goes unread.
    client.once("error", () => client.destroy());
    client.once("data", (head) => {
      if (head.toString("latin1").startsWith("GET /socket/websocket")) client.destroy();
      else link(client, head);
    });
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  relay.port = srv.address().port;
  relay.base = `http://127.0.0.1:${relay.port}`;
  relay.cut = () => {
    relay.down = true;
    for (const c of relay.conns) c.destroy();
  };
  relay.restore = (to = relay.upstream) => {
    relay.upstream = to;
    relay.down = false;
  };
  relay.close = () => {
    relay.cut();
    return new Promise((resolve) => srv.close(resolve));
  };
  return relay;
}

test("a page that lost its connection shows the messages sent meanwhile, or a note when they are gone", { timeout: 120_000 }, async () => {
  const room = `outage-${process.pid}-${Date.now()}`;
  const relay = await tcpRelay(Number(new URL(server.base).port));
  let restarted;
  try {
    const carol = await openChat("carol", room, { base: relay.base });
    const dan = await openChat("dan", room);
    const send = async (text) => {
      await dan.fill("#body", text);
      await dan.click("#send");
      await dan.locator("#messages li .body", { hasText: text }).waitFor();
    };
    const bodies = (page) => page.locator('#messages li[data-user="dan"] .body').allTextContents();

    await send("before the outage");
    await carol.locator("#messages li .body", { hasText: "before the outage" }).waitFor();

    relay.cut();
    await carol.waitForSelector('#status[data-state="disconnected"]');
    const missed = ["while away 1", "while away 2", "while away 3"];
    for (const text of missed) await send(text);

    relay.restore();
    await carol.waitForSelector('#status[data-state="joined"]');
    await carol.locator("#messages li .body", { hasText: "while away 3" }).waitFor();
    assert.deepEqual(await bodies(carol), ["before the outage", ...missed], "each missed message once, in order");
    assert.equal(await carol.locator("#messages li.system").count(), 0);

    // The same page, led to a freshly started server: its history is gone, and the page says so.
    restarted = await startChatServer({ name: "restarted chat server" });
    relay.cut();
    await carol.waitForSelector('#status[data-state="disconnected"]');
    relay.restore(Number(new URL(restarted.base).port));
    await carol.waitForSelector('#status[data-state="joined"]');
    const note = carol.locator("#messages li.system");
    await note.waitFor();
    assert.match(await note.textContent(), /could not be recovered \(unknown_epoch\)/);

    await carol.close();
    await dan.close();
    assert.deepEqual(pageErrors, []);
  } finally {
    await relay.close();
    await restarted?.stop();
  }
});

test("a page whose WebSocket cannot get through falls back to long-poll by itself and chats", { timeout: 120_000 }, async () => {
  const room = `fallback-${process.pid}-${Date.now()}`;
  const relay = await tcpRelay(Number(new URL(server.base).port), { dropUpgrades: true });
  try {
    // No `?transport=`: the page starts on WebSocket, which the relay drops.
    const erin = await openChat("erin", room, { base: relay.base });
    const fay = await openChat("fay", room);
    const seen = traffic.get(erin);
    assert.ok(seen.websockets >= 1, `the page tried WebSocket first: ${JSON.stringify(seen)}`);
    assert.ok(seen.longpoll.includes("GET") && seen.longpoll.includes("POST"), `then long-poll: ${JSON.stringify(seen)}`);
    assertTransport(fay, "websocket");

    for (const page of [erin, fay]) {
      await page.waitForSelector(onlineItem("erin"));
      await page.waitForSelector(onlineItem("fay"));
    }
    for (const [from, to] of [[erin, fay], [fay, erin]]) {
      const text = `across transports ${Date.now()}`;
      await from.fill("#body", text);
      await from.click("#send");
      await to.locator("#messages li .body", { hasText: text }).waitFor();
    }
    await erin.close();
    await fay.close();
    assert.deepEqual(pageErrors, []);
  } finally {
    await relay.close();
  }
});
