// WebSocket side of tests/c/test_api.c: the stock phoenix client (over `ws`, Node 20 has no
// global WebSocket) connects to the endpoint the C test started, joins a topic, and reports on
// stdout, one line each: "JOIN <status> <reason>" once the join was answered, then
// "CLOSED <code>" when the server closes the connection (the C side drains it). Exits 1 after
// 15 s without a close.
import { Socket } from "phoenix";
import WebSocket from "ws";

const port = process.argv[2];
const timer = setTimeout(() => {
  console.log("TIMEOUT");
  process.exit(1);
}, 15_000);

const socket = new Socket(`ws://127.0.0.1:${port}/socket`, {
  transport: WebSocket,
  reconnectAfterMs: () => 60_000,
});
socket.onClose((event) => {
  console.log(`CLOSED ${event.code}`);
  clearTimeout(timer);
  socket.disconnect();
  process.exit(0);
});
socket.connect();
const channel = socket.channel("room:c", {});
channel
  .join()
  .receive("ok", () => console.log("JOIN ok -"))
  .receive("error", (r) => {
    console.log(`JOIN error ${r.reason}`);
    channel.leave();
  });
