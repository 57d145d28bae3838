"""Operations from Python (docs/OPERATIONS.md): the metrics text served at ``metrics_path`` and
read with ``metrics()``, the ``census()``, and the library's log events on the standard
``logging`` module (logger ``switchboard``) with their context."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.request
from typing import Any, List

from phx import Phx
from switchboard import Channel, Endpoint, Socket, ok


class Room(Channel):
    async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
        return ok()

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
        socket.broadcast("shout", payload)
        return ok()


def sample(text: str, series: str) -> float:
    """The value of ``series`` (name and labels as written) in a metrics text."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line[len(series) + 1 :])
    raise AssertionError(f"no {series} in\n{text}")


def fetch(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as res:
        return res.status, res.headers.get("content-type", ""), res.read().decode()


async def test_metrics_and_census_follow_a_phoenix_client(phx: Phx) -> None:
    endpoint = Endpoint(metrics_path="/metrics")
    endpoint.channel("room:*", Room)
    async with endpoint:
        assert sample(endpoint.metrics(), "switchboard_broadcasts_total") == 0
        assert endpoint.census()["connections"] == {"websocket": 0, "longpoll": 0}
        assert (await phx.connect(endpoint.url))["ok"]
        await phx.join("room:ops")
        assert (await phx.push("room:ops", "shout", {"n": 1}))["status"] == "ok"
        await phx.wait_for(lambda: phx.received("room:ops", "shout"), "the broadcast")
        status, ctype, text = await asyncio.to_thread(fetch, f"http://127.0.0.1:{endpoint.port}/metrics")
        assert (status, ctype) == (200, "text/plain; version=0.0.4; charset=utf-8")
        assert sample(text, 'switchboard_connections{transport="websocket"}') == 1
        assert sample(text, "switchboard_channels") == 1
        assert sample(text, "switchboard_broadcasts_total") == 1
        assert sample(text, 'switchboard_host_request_duration_seconds_count{kind="handle_in"}') == 1
        # The host API reads the same counters.
        assert sample(endpoint.metrics(), "switchboard_messages_received_total") == sample(
            text, "switchboard_messages_received_total"
        )
        census = endpoint.census()
        assert census["channels"] == 1 and census["cluster"] is None
        assert {"topic": "room:ops", "subscribers": 1, "channels": 1} in census["topics"]
        assert json.loads(json.dumps(census)) == census


class Records(logging.Handler):
    """Keeps the records it gets; `seen` is set once one matches `want`."""

    def __init__(self, want: str) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []
        self.want = want
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if self.want in record.getMessage():
            self.seen.set()


async def test_library_log_events_reach_the_switchboard_logger_with_their_context() -> None:
    logger = logging.getLogger("switchboard")
    records = Records("endpoint listening")
    logger.addHandler(records)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        # The level is read when an endpoint is created.
        endpoint = Endpoint()
        async with endpoint:
            assert await asyncio.to_thread(records.seen.wait, 10), "no 'endpoint listening' record"
        record = next(r for r in records.records if "endpoint listening" in r.getMessage())
        assert record.levelno == logging.INFO
        assert record.name == "switchboard"
        assert getattr(record, "switchboard_target") == "switchboard::endpoint"
        fields = getattr(record, "switchboard_fields")
        assert fields["addr"] == f"127.0.0.1:{endpoint.port}"
        # The context is in the message too, for formatters that show only the message.
        assert f"addr=127.0.0.1:{endpoint.port}" in record.getMessage()
        # Nothing below the logger's level was passed on.
        assert all(r.levelno >= logging.INFO for r in records.records)
    finally:
        logger.removeHandler(records)
        logger.setLevel(old_level)
        Endpoint()  # back to the default level for the other tests
