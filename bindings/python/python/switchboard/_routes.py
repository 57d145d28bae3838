"""Registration: channel handlers by topic pattern (the class form and the decorator API of
:class:`ChannelRoutes`), the connect callback and HTTP routes, checked when they are given —
and, in one marked block at the end, the matching of a topic or a path to them.

A handler may be a plain function or an ``async def`` (the dispatcher awaits a result only
when it is awaitable); anything that is not callable is refused here with
:class:`~switchboard.errors.InvalidHandlerError`, before the endpoint starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Type, TypeVar, Union

from . import _native
from .channel import Channel, ConnectInfo, Socket, TerminateReason
from .errors import InvalidArgumentError, InvalidHandlerError
from .http import HttpRequest, HttpResponse
from .results import Connected, Refused

__all__ = ["ChannelRoutes", "Routes", "ChannelRoute", "ConnectCallback", "HttpHandler"]

#: What a connect callback answers: accept (``Connected``, ``None``, ``True``) or refuse
#: (``Refused``, ``False``).
ConnectResult = Union[Connected, Refused, bool, None]
#: ``def`` or ``async def connect(params, info)`` returning (or resolving to) a
#: :data:`ConnectResult`.
ConnectCallback = Callable[
    [Dict[str, Any], ConnectInfo], Union[ConnectResult, Awaitable[ConnectResult]]
]
#: ``def`` or ``async def handler(request)`` returning (or resolving to) an ``HttpResponse``.
HttpHandler = Callable[[HttpRequest], Union[HttpResponse, Awaitable[HttpResponse]]]

F = TypeVar("F", bound=Callable[..., Any])


def _callable(fn: Any, where: str) -> None:
    if not callable(fn):
        raise InvalidHandlerError(
            f"{where} takes a function (def or async def), not {fn!r}"
        )


class _Functions(Channel):
    """The channel behind the decorator form (:class:`ChannelRoutes`). Each method returns
    what the registered function returns, awaitable or not: the dispatcher awaits it when
    needed."""

    def __init__(self) -> None:
        self.on_join: Optional[Callable[..., Any]] = None
        self.on_event: Dict[str, Callable[..., Any]] = {}
        self.on_any: Optional[Callable[..., Any]] = None
        self.on_info: Optional[Callable[..., Any]] = None
        self.on_out: Optional[Callable[..., Any]] = None
        self.on_terminate: Optional[Callable[..., Any]] = None

    def join(self, topic: str, payload: Any, socket: Socket) -> Any:
        return None if self.on_join is None else self.on_join(topic, payload, socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
        fn = self.on_event.get(event)
        if fn is not None:
            return fn(payload, socket)
        if self.on_any is not None:
            return self.on_any(event, payload, socket)
        return super().handle_in(event, payload, socket)

    def handle_info(self, message: Any, socket: Socket) -> Any:
        return None if self.on_info is None else self.on_info(message, socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> Any:
        if self.on_out is None:
            return super().handle_out(event, payload, socket)
        return self.on_out(event, payload, socket)

    def terminate(self, reason: TerminateReason, socket: Socket) -> Any:
        return None if self.on_terminate is None else self.on_terminate(reason, socket)


class ChannelRoutes:
    """The decorator form of a channel, from ``endpoint.channel(pattern)``::

        room = endpoint.channel("room:*")

        @room.join
        async def join(topic, payload, socket): return ok()

        @room.on("new_msg")
        def new_msg(payload, socket): return reply("ok", {})

    ``handle_in`` (``(event, payload, socket)``) catches events without an ``on``;
    ``handle_info``, ``handle_out`` and ``terminate`` take the method's arguments without
    ``self``. Functions may be ``async def`` or plain ``def``. One set of functions serves
    every channel instance of the pattern. Anything not callable (or ``@room.on`` without
    its event name) raises :class:`~switchboard.errors.InvalidHandlerError` here.
    """

    def __init__(self, functions: _Functions) -> None:
        self._f = functions

    def join(self, fn: F) -> F:
        _callable(fn, "@join")
        self._f.on_join = fn
        return fn

    def on(self, event: str) -> Callable[[F], F]:
        if not isinstance(event, str):
            raise InvalidHandlerError(
                f"on() takes the event name, as in @room.on(\"new_msg\"), not {event!r}"
            )
        if not event:
            raise InvalidArgumentError("on() takes a non-empty event name")

        def register(fn: F) -> F:
            _callable(fn, f"@on({event!r})")
            self._f.on_event[event] = fn
            return fn

        return register

    def handle_in(self, fn: F) -> F:
        _callable(fn, "@handle_in")
        self._f.on_any = fn
        return fn

    def handle_info(self, fn: F) -> F:
        _callable(fn, "@handle_info")
        self._f.on_info = fn
        return fn

    def handle_out(self, fn: F) -> F:
        _callable(fn, "@handle_out")
        self._f.on_out = fn
        return fn

    def terminate(self, fn: F) -> F:
        _callable(fn, "@terminate")
        self._f.on_terminate = fn
        return fn


@dataclass
class ChannelRoute:
    """One ``endpoint.channel(pattern, handler)``."""

    pattern: str
    handler: Union[Channel, Type[Channel]]
    intercepts: List[str]

    def instance(self) -> Channel:
        """The handler of a new channel: a fresh instance of a class, else the shared one."""
        h = self.handler
        return h() if isinstance(h, type) else h


class Routes:
    """What the endpoint routes to, as registered before ``start()``: channel handlers, the
    connect callback and HTTP routes."""

    def __init__(self) -> None:
        self.channels: List[ChannelRoute] = []
        self.connect: Optional[ConnectCallback] = None
        self.http: List[Tuple[str, HttpHandler]] = []

    def add_channel(
        self, pattern: str, handler: Union[Channel, Type[Channel], None]
    ) -> Optional[ChannelRoutes]:
        """Adds a channel route; returns the decorator form when ``handler`` is ``None``."""
        _native.check_pattern(pattern)
        routes: Optional[ChannelRoutes] = None
        if handler is None:
            functions = _Functions()
            routes = ChannelRoutes(functions)
            handler = functions
        elif not (
            isinstance(handler, Channel)
            or (isinstance(handler, type) and issubclass(handler, Channel))
        ):
            raise InvalidHandlerError(
                f"channel({pattern!r}, handler): the handler must be a Channel subclass or "
                f"instance (or left out for the decorator form), not {handler!r}"
            )
        intercepts = [str(e) for e in getattr(handler, "intercepts", ())]
        self.channels.append(ChannelRoute(pattern, handler, intercepts))
        return routes

    def set_connect(self, callback: ConnectCallback) -> None:
        _callable(callback, "connect()")
        self.connect = callback

    def add_http(self, prefix: str, handler: HttpHandler) -> None:
        _callable(handler, f"http_route({prefix!r})")
        self.http.append((prefix, handler))

    def config(self) -> Dict[str, Any]:
        """The routes' part of the core's configuration (checked by the core at start)."""
        return {
            "host_connect": self.connect is not None,
            "channels": [(r.pattern, r.intercepts) for r in self.channels],
            "http_routes": [prefix for prefix, _ in self.http],
        }

    # The core matched the topic or path and says which registration it chose (the request's
    # ``pattern`` / HTTP ``prefix``): these only look the registration up.

    def channel_for(self, pattern: str) -> Optional[ChannelRoute]:
        """The route registered with ``pattern`` (the first one, as the core routes)."""
        return next((r for r in self.channels if r.pattern == pattern), None)

    def http_for(self, prefix: str) -> Optional[HttpHandler]:
        """The handler registered for ``prefix``."""
        return next((fn for p, fn in self.http if p == prefix), None)
