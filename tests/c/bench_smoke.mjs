// Smoke test of a benchmark server (bench/README.md "The servers"), run by tests/c/run.sh
// against the C one (examples/c/bench.c): `node tests/c/bench_smoke.mjs <server binary>`.
// Starts it with PORT=0, waits for `LISTENING 127.0.0.1:<port>`, then with the stock phoenix
// client: two clients join `bench:smoke` (ok {}, no presence); a `pub` (JSON, then binary)
// reaches the other client as `msg` with the same payload while the sender gets neither a
// `msg` nor a reply; `ping` is answered ok with the same payload; an unknown event crashes
// the channel (phx_error). Finally stdin is closed and the server must exit 0, and a second
// server must exit on SIGTERM. Exits 1 on the first failed check, after 30 s at the latest.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { Socket } from "phoenix";
import WebSocket from "ws";

const bin = process.argv[2];
if (!bin) {
  console.error("usage: node bench_smoke.mjs <bench server binary>");
  process.exit(2);
}
setTimeout(() => {
  console.error("bench smoke: TIMEOUT");
  process.exit(1);
}, 30_000).unref();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function start() {
  const child = spawn(bin, [], { env: { ...process.env, PORT: "0" }, stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const listening = new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/^LISTENING 127\.0\.0\.1:(\d+)$/m);
      if (m) resolve(Number(m[1]));
    });
    child.on("exit", (code) => reject(new Error(`server exited (${code}) before LISTENING`)));
  });
  return { child, exited, listening };
}

function client(port) {
  const socket = new Socket(`ws://127.0.0.1:${port}/socket`, {
    transport: WebSocket,
    reconnectAfterMs: () => 60_000,
  });
  socket.connect();
  const channel = socket.channel("bench:smoke", {});
  const got = [];
  channel.on("msg", (payload) => got.push(payload));
  return { socket, channel, got };
}

function reply(push) {
  return new Promise((resolve) => {
    push
      .receive("ok", (r) => resolve(["ok", r]))
      .receive("error", (r) => resolve(["error", r]))
      .receive("timeout", () => resolve(["timeout", null]));
  });
}

const server = start();
const port = await server.listening;
const a = client(port);
const b = client(port);
assert.deepEqual(await reply(a.channel.join(2_000)), ["ok", {}]);
assert.deepEqual(await reply(b.channel.join(2_000)), ["ok", {}]);

// pub: to the other subscriber only, no reply to the sender.
const published = reply(a.channel.push("pub", { n: 1, body: "hello" }, 500));
assert.deepEqual(await published, ["timeout", null], "pub must not be answered");
assert.deepEqual(b.got, [{ n: 1, body: "hello" }]);
assert.deepEqual(a.got, [], "the sender must not get its own msg");

// Binary payloads travel as binary.
a.channel.push("pub", new Uint8Array([0, 1, 2, 255]).buffer);
for (let i = 0; i < 100 && b.got.length < 2; i++) await sleep(10);
assert.equal(b.got.length, 2);
assert.deepEqual([...new Uint8Array(b.got[1])], [0, 1, 2, 255]);

// ping: answered ok with the same payload.
assert.deepEqual(await reply(b.channel.push("ping", { t: 7, s: 2 }, 2_000)), ["ok", { t: 7, s: 2 }]);
await sleep(100);
assert.equal(a.got.length, 0, "a ping is not broadcast");

// Anything else crashes the channel, as the Rust handler's error does.
const errored = new Promise((resolve) => a.channel.onError(() => resolve("phx_error")));
a.channel.push("nope", {});
assert.equal(await errored, "phx_error");

a.socket.disconnect();
b.socket.disconnect();
server.child.stdin.end();
assert.deepEqual(await server.exited, { code: 0, signal: null }, "exit 0 on stdin EOF");

const second = start();
await second.listening;
second.child.kill("SIGTERM");
assert.deepEqual(await second.exited, { code: 0, signal: null }, "exit 0 on SIGTERM");
console.log("bench smoke: ok");
process.exit(0);
