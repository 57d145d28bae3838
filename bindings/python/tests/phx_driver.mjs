// The real `phoenix` client (1.8.16, over `ws`) driven by the Python tests
// (bindings/python/tests/phx.py): one JSON command per stdin line, one JSON line per answer or
// observation on stdout. Binary payloads travel as {"$binary": "<hex>"}.
//
// Commands (each with a unique `id`, answered by {"id", ...}):
//   {op:"connect", url, params}          -> {id, ok:true} once open, or {id, ok:false, code}
//   {op:"join", sock, chan, topic, payload, timeout} -> {id, status:"ok"|"error"|"timeout", response}
//   {op:"push", chan, event, payload, timeout}       -> {id, status, response}
//   {op:"leave", chan}                   -> {id, status}
//   {op:"disconnect", sock}              -> {id}
// Observations: {msg:{sock, chan, event, payload}} for every message a channel receives
// (phx_reply excluded), {close:{sock, code}} when a socket closes, {chanerror:{chan}}.
// Exits when stdin ends.
import { Socket } from "phoenix";
import WebSocket from "ws";
import readline from "node:readline";

const sockets = new Map();
const channels = new Map();
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const toWire = (p) =>
  p && typeof p === "object" && typeof p.$binary === "string"
    ? Uint8Array.from(Buffer.from(p.$binary, "hex")).buffer
    : p;
const fromWire = (p) =>
  p instanceof ArrayBuffer || ArrayBuffer.isView(p)
    ? { $binary: Buffer.from(p instanceof ArrayBuffer ? new Uint8Array(p) : p).toString("hex") }
    : p;

function answer(push, id) {
  push
    .receive("ok", (r) => out({ id, status: "ok", response: fromWire(r) }))
    .receive("error", (r) => out({ id, status: "error", response: fromWire(r) }))
    .receive("timeout", () => out({ id, status: "timeout", response: null }));
}

const ops = {
  connect({ id, url, params, name }) {
    const socket = new Socket(url, {
      transport: WebSocket,
      params: params ?? {},
      reconnectAfterMs: () => 600_000,
      rejoinAfterMs: () => 600_000,
      heartbeatIntervalMs: 30_000,
    });
    let opened = false;
    socket.onOpen(() => {
      opened = true;
      out({ id, ok: true });
    });
    socket.onClose((e) => {
      if (!opened) {
        out({ id, ok: false, code: e.code });
        socket.disconnect();
      } else {
        out({ close: { sock: name, code: e.code } });
      }
    });
    sockets.set(name, socket);
    socket.connect();
  },
  join({ id, sock, chan, topic, payload, timeout }) {
    const channel = sockets.get(sock).channel(topic, payload ?? {});
    channel.onMessage = (event, p, ref) => {
      if (event !== "phx_reply" && !event.startsWith("chan_reply_")) {
        out({ msg: { sock, chan, event, payload: fromWire(p) } });
      }
      return p;
    };
    channel.onError(() => out({ chanerror: { chan } }));
    channels.set(chan, channel);
    answer(channel.join(timeout ?? 5_000), id);
  },
  push({ id, chan, event, payload, timeout }) {
    answer(channels.get(chan).push(event, toWire(payload ?? {}), timeout ?? 5_000), id);
  },
  leave({ id, chan }) {
    answer(channels.get(chan).leave(5_000), id);
  },
  disconnect({ id, sock }) {
    sockets.get(sock).disconnect(() => out({ id }));
  },
};

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  try {
    ops[cmd.op](cmd);
  } catch (e) {
    out({ id: cmd.id, failed: String(e) });
  }
});
process.stdin.on("end", () => process.exit(0));
