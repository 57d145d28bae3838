"""Shutdown: drain with terminate, serve/stop, no leaked threads, no hang at interpreter
exit (atexit closes endpoints that were never closed)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, List

from phx import Phx, eventually
from switchboard import Channel, Endpoint, Socket, TerminateReason, ok


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


async def os_threads_settled(expected: int, timeout: float = 2.0) -> int:
    """The thread count once it reaches ``expected`` or ``timeout`` seconds passed: a joined
    thread can stay in /proc/self/task for a moment, because the kernel wakes
    ``pthread_join`` (clearing the thread id) before it has reaped the task."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while os_threads() != expected and loop.time() < deadline:
        await asyncio.sleep(0.01)
    return os_threads()


class Tracked(Channel):
    reasons: List[TerminateReason] = []

    async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
        return ok()

    async def terminate(self, reason: TerminateReason, socket: Socket) -> None:
        Tracked.reasons.append(reason)


async def test_close_drains_connections_runs_terminate_and_joins_every_thread(phx: Phx) -> None:
    before_py = set(threading.enumerate())
    before_os = os_threads()
    endpoint = Endpoint(drain=(100, 0, 5_000))
    endpoint.channel("t:*", Tracked)
    await endpoint.start()
    assert os_threads() > before_os  # the runtime's threads
    await phx.connect(endpoint.url)
    await phx.join("t:1")
    await endpoint.close()
    await phx.wait_for(lambda: phx.closes, "drain close")
    assert phx.closes[0]["code"] == 1012
    assert Tracked.reasons == ["drain"]
    assert set(threading.enumerate()) == before_py
    assert await os_threads_settled(before_os) == before_os
    await endpoint.close()  # idempotent


async def test_serve_returns_after_stop_and_on_cancellation() -> None:
    endpoint = Endpoint()
    task = asyncio.ensure_future(endpoint.serve())
    await eventually(lambda: endpoint._native is not None, "serve() started")
    endpoint.stop()
    await asyncio.wait_for(task, 10)

    endpoint = Endpoint()
    task = asyncio.ensure_future(endpoint.serve())
    # Cancel a serve() that is running (not one still starting): wait for it, not a sleep.
    await eventually(lambda: endpoint._native is not None, "serve() started")
    task.cancel()
    try:
        await asyncio.wait_for(task, 10)
    except asyncio.CancelledError:
        pass
    assert endpoint._native is not None and endpoint._native.closed


def _run(script: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).parent,
    )


def test_interpreter_exits_with_an_endpoint_never_closed_and_a_client_connected() -> None:
    # A client is connected and a handler is stalled when the script ends: the atexit hook
    # closes the endpoint; no Rust thread touches the interpreter while it finalizes.
    done = _run(
        """
        import asyncio, json, subprocess, sys
        from switchboard import Channel, Endpoint, ok

        stalled = None  # an asyncio.Event, made in main() (Python 3.9 binds it to a loop)

        class Stall(Channel):
            async def join(self, topic, payload, socket):
                return ok()
            async def handle_in(self, event, payload, socket):
                stalled.set()
                await asyncio.sleep(60)

        async def main():
            global stalled
            stalled = asyncio.Event()
            ep = Endpoint()
            ep.channel("s:*", Stall)
            await ep.start()
            from phx import Phx
            phx = await Phx.start()
            await phx.connect(ep.url)
            await phx.join("s:1")
            asyncio.ensure_future(phx.push("s:1", "x", timeout=60000))
            await asyncio.wait_for(stalled.wait(), 20)  # the handler is running and stalls
            await phx.close()
            print("PORT", ep.port, flush=True)

        asyncio.run(main())
        """
    )
    assert done.returncode == 0, done.stderr
    assert "PORT" in done.stdout


def test_interpreter_exits_when_the_loop_dies_with_requests_pending() -> None:
    done = _run(
        """
        import asyncio
        from switchboard import Endpoint
        async def main():
            ep = Endpoint()
            ep.channel("x:*")
            await ep.start()
            ep.broadcast("x:1", "e", {})
        asyncio.run(main())
        print("OK")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK"
