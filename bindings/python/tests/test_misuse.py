"""The API cannot be misused silently: calls that only enqueue are plain methods (a missing
``await`` cannot drop a broadcast), calls that wait are coroutines; every action raises
``StateError`` once the endpoint is closed; registration refuses what cannot be a handler."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable, List

import pytest

from phx import Phx
from switchboard import (
    Channel,
    ChannelRef,
    Endpoint,
    HttpRequest,
    HttpResponse,
    Socket,
    SocketRef,
    Subscription,
    errors,
    ok,
    reply,
)


def public_methods(cls: type) -> List[str]:
    return [
        name
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    ]


def test_only_calls_that_wait_are_coroutines() -> None:
    waiting = {"start", "serve", "drain", "close"}
    endpoint_methods = set(public_methods(Endpoint))
    assert waiting <= endpoint_methods
    for name in endpoint_methods:
        method = getattr(Endpoint, name)
        assert inspect.iscoroutinefunction(method) == (name in waiting), name
    for name in ("broadcast", "local_broadcast", "disconnect", "subscribe"):
        assert name in endpoint_methods
    # Channel actions (push, broadcast, presence, reply, ...) are plain methods too.
    for cls in (ChannelRef, Socket, SocketRef, Subscription):
        for name in public_methods(cls):
            assert not inspect.iscoroutinefunction(getattr(cls, name)), f"{cls.__name__}.{name}"


async def test_endpoint_broadcast_is_done_when_the_call_returns() -> None:
    async with Endpoint() as endpoint:
        async with endpoint.subscribe("news:1") as sub:
            # No await: the broadcast is queued when the call returns, and its result is the
            # number of local subscribers, not a coroutine that could be forgotten.
            assert endpoint.broadcast("news:1", "a", {"n": 1}) == 1
            assert endpoint.local_broadcast("news:1", "b", {"n": 2}) == 1
            assert endpoint.disconnect("user:nobody") == 0
            got = [await asyncio.wait_for(sub.__anext__(), 5) for _ in range(2)]
            assert [(m.event, m.payload) for m in got] == [("a", {"n": 1}), ("b", {"n": 2})]
            # Awaiting it (the old API) fails loudly instead of passing unnoticed.
            with pytest.raises(TypeError):
                await endpoint.broadcast("news:1", "c", {})  # type: ignore[misc]


async def test_after_close_every_action_raises_state_error() -> None:
    endpoint = Endpoint()
    endpoint.channel("room:*", Channel)
    await endpoint.start()
    sub = endpoint.subscribe("room:1")
    await endpoint.close()

    actions: List[Callable[[], Any]] = [
        lambda: endpoint.broadcast("room:1", "e", {}),
        lambda: endpoint.local_broadcast("room:1", "e", {}),
        lambda: endpoint.disconnect("user:1"),
        lambda: endpoint.subscribe("room:1"),
        lambda: endpoint.presence_list("room:1"),
        lambda: endpoint.channel_count("room:1"),
        lambda: endpoint.channel("late:*", Channel),
        lambda: endpoint.connect(lambda params, info: None),
        lambda: endpoint.http_route("/late", lambda req: HttpResponse()),
    ]
    for action in actions:
        with pytest.raises(errors.StateError, match="closed"):
            action()
    for coroutine in (endpoint.start, endpoint.drain, endpoint.serve):
        with pytest.raises(errors.StateError, match="closed"):
            await coroutine()
    await endpoint.close()  # idempotent
    sub.close()

    # Closed before it was ever started: the same.
    never = Endpoint()
    await never.close()
    with pytest.raises(errors.StateError, match="closed"):
        never.broadcast("room:1", "e", {})
    with pytest.raises(errors.StateError, match="closed"):
        await never.start()


async def test_terminate_may_still_broadcast_while_close_drains(phx: Phx) -> None:
    done: List[int] = []

    class Room(Channel):
        async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
            return ok()

        def terminate(self, reason: str, socket: Socket) -> None:
            done.append(endpoint.broadcast("elsewhere:1", "bye", {}))

    endpoint = Endpoint(drain=(100, 0, 5_000))
    endpoint.channel("room:*", Room)
    async with endpoint:
        await phx.connect(endpoint.url)
        await phx.join("room:1")
    assert done == [0]


def test_registration_refuses_what_is_not_a_handler() -> None:
    endpoint = Endpoint()
    room = endpoint.channel("room:*")

    def refused(call: Callable[[], Any], words: str) -> None:
        with pytest.raises(errors.InvalidHandlerError, match=words) as caught:
            call()
        assert isinstance(caught.value, TypeError)
        assert isinstance(caught.value, errors.SwitchboardError)

    refused(lambda: room.on("new_msg")(42), "takes a function")  # type: ignore[type-var]
    refused(lambda: room.join(None), "takes a function")  # type: ignore[type-var]
    refused(lambda: room.handle_in("x"), "takes a function")  # type: ignore[type-var]
    refused(lambda: room.handle_info(1), "takes a function")  # type: ignore[type-var]
    refused(lambda: room.handle_out({}), "takes a function")  # type: ignore[type-var]
    refused(lambda: room.terminate("x"), "takes a function")  # type: ignore[type-var]

    # `@room.on` without its event name would register nothing and rebind the function.
    def new_msg(payload: Any, socket: Socket) -> Any:
        return reply("ok", {})

    refused(lambda: room.on(new_msg), "event name")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidArgumentError):
        room.on("")

    refused(lambda: endpoint.connect("accept everyone"), "takes a function")  # type: ignore[type-var]
    refused(lambda: endpoint.http_route("/api", 200), "takes a function")  # type: ignore[call-overload]
    refused(lambda: endpoint.http_route("/api")(None), "takes a function")  # type: ignore[type-var]

    def api(req: HttpRequest) -> HttpResponse:
        return HttpResponse()

    refused(lambda: endpoint.http_route(api), "prefix first")  # type: ignore[call-overload]

    # endpoint.channel takes a Channel subclass or instance (or nothing: decorator form).
    refused(lambda: endpoint.channel("fn:*", new_msg), "Channel subclass or instance")  # type: ignore[call-overload]
    refused(lambda: endpoint.channel("obj:*", object()), "Channel subclass or instance")  # type: ignore[call-overload]
    refused(lambda: endpoint.channel("cls:*", dict), "Channel subclass or instance")  # type: ignore[type-var]

    # A Channel subclass may have methods of any name (helpers): accepted.
    class WithHelpers(Channel):
        def helper(self) -> int:
            return 1

        async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
            return ok({"n": self.helper()})

    assert endpoint.channel("helpers:*", WithHelpers) is WithHelpers
    assert isinstance(endpoint.channel("shared:*", WithHelpers()), WithHelpers)


async def test_a_refused_registration_registers_nothing(phx: Phx) -> None:
    endpoint = Endpoint()
    with pytest.raises(errors.InvalidHandlerError):
        endpoint.channel("fn:*", lambda *a: ok())  # type: ignore[call-overload]
    async with endpoint:
        await phx.connect(endpoint.url)
        assert (await phx.join("fn:1"))["response"] == {"reason": "unmatched topic"}
