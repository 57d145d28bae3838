"""Host-side topic subscriptions as async iterators (Phoenix ``Endpoint.subscribe/1`` from
a process that is not a channel)."""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, Any, Deque, Optional

from ._payload import decode
from .channel import Broadcast

if TYPE_CHECKING:
    from types import TracebackType

    from ._native import Subscription as NativeSubscription

__all__ = ["Subscription"]

_BATCH = 256


class Subscription:
    """Every broadcast on one topic — from ``Endpoint.broadcast``, from channels, from
    presence (``presence_diff``) — as :class:`~switchboard.Broadcast` items::

        async with endpoint.subscribe("room:lobby") as sub:
            async for msg in sub:
                print(msg.event, msg.payload)

    At most ``capacity`` broadcasts wait unread; newer ones are dropped and counted in
    :attr:`dropped`, so a reader that stops cannot grow memory. Iteration ends after
    :meth:`close` once the queued broadcasts are read. Use it from the loop that created it.
    """

    def __init__(self, native: "NativeSubscription", raw: bool) -> None:
        self._native = native
        self._raw = raw
        self._buffer: Deque[Broadcast] = collections.deque()
        self._waiter: "Optional[asyncio.Future[None]]" = None

    @property
    def topic(self) -> str:
        """The subscribed topic."""
        return self._native.topic

    @property
    def dropped(self) -> int:
        """Broadcasts dropped because ``capacity`` were unread."""
        return self._native.dropped

    def close(self) -> None:
        """Unsubscribes (idempotent); a pending ``async for`` ends after the queued items."""
        self._native.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fill(self) -> None:
        topic = self._native.topic
        for event, data, binary in self._native.poll(_BATCH):
            self._buffer.append(Broadcast(topic, event, decode(data, binary, self._raw)))

    def get_nowait(self) -> Optional[Broadcast]:
        """The next broadcast if one is queued, else ``None``."""
        if not self._buffer:
            self._fill()
        return self._buffer.popleft() if self._buffer else None

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Broadcast:
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            if self._native.closed:
                raise StopAsyncIteration
            await self._readable()

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready: "asyncio.Future[None]" = loop.create_future()
        fd = self._native.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self._waiter = ready
        loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
            self._waiter = None

    async def __aenter__(self) -> "Subscription":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type],
        exc: Optional[BaseException],
        tb: "Optional[TracebackType]",
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._native.closed else "open"
        return f"<Subscription {self.topic!r} {state}>"

    def __del__(self) -> None:
        native: Any = getattr(self, "_native", None)
        if native is not None:
            native.close()
