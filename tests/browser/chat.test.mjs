// Browser test of the chat demo (issue 2, point 10): headless Debian Chromium driven by
// playwright-core opens the chat page twice in the same room. One page sends a message, the
// other shows it with the sender's name; both list both users online; closing one page
// removes that user from the other's list. Contract: examples/chat/CONTRACT.md.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readFileSync, existsSync } from "node:fs";
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

async function openChat(name, room) {
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${name}: ${e.message}`));
  await page.goto(`${server.base}/`);
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
