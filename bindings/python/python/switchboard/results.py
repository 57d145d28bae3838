"""What handlers return: the Phoenix callback results.

==================  =========================================  ==============================
Phoenix             Python                                     valid in
==================  =========================================  ==============================
``{:ok, reply, s}`` ``ok(reply)`` (or ``None``: ``ok({})``)    ``join``
``{:error, reply}`` ``error(reply)``                           ``join``
``{:reply, ...}``   ``reply(status, payload)``, ``ok(p)``,     ``handle_in`` (ignored in
                    ``error(p)``                               ``handle_info``/``handle_out``)
``{:noreply, s}``   ``noreply()`` (or ``None``)                ``handle_in/info/out``
``{:stop, r, s}``   ``stop(reason, reply=None)``               ``handle_in/info/out``
``{:ok, socket}``   ``Connected(assigns, id)`` (or ``None``)   ``connect``
``:error``          ``Refused(status)`` (or ``False``)         ``connect``
==================  =========================================  ==============================

Socket assigns changed by the handler (``socket.assigns[...] = ...``) are kept with any
result, as Phoenix's ``assign/3`` on the returned socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Union

from . import _native
from .errors import InvalidArgumentError

__all__ = [
    "Reply",
    "NoReply",
    "Stop",
    "Connected",
    "Refused",
    "ok",
    "error",
    "reply",
    "noreply",
    "stop",
]


@dataclass(frozen=True)
class Reply:
    """``{:reply, {status, payload}, socket}``; in ``join``, status ``"ok"`` accepts and
    ``"error"`` refuses with ``payload`` as the join reply."""

    status: str
    payload: Any = field(default_factory=dict)


@dataclass(frozen=True)
class NoReply:
    """``{:noreply, socket}``: nothing is sent; the client's push times out unless the
    handler replies later through ``socket.socket_ref()``."""


@dataclass(frozen=True)
class Stop:
    """``{:stop, reason, socket}`` / ``{:stop, reason, reply, socket}`` (reply first).

    ``reason``: ``"normal"`` or ``"shutdown"`` (the client gets ``phx_close`` and does not
    rejoin), ``("shutdown", detail)``, or any other text (abnormal: ``phx_error``, the
    client rejoins)."""

    reason: Union[str, Tuple[str, str]] = "normal"
    reply: Optional[Reply] = None


@dataclass(frozen=True)
class Connected:
    """Accept a connection (Phoenix ``{:ok, socket}``): ``assigns`` (a JSON object, copied
    into every channel of the connection) and an optional socket ``id`` (a ``"disconnect"``
    broadcast there, ``Endpoint.disconnect(id)``, closes it)."""

    assigns: Dict[str, Any] = field(default_factory=dict)
    id: Optional[str] = None


@dataclass(frozen=True)
class Refused:
    """Refuse a connection: the WebSocket upgrade is answered with this HTTP status
    (default 403; 400-599, else ``InvalidArgumentError`` here, as in C and Node)."""

    status: int = 403

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise InvalidArgumentError(
                f"Refused(status): status must be an int (got {type(self.status).__name__})"
            )
        _native.check_refusal_status(self.status)


def ok(payload: Any = None) -> Reply:
    """``join``: accept with ``payload`` as the reply (default ``{}``); ``handle_in``: reply
    ``{"status": "ok", "response": payload}``."""
    return Reply("ok", {} if payload is None else payload)


def error(payload: Any = None) -> Reply:
    """``join``: refuse with ``payload`` (e.g. ``{"reason": "unauthorized"}``); ``handle_in``:
    reply with status ``"error"``."""
    return Reply("error", {} if payload is None else payload)


def reply(status: str, payload: Any = None) -> Reply:
    """Reply with any status (Phoenix ``{:reply, {status, payload}, socket}``)."""
    return Reply(status, {} if payload is None else payload)


_NOREPLY = NoReply()


def noreply() -> NoReply:
    """``{:noreply, socket}``."""
    return _NOREPLY


def stop(reason: Union[str, Tuple[str, str]] = "normal", reply: Optional[Reply] = None) -> Stop:
    """``{:stop, reason, socket}``, or with ``reply`` ``{:stop, reason, reply, socket}``."""
    return Stop(reason, reply)
