// Socket.IO 4.8 peer for the end-to-end benchmark (contract: bench/README.md).
// WebSocket transport only, default serializer and ping settings, no adapter beyond the
// default in-memory one: the server a Socket.IO user would write for a chat room.
//
// With env SB_LONGPOLL=1 (the longpoll-room scenario; the same variable as the Switchboard
// bench server) it also serves Engine.IO's HTTP long-polling transport: Socket.IO's default
// transports, ["polling", "websocket"].
//
// With env SB_CLUSTER=redis://HOST:PORT (the cluster scenarios; the same variable as the
// Switchboard bench server) the process is one node of several: @socket.io/redis-adapter on
// that Redis, set up as its documentation shows (a node-redis client for PUBLISH and a
// duplicate for the subscription), so a room's broadcast reaches its members on every node.
import { createServer } from "node:http";
import { Server } from "socket.io";

const httpServer = createServer();
const longpoll = !["", "0"].includes((process.env.SB_LONGPOLL ?? "").trim());
const transports = longpoll ? ["polling", "websocket"] : ["websocket"];
const io = new Server(httpServer, { transports, serveClient: false });

/** The Redis adapter on `url`, once both of its connections are up. */
async function redisAdapter(url) {
  // Imported here so that the single-process peer loads nothing more than socket.io.
  const [{ createClient }, { createAdapter }] = await Promise.all([
    import("redis"),
    import("@socket.io/redis-adapter"),
  ]);
  const pubClient = createClient({ url });
  const subClient = pubClient.duplicate();
  for (const client of [pubClient, subClient]) {
    client.on("error", (e) => console.error(`socketio peer: redis: ${e.message}`));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  return createAdapter(pubClient, subClient);
}

if (process.env.SB_CLUSTER) io.adapter(await redisAdapter(process.env.SB_CLUSTER));

io.on("connection", (socket) => {
  socket.on("join", (room) => {
    socket.data.room = room;
    socket.join(room);
  });
  // Everyone in the room but the sender, like Phoenix's broadcast_from.
  socket.on("pub", (payload) => {
    const room = socket.data.room;
    if (room !== undefined) socket.to(room).emit("msg", payload);
  });
});

httpServer.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const { address, port } = httpServer.address();
  process.stdout.write(`LISTENING ${address}:${port}\n`);
});

// Exit when the runner goes away (stdin EOF) or stops us (SIGTERM).
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
