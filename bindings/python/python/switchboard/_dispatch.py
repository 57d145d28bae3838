"""The dispatcher: turns each native request (connect, join, handle_in, handle_info,
handle_out, terminate, HTTP) into a call of its handler, and the handler's result into the
request's answer; logs a failure with where it happened.

How requests flow (docs/BINDINGS.md "Python: threading"): the Rust core posts every request
on a queue whose event fd the endpoint registers with ``loop.add_reader``. When it is
readable, :meth:`Dispatcher.on_readable` polls a batch on the loop's thread and starts one
task per request; the core releases a channel's next request only after the previous one was
answered, so tasks never reorder a channel. No Rust thread ever calls into Python.

A handler may be a plain function or an ``async def``: what it returns is awaited only when it
is awaitable.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any, Dict, Optional, Set, Tuple, Union

from . import _native
from ._payload import decode, encode
from ._routes import Routes
from .channel import Broadcast, Channel, ConnectInfo, Socket, TerminateReason, _json_text
from .errors import StaleTicketError
from .http import HttpRequest, HttpResponse
from .results import Connected, NoReply, Refused, Reply, Stop

__all__ = ["Dispatcher", "POLL_BATCH"]

log = logging.getLogger("switchboard")

#: Requests taken per wakeup; more are left for the next turn of the loop (the fd stays
#: readable), so one busy endpoint cannot starve other work on the loop.
POLL_BATCH = 256

#: Request kinds by the name of the handler that answers them (in logs).


@dataclass
class _Live:
    """A joined (or joining) channel instance."""

    handler: Channel
    socket: Socket
    raw: bool


class _Where:
    """Where a request is, for logs: filled in by the code that reads the request, so a
    failure can say which handler failed on which topic, event or path."""

    __slots__ = ("kind", "name", "place", "event")

    def __init__(self, req: _native.Request) -> None:
        self.kind = req.kind
        # The core's name for the request: the Phoenix callback's (`http` for a route).
        self.name = "HTTP handler" if req.kind == _native.HTTP else req.kind_name
        self.place: Optional[str] = None
        self.event: Optional[str] = None

    def at(self) -> str:
        """`` on room:lobby event "new_msg"`` (what is known of it)."""
        text = "" if self.place is None else f" on {self.place}"
        if self.event is not None:
            text += f" event {json.dumps(self.event, ensure_ascii=False)}"
        return text


def _stop_reason(reason: Union[str, Tuple[str, str]]) -> Tuple[str, str]:
    if isinstance(reason, tuple):
        kind, detail = reason
        if kind != "shutdown":
            raise ValueError(f"stop reason tuples are ('shutdown', detail), not {reason!r}")
        return "shutdown", detail
    if reason in ("normal", "shutdown"):
        return reason, ""
    return "abnormal", reason


class Dispatcher:
    """Runs the handlers of one started endpoint on its loop."""

    def __init__(self, hub: _native.NativeEndpoint, routes: Routes, loop: asyncio.AbstractEventLoop) -> None:
        self._hub = hub
        self._routes = routes
        self._loop = loop
        self._channels: Dict[int, _Live] = {}
        self._tasks: Set["asyncio.Task[None]"] = set()

    def on_readable(self) -> None:
        """Polls a batch of requests and starts one task each (``add_reader`` callback)."""
        for req in self._hub.poll(POLL_BATCH):
            task = self._loop.create_task(self._handle(req))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def cancel(self) -> None:
        """Cancels the handlers still running and waits until they ended."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def forget(self) -> None:
        """Drops every channel (the endpoint closed)."""
        self._channels.clear()

    async def _handle(self, req: _native.Request) -> None:
        where = _Where(req)
        kind = where.kind
        try:
            if kind == _native.HANDLE_IN:
                await self._handle_in(req, where)
            elif kind == _native.JOIN:
                await self._join(req, where)
            elif kind == _native.HANDLE_INFO:
                await self._handle_info(req, where)
            elif kind == _native.HANDLE_OUT:
                await self._handle_out(req, where)
            elif kind == _native.LEAVE:
                await self._leave(req, where)
            elif kind == _native.CONNECT:
                await self._connect(req, where)
            elif kind == _native.HTTP:
                await self._http(req, where)
        except StaleTicketError:
            log.warning(
                "%s%s: answer after the request timeout ignored", where.name, where.at()
            )
        except Exception as e:
            log.exception("%s failed%s: %s: %s", where.name, where.at(), type(e).__name__, e)
        finally:
            # Unanswered (raised, cancelled): a crash of that handler, as in Phoenix.
            req.release()

    def _live(self, req: _native.Request, where: _Where) -> _Live:
        live = self._channels.get(req.channel_id)
        if live is None:
            where.place = f"channel {req.channel_id}"
            raise LookupError(f"request for unknown channel {req.channel_id}")
        where.place = live.socket.topic
        return live

    async def _connect(self, req: _native.Request, where: _Where) -> None:
        info = ConnectInfo(**{k: v for k, v in (req.connect_info or [])})  # type: ignore[arg-type]
        where.place = info.mount if info.peer is None else f"{info.mount} (peer {info.peer})"
        payload = req.payload
        params = json.loads(payload[0]) if payload else {}
        callback = self._routes.connect
        assert callback is not None  # the core sends connects only when there is one
        result = callback(params, info)
        if isawaitable(result):
            result = await result
        if result is None or result is True:
            req.connect_ok(None, None)
        elif result is False:
            req.connect_refused(403)
        elif isinstance(result, Refused):
            req.connect_refused(result.status)
        elif isinstance(result, Connected):
            req.connect_ok(_json_text(result.assigns, "assigns"), result.id)
        else:
            raise TypeError(f"connect returned {result!r}; expected Connected or Refused")

    async def _http(self, req: _native.Request, where: _Where) -> None:
        assert req.http is not None and req.payload is not None
        method, path, query, content_type, prefix = req.http
        where.place = f"{method} {path}"
        handler = self._routes.http_for(prefix)
        if handler is None:  # the core sends only paths under our prefixes
            raise LookupError(f"no HTTP route for {prefix!r}")
        response = handler(HttpRequest(method, path, query, content_type, req.payload[0]))
        if isawaitable(response):
            response = await response
        if not isinstance(response, HttpResponse):
            raise TypeError(f"HTTP handler returned {response!r}; expected an HttpResponse")
        req.http_respond(response.status, response.content_type, response.body)

    async def _join(self, req: _native.Request, where: _Where) -> None:
        topic = req.topic or ""
        where.place = topic
        route = self._routes.channel_for(req.pattern or "")
        if route is None:  # the core routes only our patterns here
            raise LookupError(f"no channel route for {req.pattern!r}")
        cid = req.channel_id
        handler = route.instance()
        socket = Socket(self._hub, cid, topic, req.socket_id, req.join_ref, req.assigns or b"{}")
        raw = bool(getattr(handler, "raw", False))
        data, binary = req.payload or (b"{}", False)
        # Registered before the handler runs: actions by id during join are deferred by
        # the core until right after the ok reply.
        self._channels[cid] = _Live(handler, socket, raw)
        joined = False
        try:
            result = handler.join(topic, decode(data, binary, raw), socket)
            if isawaitable(result):
                result = await result
            if result is None:
                result = Reply("ok", {})
            if isinstance(result, Reply) and result.status in ("ok", "error"):
                out, out_binary = encode(result.payload)
                if result.status == "ok":
                    req.join_ok(out, out_binary, socket._assigns_update())
                    joined = True
                else:
                    req.join_error(out, out_binary)
            elif isinstance(result, (Reply, NoReply, Stop)):
                # A handler result of another kind (reply("x", ...), noreply(), stop(...)):
                # given to the core as that answer, which refuses it for a join
                # (WrongAnswerError, SB_E_WRONG_ANSWER); the request is then released
                # unanswered and the join crashes, as in C and Node.
                self._answer(req, result, socket, "join")
            else:
                raise TypeError(f"join returned {result!r}; expected ok(...) or error(...)")
        finally:
            if not joined:
                self._channels.pop(cid, None)

    def _answer(self, req: _native.Request, result: Any, socket: Socket, what: str) -> None:
        assigns = socket._assigns_update()
        if result is None or isinstance(result, NoReply):
            req.noreply(assigns)
        elif isinstance(result, Reply):
            data, binary = encode(result.payload)
            req.reply(result.status, data, binary, assigns)
        elif isinstance(result, Stop):
            kind, detail = _stop_reason(result.reason)
            if result.reply is None:
                req.stop(kind, detail, None, None, False, assigns)
            else:
                data, binary = encode(result.reply.payload)
                req.stop(kind, detail, result.reply.status, data, binary, assigns)
        else:
            raise TypeError(f"{what} returned {result!r}; expected reply/noreply/stop")

    async def _handle_in(self, req: _native.Request, where: _Where) -> None:
        live = self._live(req, where)
        socket = live.socket
        event = where.event = req.event or ""
        data, binary = req.payload or (b"{}", False)
        socket._ref_json = req.ref_json
        try:
            result = live.handler.handle_in(event, decode(data, binary, live.raw), socket)
            if isawaitable(result):
                result = await result
        finally:
            socket._ref_json = None
        self._answer(req, result, socket, "handle_in")

    async def _handle_info(self, req: _native.Request, where: _Where) -> None:
        live = self._live(req, where)
        data, binary = req.payload or (b"null", False)
        message: Any
        if req.info_kind == "broadcast":
            topic = req.info_topic or ""
            event = where.event = req.event or ""
            if topic != live.socket.topic:
                where.place = f"{live.socket.topic} (broadcast on {topic})"
            message = Broadcast(topic, event, decode(data, binary, live.raw))
        else:
            message = json.loads(data)
        result = live.handler.handle_info(message, live.socket)
        if isawaitable(result):
            result = await result
        self._answer(req, result, live.socket, "handle_info")

    async def _handle_out(self, req: _native.Request, where: _Where) -> None:
        live = self._live(req, where)
        event = where.event = req.event or ""
        data, binary = req.payload or (b"{}", False)
        result = live.handler.handle_out(event, decode(data, binary, live.raw), live.socket)
        if isawaitable(result):
            result = await result
        self._answer(req, result, live.socket, "handle_out")

    async def _leave(self, req: _native.Request, where: _Where) -> None:
        live = self._channels.pop(req.channel_id, None)
        if live is None:
            return
        reason, detail = req.leave_reason or ("closed", "")
        where.place = f"{live.socket.topic} (reason {reason})"
        result = live.handler.terminate(TerminateReason(reason, detail), live.socket)
        if isawaitable(result):
            await result
