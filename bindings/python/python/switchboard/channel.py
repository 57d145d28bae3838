"""Channel handlers and what they see: :class:`Channel`, :class:`Socket`,
:class:`ChannelRef`, :class:`SocketRef`, :class:`Broadcast`, :class:`ConnectInfo`,
:class:`TerminateReason`.

Actions (``push``, ``broadcast``, presence, ...) only enqueue work in the Rust core and
return at once: they are plain methods, callable from any coroutine or thread, also after
the handler returned, for as long as the channel lives (``ChannelNotFoundError`` after).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    ClassVar,
    Dict,
    Optional,
    Sequence,
    TypeVar,
    Union,
)

from ._payload import decode, encode
from .results import NoReply, Reply, Stop

if TYPE_CHECKING:
    from ._native import NativeEndpoint

__all__ = [
    "Channel",
    "ChannelRef",
    "Socket",
    "SocketRef",
    "Broadcast",
    "ConnectInfo",
    "TerminateReason",
]

_T = TypeVar("_T")

#: What a callback returns: its result, or an awaitable of it (an ``async def`` callback).
MaybeAwaitable = Union[_T, Awaitable[_T]]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _json_text(value: Any, what: str) -> str:
    from .errors import InvalidJsonError

    try:
        return _dumps(value)
    except (TypeError, ValueError) as e:
        raise InvalidJsonError(f"{what} is not JSON-encodable: {e}") from e


@dataclass(frozen=True)
class Broadcast:
    """A broadcast on a topic: what ``handle_info`` gets for a topic the channel subscribed
    to (``socket.subscribe``), and what a host :class:`~switchboard.Subscription` yields.
    ``payload`` is decoded like handler payloads (``bytes`` when binary)."""

    topic: str
    event: str
    payload: Any


@dataclass(frozen=True)
class ConnectInfo:
    """What the ``connect`` callback sees besides the params (Phoenix ``connect_info``):
    the socket ``mount`` path, the ``auth_token`` from the ``base64url.bearer.phx.<token>``
    subprotocol, the ``peer`` address (``"ip:port"``), and the ``origin`` and
    ``user_agent`` headers (``None`` when absent)."""

    mount: str
    auth_token: Optional[str] = None
    peer: Optional[str] = None
    origin: Optional[str] = None
    user_agent: Optional[str] = None


class TerminateReason(str):
    """Why a channel ended, as text: ``"left"`` (the client left), ``"closed"`` (transport
    closed or idle timeout), ``"disconnected"`` (a ``disconnect`` broadcast on the socket
    id), ``"drain"`` (endpoint shutdown), ``"stop"`` (a handler returned ``stop``;
    ``detail`` is ``"normal"``, ``"shutdown[:why]"`` or the abnormal reason) or ``"crash"``
    (a handler raised or timed out; ``detail`` says why)."""

    detail: str

    def __new__(cls, reason: str, detail: str = "") -> "TerminateReason":
        self = super().__new__(cls, reason)
        self.detail = detail
        return self


class ChannelRef:
    """One channel instance, by id: the actions a Phoenix channel process can take.

    Valid from the join until the channel ends; every action raises
    :class:`~switchboard.errors.ChannelNotFoundError` afterwards (pushes and broadcasts
    still work inside ``terminate`` after a graceful close). Actions taken during ``join``
    are performed right after the ``ok`` join reply (dropped if the join is refused).
    Payloads: JSON-encodable objects (an object/dict for pushes and broadcasts), ``Json``
    raw text, or ``bytes`` for binary (V2 clients only). Errors: ``EncodeError`` (not an
    object, binary to V1), ``InvalidJsonError``, ``QueueFullError``.
    """

    __slots__ = ("_hub", "channel_id", "topic")

    def __init__(self, hub: "NativeEndpoint", channel_id: int, topic: str) -> None:
        self._hub = hub
        #: The channel id (stable for the channel's life, never reused while it lives).
        self.channel_id = channel_id
        #: The channel topic, e.g. ``"room:lobby"``.
        self.topic = topic

    def push(self, event: str, payload: Any) -> None:
        """Sends ``event`` to this channel's client only (Phoenix ``push/3``)."""
        data, binary = encode(payload)
        self._hub.push(self.channel_id, event, data, binary)

    def broadcast(self, event: str, payload: Any) -> None:
        """Sends to every subscriber of the topic, this client included (``broadcast/3``)."""
        data, binary = encode(payload)
        self._hub.channel_broadcast(self.channel_id, event, data, binary, False)

    def broadcast_from(self, event: str, payload: Any) -> None:
        """Like :meth:`broadcast` but not to this channel's client (``broadcast_from/3``)."""
        data, binary = encode(payload)
        self._hub.channel_broadcast(self.channel_id, event, data, binary, True)

    def send_info(self, message: Any) -> None:
        """Queues ``message`` (JSON-encodable) for this channel's ``handle_info``, after the
        request being handled (Phoenix ``send(self(), message)``)."""
        self._hub.send_info(self.channel_id, _json_text(message, "message"))

    def subscribe(self, topic: str) -> None:
        """Subscribes the channel to ``topic``: its broadcasts reach ``handle_info`` as
        :class:`Broadcast`. Idempotent."""
        self._hub.channel_subscribe(self.channel_id, topic)

    def unsubscribe(self, topic: str) -> bool:
        """Undoes :meth:`subscribe`; returns whether it was subscribed."""
        return self._hub.channel_unsubscribe(self.channel_id, topic)

    def track(self, key: str, meta: Dict[str, Any]) -> str:
        """Tracks ``key`` with ``meta`` (a dict) on the topic, owned by this channel (Phoenix
        ``Presence.track(socket, key, meta)``); returns the ``phx_ref``. Untracked when the
        channel ends. ``PresenceError`` if this channel already tracks ``key``."""
        return self._hub.track(self.channel_id, key, _json_text(meta, "meta"))

    def untrack(self, key: str) -> None:
        """Stops tracking ``key`` (idempotent)."""
        self._hub.untrack(self.channel_id, key)

    def update(self, key: str, meta: Dict[str, Any]) -> str:
        """Replaces the meta of ``key``; returns the new ``phx_ref``. ``PresenceError`` if
        not tracked."""
        return self._hub.update(self.channel_id, key, _json_text(meta, "meta"))

    def presence_list(self) -> Dict[str, Any]:
        """The topic's presences, ``{key: {"metas": [{..., "phx_ref": ...}]}}`` (Phoenix
        ``Presence.list(socket)``, the ``presence_state`` payload)."""
        result: Dict[str, Any] = json.loads(self._hub.channel_presence_list(self.channel_id))
        return result

    def __repr__(self) -> str:
        return f"<ChannelRef {self.topic!r} id={self.channel_id}>"


class SocketRef:
    """A captured client message to reply to later (Phoenix ``socket_ref/1``)."""

    __slots__ = ("_channel", "_ref_json")

    def __init__(self, channel: ChannelRef, ref_json: str) -> None:
        self._channel = channel
        self._ref_json = ref_json

    def reply(self, status: str, payload: Any = None) -> None:
        """Sends ``phx_reply`` ``{"status": status, "response": payload}`` to that message
        (Phoenix ``reply/2``). ``ChannelNotFoundError`` once the channel ended."""
        data, binary = encode({} if payload is None else payload)
        self._channel._hub.reply(self._channel.channel_id, self._ref_json, status, data, binary)


class Socket(ChannelRef):
    """What a handler sees of its channel (Phoenix ``%Phoenix.Socket{}`` in a channel):
    the :class:`ChannelRef` actions plus ``assigns``, ``id``, ``join_ref``.

    ``assigns`` is a dict (JSON-encodable values) that persists across the channel's
    requests: changes made in a handler are kept with its result (Phoenix ``assign/3``).
    It starts as the connect assigns.
    """

    __slots__ = ("id", "join_ref", "_assigns", "_assigns_json", "_ref_json")

    def __init__(
        self,
        hub: "NativeEndpoint",
        channel_id: int,
        topic: str,
        socket_id: Optional[str],
        join_ref: Optional[str],
        assigns_json: bytes,
    ) -> None:
        super().__init__(hub, channel_id, topic)
        #: The socket id given by ``connect`` (Phoenix ``socket.id``), if any.
        self.id = socket_id
        #: The join_ref of this channel instance, if the client sent one.
        self.join_ref = join_ref
        self._assigns_json: str = assigns_json.decode()
        self._assigns: Optional[Dict[str, Any]] = None
        self._ref_json: Optional[str] = None

    @property
    def assigns(self) -> Dict[str, Any]:
        """The channel's assigns (mutable)."""
        if self._assigns is None:
            self._assigns = json.loads(self._assigns_json)
        return self._assigns

    def _assigns_update(self) -> Optional[str]:
        """The assigns as JSON text when the handler may have changed them, else None."""
        if self._assigns is None:
            return None
        text = _json_text(self._assigns, "assigns")
        if text == self._assigns_json:
            return None
        self._assigns_json = text
        return text

    def socket_ref(self) -> SocketRef:
        """The message being handled, to reply to later (Phoenix ``socket_ref/1``); answer
        ``noreply()`` now. ``InvalidArgumentError`` (code ``SB_E_INVALID_ARGUMENT``, as the
        core's and Phoenix's ``ArgumentError``: there is no message to reply to) outside
        ``handle_in`` or when the client sent no ref."""
        if self._ref_json is None:
            from .errors import InvalidArgumentError

            err = InvalidArgumentError(
                "no ref to reply to: socket_ref() is only valid in handle_in"
            )
            err.code = "SB_E_INVALID_ARGUMENT"
            raise err
        return SocketRef(ChannelRef(self._hub, self.channel_id, self.topic), self._ref_json)

    def __repr__(self) -> str:
        return f"<Socket {self.topic!r} id={self.channel_id} join_ref={self.join_ref!r}>"


class Channel:
    """Base class of a channel handler (Phoenix ``use Phoenix.Channel``).

    Register it with ``endpoint.channel("room:*", RoomChannel)``: each joined channel
    instance gets its own object (so ``self`` may hold per-channel state); registering an
    instance instead shares it between all of them. Calls for one channel never overlap
    and arrive in order; each runs under the endpoint's ``request_timeout_ms`` (then the
    channel fails with ``phx_error`` and a late answer is ignored). An exception fails only
    that channel (``phx_error``; ``{"reason": "join crashed"}`` in ``join``) and is logged
    with its traceback on the ``switchboard`` logger.

    The callbacks may be written ``async def`` or plain ``def``: the endpoint awaits what
    a callback returns only when it is awaitable, so both forms behave the same (a plain
    ``def`` runs on the event loop's thread, so it must not block). The defaults here are
    plain methods: call ``super().handle_out(...)`` without ``await``. Other methods (helpers)
    are never called by the endpoint.

    Class attributes: ``intercepts`` — events whose broadcasts on the topic go through
    :meth:`handle_out` per subscriber (Phoenix ``intercept/1``); ``raw`` — when true,
    payloads arrive as :class:`~switchboard.Json` (raw text) or ``bytes`` instead of
    parsed objects.
    """

    intercepts: ClassVar[Sequence[str]] = ()
    raw: ClassVar[bool] = False

    def join(
        self, topic: str, payload: Any, socket: Socket
    ) -> "MaybeAwaitable[Optional[Reply]]":
        """Phoenix ``join/3``: return ``ok(reply)`` (or ``None``) to accept, ``error(reply)``
        to refuse. ``payload`` is the join params. The default accepts. Another handler
        result (``noreply()``, ``reply(status, ...)`` with another status, ``stop(...)``) is
        refused by the core as not an answer to a join (``WrongAnswerError``, logged) and the
        join crashes (the client gets ``{"reason": "join crashed"}``)."""
        return None

    def handle_in(
        self, event: str, payload: Any, socket: Socket
    ) -> "MaybeAwaitable[Reply | NoReply | Stop | None]":
        """Phoenix ``handle_in/3``: a client push. Return ``reply(...)``/``ok(...)``/
        ``error(...)``, ``noreply()`` (or ``None``) or ``stop(...)``. ``phx_leave`` never
        arrives here. The default raises (Phoenix: no matching clause crashes)."""
        raise NotImplementedError(f"{type(self).__name__} does not handle event {event!r}")

    def handle_info(self, message: Any, socket: Socket) -> "MaybeAwaitable[NoReply | Stop | None]":
        """Phoenix ``handle_info/2``: a message from ``send_info`` (decoded JSON) or a
        :class:`Broadcast` on a topic the channel subscribed to. Default: ``noreply``."""
        return None

    def handle_out(
        self, event: str, payload: Any, socket: Socket
    ) -> "MaybeAwaitable[NoReply | Stop | None]":
        """Phoenix ``handle_out/3`` for an intercepted event; the broadcast reaches this
        client only if this pushes it. Default: push it unchanged."""
        socket.push(event, payload)
        return None

    def terminate(self, reason: TerminateReason, socket: Socket) -> "MaybeAwaitable[None]":
        """Phoenix ``terminate/2``: the channel ended. Pushes made here reach the client
        after ``phx_close`` when it ended gracefully (left, ``stop`` normal/shutdown)."""
        return None
