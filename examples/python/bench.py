"""The benchmark server hosted from Python (bench/README.md, bench/PROTOCOLS.md; the Rust twin
is examples/rust/bench.rs): the same channels, with the handlers in asyncio.

    pip install ./bindings/python
    PORT=0 python examples/python/bench.py

Prints ``LISTENING 127.0.0.1:<port>``; exits on stdin EOF or SIGTERM. Socket at ``/socket``:

* ``bench:*``: join ok ``{}``; a push ``pub`` with any payload (JSON or binary) is broadcast
  to every other subscriber of the topic as ``msg`` with the same payload
  (``broadcast_from``), with no reply; a push ``ping`` with any payload is answered ok with
  the same payload (the roundtrip scenario). Raw payloads: the bytes are passed through,
  never parsed in Python.
* ``presence:*``: join ok ``{}``, then the client is tracked under the join param ``key``
  (missing → ``""``) with meta ``{"online_at": <ms>}`` and gets ``presence_state``.

Limits raised for benchmarks, as the Rust server: the per-connection outbox holds
``BENCH_OUTBOX_FRAMES`` frames (default 65 536) and ``BENCH_OUTBOX_BYTES`` bytes (default
64 MiB); the open-file soft limit is raised to the hard limit.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
from typing import Any

from switchboard import Channel, Endpoint, Json, Socket, noreply, ok, on_stdin_eof


class Bench(Channel):
    """``bench:*``: fan-out of ``pub`` as ``msg`` to everyone but the sender; ``ping``
    answered in kind."""

    raw = True

    async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
        return ok()

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
        if event == "pub":
            socket.broadcast_from("msg", payload)
            return noreply()
        if event == "ping":
            return ok(payload)
        raise ValueError(f"unknown event {event!r}")


class Presence(Channel):
    """``presence:*``: tracks each joined client under its ``key`` join param."""

    async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
        key = payload.get("key") if isinstance(payload, dict) else None
        # Non-string keys as their JSON text, like the Rust server.
        socket.assigns["key"] = "" if key is None else key if isinstance(key, str) else _dump(key).decode()
        socket.send_info("after_join")
        return ok()

    async def handle_info(self, message: Any, socket: Socket) -> Any:
        if message == "after_join":
            socket.track(socket.assigns["key"], {"online_at": int(time.time() * 1000)})
            socket.push("presence_state", Json(_dump(socket.presence_list())))
        return None


def _dump(value: Any) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":")).encode()


def env_number(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        print(f"bench: {name} must be a number, got {text!r}", file=sys.stderr)
        raise SystemExit(2) from None


async def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    endpoint = Endpoint(
        port=env_number("PORT", 0),
        node="bench@127.0.0.1",
        outbox_max_frames=env_number("BENCH_OUTBOX_FRAMES", 65_536),
        outbox_max_bytes=env_number("BENCH_OUTBOX_BYTES", 64 * 1024 * 1024),
    )
    endpoint.channel("bench:*", Bench)
    endpoint.channel("presence:*", Presence)
    port = await endpoint.start()
    print(f"LISTENING 127.0.0.1:{port}", flush=True)

    on_stdin_eof(endpoint.stop)
    await endpoint.serve(handle_signals=True)


if __name__ == "__main__":
    asyncio.run(main())
