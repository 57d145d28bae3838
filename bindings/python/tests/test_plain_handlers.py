"""Handlers written as plain ``def`` functions work like ``async def`` ones, in every place a
handler is given (Channel methods, the decorator form, connect, HTTP routes); a handler's
failure is logged with where it happened (handler, topic, event or path)."""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.error
import urllib.request
from typing import Any, Awaitable, List

import pytest

from phx import Phx, eventually
from switchboard import (
    Broadcast,
    Channel,
    Connected,
    ConnectInfo,
    Endpoint,
    HttpRequest,
    HttpResponse,
    Refused,
    Socket,
    TerminateReason,
    noreply,
    ok,
    reply,
    stop,
)


def http_get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            return int(res.status)
    except urllib.error.HTTPError as e:
        with e:
            return int(e.code)


class PlainRoom(Channel):
    """Every callback a plain ``def``."""

    intercepts = ["news"]
    terminated: List[str] = []

    def join(self, topic: str, payload: Any, socket: Socket) -> Any:
        socket.assigns["name"] = payload.get("name", "anon")
        socket.send_info({"after": "join"})
        return ok({"plain": topic})

    def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
        if event == "echo":
            return reply("ok", {"echo": payload, "name": socket.assigns["name"]})
        if event == "rename":
            socket.assigns["name"] = payload["name"]
            return noreply()
        if event == "later":
            # A plain method may still hand back an awaitable: it is awaited.
            return self._later(payload)
        if event == "bye":
            return stop("normal", reply("ok", {"bye": True}))
        return reply("error", {"unknown": event})

    async def _later(self, payload: Any) -> Any:
        await asyncio.sleep(0)
        return reply("ok", {"later": payload})

    def handle_info(self, message: Any, socket: Socket) -> Any:
        socket.push("info", {"got": message})
        return None

    def handle_out(self, event: str, payload: Any, socket: Socket) -> Any:
        socket.push(event, {**payload, "seen_by": socket.assigns["name"]})
        return noreply()

    def terminate(self, reason: TerminateReason, socket: Socket) -> None:
        PlainRoom.terminated.append(str(reason))


async def test_plain_def_channel_callbacks_connect_and_http(phx: Phx) -> None:
    endpoint = Endpoint()
    endpoint.channel("plain:*", PlainRoom)

    @endpoint.connect
    def connect(params: Any, info: ConnectInfo) -> Any:
        if params.get("user") == "mallory":
            return Refused(403)
        return Connected({"user": params.get("user")})

    @endpoint.http_route("/plain")
    def plain_route(req: HttpRequest) -> HttpResponse:
        return HttpResponse(201, f"plain {req.path}")

    async with endpoint:
        assert (await phx.connect(endpoint.url, params={"user": "ann"}))["ok"]
        assert (await phx.connect(endpoint.url, name="m", params={"user": "mallory"}))["ok"] is False
        joined = await phx.join("plain:1", payload={"name": "ann"})
        assert joined["status"] == "ok" and joined["response"] == {"plain": "plain:1"}
        await phx.wait_for(lambda: phx.received("plain:1", "info"), "push from handle_info")
        assert phx.received("plain:1", "info") == [{"got": {"after": "join"}}]

        got = await phx.push("plain:1", "echo", {"x": 1})
        assert got["response"] == {"echo": {"x": 1}, "name": "ann"}
        assert (await phx.push("plain:1", "rename", {"name": "bob"}, timeout=300))["status"] == "timeout"
        assert (await phx.push("plain:1", "echo", {}))["response"]["name"] == "bob"
        assert (await phx.push("plain:1", "later", {"y": 2}))["response"] == {"later": {"y": 2}}

        assert endpoint.broadcast("plain:1", "news", {"n": 1}) == 1
        await phx.wait_for(lambda: phx.received("plain:1", "news"), "intercepted news")
        assert phx.received("plain:1", "news") == [{"n": 1, "seen_by": "bob"}]

        status = await asyncio.to_thread(http_get, f"http://127.0.0.1:{endpoint.port}/plain/x")
        assert status == 201

        assert (await phx.push("plain:1", "bye"))["response"] == {"bye": True}
        await eventually(lambda: PlainRoom.terminated, "terminate after stop")
        assert PlainRoom.terminated == ["stop"]
        assert not phx.errors


async def test_plain_def_functions_in_the_decorator_form(phx: Phx) -> None:
    endpoint = Endpoint()
    lobby = endpoint.channel("lobby:*")
    seen: List[Any] = []

    @lobby.join
    def join(topic: str, payload: Any, socket: Socket) -> Any:
        socket.subscribe("side:1")
        return ok({"topic": topic})

    @lobby.on("ping")
    def ping(payload: Any, socket: Socket) -> Any:
        return reply("ok", {"pong": payload})

    @lobby.on("async_ping")
    async def async_ping(payload: Any, socket: Socket) -> Any:
        await asyncio.sleep(0)
        return reply("ok", {"async_pong": payload})

    @lobby.handle_in
    def other(event: str, payload: Any, socket: Socket) -> Any:
        return reply("error", {"event": event})

    @lobby.handle_info
    def info(message: Any, socket: Socket) -> Any:
        seen.append(message)
        return noreply()

    @lobby.terminate
    def terminate(reason: TerminateReason, socket: Socket) -> None:
        seen.append(str(reason))

    async with endpoint:
        await phx.connect(endpoint.url)
        assert (await phx.join("lobby:1"))["response"] == {"topic": "lobby:1"}
        assert (await phx.push("lobby:1", "ping", {"n": 1}))["response"] == {"pong": {"n": 1}}
        assert (await phx.push("lobby:1", "async_ping", 2))["response"] == {"async_pong": 2}
        assert (await phx.push("lobby:1", "what"))["response"] == {"event": "what"}
        endpoint.broadcast("side:1", "note", {"x": 1})
        await eventually(lambda: seen, "handle_info of the side broadcast")
        assert seen == [Broadcast("side:1", "note", {"x": 1})]
        await phx.leave("lobby:1")
        await eventually(lambda: len(seen) == 2, "terminate after the leave")
        assert seen[1] == "left"
        assert not phx.errors


class Failing(Channel):
    intercepts = ["news"]

    async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
        if topic == "fail:crashjoin":
            raise RuntimeError("join exploded")
        return ok()

    def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
        if event == "ping":
            return ok()
        if event == "info":
            socket.send_info("boom")
            return ok()
        raise ValueError("handle_in exploded")

    async def handle_info(self, message: Any, socket: Socket) -> Any:
        raise RuntimeError("handle_info exploded")

    def handle_out(self, event: str, payload: Any, socket: Socket) -> Any:
        raise RuntimeError("handle_out exploded")

    async def terminate(self, reason: TerminateReason, socket: Socket) -> None:
        raise RuntimeError("terminate exploded")


async def test_handler_failures_are_logged_with_where_they_happened(
    phx: Phx, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="switchboard")
    endpoint = Endpoint()
    endpoint.channel("fail:*", Failing)

    @endpoint.connect
    def connect(params: Any, info: ConnectInfo) -> Any:
        if params.get("boom"):
            raise RuntimeError("connect exploded")
        return None

    @endpoint.http_route("/api")
    async def api(req: HttpRequest) -> HttpResponse:
        raise RuntimeError("route exploded")

    def logged(pattern: str) -> Awaitable[Any]:
        return eventually(
            lambda: [r for r in caplog.records if re.fullmatch(pattern, r.getMessage())],
            f"a log record matching {pattern!r}; got {[r.getMessage() for r in caplog.records]}",
        )

    async with endpoint:
        await phx.connect(endpoint.url)
        assert (await phx.join("fail:crashjoin", chan="c"))["response"] == {"reason": "join crashed"}
        await logged(r"join failed on fail:crashjoin: RuntimeError: join exploded")

        await phx.join("fail:in", chan="in")
        await phx.push("in", "new_msg", timeout=1000)
        await logged(r'handle_in failed on fail:in event "new_msg": ValueError: handle_in exploded')

        await phx.join("fail:info", chan="info")
        await phx.push("info", "info")
        await logged(r"handle_info failed on fail:info: RuntimeError: handle_info exploded")

        await phx.join("fail:out", chan="out")
        # A round trip first: the core subscribes the channel to its topic only after it
        # sent the join reply, so a broadcast right after the reply could miss it.
        await phx.push("out", "ping")
        assert endpoint.broadcast("fail:out", "news", {}) == 1
        await logged(r'handle_out failed on fail:out event "news": RuntimeError: handle_out exploded')

        await phx.join("fail:left", chan="left")
        await phx.leave("left")
        await logged(r"terminate failed on fail:left \(reason left\): RuntimeError: terminate exploded")

        assert (await phx.connect(endpoint.url, name="b", params={"boom": "1"}))["ok"] is False
        await logged(
            r"connect failed on /socket \(peer 127\.0\.0\.1:\d+\): RuntimeError: connect exploded"
        )

        url = f"http://127.0.0.1:{endpoint.port}/api/boom?x=1"
        assert await asyncio.to_thread(http_get, url) == 500
        await logged(r"HTTP handler failed on GET /api/boom: RuntimeError: route exploded")

    # Each with its traceback, and never the request kind as a number.
    failures = [r for r in caplog.records if " failed" in r.getMessage()]
    assert failures and all(r.exc_info for r in failures)
    assert "request kind" not in caplog.text
