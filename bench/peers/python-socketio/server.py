"""python-socketio 5 peer on uvicorn for the end-to-end benchmark (contract: bench/README.md).

WebSocket transport only, default serializer and ping settings, the default in-memory
manager: the ASGI server a python-socketio user would write for a chat room, served by
uvicorn with its `[standard]` extras (uvloop, httptools, websockets).
"""

import os
import sys
import threading

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi", transports=["websocket"])
app = socketio.ASGIApp(sio)

# sid -> the room it joined; `pub` goes to that room.
rooms: dict[str, str] = {}


@sio.on("join")
async def join(sid, room):
    rooms[sid] = room
    await sio.enter_room(sid, room)


@sio.on("pub")
async def pub(sid, payload):
    room = rooms.get(sid)
    if room is not None:
        # Everyone in the room but the sender, like Phoenix's broadcast_from.
        await sio.emit("msg", payload, room=room, skip_sid=sid)


@sio.event
async def disconnect(sid, *_reason):
    rooms.pop(sid, None)


class Server(uvicorn.Server):
    """Prints the contract's LISTENING line once uvicorn accepts connections."""

    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            print(f"LISTENING {host}:{port}", flush=True)


def exit_on_stdin_eof():
    # The runner closing our stdin (or dying) means stop; no graceful close owed.
    sys.stdin.buffer.read()
    os._exit(0)


if __name__ == "__main__":
    threading.Thread(target=exit_on_stdin_eof, daemon=True).start()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=int(os.environ.get("PORT", "0")),
        # Per-connection info logs would measure the logger, not the server.
        log_level="warning",
        access_log=False,
    )
    # uvicorn handles SIGTERM itself (graceful shutdown).
    Server(config).run()
