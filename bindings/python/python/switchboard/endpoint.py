"""The :class:`Endpoint`: configuration, channel routes, the asyncio dispatcher and
shutdown.

How requests flow (docs/BINDINGS.md "Python: threading"): the Rust core posts every
connect / join / handle_in / handle_info / handle_out / terminate as a request on a queue
whose event fd the endpoint registers with ``loop.add_reader``. When it is readable, the dispatcher polls a batch on the
loop's thread and starts one task per request; the core releases a channel's next request
only after the previous one was answered, so tasks never reorder a channel. No Rust thread
ever calls into Python.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import signal
import weakref
from dataclasses import dataclass
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    Type,
    Union,
)

from . import _native
from ._payload import decode, encode
from ._threads import in_thread
from .channel import Broadcast, Channel, ConnectInfo, Socket, TerminateReason, _json_text
from .errors import InvalidArgumentError, StaleTicketError, StateError
from .http import HttpRequest, HttpResponse
from .results import Connected, NoReply, Refused, Reply, Stop
from .subscription import Subscription

__all__ = ["Endpoint", "Mount", "ChannelRoutes"]

log = logging.getLogger("switchboard")

#: Requests taken per wakeup; more are left for the next turn of the loop (the fd stays
#: readable), so one busy endpoint cannot starve other work on the loop.
POLL_BATCH = 256

ConnectCallback = Callable[[Dict[str, Any], ConnectInfo], Awaitable[Any]]
HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


@dataclass(frozen=True)
class Mount:
    """A socket mount (Phoenix ``socket "/socket", UserSocket, websocket: [...]``) at
    ``path`` (its WebSocket transport is at ``<path>/websocket``). Each limit left ``None``
    takes the endpoint's value. Units: milliseconds and bytes."""

    path: str = "/socket"
    max_channels: Optional[int] = None
    idle_timeout_ms: Optional[int] = None
    max_frame_bytes: Optional[int] = None
    outbox_max_frames: Optional[int] = None
    outbox_max_bytes: Optional[int] = None
    close_timeout_ms: Optional[int] = None
    check_origin: Union[Sequence[str], bool, None] = None
    auth_token: Optional[bool] = None

    def _spec(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class _Route:
    pattern: str
    handler: Union[Channel, Type[Channel]]
    intercepts: List[str]

    def matches(self, topic: str) -> bool:
        if self.pattern.endswith("*"):
            return topic.startswith(self.pattern[:-1])
        return topic == self.pattern

    def instance(self) -> Channel:
        h = self.handler
        return h() if isinstance(h, type) else h


class _Functions(Channel):
    """The channel behind the decorator form (:class:`ChannelRoutes`)."""

    def __init__(self) -> None:
        self.on_join: Optional[Callable[..., Awaitable[Any]]] = None
        self.on_event: Dict[str, Callable[..., Awaitable[Any]]] = {}
        self.on_any: Optional[Callable[..., Awaitable[Any]]] = None
        self.on_info: Optional[Callable[..., Awaitable[Any]]] = None
        self.on_out: Optional[Callable[..., Awaitable[Any]]] = None
        self.on_terminate: Optional[Callable[..., Awaitable[Any]]] = None

    async def join(self, topic: str, payload: Any, socket: Socket) -> Optional[Reply]:
        if self.on_join is None:
            return None
        result: Optional[Reply] = await self.on_join(topic, payload, socket)
        return result

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
        fn = self.on_event.get(event)
        if fn is not None:
            return await fn(payload, socket)
        if self.on_any is not None:
            return await self.on_any(event, payload, socket)
        return await super().handle_in(event, payload, socket)

    async def handle_info(self, message: Any, socket: Socket) -> Any:
        return None if self.on_info is None else await self.on_info(message, socket)

    async def handle_out(self, event: str, payload: Any, socket: Socket) -> Any:
        if self.on_out is None:
            return await super().handle_out(event, payload, socket)
        return await self.on_out(event, payload, socket)

    async def terminate(self, reason: TerminateReason, socket: Socket) -> None:
        if self.on_terminate is not None:
            await self.on_terminate(reason, socket)


F = Callable[..., Awaitable[Any]]


class ChannelRoutes:
    """The decorator form of a channel, from ``endpoint.channel(pattern)``::

        room = endpoint.channel("room:*")

        @room.join
        async def join(topic, payload, socket): return ok()

        @room.on("new_msg")
        async def new_msg(payload, socket): return reply("ok", {})

    ``handle_in`` (``(event, payload, socket)``) catches events without an ``on``;
    ``handle_info``, ``handle_out`` and ``terminate`` take the method's arguments without
    ``self``. One set of functions serves every channel instance of the pattern.
    """

    def __init__(self, functions: _Functions) -> None:
        self._f = functions

    def join(self, fn: F) -> F:
        self._f.on_join = fn
        return fn

    def on(self, event: str) -> Callable[[F], F]:
        def register(fn: F) -> F:
            self._f.on_event[event] = fn
            return fn

        return register

    def handle_in(self, fn: F) -> F:
        self._f.on_any = fn
        return fn

    def handle_info(self, fn: F) -> F:
        self._f.on_info = fn
        return fn

    def handle_out(self, fn: F) -> F:
        self._f.on_out = fn
        return fn

    def terminate(self, fn: F) -> F:
        self._f.on_terminate = fn
        return fn


@dataclass
class _Live:
    """A joined (or joining) channel instance."""

    handler: Channel
    socket: Socket
    raw: bool


def _stop_reason(reason: Union[str, Tuple[str, str]]) -> Tuple[str, str]:
    if isinstance(reason, tuple):
        kind, detail = reason
        if kind != "shutdown":
            raise ValueError(f"stop reason tuples are ('shutdown', detail), not {reason!r}")
        return "shutdown", detail
    if reason in ("normal", "shutdown"):
        return reason, ""
    return "abnormal", reason


_live_endpoints: "weakref.WeakSet[Endpoint]" = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    # Before the interpreter finalizes: stop every runtime thread of endpoints still open
    # (docs/BINDINGS.md "Python: threading"), so nothing runs while Python tears down.
    for ep in list(_live_endpoints):
        if ep._native is not None:
            ep._native.close()


class Endpoint:
    """A Phoenix-compatible endpoint hosted from asyncio.

    Keyword arguments (defaults are Phoenix's where Phoenix has one; units ms and bytes):

    - ``host`` (``"127.0.0.1"``), ``port`` (``0`` = any free port; read :attr:`port`);
    - ``mounts``: socket mount paths or :class:`Mount` objects (default ``["/socket"]``);
    - ``request_timeout_ms`` (10 000): a handler that has not answered by then fails its
      channel (``phx_error``; a join gets ``{"reason": "join crashed"}``), a connect gets
      503, an HTTP route 504;
    - per-mount limits, the default for every mount: ``max_channels`` (100 per
      connection), ``idle_timeout_ms`` (60 000), ``max_frame_bytes`` (65 536),
      ``outbox_max_frames`` (1 024) / ``outbox_max_bytes`` (8 MiB; the slow-consumer
      limits), ``close_timeout_ms`` (3 000), ``check_origin`` (a non-empty list of allowed
      origins, or ``False``: no check, the default), ``auth_token`` (decode the
      ``base64url.bearer.phx.<token>`` subprotocol; default true);
    - before the WebSocket upgrade: ``header_read_timeout_ms`` (10 000),
      ``max_header_bytes`` (16 384; bigger is answered 431), ``max_pending_connections``
      (4 096 connections that have not sent their request head yet);
    - ``node`` (presence node name), ``shards`` / ``worker_threads`` (0 = one per core),
      ``max_pending`` (65 536 unanswered requests at most), ``drain`` (``(batch_size,
      batch_interval_ms, timeout_ms)``, default ``(10_000, 2_000, 30_000)``);
    - ``static_files``: ``(route, file path, content type)`` triples served on ``GET``.

    Channels are added with :meth:`channel`, the connect callback with :meth:`connect`,
    both before :meth:`start`, which creates the Rust endpoint (actions need a started
    endpoint: ``StateError`` before). Use ``async with Endpoint(...) as ep:`` or ``await
    ep.serve()``; :meth:`close` drains connections (close 1012), runs the channels'
    ``terminate`` and stops every Rust thread. Endpoints still open at interpreter exit are
    closed by an ``atexit`` hook. Raises ``InvalidArgumentError`` for a bad option here (an
    unknown name, with the closest known one; a wrong type; out of range): the core checks
    every option, the same way for C, Python and Node (docs/OPTIONS.md lists them all).
    """

    def __init__(
        self,
        *,
        host: Optional[str] = None,
        port: Optional[int] = None,
        mounts: Optional[Sequence[Union[str, Mount]]] = None,
        max_channels: Optional[int] = None,
        request_timeout_ms: Optional[int] = None,
        idle_timeout_ms: Optional[int] = None,
        max_frame_bytes: Optional[int] = None,
        outbox_max_frames: Optional[int] = None,
        outbox_max_bytes: Optional[int] = None,
        close_timeout_ms: Optional[int] = None,
        check_origin: Union[Sequence[str], bool, None] = None,
        auth_token: Optional[bool] = None,
        node: Optional[str] = None,
        shards: Optional[int] = None,
        worker_threads: Optional[int] = None,
        max_pending: Optional[int] = None,
        drain: Optional[Tuple[int, int, int]] = None,
        header_read_timeout_ms: Optional[int] = None,
        max_header_bytes: Optional[int] = None,
        max_pending_connections: Optional[int] = None,
        static_files: Sequence[Tuple[str, str, str]] = (),
    ) -> None:
        # Only what the caller set: every default and check is the core's (docs/OPTIONS.md),
        # the same for C, Python and Node.
        given = dict(locals())
        del given["self"]
        if mounts is not None:
            given["mounts"] = [(Mount(m) if isinstance(m, str) else m)._spec() for m in mounts]
        self._config: Dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        _native.check_options(self._config)
        self._mount_path = (
            "/socket" if not mounts else (mounts[0] if isinstance(mounts[0], str) else mounts[0].path)
        )
        self._routes: List[_Route] = []
        self._connect: Optional[ConnectCallback] = None
        self._http: List[Tuple[str, HttpHandler]] = []
        # Made by start(): routes and the connect callback are part of its configuration.
        self._native: Optional[_native.Hub] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._channels: Dict[int, _Live] = {}
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._stopped: Optional[asyncio.Event] = None
        self._port: Optional[int] = None
        self._closed = False

    # ---- configuration -------------------------------------------------------------

    def _config_with_routes(self) -> Dict[str, Any]:
        return {
            **self._config,
            "host_connect": self._connect is not None,
            "channels": [(r.pattern, r.intercepts) for r in self._routes],
            "http_routes": [prefix for prefix, _ in self._http],
        }

    def _configure(self) -> None:
        if self._native is not None:
            raise StateError("channels and connect must be added before start()")

    def channel(
        self,
        pattern: str,
        handler: Union[Channel, Type[Channel], None] = None,
    ) -> Any:
        """Routes topics matching ``pattern`` (``"room:*"``: every topic starting with
        ``room:``; otherwise the exact topic) to ``handler`` — a :class:`Channel` subclass
        (one instance per joined channel) or instance (shared) — like Phoenix ``channel
        "room:*", RoomChannel``. The first matching pattern wins; other topics get
        ``{"reason": "unmatched topic"}``. Without ``handler``, returns a
        :class:`ChannelRoutes` for the decorator form. Returns ``handler`` otherwise."""
        self._configure()
        _native.check_pattern(pattern)
        routes: Optional[ChannelRoutes] = None
        if handler is None:
            functions = _Functions()
            routes = ChannelRoutes(functions)
            handler = functions
        intercepts = [str(e) for e in getattr(handler, "intercepts", ())]
        self._routes.append(_Route(pattern, handler, intercepts))
        return routes if routes is not None else handler

    def connect(self, callback: ConnectCallback) -> ConnectCallback:
        """Sets the connect callback (Phoenix ``connect/3``), usable as a decorator:
        ``async def connect(params: dict, info: ConnectInfo)`` returning
        :class:`Connected` (or ``None``: accept with empty assigns) or :class:`Refused`
        (or ``False``: 403). ``params`` are the query params decoded like Plug. An
        exception refuses with 500 and is logged. Without it every connection is
        accepted."""
        self._configure()
        self._connect = callback
        return callback

    @property
    def _hub(self) -> _native.Hub:
        if self._native is None:
            raise StateError("the endpoint is not started")
        return self._native

    def http_route(self, prefix: str, handler: Optional[HttpHandler] = None) -> Any:
        """Answers HTTP requests whose path is ``prefix`` or below it (``"/api"`` serves
        ``/api`` and ``/api/x``, not ``/apix``), any method, on the endpoint's port:
        ``async def handler(request: HttpRequest) -> HttpResponse``. Usable as a decorator
        (``@endpoint.http_route("/api")``). An exception answers 500 (logged); no answer
        within ``request_timeout_ms`` answers 504. ``prefix``: absolute, no trailing ``/``,
        none of ``{}*?#`` (``InvalidArgumentError`` at :meth:`start` otherwise)."""
        self._configure()

        def register(fn: HttpHandler) -> HttpHandler:
            self._http.append((prefix, fn))
            return fn

        return register if handler is None else register(handler)

    def _http_handler(self, path: str) -> HttpHandler:
        for prefix, fn in sorted(self._http, key=lambda r: -len(r[0])):
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return fn
        raise LookupError(f"no HTTP route for {path!r}")

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port. ``StateError`` before :meth:`start`."""
        if self._port is None:
            raise StateError("the endpoint is not started")
        return self._port

    @property
    def url(self) -> str:
        """``ws://host:port/socket`` style base URL of the first mount."""
        host = self._config.get("host", "127.0.0.1")
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{self.port}{self._mount_path}"

    async def start(self) -> int:
        """Binds and starts serving; returns the port. Must run on the loop that will
        dispatch the handlers. ``StateError`` if already started or closed,
        ``SwitchboardOSError`` if the address cannot be bound."""
        if self._closed:
            raise StateError("the endpoint was closed")
        if self._loop is not None:
            raise StateError("the endpoint was already started")
        loop = asyncio.get_running_loop()
        hub = _native.Hub(self._config_with_routes())
        try:
            self._port = hub.start()
        except BaseException:
            hub.close()
            raise
        self._native = hub
        _live_endpoints.add(self)
        self._loop = loop
        self._stopped = asyncio.Event()
        loop.add_reader(self._hub.fileno(), self._on_readable)
        return self._port

    def stop(self) -> None:
        """Makes :meth:`serve` return (after closing). Call it on the endpoint's loop
        (e.g. from a signal handler installed with ``loop.add_signal_handler``)."""
        if self._stopped is not None:
            self._stopped.set()

    async def serve(self, *, handle_signals: bool = False) -> None:
        """Starts (if needed) and serves until :meth:`stop` or cancellation, then
        :meth:`close`\\ s. ``handle_signals``: SIGINT and SIGTERM call :meth:`stop`."""
        if self._loop is None:
            await self.start()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self.stop)
        try:
            assert self._stopped is not None
            await self._stopped.wait()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            await self.close()

    async def drain(self) -> Tuple[int, int]:
        """Closes every connection with 1012 in batches (Phoenix's drainer) and waits until
        they finished or the drain timeout passed; returns ``(closed, remaining)``.
        ``StateError`` when not serving."""
        return await in_thread(self._hub.drain, "switchboard-drain")

    async def close(self) -> None:
        """Drains (connections close with 1012; channels get ``terminate``), stops the
        listener, cancels handlers still running and joins every Rust thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._native is None:
            return
        if self._loop is not None:
            await in_thread(self._hub.shutdown, "switchboard-shutdown")
            self._loop.remove_reader(self._hub.fileno())
            tasks = list(self._tasks)
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        await in_thread(self._hub.close, "switchboard-close")
        for req in self._hub.poll(1 << 20):
            req.release()
        self._channels.clear()
        _live_endpoints.discard(self)

    async def __aenter__(self) -> "Endpoint":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- host-level actions ----------------------------------------------------------

    async def broadcast(self, topic: str, event: str, payload: Any) -> int:
        """Broadcasts to every subscriber of ``topic`` (Phoenix ``Endpoint.broadcast/3``):
        joined clients get ``[null, null, topic, event, payload]``, host subscriptions the
        message. ``payload``: a dict (JSON object), ``Json`` or ``bytes`` (binary, V2
        clients). Returns the local subscribers reached. ``EncodeError`` when not an
        object, ``InvalidArgumentError`` for an empty topic or event."""
        data, binary = encode(payload)
        return self._hub.broadcast(topic, event, data, binary, False)

    async def local_broadcast(self, topic: str, event: str, payload: Any) -> int:
        """Like :meth:`broadcast`, this node's subscribers only."""
        data, binary = encode(payload)
        return self._hub.broadcast(topic, event, data, binary, True)

    async def disconnect(self, socket_id: str) -> int:
        """Closes every connection whose socket id (from :class:`Connected`) is
        ``socket_id`` with 1001 (Phoenix ``Endpoint.broadcast(id, "disconnect", %{})``).
        Returns the local connections reached."""
        return self._hub.disconnect(socket_id)

    def channel_count(self, topic: str) -> int:
        """Joined channels on ``topic`` on this node."""
        return self._hub.channel_count(topic)

    def presence_list(self, topic: str) -> Dict[str, Any]:
        """``{key: {"metas": [...]}}`` of ``topic`` (Phoenix ``Presence.list(topic)``)."""
        result: Dict[str, Any] = json.loads(self._hub.presence_list(topic))
        return result

    def subscribe(self, topic: str, *, capacity: int = 1024, raw: bool = False) -> Subscription:
        """A host-side subscription to ``topic`` (an async iterator of
        :class:`~switchboard.Broadcast`; see :class:`~switchboard.Subscription`)."""
        return Subscription(self._hub.subscribe(topic, capacity), raw)

    # ---- the dispatcher --------------------------------------------------------------

    def _on_readable(self) -> None:
        loop = self._loop
        assert loop is not None
        for req in self._hub.poll(POLL_BATCH):
            task = loop.create_task(self._handle(req))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _route(self, topic: str) -> Optional[_Route]:
        for r in self._routes:
            if r.matches(topic):
                return r
        return None

    async def _handle(self, req: _native.Request) -> None:
        kind = req.kind
        try:
            if kind == _native.HANDLE_IN:
                await self._handle_in(req)
            elif kind == _native.JOIN:
                await self._join(req)
            elif kind == _native.HANDLE_INFO:
                await self._handle_info(req)
            elif kind == _native.HANDLE_OUT:
                await self._handle_out(req)
            elif kind == _native.LEAVE:
                await self._leave(req)
            elif kind == _native.CONNECT:
                await self._on_connect(req)
            elif kind == _native.HTTP:
                await self._on_http(req)
        except StaleTicketError:
            log.warning(
                "answer after the request timeout ignored (request kind %d, channel %d)",
                kind,
                req.channel_id,
            )
        except Exception:
            log.exception("switchboard handler failed (request kind %d)", kind)
        finally:
            # Unanswered (raised, cancelled): a crash of that handler, as in Phoenix.
            req.release()

    async def _on_connect(self, req: _native.Request) -> None:
        payload = req.payload
        params = json.loads(payload[0]) if payload else {}
        info = ConnectInfo(**{k: v for k, v in (req.connect_info or [])})  # type: ignore[arg-type]
        assert self._connect is not None
        result = await self._connect(params, info)
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

    async def _on_http(self, req: _native.Request) -> None:
        assert req.http is not None and req.payload is not None
        method, path, query, content_type = req.http
        request = HttpRequest(method, path, query, content_type, req.payload[0])
        response = await self._http_handler(path)(request)
        if not isinstance(response, HttpResponse):
            raise TypeError(f"HTTP handler returned {response!r}; expected an HttpResponse")
        req.http_respond(response.status, response.content_type, response.body)

    async def _join(self, req: _native.Request) -> None:
        topic = req.topic or ""
        route = self._route(topic)
        if route is None:  # the core routes only our patterns here
            raise LookupError(f"no channel route for {topic!r}")
        cid = req.channel_id
        handler = route.instance()
        socket = Socket(
            self._hub, cid, topic, req.socket_id, req.join_ref, req.assigns or b"{}"
        )
        raw = bool(getattr(handler, "raw", False))
        data, binary = req.payload or (b"{}", False)
        live = _Live(handler, socket, raw)
        # Registered before the handler runs: actions by id during join are deferred by
        # the core until right after the ok reply.
        self._channels[cid] = live
        joined = False
        try:
            result = await handler.join(topic, decode(data, binary, raw), socket)
            if result is None:
                result = Reply("ok", {})
            if not isinstance(result, Reply) or result.status not in ("ok", "error"):
                raise TypeError(f"join returned {result!r}; expected ok(...) or error(...)")
            out, out_binary = encode(result.payload)
            if result.status == "ok":
                req.join_ok(out, out_binary, socket._assigns_update())
                joined = True
            else:
                req.join_error(out, out_binary)
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

    def _live(self, req: _native.Request) -> _Live:
        live = self._channels.get(req.channel_id)
        if live is None:
            raise LookupError(f"request for unknown channel {req.channel_id}")
        return live

    async def _handle_in(self, req: _native.Request) -> None:
        live = self._live(req)
        socket = live.socket
        data, binary = req.payload or (b"{}", False)
        socket._ref_json = req.ref_json
        try:
            payload = decode(data, binary, live.raw)
            result = await live.handler.handle_in(req.event or "", payload, socket)
        finally:
            socket._ref_json = None
        self._answer(req, result, socket, "handle_in")

    async def _handle_info(self, req: _native.Request) -> None:
        live = self._live(req)
        data, binary = req.payload or (b"null", False)
        message: Any
        if req.info_kind == "broadcast":
            message = Broadcast(req.info_topic or "", req.event or "", decode(data, binary, live.raw))
        else:
            message = json.loads(data)
        result = await live.handler.handle_info(message, live.socket)
        self._answer(req, result, live.socket, "handle_info")

    async def _handle_out(self, req: _native.Request) -> None:
        live = self._live(req)
        data, binary = req.payload or (b"{}", False)
        payload = decode(data, binary, live.raw)
        result = await live.handler.handle_out(req.event or "", payload, live.socket)
        self._answer(req, result, live.socket, "handle_out")

    async def _leave(self, req: _native.Request) -> None:
        live = self._channels.pop(req.channel_id, None)
        if live is None:
            return
        reason, detail = req.leave_reason or ("closed", "")
        await live.handler.terminate(TerminateReason(reason, detail), live.socket)
