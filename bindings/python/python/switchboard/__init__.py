"""Switchboard for Python: Phoenix Channels compatible endpoints whose channel handlers run
on asyncio (``async def`` or plain ``def`` methods), while Rust runs the WebSocket endpoint,
PubSub fan-out, presence and the Phoenix wire protocol.

A minimal server::

    import asyncio
    from switchboard import Channel, Endpoint, ok, reply

    class Room(Channel):
        async def join(self, topic, payload, socket):
            return ok()

        async def handle_in(self, event, payload, socket):
            socket.broadcast("new_msg", payload)
            return reply("ok", {})

    async def main():
        endpoint = Endpoint(port=4000)
        endpoint.channel("room:*", Room)
        await endpoint.serve(handle_signals=True)

    asyncio.run(main())

The stock ``phoenix`` JavaScript client connects to ``ws://127.0.0.1:4000/socket``.
Errors are :class:`~switchboard.errors.SwitchboardError` subclasses
(:mod:`switchboard.errors`).
"""

from __future__ import annotations

from . import errors
from ._native import __version__
from ._payload import Json
from .channel import (
    Broadcast,
    Channel,
    ChannelRef,
    ConnectInfo,
    Socket,
    SocketRef,
    TerminateReason,
)
from ._routes import ChannelRoutes
from .endpoint import Endpoint, Mount
from .errors import SwitchboardError
from .http import HttpRequest, HttpResponse
from .process import on_stdin_eof
from .results import (
    Connected,
    NoReply,
    Refused,
    Reply,
    Stop,
    error,
    noreply,
    ok,
    reply,
    stop,
)
from .subscription import Subscription

__all__ = [
    "__version__",
    "errors",
    "Json",
    "Broadcast",
    "Channel",
    "ChannelRef",
    "ChannelRoutes",
    "ConnectInfo",
    "Endpoint",
    "HttpRequest",
    "HttpResponse",
    "Mount",
    "Socket",
    "SocketRef",
    "Subscription",
    "SwitchboardError",
    "TerminateReason",
    "Connected",
    "NoReply",
    "Refused",
    "Reply",
    "Stop",
    "error",
    "noreply",
    "ok",
    "on_stdin_eof",
    "reply",
    "stop",
]
