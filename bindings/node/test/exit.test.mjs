// The process exits by itself: after close() (with clients connected and a handler that
// never settled), and while listening once unref() was called. Each case runs in a child
// process with a deadline; a pump thread or ThreadsafeFunction still holding the event
// loop would make it hang.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PKG = path.resolve(HERE, "..");
const PHX = path.resolve(HERE, "../../../tests/lib/phx.mjs");

/**
 * Runs `source` as an ES module; resolves {code, signal, ms, out}; kills it after `deadline`,
 * or, with `killAfter: {line, ms}`, `ms` after its output first matches `line`.
 */
function run(source, deadline = 15_000, { killAfter } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ["--input-type=module", "-e", source], {
      cwd: PKG,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, SB_PKG: PKG, SB_PHX: PHX },
    });
    let out = "";
    let windowTimer;
    const seen = () => {
      if (killAfter && !windowTimer && killAfter.line.test(out)) {
        windowTimer = setTimeout(() => child.kill("SIGKILL"), killAfter.ms);
      }
    };
    child.stdout.on("data", (d) => {
      out += d;
      seen();
    });
    child.stderr.on("data", (d) => {
      out += d;
      seen();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), deadline);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(windowTimer);
      resolve({ code, signal, ms: Date.now() - started, out });
    });
  });
}

const PRELUDE = `
import { createRequire } from "node:module";
const require = createRequire(process.env.SB_PKG + "/");
const sb = require(process.env.SB_PKG);
const { makeSocket, connect, joinOk } = await import(process.env.SB_PHX);
`;

test("close() lets the process exit, with clients connected and a handler stalled", async () => {
  const r = await run(`${PRELUDE}
    const ep = new sb.Endpoint({ port: 0, drain: { timeoutMs: 2000, intervalMs: 0 } });
    let stalled;
    const inHandler = new Promise((r) => (stalled = r));
    ep.channel("room:*", { handleIn: () => { stalled(); return new Promise(() => {}); } });
    const { port } = await ep.listen();
    const { socket } = makeSocket(port, { reconnectAfterMs: () => 60_000 });
    await connect(socket);
    const ch = socket.channel("room:1");
    await joinOk(ch);
    ch.push("stall", {});
    await inHandler; // the handler runs and never settles
    await ep.close();
    socket.disconnect();
    console.log("closed");
  `);
  assert.equal(r.signal, null, `killed at the deadline; output:\n${r.out}`);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /closed/);
});

test("an endpoint that listens keeps the process alive until unref()", async () => {
  const r = await run(`${PRELUDE}
    const ep = new sb.Endpoint({ port: 0 });
    await ep.listen();
    setTimeout(() => { console.log("still alive"); ep.unref(); }, 500);
  `);
  assert.equal(r.signal, null, `killed at the deadline; output:\n${r.out}`);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /still alive/);
  assert.ok(r.ms >= 500);
});

test("a listening endpoint without unref() or close() does not let the process exit", async () => {
  const r = await run(`${PRELUDE}
    const ep = new sb.Endpoint({ port: 0 });
    await ep.listen();
    console.log("listening");
  `, 15_000, { killAfter: { line: /listening/, ms: 1000 } });
  // Killed 1 s after it printed "listening" (its last statement): a process with nothing
  // holding its event loop exits on the loop's next turn, in milliseconds; the 15 s deadline
  // only bounds startup, which a loaded machine can stretch.
  assert.equal(r.signal, "SIGKILL", `exited by itself: ${r.out}`);
  assert.match(r.out, /listening/);
});

test("an endpoint never started holds nothing", async () => {
  const r = await run(`${PRELUDE}
    const ep = new sb.Endpoint({ port: 0 });
    ep.channel("room:*", {});
    console.log("made");
  `);
  assert.equal(r.code, 0, r.out);
});

test("an endpoint in a worker thread serves, closes, and the worker ends", async () => {
  const r = await run(`${PRELUDE}
    const { Worker } = await import("node:worker_threads");
    const w = new Worker(process.env.SB_PKG + "/test/worker.cjs");
    const port = await new Promise((r) => w.once("message", r));
    const { socket } = makeSocket(port);
    await connect(socket);
    const ch = socket.channel("room:w");
    await joinOk(ch);
    const res = await new Promise((r) => ch.push("echo", { n: 1 }).receive("ok", r));
    console.log("echo", JSON.stringify(res));
    socket.disconnect();
    w.postMessage("close");
    const code = await new Promise((r) => w.once("exit", r));
    console.log("worker exit", code);
  `);
  assert.equal(r.signal, null, `killed at the deadline; output:\n${r.out}`);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /echo \{"n":1\}/);
  assert.match(r.out, /worker exit 0/);
});

test("listen({handleSignals: true}): SIGINT drains — clients get 1012, terminate runs — then the process exits", async () => {
  const { makeSocket, connect, joinOk } = await import(PHX);
  const child = spawn(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `${PRELUDE}
      const ep = new sb.Endpoint({ port: 0, drain: { intervalMs: 0 } });
      ep.channel("room:*", { terminate: (r) => console.log("terminate", r.reason) });
      const { port } = await ep.listen({ handleSignals: true });
      console.log("LISTENING", port);
    `,
    ],
    { cwd: PKG, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SB_PKG: PKG, SB_PHX: PHX } },
  );
  const deadline = setTimeout(() => child.kill("SIGKILL"), 15_000);
  let out = "";
  const listening = new Promise((resolve) => {
    const seen = (d) => {
      out += d;
      const m = /LISTENING (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout.on("data", seen);
    child.stderr.on("data", seen);
  });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const port = await listening;
  const { socket } = makeSocket(port, { reconnectAfterMs: () => 60_000 });
  const closed = new Promise((resolve) => socket.onClose((e) => resolve(e.code)));
  await connect(socket);
  await joinOk(socket.channel("room:signal"));
  child.kill("SIGINT");
  assert.equal(await closed, 1012, "the client saw a drain");
  const { code, signal } = await exited;
  clearTimeout(deadline);
  socket.disconnect();
  assert.equal(signal, null, `killed at the deadline; output:\n${out}`);
  assert.equal(code, 0, out);
  assert.match(out, /terminate drain/);
});
