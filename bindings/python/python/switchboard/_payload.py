"""Payloads between Python objects and the wire: JSON text or raw binary."""

from __future__ import annotations

import json
from typing import Any, Tuple, Union

from .errors import InvalidJsonError

__all__ = ["Json", "encode", "decode"]


class Json(bytes):
    """Raw JSON text, passed through without parsing or re-encoding (the fast path).

    As an output (reply, push, broadcast payload) it is sent as it is, after a validity
    check; as an input (a channel with ``raw = True``) it is the payload as received.
    Plain ``bytes``/``bytearray``/``memoryview`` are binary payloads instead.
    """

    __slots__ = ()

    def decode_json(self) -> Any:
        """The parsed value."""
        return json.loads(self)


Encoded = Tuple[Union[bytes, str], bool]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def encode(value: Any) -> Encoded:
    """``(data, binary)`` for the native layer. ``Json`` → as is; ``bytes``, ``bytearray``,
    ``memoryview`` → binary; anything else → ``json`` encoded (``InvalidJsonError`` if it
    cannot be)."""
    if isinstance(value, Json):
        return value, False
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), True
    if isinstance(value, memoryview):
        return value.tobytes(), True
    try:
        return _dumps(value), False
    except (TypeError, ValueError) as e:
        raise InvalidJsonError(f"payload is not JSON-encodable: {e}") from e


def decode(data: bytes, binary: bool, raw: bool) -> Any:
    """A received payload: ``bytes`` when binary; JSON as ``Json`` when ``raw``, else the
    parsed value."""
    if binary:
        return data
    if raw:
        return Json(data)
    return json.loads(data)
