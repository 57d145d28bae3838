// Errors carry stable codes; a handler that throws, rejects or never settles fails only its
// own channel.

import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";

import { connectedSocket, joinOk, listening, nextMessage, outcome, sb, thrown, waitUntil } from "./helpers.mjs";

const { Endpoint, RawJson, ok, reply } = sb;

test("bad configuration and calls in the wrong state throw coded errors", async (t) => {
  assert.equal(thrown(() => new Endpoint({ port: 0 }).broadcast("t", "e", {})).code, "SB_E_INVALID_STATE");
  assert.equal(thrown(() => new Endpoint().channel("", {})).code, "SB_E_INVALID_ARGUMENT");
  assert.equal(thrown(() => new Endpoint().connect("nope")).code, "SB_E_INVALID_ARGUMENT");
  // Options are checked by the core when the endpoint is made (docs/OPTIONS.md).
  assert.equal(thrown(() => new Endpoint({ port: 0, maxChannels: 0 })).code, "SB_E_INVALID_ARGUMENT");
  assert.equal(thrown(() => new Endpoint({ port: 70000 })).code, "SB_E_INVALID_ARGUMENT");
  assert.equal(thrown(() => new Endpoint({ port: 0, mounts: ["no-slash"] })).code, "SB_E_INVALID_ARGUMENT");
  // A host name is resolved at listen().
  await assert.rejects(new Endpoint({ port: 0, host: "no-such-host.invalid" }).listen(), { code: "SB_E_INVALID_ARGUMENT" });

  const { endpoint, port } = await listening(t);
  await assert.rejects(endpoint.listen(), { code: "SB_E_INVALID_STATE" });
  assert.equal(thrown(() => endpoint.channel("room:*", {})).code, "SB_E_INVALID_STATE");
  assert.equal(thrown(() => endpoint.broadcast("", "e", {})).code, "SB_E_INVALID_ARGUMENT");
  assert.equal(thrown(() => endpoint.broadcast("t", "e", new RawJson("{nope"))).code, "SB_E_INVALID_JSON");
  assert.equal(thrown(() => endpoint.broadcast("t", "e", () => 1)).code, "SB_E_INVALID_ARGUMENT");

  // The port is taken now.
  await assert.rejects(new Endpoint({ port }).listen(), { code: "SB_E_IO" });
  await endpoint.close();
  assert.equal(thrown(() => endpoint.broadcast("t", "e", {})).code, "SB_E_INVALID_STATE");
  await endpoint.close(); // idempotent
});

test("options are refused with the core's words: unknown names, wrong types, patterns", () => {
  const message = (fn) => {
    const err = thrown(fn);
    assert.equal(err.code, "SB_E_INVALID_ARGUMENT");
    return err.message;
  };
  assert.equal(message(() => new Endpoint({ prot: 4000 })), "unknown option `prot` of the endpoint (did you mean `port`?)");
  assert.equal(message(() => new Endpoint({ port: "4000" })), '`port` must be an integer from 0 to 65535 (got the string "4000")');
  assert.equal(message(() => new Endpoint({ maxChannels: 1.5 })), "`maxChannels` must be an integer from 1 to 4294967295 (got 1.5)");
  assert.equal(message(() => new Endpoint({ shards: 2n })), "`shards` must be an integer from 0 to 65536 (got a value of type bigint)");
  assert.equal(message(() => new Endpoint({ idleTimeoutMs: () => 1 })), "`idleTimeoutMs` must be an integer from 1 to 1099511627776 (got a value of type function)");
  assert.match(message(() => new Endpoint({ checkOrigin: [] })), /non-empty list of origins/);
  assert.match(message(() => new Endpoint({ maxHeaderBytes: 100 })), /`maxHeaderBytes` must be an integer from 8192/);
  assert.match(message(() => new Endpoint({ mounts: [{ path: "/a", maxFrameByte: 1 }] })), /unknown option `maxFrameByte` of mount "\/a" \(did you mean `maxFrameBytes`\?\)/);
  for (const pattern of ["*:lobby", "room:*:x", "room:**"]) {
    assert.match(message(() => new Endpoint().channel(pattern, {})), /invalid channel pattern/, pattern);
  }
  // Valid ones pass.
  new Endpoint({ port: 0, checkOrigin: false, maxHeaderBytes: 8192, drain: { batchSize: 1 } }).channel("room:*", {});
});

test("handshake options reach the listener: header read timeout and header size", async (t) => {
  const endpoint = new Endpoint({ port: 0, headerReadTimeoutMs: 200, maxHeaderBytes: 8192 });
  const { port } = await endpoint.listen();
  t.after(() => endpoint.close());

  // A connection that sends nothing is closed after 200 ms (the default would take 10 s).
  const silent = net.connect(port, "127.0.0.1");
  const started = Date.now();
  await new Promise((resolve, reject) => {
    silent.once("close", resolve).once("error", reject);
    silent.resume();
  });
  assert.ok(Date.now() - started < 5000, `closed after ${Date.now() - started} ms`);

  // A 10 KiB header is over 8 192 bytes: 431 (the default limit of 16 KiB would accept it).
  const big = net.connect(port, "127.0.0.1");
  let answer = "";
  big.on("data", (d) => (answer += d));
  big.write(`GET /socket/websocket HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(10 * 1024)}\r\n\r\n`);
  await new Promise((resolve) => big.once("close", resolve));
  assert.match(answer, /^HTTP\/1\.1 431/);
});

test("an address in use by another server is SB_E_IO", async (t) => {
  const srv = net.createServer().listen(0, "127.0.0.1");
  await new Promise((r) => srv.once("listening", r));
  t.after(() => srv.close());
  await assert.rejects(new Endpoint({ port: srv.address().port }).listen(), (err) => {
    assert.equal(err.code, "SB_E_IO");
    assert.match(err.message, /127\.0\.0\.1/);
    return true;
  });
});

test("actions on an ended channel are SB_E_NOT_FOUND; bad payloads SB_E_ENCODE", async (t) => {
  let kept;
  const { port } = await listening(t, {}, (ep) => {
    ep.channel("room:*", {
      join(_t, _p, socket) {
        kept = socket;
        return ok();
      },
    });
  });
  const { socket } = await connectedSocket(t, port);
  const ch = socket.channel("room:e");
  await joinOk(ch);
  assert.equal(thrown(() => kept.push("x", [1, 2])).code, "SB_E_ENCODE");
  await outcome(ch.leave());
  await waitUntil(() => {
    try {
      kept.push("late", {});
      return false;
    } catch (err) {
      return err.code === "SB_E_NOT_FOUND";
    }
  });
});

test("a handler that throws or rejects fails only its channel (phx_error / join crashed)", async (t) => {
  const failures = [];
  const { port } = await listening(t, {}, (ep) => {
    ep.on("error", (err, ctx) => failures.push([err.message, ctx.kind]));
    ep.channel("room:*", {
      async join(topic) {
        if (topic === "room:crash") throw new Error("join boom");
        return ok();
      },
      handleIn(event) {
        if (event === "throw") throw new Error("sync boom");
        if (event === "reject") return Promise.reject(new Error("async boom"));
        if (event === "bad") return 42;
        return reply("ok", { alive: true });
      },
    });
  });
  const { socket } = await connectedSocket(t, port);
  const crashChannel = socket.channel("room:crash");
  const crashed = await outcome(crashChannel.join());
  assert.deepEqual(crashed, { status: "error", response: { reason: "join crashed" } });
  crashChannel.leave(); // the client would rejoin (and crash) again and again

  const a = socket.channel("room:a");
  const b = socket.channel("room:b");
  await joinOk(a);
  await joinOk(b);
  for (const event of ["throw", "reject", "bad"]) {
    const errored = new Promise((resolve) => a.onError(resolve));
    a.push(event, {});
    await errored;
    // The other channel on the same connection is untouched.
    assert.deepEqual(await outcome(b.push("ping", {})), { status: "ok", response: { alive: true } });
    await waitUntil(() => a.state === "joined", { timeout: 3000 });
  }
  assert.equal(failures[0][0], "join boom");
  const inHandleIn = failures.filter((f) => f[1] === "handleIn");
  assert.deepEqual(inHandleIn.map((f) => f[0]).slice(0, 2), ["sync boom", "async boom"]);
  assert.match(inHandleIn[2][0], /handleIn returned 42/);
  assert.equal(inHandleIn.length, 3);
});

test("a handler that never settles hits the request timeout; its late answer is ignored", async (t) => {
  let release;
  const { port } = await listening(t, { requestTimeoutMs: 300 }, (ep) => {
    ep.channel("room:*", {
      handleIn(event) {
        if (event === "stall") return new Promise(() => {});
        if (event === "slow") return new Promise((r) => (release = () => r(reply("ok", {}))));
        return reply("ok", { alive: true });
      },
    });
  });
  const { socket } = await connectedSocket(t, port);
  const ch = socket.channel("room:s");
  await joinOk(ch);
  const started = Date.now();
  const errored = new Promise((resolve) => ch.onError(resolve));
  ch.push("stall", {});
  await errored;
  assert.ok(Date.now() - started >= 250, "failed before the request timeout");

  await waitUntil(() => ch.state === "joined", { timeout: 3000 });
  const errored2 = new Promise((resolve) => ch.onError(resolve));
  ch.push("slow", {});
  await errored2;
  release(); // stale now: swallowed, no crash, no 'error'
  await waitUntil(() => ch.state === "joined", { timeout: 3000 });
  assert.deepEqual(await outcome(ch.push("ping", {})), { status: "ok", response: { alive: true } });
});

test("a push to a non-object payload fails the push, not the process", async (t) => {
  // Pushes carry a JSON object or binary (Phoenix push/3 takes a map): any other JSON value
  // makes `socket.push` throw SB_E_ENCODE at once, in join and in handleIn alike. The handler
  // catches it and goes on: nothing is written for the failed push, the channel is not
  // failed, no 'error' is reported, and later pushes and replies on it work.
  const NON_OBJECTS = [[1, 2], "text", 42, null, true];
  const codeOf = (fn) => {
    try {
      fn();
      return "no throw";
    } catch (err) {
      return err.code;
    }
  };
  const inJoin = [];
  const inHandleIn = [];
  const errors = [];
  const { port } = await listening(t, {}, (ep) => {
    ep.on("error", (err, ctx) => errors.push([err.message, ctx?.kind]));
    ep.channel("room:*", {
      join(_t, _p, socket) {
        for (const p of NON_OBJECTS) inJoin.push(codeOf(() => socket.push("welcome", p)));
        socket.push("welcome", { hi: 1 });
        return ok();
      },
      handleIn(event, _payload, socket) {
        if (event === "bad") {
          for (const p of NON_OBJECTS) inHandleIn.push(codeOf(() => socket.push("bad_push", p)));
          socket.push("good_push", { n: 1 });
          return reply("ok", { pushed: "good_push" });
        }
        return reply("ok", { alive: true });
      },
    });
  });
  const { socket, rec } = await connectedSocket(t, port);
  const ch = socket.channel("room:w");
  const welcome = nextMessage(ch, "welcome");
  await joinOk(ch);
  assert.deepEqual(await welcome, { hi: 1 });
  assert.deepEqual(inJoin, NON_OBJECTS.map(() => "SB_E_ENCODE"), "every non-object push in join throws SB_E_ENCODE");

  const good = nextMessage(ch, "good_push");
  assert.deepEqual(await outcome(ch.push("bad", {})), { status: "ok", response: { pushed: "good_push" } });
  assert.deepEqual(await good, { n: 1 });
  assert.deepEqual(inHandleIn, NON_OBJECTS.map(() => "SB_E_ENCODE"), "every non-object push in handleIn throws SB_E_ENCODE");

  // Per channel, program order (PROTOCOL.md 3.3 rule 3): a failed push that was written anyway
  // would have arrived before the push made after it (welcome {hi:1}, good_push), which has.
  const pushes = rec.received((m) => m[2] === "room:w" && m[3] !== "phx_reply").map((e) => [e.msg[3], e.msg[4]]);
  assert.deepEqual(pushes, [
    ["welcome", { hi: 1 }],
    ["good_push", { n: 1 }],
  ], "only the object pushes reached the client");
  assert.equal(rec.received((m) => m[3] === "phx_error").length, 0, "the channel was not failed");
  assert.equal(ch.state, "joined");
  assert.deepEqual(await outcome(ch.push("ping", {})), { status: "ok", response: { alive: true } });
  assert.deepEqual(errors, [], "no handler failure was reported");
});
