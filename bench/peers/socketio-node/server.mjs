// Socket.IO 4.8 peer for the end-to-end benchmark (contract: bench/README.md).
// WebSocket transport only, default serializer and ping settings, no adapter beyond the
// default in-memory one: the server a Socket.IO user would write for a chat room.
import { createServer } from "node:http";
import { Server } from "socket.io";

const httpServer = createServer();
const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });

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
