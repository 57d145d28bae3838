// WebSocket side of tests/c/test_events.c: the stock phoenix client (over `ws`) against an
// endpoint whose channels are hosted by the C test through the request queue. It runs one
// scenario step after another and prints one line per observation; the C test compares the
// lines.
// Exits 1 after 30 s.
import { Socket } from "phoenix";
import WebSocket from "ws";

const port = process.argv[2];
const base = `ws://127.0.0.1:${port}/socket`;
setTimeout(() => {
  console.log("TIMEOUT");
  process.exit(1);
}, 30_000).unref();

const say = (line) => console.log(line);

function join(channel) {
  return new Promise((resolve) => {
    channel
      .join(2_000)
      .receive("ok", (r) => resolve(["ok", r]))
      .receive("error", (r) => resolve(["error", r]))
      .receive("timeout", () => resolve(["timeout", null]));
  });
}

function push(channel, event, payload, timeout = 2_000) {
  return new Promise((resolve) => {
    channel
      .push(event, payload, timeout)
      .receive("ok", (r) => resolve(["ok", r]))
      .receive("error", (r) => resolve(["error", r]))
      .receive("maybe", (r) => resolve(["maybe", r]))
      .receive("timeout", () => resolve(["timeout", null]));
  });
}

function next(channel, event) {
  return new Promise((resolve) => {
    const ref = channel.on(event, (payload) => {
      channel.off(event, ref);
      resolve(payload);
    });
  });
}

// 1. A refused connect: the C host answers 403 for a bad token.
await new Promise((resolve) => {
  const ws = new WebSocket(`${base}/websocket?vsn=2.0.0&token=bad`);
  ws.on("unexpected-response", (_req, res) => {
    say(`REFUSED ${res.statusCode}`);
    resolve();
  });
  ws.on("open", () => {
    say("REFUSED no");
    ws.close();
    resolve();
  });
  ws.on("error", () => {});
});

// 2. An accepted connect, then a join answered with a reply and assigns.
const socket = new Socket(base, {
  transport: WebSocket,
  params: { token: "t0k" },
  reconnectAfterMs: () => 60_000,
  rejoinAfterMs: () => 60_000,
});
const socketClosed = new Promise((resolve) => socket.onClose((e) => resolve(e.code)));
socket.connect();
const room = socket.channel("room:1", { name: "c" });
const hello = next(room, "hello");
const tick = next(room, "tick");
const presence = next(room, "presence_state");
const [status, reply] = await join(room);
say(`JOIN room:1 ${status} ${JSON.stringify(reply)}`);
say(`PUSH hello ${JSON.stringify(await hello)}`);
say(`PUSH tick ${JSON.stringify(await tick)}`);
say(`PRESENCE ${Object.keys(await presence).join(",")}`);

// 3. handle_in answered from another C thread, with a custom status, and with no reply.
let [s, r] = await push(room, "ping", { n: 1 });
say(`REPLY ping ${s} ${JSON.stringify(r)}`);
[s, r] = await push(room, "custom", {});
say(`REPLY custom ${s} ${JSON.stringify(r)}`);
[s] = await push(room, "quiet", {}, 300);
say(`REPLY quiet ${s}`);
[s, r] = await push(room, "later", {});
say(`REPLY later ${s} ${JSON.stringify(r)}`);

// 4. An intercepted broadcast goes through handle_out; the C host pushes it on.
const shout = next(room, "shout");
[s] = await push(room, "shout", { text: "hey" });
say(`REPLY shout ${s}`);
say(`PUSH shout ${JSON.stringify(await shout)}`);

// 5. Join refused, join whose event is freed unanswered, unrouted topic.
for (const topic of ["room:refuse", "room:drop", "other:1"]) {
  const ch = socket.channel(topic, {});
  const [js, jr] = await join(ch);
  say(`JOIN ${topic} ${js} ${JSON.stringify(jr)}`);
  ch.leave();
}

// 6. A request answered after its timeout: the channel fails with phx_error.
const slow = socket.channel("room:slow", {});
await join(slow);
const slowError = new Promise((resolve) => slow.onError(() => resolve()));
push(slow, "slow", {});
await slowError;
say("ERROR room:slow");
// The host answers the timed-out request 700 ms after the push, from its own thread. No need
// to wait for it here: the C test joins that thread (and so has its status) when it reads
// READY_FOR_DISCONNECT, before it checks anything or disconnects.
slow.leave();

// 7. A stop answer closes the channel (phx_close); the host pushes you_left from its Leave
// (terminate), which arrives after phx_close (PROTOCOL.md 3.3 rule 4). The closed channel no
// longer dispatches, so the raw socket messages are watched.
const stopped = socket.channel("room:stop", {});
await join(stopped);
const closed = new Promise((resolve) => stopped.onClose(() => resolve()));
const stopEvents = [];
const youLeft = new Promise((resolve) => {
  socket.onMessage((m) => {
    if (m.topic !== "room:stop") return;
    stopEvents.push(m.event);
    if (m.event === "you_left") resolve(m.payload);
  });
});
push(stopped, "stop", {});
await closed;
say("CLOSED room:stop");
say(`PUSH you_left ${JSON.stringify(await youLeft)} after ${stopEvents.slice(-2).join(",")}`);
// No pause: you_left is pushed by the host's Leave handling of room:stop, so it is done.

// 8. The host disconnects the socket id it gave at connect (close 1001).
say("READY_FOR_DISCONNECT");
say(`SOCKET CLOSED ${await socketClosed}`);
socket.disconnect();
process.exit(0);
