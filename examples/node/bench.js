// The benchmark server hosted from Node.js (bench/README.md, bench/PROTOCOLS.md): the same
// channels as examples/rust/bench.rs, as JavaScript handlers over bindings/node, so the
// load generator measures what hosting from Node costs next to the Rust host.
//
//   node examples/node/bench.js     (env PORT, default 0 = any free port)
//
// Prints `LISTENING 127.0.0.1:<port>`; exits on stdin EOF or SIGTERM. Socket at /socket:
//   * bench:*: join ok {}; a push `pub` with any payload (JSON or binary) is broadcast to
//     every other subscriber of the topic as `msg` with the same payload (broadcast_from),
//     no reply; a push `ping` is answered ok with the same payload (the `roundtrip`
//     scenario). Raw channel: the JSON text is never parsed in JavaScript.
//   * presence:*: join ok {}, then the client is tracked under the join param `key` with
//     meta {online_at} and gets presence_state (the after_join pattern).
// Outbox limits raised like the Rust server: BENCH_OUTBOX_FRAMES (default 65 536) and
// BENCH_OUTBOX_BYTES (default 64 MiB).

"use strict";

const { Endpoint, ok, reply } = require("../../bindings/node");

function envNumber(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text.trim() === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`bench: ${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

const endpoint = new Endpoint({
  host: "127.0.0.1",
  port: envNumber("PORT", 0),
  node: "bench@127.0.0.1",
  outboxMaxFrames: envNumber("BENCH_OUTBOX_FRAMES", 65_536),
  outboxMaxBytes: envNumber("BENCH_OUTBOX_BYTES", 64 * 1024 * 1024),
});

endpoint.channel("bench:*", {
  handleIn(event, payload, socket) {
    if (event === "pub") return socket.broadcastFrom("msg", payload);
    if (event === "ping") return reply("ok", payload);
    throw new Error(`unknown event ${JSON.stringify(event)}`);
  },
}, { raw: true });

endpoint.channel("presence:*", {
  join(_topic, params, socket) {
    const key = params && typeof params === "object" && !Buffer.isBuffer(params) ? params.key : undefined;
    socket.assign("presence_key", typeof key === "string" ? key : key === undefined || key === null ? "" : JSON.stringify(key));
    socket.sendInfo("after_join");
    return ok();
  },
  handleIn(event) {
    throw new Error(`unknown event ${JSON.stringify(event)}`);
  },
  handleInfo(message, socket) {
    if (message === "after_join") {
      socket.track(socket.assigns.presence_key, { online_at: Date.now() });
      socket.push("presence_state", socket.presenceList());
    }
  },
});

endpoint.listen().then(
  ({ address, port }) => {
    process.stdout.write(`LISTENING ${address}:${port}\n`);
    // The runner went away: exit at once, as the other bench servers do.
    process.stdin.on("end", () => process.exit(0));
    process.stdin.resume();
    process.on("SIGTERM", () => process.exit(0));
  },
  (err) => {
    console.error(`bench: ${err.message} (${err.code || "no code"})`);
    process.exit(1);
  },
);
