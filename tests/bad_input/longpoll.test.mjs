// Bad input on the long-poll transport (docs/LONGPOLL.md): garbage ndjson, a 10 MB line,
// bad base64, forged and expired tokens, wrong methods, a poll storm on one session and a
// session-open storm. Each gets its documented answer; a WebSocket bystander and a
// well-behaved long-poll session keep working before, during and after every attack.

import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";

import { lpOpen, lpPost, lpRequest } from "../lib/longpoll.mjs";
import { waitUntil } from "../lib/wait.mjs";
import { POLL, useBystander } from "./harness.mjs";

const ctx = useBystander("longpoll", "before all attacks");

/** tests/fixtures/CONTRACT.md */
const SECRET = "conformance-fixture-secret-key-base-0123456789";

/**
 * A long-poll session joined to its own room that keeps polling, as a client does, until the
 * test ends or the session is gone; `check()` proves an echo round trip works.
 */
async function pollerIn(t, port, name) {
  const token = await lpOpen(port);
  const topic = `room:lp-${name}-${process.pid}-${Date.now()}`;
  const frames = [];
  const state = { stopped: false, gone: null };
  t.after(() => {
    state.stopped = true;
  });
  const query = `vsn=2.0.0&token=${encodeURIComponent(token)}`;
  (async () => {
    while (!state.stopped) {
      const r = await lpRequest(port, "GET", query).catch((e) => ({ json: { error: String(e) } }));
      if (r.json?.status === 200) frames.push(...r.json.messages.map((m) => JSON.parse(m)));
      else if (r.json?.status !== 204) {
        state.gone = r.json;
        return;
      }
    }
  })();
  let n = 0;
  const round = async (event, ref) => {
    assert.deepEqual(await lpPost(port, token, [JSON.stringify(["1", ref, topic, event, { ref }])]), { status: 200 });
    await waitUntil(() => frames.some((f) => f[1] === ref && f[3] === "phx_reply"), {
      ...POLL,
      msg: `${name}: reply ${ref} polled`,
    });
  };
  await round("phx_join", "1");
  return { token, topic, state, check: () => round("echo", `e${++n}`) };
}

async function healthy(label, poller) {
  await ctx.bystander.check(label);
  await poller.check();
  assert.ok(ctx.fx.alive, `fixture alive ${label}`);
}

const heartbeat = JSON.stringify([null, "hb", "phoenix", "heartbeat", {}]);

for (const [name, line, status] of [
  ["garbage ndjson", "not json at all", 400],
  ["a JSON line that is not a frame", "[1,2,3]", 400],
  ["bad base64", "%%%% not base64", 400],
  ["a 10 MB line", `["1","2","room:x","echo",{"pad":"${"a".repeat(10 * 1024 * 1024)}"}]`, 413],
]) {
  test(`${name} → {status ${status}}, the session ends, others unaffected`, { timeout: 60_000 }, async (t) => {
    const { fx } = ctx;
    const good = await pollerIn(t, fx.port, "good");
    const bad = await pollerIn(t, fx.port, "bad");
    assert.equal(await fx.channels(bad.topic), 1);
    const answer = await ctx.bystander.checkDuring(name, lpPost(fx.port, bad.token, [heartbeat, line]));
    assert.deepEqual(answer, { status });
    await waitUntil(async () => (await fx.channels(bad.topic)) === 0, { ...POLL, msg: "the bad session's channel ended" });
    assert.deepEqual(await lpPost(fx.port, bad.token, [heartbeat]), { status: 410 });
    await healthy(`after ${name}`, good);
  });
}

/** The bytes of a token the fixture signed, with `issuedMs` changed and signed again. */
function resign(token, issuedMs) {
  const bytes = Buffer.from(token, "base64url");
  const signed = Buffer.from(bytes.subarray(0, bytes.length - 32));
  signed.writeBigUInt64BE(BigInt(issuedMs), 1);
  const key = crypto.createHmac("sha256", SECRET).update("switchboard longpoll token v1").digest();
  const tag = crypto.createHmac("sha256", key).update(signed).digest();
  return Buffer.concat([signed, tag]).toString("base64url");
}

test("forged and expired tokens: POST → 410, GET → a new session; a re-signed fresh token still works", { timeout: 30_000 }, async (t) => {
  const { fx } = ctx;
  const poller = await pollerIn(t, fx.port, "tokens");
  const flipped = poller.token.slice(0, 20) + (poller.token[20] === "A" ? "B" : "A") + poller.token.slice(21);
  const expired = resign(poller.token, Date.now() - 15 * 24 * 3600 * 1000);
  for (const [what, token] of [
    ["forged", flipped],
    ["expired (15 days old, signed with the secret)", expired],
    ["garbage", "not-a-token"],
    ["empty", ""],
  ]) {
    assert.deepEqual(await lpPost(fx.port, token, [heartbeat]), { status: 410 }, what);
    const r = await lpRequest(fx.port, "GET", `vsn=2.0.0&token=${encodeURIComponent(token)}`);
    assert.equal(r.json.status, 410, what);
    assert.notEqual(r.json.token, poller.token, what);
  }
  // The same claims signed now are accepted: the refusals above were the forgery and the age.
  assert.deepEqual(await lpPost(fx.port, resign(poller.token, Date.now()), [heartbeat]), { status: 200 });
  await healthy("after bad tokens", poller);
});

test("wrong methods → HTTP 400; OPTIONS → the CORS preflight", { timeout: 30_000 }, async (t) => {
  const { fx } = ctx;
  for (const method of ["PUT", "DELETE", "PATCH"]) {
    const r = await lpRequest(fx.port, method, "vsn=2.0.0");
    assert.equal(r.status, 400, method);
  }
  const pre = await lpRequest(fx.port, "OPTIONS", "", {
    headers: { "access-control-request-headers": "content-type,x-phoenix-longpoll-token" },
  });
  assert.equal(pre.status, 200);
  assert.equal(pre.headers.get("access-control-allow-origin"), "*");
  assert.equal(pre.headers.get("access-control-allow-headers"), "content-type,x-phoenix-longpoll-token");
  assert.equal(pre.headers.get("access-control-allow-methods"), "get, post, options");
  await healthy("after wrong methods", await pollerIn(t, fx.port, "methods"));
});

test("a poll storm on one session: every poll but the newest is answered 204 at once", { timeout: 60_000 }, async (t) => {
  const { fx } = ctx;
  const target = await pollerIn(t, fx.port, "storm");
  const started = Date.now();
  const storm = Promise.all(
    Array.from({ length: 300 }, () => lpRequest(fx.port, "GET", `vsn=2.0.0&token=${encodeURIComponent(target.token)}`)),
  );
  const answers = await ctx.bystander.checkDuring("poll storm", storm);
  const statuses = answers.map((a) => a.json.status);
  assert.ok(statuses.every((s) => s === 204), JSON.stringify([...new Set(statuses)]));
  // At most one of them waited the whole window (1 s); the rest were taken over.
  assert.ok(Date.now() - started < 10_000);
  await healthy("after the poll storm", target);
});

test("a session-open storm: 300 GETs without a token each open a session that then expires", { timeout: 60_000 }, async (t) => {
  const { fx } = ctx;
  const good = await pollerIn(t, fx.port, "open-storm");
  const opens = Promise.all(Array.from({ length: 300 }, () => lpRequest(fx.port, "GET", "vsn=2.0.0&")));
  const answers = await ctx.bystander.checkDuring("open storm", opens);
  assert.ok(answers.every((a) => a.json.status === 410 && typeof a.json.token === "string"));
  assert.equal(new Set(answers.map((a) => a.json.token)).size, 300, "every session has its own token");
  const stale = answers[0].json.token;
  await waitUntil(async () => (await lpPost(fx.port, stale, [heartbeat])).status === 410, {
    ...POLL,
    msg: "an unpolled session expired",
  });
  await healthy("after the open storm", good);
});
