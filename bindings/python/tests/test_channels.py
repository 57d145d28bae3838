"""The asyncio API against the real phoenix client: join, replies, pushes, broadcasts,
assigns, connect, decorator form, raw payloads, binary, presence."""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest

import switchboard
from phx import Phx, binary, eventually
from switchboard import (
    Channel,
    Connected,
    ConnectInfo,
    Endpoint,
    Json,
    Refused,
    Socket,
    error,
    noreply,
    ok,
    reply,
    stop,
)


class Room(Channel):
    joins: List[str] = []

    def __init__(self) -> None:
        self.count = 0

    async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
        Room.joins.append(topic)
        if payload.get("deny"):
            return error({"reason": "denied"})
        socket.assigns["joined_as"] = payload.get("name", "anon")
        socket.push("welcome", {"topic": topic})
        return ok({"hello": payload.get("name")})

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
        self.count += 1
        if event == "echo":
            return reply("ok", payload)
        if event == "count":
            return ok({"count": self.count})
        if event == "whoami":
            return ok({"name": socket.assigns["joined_as"], "user": socket.assigns.get("user")})
        if event == "rename":
            socket.assigns["joined_as"] = payload["name"]
            return noreply()
        if event == "shout":
            socket.broadcast("shout", payload)
            return ok()
        if event == "shout_others":
            socket.broadcast_from("shout", payload)
            return None
        if event == "later":
            ref = socket.socket_ref()

            async def answer_later() -> None:
                await asyncio.sleep(0.05)
                ref.reply("ok", {"late": True})

            asyncio.ensure_future(answer_later())
            return noreply()
        if event == "bye":
            return stop("normal", reply("ok", {"bye": True}))
        if event == "bin":
            assert isinstance(payload, bytes)
            return ok(payload + b"\x03")
        if event == "info":
            socket.send_info({"n": payload["n"]})
            return ok()
        return error({"unknown": event})

    async def handle_info(self, message: Any, socket: Socket) -> Any:
        socket.push("info", {"got": message})
        return noreply()


async def test_join_reply_push_assigns_and_per_channel_instances(phx: Phx) -> None:
    endpoint = Endpoint()
    endpoint.channel("room:*", Room)
    async with endpoint:
        assert (await phx.connect(endpoint.url))["ok"]
        joined = await phx.join("room:a", payload={"name": "ann"})
        assert joined == {"id": joined["id"], "status": "ok", "response": {"hello": "ann"}}
        await phx.wait_for(lambda: phx.received("room:a", "welcome"), "welcome push")
        assert phx.received("room:a", "welcome") == [{"topic": "room:a"}]

        assert (await phx.push("room:a", "echo", {"x": [1, 2.5, "é", None]}))["response"] == {"x": [1, 2.5, "é", None]}
        assert (await phx.push("room:a", "whoami"))["response"] == {"name": "ann", "user": None}
        assert (await phx.push("room:a", "rename", {"name": "bob"}, timeout=300))["status"] == "timeout"
        assert (await phx.push("room:a", "whoami"))["response"]["name"] == "bob"

        # One handler object per channel instance: counters do not mix.
        await phx.join("room:b", chan="b")
        assert (await phx.push("room:a", "count"))["response"] == {"count": 5}
        assert (await phx.push("b", "count"))["response"] == {"count": 1}

        denied = await phx.join("room:x", chan="x", payload={"deny": True})
        assert denied["status"] == "error" and denied["response"] == {"reason": "denied"}
        assert endpoint.channel_count("room:a") == 1
        assert endpoint.channel_count("room:x") == 0


async def test_broadcast_broadcast_from_late_reply_info_and_stop(phx: Phx) -> None:
    endpoint = Endpoint()
    endpoint.channel("room:*", Room)
    async with endpoint:
        await phx.connect(endpoint.url, name="s1")
        await phx.connect(endpoint.url, name="s2")
        await phx.join("room:z", chan="one", sock="s1")
        await phx.join("room:z", chan="two", sock="s2")

        await phx.push("one", "shout", {"m": 1})
        await phx.wait_for(lambda: phx.received("two", "shout") and phx.received("one", "shout"), "shout")
        await phx.push("one", "shout_others", {"m": 2}, timeout=300)
        await phx.wait_for(lambda: len(phx.received("two", "shout")) == 2, "shout_others")
        assert phx.received("one", "shout") == [{"m": 1}]

        assert endpoint.broadcast("room:z", "news", {"n": 1}) == 2
        await phx.wait_for(lambda: phx.received("one", "news") and phx.received("two", "news"), "news")

        assert (await phx.push("one", "later"))["response"] == {"late": True}
        await phx.push("one", "info", {"n": 7})
        await phx.wait_for(lambda: phx.received("one", "info"), "info push")
        assert phx.received("one", "info") == [{"got": {"n": 7}}]

        assert (await phx.push("one", "bye"))["response"] == {"bye": True}
        await phx.wait_for(lambda: phx.received("one", "phx_close"), "phx_close")
        assert endpoint.channel_count("room:z") == 1


async def test_binary_and_raw_payloads(phx: Phx) -> None:
    class Raw(Channel):
        raw = True

        async def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
            assert isinstance(payload, Json) and payload.decode_json() == {"a": 1}
            socket.broadcast_from("copy", payload)
            return reply("ok", Json(b'{"raw":true}'))

    endpoint = Endpoint()
    endpoint.channel("room:*", Room)
    endpoint.channel("raw:*", Raw)
    async with endpoint:
        await phx.connect(endpoint.url)
        await phx.join("room:bin")
        got = await phx.push("room:bin", "bin", binary(b"\x00\x01"))
        assert got["response"] == binary(b"\x00\x01\x03")
        await phx.join("raw:1")
        assert (await phx.push("raw:1", "x", {"a": 1}))["response"] == {"raw": True}
        assert endpoint.broadcast("room:bin", "blob", b"\xff") == 1
        await phx.wait_for(lambda: phx.received("room:bin", "blob"), "binary broadcast")
        assert phx.received("room:bin", "blob") == [binary(b"\xff")]


async def test_connect_callback_assigns_refusal_and_disconnect(phx: Phx) -> None:
    seen: List[ConnectInfo] = []
    endpoint = Endpoint()
    endpoint.channel("room:*", Room)

    @endpoint.connect
    async def connect(params: Any, info: ConnectInfo) -> Any:
        seen.append(info)
        if params.get("user") == "mallory":
            return Refused(403)
        if params.get("user") == "eve":
            return False
        return Connected({"user": params.get("user")}, id=f"user:{params.get('user')}")

    async with endpoint:
        assert (await phx.connect(endpoint.url, params={"user": "ann"}))["ok"]
        assert seen[0].mount == "/socket" and seen[0].peer and seen[0].peer.startswith("127.0.0.1:")
        await phx.join("room:c", payload={"name": "a"})
        assert (await phx.push("room:c", "whoami"))["response"] == {"name": "a", "user": "ann"}
        refused = await phx.connect(endpoint.url, name="m", params={"user": "mallory"})
        assert refused["ok"] is False
        refused = await phx.connect(endpoint.url, name="e", params={"user": "eve"})
        assert refused["ok"] is False
        assert endpoint.disconnect("user:ann") == 1
        await phx.wait_for(lambda: phx.closes, "disconnect close")
        assert phx.closes[0]["code"] == 1001


async def test_decorator_form_and_unmatched_topic(phx: Phx) -> None:
    endpoint = Endpoint()
    lobby = endpoint.channel("lobby")
    left: List[str] = []

    @lobby.join
    async def join(topic: str, payload: Any, socket: Socket) -> Any:
        return ok({"topic": topic})

    @lobby.on("ping")
    async def ping(payload: Any, socket: Socket) -> Any:
        return reply("ok", {"pong": payload})

    @lobby.handle_in
    async def other(event: str, payload: Any, socket: Socket) -> Any:
        return error({"event": event})

    @lobby.terminate
    async def terminate(reason: str, socket: Socket) -> None:
        left.append(reason)

    async with endpoint:
        await phx.connect(endpoint.url)
        assert (await phx.join("lobby"))["response"] == {"topic": "lobby"}
        assert (await phx.push("lobby", "ping", {"n": 1}))["response"] == {"pong": {"n": 1}}
        assert (await phx.push("lobby", "what"))["response"] == {"event": "what"}
        unmatched = await phx.join("lobby:2", chan="x")
        assert unmatched["response"] == {"reason": "unmatched topic"}
        assert (await phx.leave("lobby"))["status"] == "ok"
        await eventually(lambda: left, "terminate after the leave")
        assert left == ["left"]


async def test_presence_and_host_subscription(phx: Phx) -> None:
    class Pres(Channel):
        async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
            socket.send_info("after_join")
            return None

        async def handle_info(self, message: Any, socket: Socket) -> Any:
            ref = socket.track("ann", {"online_at": 1})
            assert isinstance(ref, str) and ref
            with pytest.raises(switchboard.errors.PresenceError):
                socket.track("ann", {"online_at": 2})
            socket.push("presence_state", socket.presence_list())
            return None

        async def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
            if event == "away":
                socket.update("ann", {"status": "away"})
            else:
                socket.untrack("ann")
            return ok()

    endpoint = Endpoint()
    endpoint.channel("presence:*", Pres)
    async with endpoint:
        async with endpoint.subscribe("presence:1") as sub:
            await phx.connect(endpoint.url)
            await phx.join("presence:1")
            await phx.wait_for(lambda: phx.received("presence:1", "presence_state"), "presence_state")
            [state] = phx.received("presence:1", "presence_state")
            assert list(state) == ["ann"] and state["ann"]["metas"][0]["online_at"] == 1
            listed = endpoint.presence_list("presence:1")
            assert listed["ann"]["metas"][0]["phx_ref"] == state["ann"]["metas"][0]["phx_ref"]

            diff = await asyncio.wait_for(sub.__anext__(), 5)
            assert diff.event == "presence_diff" and list(diff.payload["joins"]) == ["ann"]
            await phx.push("presence:1", "away")
            diff = await asyncio.wait_for(sub.__anext__(), 5)
            assert diff.payload["joins"]["ann"]["metas"][0]["status"] == "away"
            await phx.push("presence:1", "gone")
            diff = await asyncio.wait_for(sub.__anext__(), 5)
            assert list(diff.payload["leaves"]) == ["ann"] and diff.payload["joins"] == {}
            assert endpoint.presence_list("presence:1") == {}

            endpoint.broadcast("presence:1", "note", {"x": 1})
            note = await asyncio.wait_for(sub.__anext__(), 5)
            assert (note.topic, note.event, note.payload) == ("presence:1", "note", {"x": 1})
        # Closed: iteration ends once the queue is read.
        assert [m async for m in sub] == []
