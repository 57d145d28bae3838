// PROTOCOL.md 9.2 scenarios 1-13: connection, handshake, heartbeats, idle timeout, disconnect.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { connect, joinOk, makeSocket, phxCleanup, Presence, QUIET_MS, sleep } from "../lib/phx.mjs";
import { rawCleanup, rawConnect, replyFrame, socketUrl, upgrade, v1Reply } from "../lib/raw.mjs";
import { Relay } from "../lib/relay.mjs";
import { T, uniq, useFixture } from "../lib/suite.mjs";
import { phxRoundTrip, waitUntil, withTimeout } from "../lib/wait.mjs";

const TOKEN_PROTOCOL = "base64url.bearer.phx.bXktdG9rZW4reA"; // "my-token+x", PROTOCOL.md 1.4

describe("connection and handshake", () => {
  const ctx = useFixture();

  test("1. default connect: one upgrade to /socket/websocket?vsn=2.0.0, 101, server silent", T, async (t) => {
    const { fx } = ctx;
    const before = (await fx.log()).connects.length;
    const { socket, rec } = makeSocket(fx.port);
    phxCleanup(t, socket);
    await connect(socket);
    assert.equal(rec.conns.length, 1);
    assert.equal(rec.conns[0].url, `ws://127.0.0.1:${fx.port}/socket/websocket?vsn=2.0.0`);
    assert.ok(rec.conns[0].upgradeHeaders, "the client saw an HTTP 101 upgrade");
    // Negative window (nothing can mark "the server decided to stay silent"), then a round
    // trip: whatever the server wrote before answering the heartbeat has arrived by then, and
    // it must be that reply alone.
    await sleep(QUIET_MS);
    const hb = await phxRoundTrip(socket, rec);
    assert.deepEqual(
      rec.events.filter((e) => e.dir === "in"),
      [hb],
      "server sends nothing until the client does",
    );
    const log = await fx.log();
    assert.equal(log.connects.length, before + 1, "exactly one connect");
    const c = log.connects.at(-1);
    assert.equal(c.mount, "/socket");
    assert.deepEqual(c.params, { vsn: "2.0.0" });
    assert.equal(c.auth_token ?? null, null);
  });

  test("1. [vsn 1.0.0] default connect: 101, server silent", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    assert.deepEqual(await raw.quiet(), []);
  });

  test("2. connect params: query encoding, server-side decoding, function params re-evaluated on reconnect", T, async (t) => {
    const { fx } = ctx;
    const { socket, rec } = makeSocket(fx.port, { params: { token: "abc", user: { id: 7 } } });
    phxCleanup(t, socket);
    await connect(socket);
    assert.equal(rec.conns[0].url, `ws://127.0.0.1:${fx.port}/socket/websocket?token=abc&user%5Bid%5D=7&vsn=2.0.0`);
    const log = await fx.log();
    const c = log.connects.filter((x) => x.params && x.params.token === "abc").at(-1);
    assert.ok(c, "connect recorded");
    assert.deepEqual(c.params, { token: "abc", user: { id: "7" }, vsn: "2.0.0" });

    // params as a function: the reconnect after a server-side close evaluates it again
    const uid = uniq("p2-");
    let token = "first";
    const s2 = makeSocket(fx.port, { params: () => ({ token, user_id: uid }) });
    phxCleanup(t, s2.socket);
    await connect(s2.socket);
    assert.match(s2.rec.conns[0].url, /[?&]token=first&/);
    token = "second";
    await fx.post("/_test/disconnect", { id: `user_sockets:${uid}` });
    await waitUntil(() => s2.rec.conns.length >= 2 && s2.rec.conns[1].opened, { msg: "reconnect" });
    assert.equal(s2.rec.conns[1].url, `ws://127.0.0.1:${fx.port}/socket/websocket?token=second&user_id=${uid}&vsn=2.0.0`);
    const log2 = await fx.log();
    const tokens = log2.connects.filter((x) => x.params && x.params.user_id === uid).map((x) => x.params.token);
    assert.deepEqual(tokens, ["first", "second"]);
  });

  test("3. version mismatch (raw): vsn=3.0.0, 2.1.0, abc, vsn[]=2.0.0 → 403; no vsn → V1 accepted", T, async (t) => {
    const { port } = ctx.fx;
    for (const vsn of ["3.0.0", "2.1.0", "abc"]) {
      const r = await upgrade(socketUrl(port, { vsn }));
      assert.equal(r.status, 403, `vsn=${vsn}`);
    }
    const arr = await upgrade(socketUrl(port, { query: "vsn%5B%5D=2.0.0" }));
    assert.equal(arr.status, 403, "vsn[]=2.0.0 (non-string vsn)");
    for (const vsn of ["1.0.0", "2.0.0"]) {
      assert.equal((await upgrade(socketUrl(port, { vsn }))).status, 101, `vsn=${vsn}`);
    }
    // no vsn at all: the server assumes 1.0.0 and speaks V1 objects
    const raw = await rawConnect(port, { vsn: null });
    rawCleanup(t, raw);
    raw.send({ topic: "phoenix", event: "heartbeat", payload: {}, ref: "1" });
    const f = await raw.waitFor((m) => m && m.ref === "1");
    assert.deepEqual(f.msg, v1Reply("1", "phoenix", "ok", {}));
  });

  test("4. [vsn 1.0.0] V1 round trip: heartbeat, join, replies and pushes without join_ref", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    raw.send('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}');
    const hb = await raw.waitFor((m) => m && m.ref === "1");
    assert.deepEqual(hb.msg, { event: "phx_reply", payload: { response: {}, status: "ok" }, ref: "1", topic: "phoenix" });

    const topic = uniq("room:v1-");
    const from = raw.mark();
    raw.send({ topic, event: "phx_join", payload: {}, ref: "2", join_ref: "2" });
    const frames = await raw.waitForN(3, (m) => m && m.topic === topic, { from });
    assert.deepEqual(
      frames.slice(0, 3).map((f) => f.msg),
      [
        v1Reply("2", topic, "ok", {}),
        { event: "user_entered", payload: { user: null }, ref: null, topic },
        { event: "joined", payload: { status: "connected" }, ref: null, topic },
      ],
    );
    raw.send({ topic, event: "echo", payload: { x: 1 }, ref: "3", join_ref: "2" });
    const echo = await raw.reply("3");
    assert.deepEqual(echo, v1Reply("3", topic, "ok", { x: 1 }));
    for (const f of raw.frames) {
      assert.ok(f.msg && !Array.isArray(f.msg), `V1 frames are objects: ${f.text}`);
      assert.ok(!("join_ref" in f.msg), `no join_ref key in V1: ${f.text}`);
    }
  });

  /** Drives a client whose upgrade is refused; returns what it observed. */
  async function refusedClient(t, params) {
    const { socket, rec } = makeSocket(ctx.fx.port, { params });
    phxCleanup(t, socket);
    const seq = [];
    socket.onError(() => seq.push("error"));
    socket.onClose((e) => seq.push(`close:${e.code}`));
    const ch = socket.channel(uniq("room:refused-"));
    const chanErrors = [];
    ch.onError((p) => chanErrors.push(p));
    ch.join();
    socket.connect();
    await waitUntil(() => rec.conns.length >= 4 && rec.conns[3].close, { timeout: 5000, msg: "≥ 4 upgrade attempts" });
    socket.disconnect();
    return { seq, chanErrors, rec };
  }

  test("5. connect rejected: HTTP 403; onError then onClose(1006); channel errors once; retries with backoff", T, async (t) => {
    const r = await upgrade(socketUrl(ctx.fx.port, { params: { reject: "true" } }));
    assert.equal(r.status, 403);
    const { seq, chanErrors, rec } = await refusedClient(t, { reject: "true" });
    assert.deepEqual(seq.slice(0, 2), ["error", "close:1006"]);
    for (const s of seq) assert.ok(s === "error" || s === "close:1006", s);
    assert.deepEqual(chanErrors, [{ source: "transport", reason: "connection_error" }]);
    for (const c of rec.conns.slice(0, 4)) {
      assert.equal(c.opened, false);
      assert.ok(c.errors.some((e) => /403/.test(e)), `attempt ${c.index} failed with 403: ${c.errors}`);
    }
    assert.deepEqual(rec.events.filter((e) => e.dir === "in"), [], "no frames");
  });

  test("5. [vsn 1.0.0] connect rejected: HTTP 403", T, async () => {
    const r = await upgrade(socketUrl(ctx.fx.port, { vsn: "1.0.0", params: { reject: "true" } }));
    assert.equal(r.status, 403);
  });

  test("6. custom rejection status: ratelimit=true → HTTP 429; client behaves as in 5", T, async (t) => {
    const r = await upgrade(socketUrl(ctx.fx.port, { params: { ratelimit: "true" } }));
    assert.equal(r.status, 429);
    const r1 = await upgrade(socketUrl(ctx.fx.port, { vsn: "1.0.0", params: { ratelimit: "true" } }));
    assert.equal(r1.status, 429, "vsn 1.0.0");
    const { seq, chanErrors, rec } = await refusedClient(t, { ratelimit: "true" });
    assert.deepEqual(seq.slice(0, 2), ["error", "close:1006"]);
    assert.deepEqual(chanErrors, [{ source: "transport", reason: "connection_error" }]);
    for (const c of rec.conns.slice(0, 4)) {
      assert.ok(c.errors.some((e) => /429/.test(e)), `attempt ${c.index} failed with 429: ${c.errors}`);
    }
    assert.deepEqual(rec.events.filter((e) => e.dir === "in"), []);
  });

  test("7. origin check (raw): /checked refuses Origin http://evil.test (403), allows none and the listed origin", T, async (t) => {
    const { port } = ctx.fx;
    for (const vsn of ["2.0.0", "1.0.0"]) {
      const url = socketUrl(port, { mount: "/checked", vsn });
      assert.equal((await upgrade(url, { headers: { Origin: "http://evil.test" } })).status, 403, `evil, vsn ${vsn}`);
      assert.equal((await upgrade(url)).status, 101, `no Origin, vsn ${vsn}`);
      assert.equal((await upgrade(url, { headers: { Origin: "http://good.test" } })).status, 101, `good, vsn ${vsn}`);
    }
    // the JS client in Node sends no Origin header
    const { socket } = makeSocket(port, { mount: "/checked" });
    phxCleanup(t, socket);
    await connect(socket);
  });

  test("7. origin check by default (raw): /socket takes a page of its own host only, and clients without Origin", T, async () => {
    const { port } = ctx.fx;
    const url = socketUrl(port, { mount: "/socket", vsn: "2.0.0" });
    assert.equal((await upgrade(url, { headers: { Origin: `http://127.0.0.1:${port}` } })).status, 101, "same host");
    assert.equal((await upgrade(url, { headers: { Origin: "http://evil.test" } })).status, 403, "another site");
    assert.equal((await upgrade(url, { headers: { Origin: `http://127.0.0.1:${port + 1}` } })).status, 403, "another port");
    assert.equal((await upgrade(url)).status, 101, "no Origin");
    const lp = await fetch(`http://127.0.0.1:${port}/socket/longpoll?vsn=2.0.0&`, { headers: { Origin: "http://evil.test" } });
    assert.deepEqual(await lp.json(), { status: 403 }, "long-poll too");
  });

  test("8. auth token: subprotocols offered, `phoenix` echoed, connect sees auth_token", T, async (t) => {
    const { fx } = ctx;
    const { socket, rec } = makeSocket(fx.port, { authToken: "my-token+x", params: { case: "s8-js" } });
    phxCleanup(t, socket);
    await connect(socket);
    assert.deepEqual(rec.conns[0].protocols, ["phoenix", TOKEN_PROTOCOL]);
    assert.equal(rec.conns[0].upgradeHeaders["sec-websocket-protocol"], "phoenix");
    assert.equal(rec.conns[0].ws.protocol, "phoenix");
    let log = await fx.log();
    assert.equal(log.connects.find((c) => c.params.case === "s8-js").auth_token, "my-token+x");

    // raw: both protocols, only `phoenix`, and none
    const both = await upgrade(socketUrl(fx.port, { params: { case: "s8-raw" } }), { protocols: ["phoenix", TOKEN_PROTOCOL] });
    assert.equal(both.status, 101);
    assert.equal(both.headers["sec-websocket-protocol"], "phoenix");
    const only = await upgrade(socketUrl(fx.port), { protocols: ["phoenix"] });
    assert.equal(only.status, 101);
    assert.equal(only.headers["sec-websocket-protocol"], "phoenix");
    const none = await upgrade(socketUrl(fx.port));
    assert.equal(none.status, 101);
    assert.equal(none.headers["sec-websocket-protocol"], undefined, "no subprotocol selected when none offered");
    const v1 = await rawConnect(fx.port, { vsn: "1.0.0", params: { case: "s8-v1" }, protocols: ["phoenix", TOKEN_PROTOCOL] });
    rawCleanup(t, v1);
    assert.equal(v1.ws.protocol, "phoenix", "vsn 1.0.0");
    log = await fx.log();
    assert.equal(log.connects.find((c) => c.params.case === "s8-raw").auth_token, "my-token+x");
    assert.equal(log.connects.find((c) => c.params.case === "s8-v1").auth_token, "my-token+x");
  });

  test("9. heartbeat: [null,R,phoenix,heartbeat,{}] every interval, answered with join_ref null, zero channels", T, async (t) => {
    const { socket, rec } = makeSocket(ctx.fx.port, { heartbeatIntervalMs: 200 });
    phxCleanup(t, socket);
    await connect(socket);
    const opened = Date.now();
    const isHb = (m) => m[2] === "phoenix" && m[3] === "heartbeat";
    const hb1 = await rec.waitSent(isHb, { timeout: 2000, msg: "first heartbeat" });
    assert.ok(hb1.t - opened >= 150, "first heartbeat one interval after open");
    const R1 = hb1.msg[1];
    assert.equal(typeof R1, "string");
    assert.deepEqual(hb1.msg, [null, R1, "phoenix", "heartbeat", {}]);
    const rep1 = await rec.waitReceived((m) => m[1] === R1, { msg: "heartbeat reply" });
    assert.deepEqual(rep1.msg, replyFrame(null, R1, "phoenix", "ok", {}));
    const hb2 = await rec.waitSent((m) => isHb(m) && m[1] !== R1, { timeout: 2000, msg: "second heartbeat" });
    assert.ok(rec.indexOf(hb2) > rec.indexOf(rep1), "next heartbeat scheduled from the reply");
    const rep2 = await rec.waitReceived((m) => m[1] === hb2.msg[1]);
    assert.deepEqual(rep2.msg, replyFrame(null, hb2.msg[1], "phoenix", "ok", {}));
    assert.deepEqual(rec.received((m) => m[3] !== "phx_reply"), [], "only heartbeat replies");
  });

  test("10. heartbeat with a non-null join_ref or payload (raw): reply join_ref null", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port);
    rawCleanup(t, raw);
    const R = raw.ref();
    raw.send(["5", R, "phoenix", "heartbeat", {}]);
    assert.deepEqual(await raw.reply(R), replyFrame(null, R, "phoenix", "ok", {}));
    const R2 = raw.ref();
    raw.send(["7", R2, "phoenix", "heartbeat", { any: "payload" }]);
    assert.deepEqual(await raw.reply(R2), replyFrame(null, R2, "phoenix", "ok", {}));
  });

  test("10. [vsn 1.0.0] heartbeat with join_ref: reply has no join_ref", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    raw.send({ topic: "phoenix", event: "heartbeat", payload: {}, ref: "9", join_ref: "5" });
    assert.deepEqual(await raw.reply("9"), v1Reply("9", "phoenix", "ok", {}));
  });

  test("11. client heartbeat timeout: close 1000 'heartbeat timeout', channel error, reconnect, rejoin with new J", T, async (t) => {
    const { fx } = ctx;
    let swallow = false;
    const relay = await new Relay(fx.port, {
      filter: (conn, f) =>
        swallow && conn.index === 0 && Array.isArray(f.msg) && f.msg[2] === "phoenix" && f.msg[3] === "phx_reply" ? [] : [f],
    }).start();
    t.after(() => relay.stop());
    const connectsBefore = (await fx.log()).connects.length;
    const { socket, rec } = makeSocket(relay.port, { heartbeatIntervalMs: 300 });
    phxCleanup(t, socket);
    const topic = uniq("room:hb-");
    const ch = socket.channel(topic);
    const errors = [];
    ch.onError((p) => errors.push(p));
    await connect(socket);
    await joinOk(ch);
    const J1 = ch.joinRef();
    swallow = true;
    await waitUntil(() => relay.conns[0].clientClose, { timeout: 3000, msg: "client closes the connection" });
    assert.deepEqual(
      { code: relay.conns[0].clientClose.code, reason: relay.conns[0].clientClose.reason },
      { code: 1000, reason: "heartbeat timeout" },
    );
    await waitUntil(() => ch.state === "joined" && ch.joinRef() !== J1, { timeout: 3000, msg: "rejoin" });
    assert.deepEqual(errors[0], { source: "transport", reason: "heartbeat_timeout" });
    const J2 = ch.joinRef();
    assert.notEqual(J2, J1);
    const rejoin = rec.joins(topic).find((e) => e.msg[0] === J2);
    assert.ok(rejoin && rejoin.conn >= 1, "rejoin sent on the new connection");
    const log = await fx.log();
    assert.ok(log.connects.length >= connectsBefore + 2, "server saw a new connection");
    const joinRefs = log.joins.filter((j) => j.topic === topic).map((j) => j.join_ref);
    assert.ok(joinRefs.includes(J1) && joinRefs.includes(J2), `server joins ${joinRefs}`);
  });

  test("12. server idle timeout (raw): /idle closes a silent client with a non-1000 code; channels terminate; presence leaves", T, async (t) => {
    const { fx } = ctx;
    const topic = uniq("presence:idle-");
    const room = uniq("room:idle-");
    const { socket, rec } = makeSocket(fx.port);
    phxCleanup(t, socket);
    await connect(socket);
    const watch = socket.channel(topic, { user_id: "watcher" });
    const presence = new Presence(watch);
    await joinOk(watch);

    const idler = await rawConnect(fx.port, { mount: "/idle" });
    rawCleanup(t, idler);
    const { J } = await idler.join(topic, { user_id: "idler" });
    await idler.join(room);
    await waitUntil(() => presence.list((key) => key).includes("idler"), { msg: "idler present" });

    const close = await withTimeout(idler.closed, 5000, "idle close");
    assert.notEqual(close.code, 1000, "not 1000: the client should come back");
    assert.ok(close.code >= 1001 && close.code <= 4999 && close.code !== 1005 && close.code !== 1006, `close code ${close.code} sent in a close frame`);

    const leave = await rec.waitReceived(
      (m) => m[2] === topic && m[3] === "presence_diff" && m[4].leaves && m[4].leaves.idler,
      { msg: "idler leaves" },
    );
    assert.deepEqual(leave.msg.slice(0, 4), [null, null, topic, "presence_diff"]);
    await waitUntil(async () => (await fx.channels(room)) === 0, { msg: "room channel gone" });
    const term = await waitUntil(
      async () => {
        const log = await fx.log();
        const got = log.terminates.filter((x) => x.topic === room || (x.topic === topic && x.join_ref === J));
        return got.length >= 2 ? got : null;
      },
      { msg: "both channels of the idle connection terminate" },
    );
    assert.deepEqual(term.map((x) => x.reason), ["closed", "closed"]);
    assert.ok(socket.isConnected(), "the /socket client is unaffected");
  });

  test("12. [vsn 1.0.0] server idle timeout: non-1000 close", T, async (t) => {
    const idler = await rawConnect(ctx.fx.port, { mount: "/idle", vsn: "1.0.0" });
    rawCleanup(t, idler);
    const close = await withTimeout(idler.closed, 5000, "idle close");
    assert.ok(close.code >= 1001 && close.code !== 1005 && close.code !== 1006, `close code ${close.code}`);
  });

  test("13. client disconnect: server terminates all channels (reason closed); no reconnect", T, async (t) => {
    const { fx } = ctx;
    const { socket, rec } = makeSocket(fx.port);
    phxCleanup(t, socket);
    await connect(socket);
    const a = socket.channel(uniq("room:dc-"));
    const b = socket.channel(uniq("room:dc-"));
    await joinOk(a);
    await joinOk(b);
    const refs = { [a.topic]: a.joinRef(), [b.topic]: b.joinRef() };
    socket.disconnect();
    await waitUntil(
      async () => {
        const log = await fx.log();
        return log.terminates.filter((x) => refs[x.topic] === x.join_ref).length === 2;
      },
      { msg: "both channels terminate" },
    );
    const log = await fx.log();
    for (const x of log.terminates.filter((x) => refs[x.topic] === x.join_ref)) assert.equal(x.reason, "closed");
    assert.equal(await fx.channels(a.topic), 0);
    assert.equal(await fx.channels(b.topic), 0);
    // The client decides about reconnecting when its transport closes: wait for that, then a
    // negative window. A reconnect would be armed at the close with reconnectAfterMs (100 ms,
    // makeSocket), so its timer fires before this longer one (Node runs timers in deadline
    // order) and opens the new transport synchronously, which the recorder counts.
    await waitUntil(() => rec.conns[0].close, { timeout: 10000, msg: "the client's transport closed" });
    await sleep(QUIET_MS);
    assert.equal(rec.conns.length, 1, "no reconnect");
  });

  test("13. [vsn 1.0.0] client close: channels terminate with reason closed", T, async (t) => {
    const { fx } = ctx;
    const raw = await rawConnect(fx.port, { vsn: "1.0.0" });
    rawCleanup(t, raw);
    const topic = uniq("room:dc1-");
    const { J } = await raw.join(topic);
    raw.close();
    await waitUntil(async () => (await fx.log()).terminates.some((x) => x.topic === topic && x.join_ref === J), {
      msg: "terminate",
    });
    const x = (await fx.log()).terminates.find((x) => x.topic === topic);
    assert.equal(x.reason, "closed");
  });
});
