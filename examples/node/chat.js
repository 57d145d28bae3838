// The chat demo hosted from Node.js (contract: examples/chat/CONTRACT.md): the same page and
// the same socket behaviour as examples/rust/chat.rs and examples/c/chat.c.
//
//   npm ci && npm ci --prefix bindings/node && node examples/node/chat.js
//
// then open http://127.0.0.1:4000/ (env PORT overrides; PORT=0 picks a free port). Serves
// the page files and the stock phoenix client from node_modules/phoenix (read on every
// request, so a missing file is a 404; run `npm ci` at the repo root first), and a socket at
// /socket:
//   * connect needs a non-empty `user` param (else HTTP 403); the name goes into the assigns;
//   * `room:*` is the only channel: join ok {}, then (sendInfo → handleInfo, Phoenix's
//     after_join) the user is tracked in presence with {online_at} and gets presence_state;
//   * `new_msg {body}` is broadcast to the room as `new_msg {user, body}` and answered ok {}.
//
// Cluster (docs/CLUSTER.md, examples/chat/CONTRACT.md "Cluster"): env SB_CLUSTER (a broker
// URL, redis://host:port or nats://host:port; unset or empty: a single node), SB_NODE (the
// node name; default chat@127.0.0.1, or chat-<pid>@127.0.0.1 in a cluster) and
// SB_HEARTBEAT_MS (the option brokerHeartbeatMs), SB_NODE_DOWN_MS (presenceDownPeriodMs) and
// SB_PRESENCE_BROADCAST_MS (presenceBroadcastPeriodMs). Chat messages then reach the room on every
// node. Alone or on Redis, `room:*` keeps its last SB_HISTORY_SIZE (100) messages for
// SB_HISTORY_TTL_MS (600 000) ms (docs/HISTORY.md, CONTRACT.md "History"). /socket also serves
// long-poll at /socket/longpoll (docs/LONGPOLL.md, CONTRACT.md "Long-poll") with
// SB_LONGPOLL_WINDOW_MS (the option longpollWindowMs) and SB_SECRET_KEY_BASE (secretKeyBase,
// needed in a cluster).

"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { Endpoint, RawJson, accept, refuse, ok, reply, setLogHandler } = require("../../bindings/node");

// The library's warnings and errors on stderr (docs/OPERATIONS.md "Logs"): a broker link lost
// and back, clients closed as slow consumers, ...
setLogHandler((e) => console.error(`chat: ${e.level.toUpperCase()} ${e.target}: ${e.message}`), { level: "warn" });

/** Largest `new_msg` payload, in bytes of JSON text (examples/chat/CONTRACT.md). */
const MAX_MESSAGE_BYTES = 8192;

/** The repo root: from this file's location, else the working directory. */
const ROOT = fs.existsSync(path.join(__dirname, "..", "chat", "index.html"))
  ? path.resolve(__dirname, "..", "..")
  : process.cwd();
const PHOENIX_MJS = path.join(ROOT, "node_modules", "phoenix", "priv", "static", "phoenix.mjs");

function portFromEnv() {
  const text = process.env.PORT;
  if (text === undefined) return 4000;
  const port = Number(text.trim());
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`chat: PORT must be a port number, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return port;
}

/** Env text as an option value: a number when it reads as an integer, else the text itself,
 *  which the core then refuses with its own message, as in the Rust, C and Python demos. */
function envValue(text) {
  return /^\s*-?\d+\s*$/.test(text) ? Number(text) : text;
}

/** The cluster's timing options, from env (CONTRACT.md "Cluster"). */
const CLUSTER_ENV = {
  SB_HEARTBEAT_MS: "brokerHeartbeatMs",
  SB_NODE_DOWN_MS: "presenceDownPeriodMs",
  SB_PRESENCE_BROADCAST_MS: "presenceBroadcastPeriodMs",
};

/** How many `room:*` messages a single node keeps, and for how long (CONTRACT.md "History"). */
const HISTORY_SIZE = 100;
const HISTORY_TTL_MS = 600_000;

/** The node name and cluster options from SB_NODE, SB_CLUSTER and CLUSTER_ENV, and (alone or
 *  on Redis) the rooms' history from SB_HISTORY_SIZE and SB_HISTORY_TTL_MS (empty values read as
 *  unset); the core checks them (docs/OPTIONS.md). */
function clusterOptions() {
  const broker = process.env.SB_CLUSTER || undefined;
  // NATS keeps no messages: a cluster on it has no history (the core refuses it there).
  const history = (broker ?? "").startsWith("nats://") ? undefined : [
    {
      topic: "room:*",
      size: process.env.SB_HISTORY_SIZE ? envValue(process.env.SB_HISTORY_SIZE) : HISTORY_SIZE,
      ttlMs: process.env.SB_HISTORY_TTL_MS ? envValue(process.env.SB_HISTORY_TTL_MS) : HISTORY_TTL_MS,
    },
  ];
  // Two demos of one machine in one cluster must not share a name (the core refuses a second
  // live node with the same name).
  const node = process.env.SB_NODE || (broker ? `chat-${process.pid}@127.0.0.1` : "chat@127.0.0.1");
  return {
    node,
    ...(broker && { broker }),
    ...(history && { history }),
    ...Object.fromEntries(
      Object.entries(CLUSTER_ENV)
        .filter(([name]) => process.env[name])
        .map(([name, option]) => [option, envValue(process.env[name])]),
    ),
  };
}

/** Long-poll on /socket (the endpoint's mount options are its one mount's), for browsers whose
 *  WebSocket cannot get through (the page falls back to it by itself; CONTRACT.md "Long-poll"):
 *  the window from SB_LONGPOLL_WINDOW_MS and the secret that signs session tokens from
 *  SB_SECRET_KEY_BASE (empty values read as unset). The core checks them, and refuses long-poll
 *  in a cluster without a secret. */
function longpollOptions() {
  const windowMs = process.env.SB_LONGPOLL_WINDOW_MS;
  // The secret stays text: a secret of digits is still no number.
  const secret = process.env.SB_SECRET_KEY_BASE;
  return {
    longpoll: true,
    ...(windowMs && { longpollWindowMs: envValue(windowMs) }),
    ...(secret && { secretKeyBase: secret }),
  };
}

/** The chat endpoint, not listening yet. Throws a coded error for a bad option. */
function chatEndpoint(cluster) {
  const endpoint = new Endpoint({
    host: "127.0.0.1",
    port: portFromEnv(),
    ...cluster,
    ...longpollOptions(),
    // Prometheus metrics for operators (CONTRACT.md "Metrics").
    metricsPath: "/metrics",
    staticFiles: [
      { route: "/", path: path.join(ROOT, "examples/chat/index.html"), contentType: "text/html; charset=utf-8" },
      { route: "/app.js", path: path.join(ROOT, "examples/chat/app.js"), contentType: "text/javascript" },
      { route: "/phoenix.mjs", path: PHOENIX_MJS, contentType: "text/javascript" },
    ],
  });

  // Phoenix connect/3: a non-empty user name is required.
  endpoint.connect(({ params }) => {
    const user = typeof params.user === "string" ? params.user.trim() : "";
    return user === "" ? refuse(403) : accept({ assigns: { user } });
  });

  endpoint.channel("room:*", {
    join(_topic, _payload, socket) {
      // Presence is tracked after the join reply (the Phoenix after_join pattern).
      socket.sendInfo("after_join");
      return ok();
    },

    handleInfo(message, socket) {
      if (message === "after_join") {
        socket.track(socket.assigns.user, { online_at: Date.now() });
        socket.push("presence_state", socket.presenceList());
      }
    },

    handleIn(event, raw, socket) {
      if (event !== "new_msg") throw new Error(`unknown event ${JSON.stringify(event)}`);
      // Checked before parsing: parsing is the costly part of a message (CONTRACT.md).
      if (!(raw instanceof RawJson)) return reply("error", { reason: "body must be a string" });
      if (Buffer.byteLength(raw.data) > MAX_MESSAGE_BYTES) return reply("error", { reason: "message too long" });
      const payload = raw.parse();
      const body = payload !== null && typeof payload === "object" ? payload.body : undefined;
      if (typeof body !== "string") return reply("error", { reason: "body must be a string" });
      try {
        socket.broadcast("new_msg", { user: socket.assigns.user, body });
      } catch (err) {
        // In a cluster whose broker is unreachable: the room's clients on this node have the
        // message, the other nodes do not (CONTRACT.md "Cluster"). Not retried.
        if (err.code !== "SB_E_BROKER") throw err;
        console.error(`chat: new_msg reached this node only: ${err.message}`);
      }
      return reply("ok", {});
    },
  }, { raw: true });
  return endpoint;
}

async function main() {
  if (!fs.existsSync(PHOENIX_MJS)) {
    console.error(`chat: ${PHOENIX_MJS} not found: run \`npm ci\` at the repository root first (the page loads the stock phoenix client from there)`);
  }
  const cluster = clusterOptions();
  const endpoint = chatEndpoint(cluster);
  // Ctrl-C or SIGTERM drains: clients get 1012 and every channel's terminate runs, then the
  // process exits by itself.
  const { address, port } = await endpoint.listen({ handleSignals: true });
  if (cluster.broker) console.error(`chat: node ${cluster.node} joined the cluster at ${cluster.broker}`);
  console.log(`LISTENING ${address}:${port}`);
  console.log(`Chat demo on http://${address}:${port}/`);
}

main().catch((err) => {
  console.error(`chat: ${err.message} (${err.code || "no code"})`);
  process.exit(1);
});
