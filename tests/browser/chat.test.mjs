// Browser test of the chat demo (issue 2, point 10): headless Debian Chromium driven by
// playwright-core opens the chat page twice in the same room. One page sends a message, the
// other shows it with the sender's name; both list both users online; closing one page
// removes that user from the other's list. A page that loses its connection (a TCP relay in
// front of the server is cut) shows the messages sent meanwhile once it is back, and a note
// when they could not be recovered (the relay then leads to a freshly started server).
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

let server;
let context;
let profileDir;
const pageErrors = [];

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run ./scripts/test.sh (it installs chromium) or apt-get install -y chromium`);
  }
  server = await startChatServer();
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

async function openChat(name, room, base = server.base) {
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${name}: ${e.message}`));
  await page.goto(`${base}/`);
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

test("two pages chat in one room, see each other online, and a closed page leaves the list", { timeout: 120_000 }, async () => {
  const room = `browser-${process.pid}-${Date.now()}`;
  const alice = await openChat("alice", room);
  const bob = await openChat("bob", room);

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

  // Closing Alice's page closes her socket; the server untracks her and Bob's list follows.
  await alice.close();
  await bob.waitForSelector(onlineItem("alice"), { state: "detached" });
  await bob.waitForSelector(onlineItem("bob"));
  assert.equal(await bob.locator("#online li").count(), 1);
  assert.equal(await bob.getAttribute("#status", "data-state"), "joined");

  await bob.close();
  assert.deepEqual(pageErrors, []);
});

/**
 * A TCP relay to `port`: `cut()` closes every connection through it and refuses new ones
 * (the page's network is gone) until `restore(port)`, which may lead to another server.
 */
async function tcpRelay(port) {
  const relay = { port: 0, upstream: port, down: false, conns: new Set() };
  const srv = net.createServer((client) => {
    if (relay.down) return client.destroy();
    const upstream = net.connect(relay.upstream, "127.0.0.1");
    for (const [a, b] of [[client, upstream], [upstream, client]]) {
      relay.conns.add(a);
      a.on("error", () => b.destroy());
      a.on("close", () => {
        relay.conns.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
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
    const carol = await openChat("carol", room, relay.base);
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
