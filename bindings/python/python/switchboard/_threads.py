"""Running blocking native calls (drain, shutdown, close) off the event loop, in a Python
thread that is joined before the call returns — so the loop keeps dispatching requests
meanwhile and no thread outlives the call."""

from __future__ import annotations

import asyncio
import threading
from typing import Callable, TypeVar

T = TypeVar("T")


async def in_thread(fn: Callable[[], T], name: str) -> T:
    """Runs ``fn()`` in a new thread and awaits its result (or exception). Not cancellable
    half-way: a cancellation is delivered after ``fn`` finished."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def settle(ok: bool, value: object) -> None:
        if not done.done():
            if ok:
                done.set_result(value)
            else:
                done.set_exception(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = fn()
        except BaseException as e:  # handed to the awaiting coroutine
            loop.call_soon_threadsafe(settle, False, e)
        else:
            loop.call_soon_threadsafe(settle, True, result)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        # Finish the native call before propagating: it holds the endpoint's state.
        await asyncio.wait({done})
        raise
    finally:
        thread.join()
