// `ws` 8 peer for the end-to-end benchmark (contract: bench/README.md): rooms chosen by the
// `room` query parameter, every message relayed by a plain loop to the room's other clients.
import { WebSocketServer, WebSocket } from "ws";

/** room name -> Set of open sockets */
const rooms = new Map();

const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(process.env.PORT ?? 0) });

wss.on("connection", (ws, req) => {
  const room = new URL(req.url, "http://localhost").searchParams.get("room") ?? "";
  let members = rooms.get(room);
  if (members === undefined) {
    members = new Set();
    rooms.set(room, members);
  }
  members.add(ws);

  ws.on("message", (data, isBinary) => {
    for (const c of members) {
      if (c !== ws && c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
    }
  });
  ws.on("close", () => {
    members.delete(ws);
    if (members.size === 0 && rooms.get(room) === members) rooms.delete(room);
  });
  ws.on("error", () => {});
});

wss.on("listening", () => {
  const { address, port } = wss.address();
  process.stdout.write(`LISTENING ${address}:${port}\n`);
});

// Exit when the runner goes away (stdin EOF) or stops us (SIGTERM).
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
