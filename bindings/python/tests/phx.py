"""A real phoenix client for the tests: ``phx_driver.mjs`` (the ``phoenix`` npm package on
Node, over ``ws``) commanded line by line from asyncio."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

DRIVER = Path(__file__).with_name("phx_driver.mjs")
DEADLINE = 10.0


async def eventually(predicate: Any, what: str, timeout: float = DEADLINE) -> Any:
    """Polls ``predicate`` until it is truthy and returns its value; fails after ``timeout``
    seconds. For state the Phx client does not report (handler calls, log records, counts):
    a wait on the event itself instead of a sleep that is hopefully long enough."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def binary(data: bytes) -> Dict[str, str]:
    """A binary payload as the driver passes it."""
    return {"$binary": data.hex()}


class Phx:
    """One Node process running any number of phoenix Sockets and channels."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._ids = itertools.count(1)
        self._waiting: Dict[int, "asyncio.Future[Dict[str, Any]]"] = {}
        self.messages: List[Dict[str, Any]] = []
        self.closes: List[Dict[str, Any]] = []
        self.errors: List[str] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls) -> "Phx":
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=os.fspath(DRIVER.parent),
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            obj = json.loads(line)
            if "id" in obj:
                fut = self._waiting.pop(obj["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(obj)
            elif "msg" in obj:
                self.messages.append(obj["msg"])
            elif "close" in obj:
                self.closes.append(obj["close"])
            elif "chanerror" in obj:
                self.errors.append(obj["chanerror"]["chan"])
            self._changed.set()

    async def call(self, op: str, **args: Any) -> Dict[str, Any]:
        n = next(self._ids)
        fut: "asyncio.Future[Dict[str, Any]]" = asyncio.get_running_loop().create_future()
        self._waiting[n] = fut
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"id": n, "op": op, **args}) + "\n").encode())
        await self.proc.stdin.drain()
        return await asyncio.wait_for(fut, DEADLINE)

    async def connect(self, url: str, name: str = "s", params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        return await self.call("connect", url=f"{url}", name=name, params=params or {})

    async def join(self, topic: str, chan: Optional[str] = None, sock: str = "s", payload: Any = None, timeout: int = 5000) -> Dict[str, Any]:
        return await self.call("join", sock=sock, chan=chan or topic, topic=topic, payload=payload or {}, timeout=timeout)

    async def push(self, chan: str, event: str, payload: Any = None, timeout: int = 5000) -> Dict[str, Any]:
        return await self.call("push", chan=chan, event=event, payload=payload if payload is not None else {}, timeout=timeout)

    async def leave(self, chan: str) -> Dict[str, Any]:
        return await self.call("leave", chan=chan)

    async def wait_for(self, predicate: Any, what: str, timeout: float = DEADLINE) -> Any:
        """Waits until ``predicate()`` is truthy (checked whenever the client reports)."""
        async def loop() -> Any:
            while True:
                result = predicate()
                if result:
                    return result
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(loop(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; messages={self.messages} closes={self.closes}") from None

    def received(self, chan: str, event: str) -> List[Any]:
        return [m["payload"] for m in self.messages if m["chan"] == chan and m["event"] == event]

    async def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()
        try:
            await self._reader
        except asyncio.CancelledError:
            pass
