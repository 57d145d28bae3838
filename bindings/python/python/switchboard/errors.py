"""The exception hierarchy: every error the binding raises is a :class:`SwitchboardError`.

The native module raises these classes (looked up here by name), so ``except
SwitchboardError`` catches everything from Switchboard, and the ones that are also a
built-in error (``ValueError``, ``LookupError``, ``OSError``) can be caught as such. An
error raised by the native module carries ``code``: the core's name for the failure
(``SB_E_NOT_FOUND``, ...), the same word C's ``sb_status`` and Node's ``err.code`` give.
"""

from __future__ import annotations

__all__ = [
    "SwitchboardError",
    "InvalidArgumentError",
    "InvalidJsonError",
    "InvalidHandlerError",
    "EncodeError",
    "NotFoundError",
    "ChannelNotFoundError",
    "AlreadyAnsweredError",
    "StaleTicketError",
    "WrongAnswerError",
    "QueueFullError",
    "StateError",
    "BrokerError",
    "PresenceError",
    "SwitchboardOSError",
]


class SwitchboardError(Exception):
    """Base class of every Switchboard error."""

    code: str = ""
    """The core's error code name, e.g. ``SB_E_INVALID_ARGUMENT`` (set on errors from the
    native module; empty on errors the package raises itself)."""


class InvalidArgumentError(SwitchboardError, ValueError):
    """An argument or configuration value was refused (empty topic, bad bind address, ...).
    Nothing changed."""


class InvalidJsonError(InvalidArgumentError):
    """A payload, assigns, meta or ref is not valid JSON (or not JSON-encodable, e.g. NaN)."""


class InvalidHandlerError(InvalidArgumentError, TypeError):
    """A registration call was given something that cannot be a handler: a non-callable to
    ``@room.on("event")``, ``@room.join``, ``@endpoint.connect``, ``@endpoint.http_route``
    (or a decorator used without its argument, ``@room.on``), or something other than a
    :class:`~switchboard.Channel` subclass or instance to ``endpoint.channel``. Raised at
    registration; nothing was registered. Also a ``TypeError``."""


class EncodeError(SwitchboardError, ValueError):
    """A payload cannot go on the wire: a broadcast or push payload that is not a JSON
    object (Phoenix V2 requires objects), binary to a V1 client, or a binary-frame field
    over 255 bytes. Nothing was sent."""


class NotFoundError(SwitchboardError, LookupError):
    """``SB_E_NOT_FOUND``: the id names nothing now. A channel that has ended (left,
    stopped, crashed, connection closed: the action had no effect, like a send to a dead
    channel process in Phoenix), or a ticket that was never issued."""


ChannelNotFoundError = NotFoundError
"""The name this error had before it also covered unknown tickets (kept as an alias)."""


class AlreadyAnsweredError(SwitchboardError):
    """The request was already answered (or released, which answers it as a crash)."""


class StaleTicketError(SwitchboardError):
    """The answer came after the request timeout (the channel already got ``phx_error``,
    the join ``"join crashed"``, the connect 503) or after its connection ended."""


class WrongAnswerError(SwitchboardError, TypeError):
    """The answer does not fit the request (e.g. a join answered with a reply). The request
    stays pending."""


class QueueFullError(SwitchboardError):
    """A bounded queue is full: the channel's inbox, or the host request queue
    (``max_pending``)."""


class StateError(SwitchboardError):
    """The endpoint is not in a state that allows the call (not started, already started,
    shut down, or a blocking call on a Switchboard runtime thread)."""

    code = "SB_E_INVALID_STATE"


class BrokerError(SwitchboardError):
    """Local delivery happened; forwarding to other nodes failed."""


class PresenceError(SwitchboardError):
    """A presence call was refused: the key is already tracked by this channel (``track``),
    or not tracked (``update``)."""


class SwitchboardOSError(SwitchboardError, OSError):
    """An operating-system failure: the address cannot be bound, threads cannot start."""
