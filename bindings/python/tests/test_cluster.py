"""Clustering (docs/CLUSTER.md) through the Python binding: two endpoints in this process,
nodes "a" and "b", share a real redis-server or nats-server started per test on a free
loopback port. Broadcasts cross, local broadcasts do not, and a second live node with the
same name is refused at start with ``BrokerError``."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, List, Optional

import pytest

from switchboard import Broadcast, Endpoint, Subscription
from switchboard.errors import BrokerError

HOST = "127.0.0.1"
HEARTBEAT_MS = 100  # start listens 1.5 heartbeats for a namesake: keep it short
START_DEADLINE = 10.0  # s for a broker server to answer
DEADLINE = 5.0  # s for a broadcast to arrive


def _binary(env: str, name: str, fallback: str) -> str:
    path = os.environ.get(env) or shutil.which(name) or fallback
    if not os.access(path, os.X_OK):
        pytest.fail(f"{name} not found ({env}, PATH, {fallback}): install it or set {env}")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _exchange(port: int, send: bytes, done: Callable[[bytes], bool]) -> bytes:
    """One TCP round trip: what the server answers until ``done`` (empty if it cannot connect)."""
    got = b""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as s:
            if send:
                s.sendall(send)
            while not done(got):
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
    except OSError:
        pass
    return got


def _redis_ready(port: int) -> bool:
    return _exchange(port, b"PING\r\n", lambda t: b"\r\n" in t).startswith(b"+PONG")


def _nats_ready(port: int) -> bool:
    return _exchange(port, b"", lambda t: b"\r\n" in t).startswith(b"INFO ")


class BrokerServer:
    """A redis-server or nats-server of this test on a free port, killed by PID at teardown."""

    def __init__(self, kind: str, log: Path) -> None:
        self.kind = kind
        self.log = log
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{self.kind}://{HOST}:{self.port}"

    def _argv(self, port: int) -> List[str]:
        if self.kind == "redis":
            exe = _binary("SB_REDIS_SERVER", "redis-server", "/usr/bin/redis-server")
            return [exe, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        exe = _binary("SB_NATS_SERVER", "nats-server", "/usr/sbin/nats-server")
        return [exe, "-a", HOST, "-p", str(port)]

    def start(self) -> None:
        ready = _redis_ready if self.kind == "redis" else _nats_ready
        for _attempt in range(3):  # another process may take the free port in between
            self.port = _free_port()
            with open(self.log, "ab") as out:
                self.proc = subprocess.Popen(
                    self._argv(self.port), stdin=subprocess.DEVNULL, stdout=out, stderr=out
                )
            deadline = time.monotonic() + START_DEADLINE
            while self.proc.poll() is None and time.monotonic() < deadline:
                if ready(self.port):
                    return
                time.sleep(0.025)
            self.stop()
            if "address already in use" not in self.log.read_text(errors="replace").lower():
                break
        raise RuntimeError(f"{self.kind} server did not start:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(params=["redis", "nats"])
def broker(request: Any, tmp_path: Path) -> Iterator[BrokerServer]:
    server = BrokerServer(request.param, tmp_path / f"{request.param}.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def nodes(broker: BrokerServer) -> AsyncIterator[Callable[..., Any]]:
    """``await make(name)``: a started endpoint on port 0 named ``name`` on the broker,
    closed after the test."""
    endpoints: List[Endpoint] = []

    async def make(name: str) -> Endpoint:
        endpoint = Endpoint(
            port=0, broker=broker.url, node=name, broker_heartbeat_ms=HEARTBEAT_MS
        )
        endpoints.append(endpoint)
        await endpoint.start()
        return endpoint

    try:
        yield make
    finally:
        for endpoint in reversed(endpoints):
            await endpoint.close()


async def next_message(sub: Subscription) -> Broadcast:
    try:
        return await asyncio.wait_for(sub.__anext__(), DEADLINE)
    except asyncio.TimeoutError:
        raise AssertionError(f"no broadcast on {sub.topic} within {DEADLINE} s") from None


async def test_broadcast_crosses_nodes_local_broadcast_does_not(nodes: Any) -> None:
    a = await nodes("a")
    b = await nodes("b")
    on_a = a.subscribe("room:x")
    on_b = b.subscribe("room:x")
    other_topic_on_b = b.subscribe("room:y")

    payload = {"text": "héllo ☃", "n": 1, "nested": {"list": [1, None, True]}}
    assert a.broadcast("room:x", "news", payload) == 1  # local subscribers reached: on_a
    assert await next_message(on_b) == Broadcast("room:x", "news", payload)
    assert await next_message(on_a) == Broadcast("room:x", "news", payload)

    assert a.local_broadcast("room:x", "local", {"n": 2}) == 1
    # A later broadcast from the same publisher is a marker: per-publisher order means that
    # had the local one crossed, b would have had it first.
    a.broadcast("room:x", "marker", {"n": 3})
    assert await next_message(on_b) == Broadcast("room:x", "marker", {"n": 3})
    assert (await next_message(on_a)).event == "local"
    assert (await next_message(on_a)).event == "marker"
    await asyncio.sleep(0.1)
    assert on_b.get_nowait() is None
    assert on_a.get_nowait() is None  # each once: the broker's echo is not delivered again
    assert other_topic_on_b.get_nowait() is None


async def test_second_live_node_with_the_same_name_is_refused(
    nodes: Any, broker: BrokerServer
) -> None:
    a = await nodes("a")
    b = await nodes("b")
    namesake = Endpoint(port=0, broker=broker.url, node="a", broker_heartbeat_ms=HEARTBEAT_MS)
    try:
        with pytest.raises(BrokerError, match='node name "a" is already used by a live process') as err:
            await namesake.start()
        assert err.value.code == "SB_E_BROKER"
    finally:
        await namesake.close()

    # The node that was already serving keeps serving.
    on_b = b.subscribe("room:x")
    a.broadcast("room:x", "still", {"ok": True})
    assert await next_message(on_b) == Broadcast("room:x", "still", {"ok": True})


async def test_start_waits_for_the_broker_off_the_event_loop() -> None:
    # Nothing listens on this port: start() waits the whole connect timeout, then starts alone.
    url = f"redis://127.0.0.1:{_free_port()}"
    endpoint = Endpoint(broker=url, node="lonely", broker_connect_timeout_ms=500)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    began = time.monotonic()
    try:
        await endpoint.start()
        assert time.monotonic() - began >= 0.45, "start() waited for the broker"
        assert ticks >= 20, f"the event loop ran meanwhile ({ticks} ticks of 10 ms)"
        # Alone, it still serves, and its broadcasts say the remote part failed.
        with pytest.raises(BrokerError):
            endpoint.broadcast("room:x", "e", {})
    finally:
        ticker.cancel()
        await endpoint.close()


async def test_close_during_start_leaves_nothing_running() -> None:
    from switchboard.errors import StateError

    url = f"redis://127.0.0.1:{_free_port()}"
    endpoint = Endpoint(broker=url, node="brief", broker_connect_timeout_ms=300)
    starting = asyncio.create_task(endpoint.start())
    # One turn of the loop: start() runs up to its wait for the native start in a thread.
    await asyncio.sleep(0)
    await endpoint.close()
    with pytest.raises(StateError, match="closed while it started"):
        await starting
    with pytest.raises(StateError):
        endpoint.broadcast("room:x", "e", {})
