"""The :class:`Endpoint` (its options, with :class:`Mount`), its lifecycle — start, serve,
drain, close — and the endpoint-level actions: broadcast, disconnect, presence, host
subscriptions. Registration lives in ``_routes.py``, the request dispatcher in
``_dispatch.py``.

Sync or async: a call that only hands work to the Rust core (``broadcast``,
``local_broadcast``, ``disconnect``, ``subscribe``, the lookups) is a plain method that
returns at once, like Phoenix's ``Endpoint.broadcast``; a call that waits (``start``,
``serve``, ``drain``, ``close``) is a coroutine. Once :meth:`Endpoint.close` has finished,
every call that acts raises ``StateError``.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import json
import signal
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union, overload

from . import _logging, _native
from ._dispatch import Dispatcher
from ._payload import encode
from ._routes import ChannelRoutes, ConnectCallback, HttpHandler, Routes
from ._threads import in_thread
from .channel import Channel
from .errors import InvalidHandlerError, StateError
from .subscription import Subscription

__all__ = ["Endpoint", "Mount", "ChannelRoutes"]

C = TypeVar("C", bound=Union[Channel, Type[Channel]])
H = TypeVar("H", bound=HttpHandler)
K = TypeVar("K", bound=ConnectCallback)


@dataclass(frozen=True)
class Mount:
    """A socket mount (Phoenix ``socket "/socket", UserSocket, websocket: [...]``) at
    ``path`` (its WebSocket transport is at ``<path>/websocket``). Each limit left ``None``
    takes the endpoint's value. Units: milliseconds and bytes."""

    path: str = "/socket"
    max_channels: Optional[int] = None
    messages_per_second: Optional[int] = None
    joins_per_second: Optional[int] = None
    idle_timeout_ms: Optional[int] = None
    max_frame_bytes: Optional[int] = None
    outbox_max_frames: Optional[int] = None
    outbox_max_bytes: Optional[int] = None
    close_timeout_ms: Optional[int] = None
    check_origin: Union[Sequence[str], bool, None] = None
    auth_token: Optional[bool] = None
    longpoll: Optional[bool] = None
    longpoll_window_ms: Optional[int] = None
    longpoll_session_timeout_ms: Optional[int] = None

    def _spec(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


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
      limits), ``close_timeout_ms`` (3 000), ``check_origin`` (``True``, the default: a page of
      the host the request was sent to; a non-empty list of allowed origins; or ``False``: no
      check), ``auth_token`` (decode the
      ``base64url.bearer.phx.<token>`` subprotocol; default true), ``messages_per_second``
      and ``joins_per_second`` (per connection; 0, the default, is no limit; over it a push
      or join is answered ``{"reason": "rate_limited"}``, and a client that keeps going is
      closed with 1008), ``longpoll`` (also serve
      the long-poll transport at ``<path>/longpoll``; default false, docs/LONGPOLL.md),
      ``longpoll_window_ms`` (10 000) and ``longpoll_session_timeout_ms`` (1.5 × the window);
    - ``secret_key_base``: signs long-poll session tokens, at least 32 bytes (default random
      per process; every node of a cluster with long-poll needs the same one);
    - before the WebSocket upgrade: ``header_read_timeout_ms`` (10 000),
      ``max_header_bytes`` (16 384; bigger is answered 431), ``max_pending_connections``
      (4 096 connections that have not sent their request head yet), ``max_connections``
      (0 = no limit; one more connection is answered 503), ``connections_per_second`` (0 = no
      limit; attempts beyond it are answered 429);
    - ``node`` (presence node name), ``shards`` / ``worker_threads`` (0 = one per core),
      ``max_pending`` (65 536 unanswered requests at most), ``drain`` (``(batch_size,
      batch_interval_ms, timeout_ms)``, default ``(10_000, 2_000, 30_000)``);
    - ``static_files``: ``(route, file path, content type)`` triples served on ``GET``;
    - ``history``: topics whose broadcasts are kept so that rejoining clients get what they
      missed (docs/HISTORY.md), as ``{"topic": "room:*", "size": 100, "ttl_ms": 600_000}``
      dicts or ``(topic pattern, size, ttl_ms)`` tuples; read with :meth:`history`.

    Channels are added with :meth:`channel`, the connect callback with :meth:`connect`,
    HTTP routes with :meth:`http_route`, all before :meth:`start`, which creates the Rust
    endpoint. Handlers may be ``async def`` or plain ``def`` functions. Use ``async with
    Endpoint(...) as ep:`` or ``await ep.serve()``; :meth:`close` drains connections (close
    1012), runs the channels' ``terminate`` and stops every Rust thread. Endpoints still
    open at interpreter exit are closed by an ``atexit`` hook.

    Actions (:meth:`broadcast`, :meth:`local_broadcast`, :meth:`disconnect`,
    :meth:`subscribe`, :meth:`presence_list`, :meth:`channel_count`, :meth:`history`) are plain methods that
    return at once; they raise ``StateError`` before :meth:`start` and after :meth:`close`
    (while ``close`` drains, ``terminate`` handlers may still use them).

    Raises ``InvalidArgumentError`` for a bad option here (an unknown name, with the closest
    known one; a wrong type; out of range): the core checks every option, the same way for
    C, Python and Node (docs/OPTIONS.md lists them all).
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
        history: Optional[Sequence[Union[Mapping[str, Any], Tuple[str, int, int]]]] = None,
        **options: Any,
    ) -> None:
        # Only what the caller set: every default and check is the core's (docs/OPTIONS.md),
        # the same for C, Python and Node. The named parameters are the common options (for
        # editors and mypy); any other name goes to the core too, which takes the rest of
        # docs/OPTIONS.md (`bind`, `drain_timeout_ms`, ...) and refuses an unknown one with
        # the closest known name, as in C and Node.
        given = dict(locals())
        del given["self"], given["options"]
        given.update(options)
        if mounts is not None:
            given["mounts"] = [(Mount(m) if isinstance(m, str) else m)._spec() for m in mounts]
        self._config: Dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        _native.check_options(self._config)
        # The library's logs go to logging.getLogger("switchboard") at its level now.
        _logging.sync_level()
        self._mount_path = (
            "/socket" if not mounts else (mounts[0] if isinstance(mounts[0], str) else mounts[0].path)
        )
        self._routes = Routes()
        # Made by start(): routes and the connect callback are part of its configuration.
        self._native: Optional[_native.NativeEndpoint] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._dispatcher: Optional[Dispatcher] = None
        self._stopped: Optional[asyncio.Event] = None
        self._port: Optional[int] = None
        self._closed = False

    # ---- registration (before start; see _routes.py) -----------------------------------

    def _configure(self) -> None:
        if self._closed:
            raise StateError("the endpoint was closed")
        if self._native is not None:
            raise StateError("channels, connect and HTTP routes must be added before start()")

    @overload
    def channel(self, pattern: str) -> ChannelRoutes: ...

    @overload
    def channel(self, pattern: str, handler: C) -> C: ...

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
        :class:`ChannelRoutes` for the decorator form. Returns ``handler`` otherwise.
        ``InvalidArgumentError`` for a bad pattern, ``InvalidHandlerError`` (a
        ``TypeError``) when ``handler`` is not a :class:`Channel` subclass or instance."""
        self._configure()
        routes = self._routes.add_channel(pattern, handler)
        return routes if routes is not None else handler

    def connect(self, callback: K) -> K:
        """Sets the connect callback (Phoenix ``connect/3``), usable as a decorator:
        ``async def connect(params: dict, info: ConnectInfo)`` (or a plain ``def``)
        returning :class:`Connected` (or ``None``: accept with empty assigns) or
        :class:`Refused` (or ``False``: 403). ``params`` are the query params decoded like
        Plug. An exception refuses with 500 and is logged. Without it every connection is
        accepted. ``InvalidHandlerError`` when ``callback`` is not callable."""
        self._configure()
        self._routes.set_connect(callback)
        return callback

    @overload
    def http_route(self, prefix: str) -> Callable[[H], H]: ...

    @overload
    def http_route(self, prefix: str, handler: H) -> H: ...

    def http_route(self, prefix: str, handler: Optional[HttpHandler] = None) -> Any:
        """Answers HTTP requests whose path is ``prefix`` or below it (``"/api"`` serves
        ``/api`` and ``/api/x``, not ``/apix``), any method, on the endpoint's port:
        ``async def handler(request: HttpRequest) -> HttpResponse`` (or a plain ``def``).
        Usable as a decorator (``@endpoint.http_route("/api")``). An exception answers 500
        (logged); no answer within ``request_timeout_ms`` answers 504. ``prefix``: absolute,
        no trailing ``/``, none of ``{}*?#`` (``InvalidArgumentError`` at :meth:`start`
        otherwise). ``InvalidHandlerError`` when ``handler`` is not callable (or the
        decorator is used without its prefix)."""
        self._configure()
        if not isinstance(prefix, str):
            raise InvalidHandlerError(
                f"http_route() takes the prefix first, as in @endpoint.http_route(\"/api\"), "
                f"not {prefix!r}"
            )

        def register(fn: H) -> H:
            self._configure()
            self._routes.add_http(prefix, fn)
            return fn

        return register if handler is None else register(handler)

    @property
    def _hub(self) -> _native.NativeEndpoint:
        """The started, not yet closed native endpoint; ``StateError`` otherwise."""
        hub = self._native
        if hub is None or hub.closed:
            raise StateError(
                "the endpoint is closed"
                if self._closed or hub is not None
                else "the endpoint is not started"
            )
        return hub

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
        hub = _native.NativeEndpoint({**self._config, **self._routes.config()})
        # Claimed before the wait: a second start() meanwhile is refused.
        self._loop = loop
        try:
            # Off the loop: a clustered endpoint waits for its broker before it listens.
            self._port = await in_thread(hub.start, "switchboard-start")
        except BaseException:
            self._loop = None
            hub.close()
            raise
        if self._closed:
            # close() ran while start() waited: it found nothing to close.
            await in_thread(hub.shutdown, "switchboard-shutdown")
            hub.close()
            raise StateError("the endpoint was closed while it started")
        self._native = hub
        _live_endpoints.add(self)
        self._stopped = asyncio.Event()
        self._dispatcher = Dispatcher(hub, self._routes, loop)
        loop.add_reader(hub.fileno(), self._dispatcher.on_readable)
        return self._port

    def stop(self) -> None:
        """Makes :meth:`serve` return (after closing). Call it on the endpoint's loop
        (e.g. from a signal handler installed with ``loop.add_signal_handler``)."""
        if self._stopped is not None:
            self._stopped.set()

    async def serve(self, *, handle_signals: bool = False) -> None:
        """Starts (if needed) and serves until :meth:`stop` or cancellation, then
        :meth:`close`\\ s. ``handle_signals``: SIGINT and SIGTERM call :meth:`stop`.
        ``StateError`` after :meth:`close`."""
        if self._closed:
            raise StateError("the endpoint was closed")
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
        hub = self._native
        if hub is None:
            return
        dispatcher = self._dispatcher
        if self._loop is not None and dispatcher is not None:
            await in_thread(hub.shutdown, "switchboard-shutdown")
            self._loop.remove_reader(hub.fileno())
            await dispatcher.cancel()
        await in_thread(hub.close, "switchboard-close")
        for req in hub.poll(1 << 20):
            req.release()
        if dispatcher is not None:
            dispatcher.forget()
        _live_endpoints.discard(self)

    async def __aenter__(self) -> "Endpoint":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- endpoint-level actions: plain calls that return at once ----------------------
    # The native calls only enqueue work in the core (nothing waits for a client), so none
    # of these is a coroutine: a forgotten `await` cannot drop a broadcast.

    def broadcast(self, topic: str, event: str, payload: Any) -> int:
        """Broadcasts to every subscriber of ``topic`` (Phoenix ``Endpoint.broadcast/3``):
        joined clients get ``[null, null, topic, event, payload]``, host subscriptions the
        message. ``payload``: a dict (JSON object), ``Json`` or ``bytes`` (binary, V2
        clients). Returns the local subscribers reached, at once (delivery continues in the
        core). ``EncodeError`` when not an object, ``InvalidArgumentError`` for an empty
        topic or event, ``StateError`` before :meth:`start` or after :meth:`close`."""
        hub = self._hub
        data, binary = encode(payload)
        return hub.broadcast(topic, event, data, binary, False)

    def local_broadcast(self, topic: str, event: str, payload: Any) -> int:
        """Like :meth:`broadcast`, this node's subscribers only."""
        hub = self._hub
        data, binary = encode(payload)
        return hub.broadcast(topic, event, data, binary, True)

    def disconnect(self, socket_id: str) -> int:
        """Closes every connection whose socket id (from :class:`Connected`) is
        ``socket_id`` with 1001 (Phoenix ``Endpoint.broadcast(id, "disconnect", %{})``).
        Returns the local connections reached, at once. ``StateError`` before
        :meth:`start` or after :meth:`close`."""
        return self._hub.disconnect(socket_id)

    def channel_count(self, topic: str) -> int:
        """Joined channels on ``topic`` on this node."""
        return self._hub.channel_count(topic)

    def metrics(self) -> str:
        """The endpoint's metrics in the Prometheus text format 0.0.4 (docs/OPERATIONS.md
        "Metrics"), as option ``metrics_path`` serves them: for an app that exports its own
        metrics. Raises ``StateError`` before ``start()`` and after ``close()``."""
        return self._hub.metrics()

    def census(self) -> Dict[str, Any]:
        """What the endpoint holds now (docs/OPERATIONS.md "Introspection"): ``{"node",
        "connections": {"websocket", "longpoll"}, "channels", "topics": [{"topic",
        "subscribers", "channels"}], "presence": [{"topic", "entries"}], "cluster": None or
        {"broker", "up", "nodes": [{"node", "incarnation", "last_heartbeat_ms"}]}}``."""
        result: Dict[str, Any] = json.loads(self._hub.census())
        return result

    def history(self, topic: str, since: Optional[str] = None, limit: int = 0) -> Dict[str, Any]:
        """``topic``'s kept broadcasts (docs/HISTORY.md "Host API"): ``{"messages": [{"position",
        "event", "payload"}...], "position": latest or None, "recovered": bool, "reason"?}``,
        oldest first — the first ``limit`` messages after the position ``since``, or the latest
        ``limit`` without it (``0``: every kept one). A binary payload comes as ``"binary":
        bytes`` instead of ``"payload"``. ``recovered`` is false (with ``reason``) when the
        messages do not follow ``since`` without a gap. Raises ``InvalidArgumentError`` (empty
        topic, no history rule matches it, ``since`` is not a position)."""
        result: Dict[str, Any] = json.loads(self._hub.history(topic, since, limit))
        for message in result["messages"]:
            if "binary" in message:
                message["binary"] = base64.b64decode(message["binary"])
        return result

    def presence_list(self, topic: str) -> Dict[str, Any]:
        """``{key: {"metas": [...]}}`` of ``topic`` (Phoenix ``Presence.list(topic)``)."""
        result: Dict[str, Any] = json.loads(self._hub.presence_list(topic))
        return result

    def subscribe(self, topic: str, *, capacity: int = 1024, raw: bool = False) -> Subscription:
        """A host-side subscription to ``topic`` (an async iterator of
        :class:`~switchboard.Broadcast`; see :class:`~switchboard.Subscription`)."""
        return Subscription(self._hub.subscribe(topic, capacity), raw)
