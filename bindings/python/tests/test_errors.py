"""Errors: the SwitchboardError hierarchy, handlers that raise or stall, bad input."""

from __future__ import annotations

import asyncio
import logging
import socket as pysocket
from typing import Any, Callable, List, Optional

import pytest

from phx import Phx, eventually
from switchboard import Channel, Endpoint, Socket, SocketRef, errors, noreply, ok, reply, stop


class Faulty(Channel):
    stalled: List[Socket] = []
    late: List[BaseException] = []
    # The stalling handlers answer only once the test, having seen the request time out, sets
    # these: their answer is late by construction, not because a sleep outlasted the timeout.
    release_join: Optional[asyncio.Event] = None
    release_stall: Optional[asyncio.Event] = None

    async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
        if topic == "faulty:crashjoin":
            raise RuntimeError("join exploded")
        if topic == "faulty:slowjoin":
            assert Faulty.release_join is not None
            await Faulty.release_join.wait()
        if topic == "faulty:noreplyjoin":
            return noreply()
        if topic == "faulty:replyjoin":
            return reply("maybe", {})
        if topic == "faulty:stopjoin":
            return stop("normal")
        if topic == "faulty:intjoin":
            return 42
        return ok()

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
        if event == "boom":
            raise ValueError("handler exploded")
        if event == "stall":
            Faulty.stalled.append(socket)
            assert Faulty.release_stall is not None
            await Faulty.release_stall.wait()
            return reply("ok", {"too": "late"})
        if event == "bad_result":
            return 42
        if event == "nan":
            return reply("ok", {"x": float("nan")})
        return ok({"alive": True})


def _endpoint() -> Endpoint:
    endpoint = Endpoint(request_timeout_ms=300)
    endpoint.channel("faulty:*", Faulty)
    return endpoint


async def test_a_raising_handler_fails_only_its_channel_and_is_logged(
    phx: Phx, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="switchboard")
    async with _endpoint() as endpoint:
        await phx.connect(endpoint.url)
        await phx.join("faulty:a", chan="a")
        await phx.join("faulty:b", chan="b")
        assert (await phx.push("a", "boom", timeout=1000))["status"] == "timeout"
        await phx.wait_for(lambda: "a" in phx.errors, "phx_error on a")
        assert endpoint.channel_count("faulty:a") == 0
        # The other channel on the same connection is untouched.
        assert (await phx.push("b", "ping"))["response"] == {"alive": True}
        records = [r for r in caplog.records if r.exc_info]
        assert records and records[0].exc_info is not None
        assert isinstance(records[0].exc_info[1], ValueError)
        assert "handler exploded" in caplog.text and "Traceback" in caplog.text
        # Where it failed, by handler name, topic and event.
        assert 'handle_in failed on faulty:a event "boom": ValueError: handler exploded' in caplog.text


async def test_join_crash_stall_timeout_and_bad_results(phx: Phx, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="switchboard")
    Faulty.release_join = asyncio.Event()
    Faulty.release_stall = asyncio.Event()

    def late_answers() -> int:
        return caplog.text.count("answer after the request timeout ignored")

    async with _endpoint() as endpoint:
        await phx.connect(endpoint.url)
        crashed = await phx.join("faulty:crashjoin", chan="c")
        assert crashed["status"] == "error" and crashed["response"] == {"reason": "join crashed"}
        # The join handler has not answered (it waits for release_join): the request timeout
        # (300 ms) failed the join.
        slow = await phx.join("faulty:slowjoin", chan="s", timeout=5000)
        assert slow["status"] == "error" and slow["response"] == {"reason": "join crashed"}
        Faulty.release_join.set()
        await eventually(lambda: late_answers() >= 1, "late join answer warning")

        await phx.join("faulty:st", chan="st")
        pushed = asyncio.ensure_future(phx.push("st", "stall", timeout=3000))
        # The handler cannot have answered yet (it waits for release_stall), so this phx_error
        # comes from the request timeout (300 ms): no wall-clock bound needed.
        await phx.wait_for(lambda: "st" in phx.errors, "phx_error after the request timeout")
        assert (await pushed)["status"] == "timeout"
        assert late_answers() == 1
        Faulty.release_stall.set()
        # The late answer is refused and logged, not raised into the loop.
        await eventually(lambda: late_answers() >= 2, "late-answer warning")
        assert "join on faulty:slowjoin: answer after the request timeout ignored" in caplog.text
        assert (
            'handle_in on faulty:st event "stall": answer after the request timeout ignored'
            in caplog.text
        )

        await phx.join("faulty:r", chan="r")
        assert (await phx.push("r", "bad_result", timeout=1000))["status"] == "timeout"
        await phx.wait_for(lambda: "r" in phx.errors, "phx_error after a bad result")
        assert "handle_in returned 42" in caplog.text
        await phx.join("faulty:n", chan="n")
        assert (await phx.push("n", "nan", timeout=1000))["status"] == "timeout"
        await phx.wait_for(lambda: "n" in phx.errors, "phx_error after a NaN reply")


async def test_a_join_answered_with_another_kind_of_result_crashes(
    phx: Phx, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="switchboard")
    async with _endpoint() as endpoint:
        await phx.connect(endpoint.url)
        # A handler result of another kind goes to the core as that answer; the core refuses
        # it for a join (SB_E_WRONG_ANSWER, its words) and the join crashes, as in C and Node.
        for topic, answer in (
            ("faulty:noreplyjoin", "NoReply"),
            ("faulty:replyjoin", "Reply"),
            ("faulty:stopjoin", "Stop"),
        ):
            joined = await phx.join(topic, chan=topic)
            assert joined["status"] == "error" and joined["response"] == {"reason": "join crashed"}
            refused = [
                r.exc_info[1]
                for r in caplog.records
                if r.exc_info and isinstance(r.exc_info[1], errors.WrongAnswerError)
                and topic in r.getMessage()
            ]
            assert len(refused) == 1, caplog.text
            assert str(refused[0]) == f"{answer} is not an answer to a Join request"
            assert refused[0].code == "SB_E_WRONG_ANSWER"
            assert isinstance(refused[0], TypeError)
        # What is no handler result at all is Python's own TypeError.
        joined = await phx.join("faulty:intjoin", chan="int")
        assert joined["response"] == {"reason": "join crashed"}
        assert "join returned 42; expected ok(...) or error(...)" in caplog.text


async def test_error_hierarchy_for_bad_calls() -> None:
    assert issubclass(errors.InvalidJsonError, errors.InvalidArgumentError)
    assert issubclass(errors.InvalidArgumentError, ValueError)
    assert issubclass(errors.ChannelNotFoundError, LookupError)
    assert issubclass(errors.SwitchboardOSError, OSError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.SwitchboardError)

    # A host name is resolved at start(); every other option is checked by the core at once.
    with pytest.raises(errors.InvalidArgumentError, match="does not resolve"):
        await Endpoint(host="no-such-host.invalid").start()
    with pytest.raises(errors.InvalidArgumentError, match="max_channels"):
        Endpoint(max_channels=0)
    with pytest.raises(errors.InvalidArgumentError, match="mount"):
        Endpoint(mounts=["socket"])

    endpoint = _endpoint()
    with pytest.raises(errors.StateError):
        endpoint.broadcast("t", "e", {})
    with pytest.raises(errors.StateError):
        _ = endpoint.port
    async with endpoint:
        with pytest.raises(errors.StateError):
            await endpoint.start()
        with pytest.raises(errors.StateError):
            endpoint.channel("late:*", Faulty)
        with pytest.raises(errors.EncodeError):
            endpoint.broadcast("t", "e", [1, 2])
        # The core's checks and words.
        with pytest.raises(errors.InvalidArgumentError, match="^topic must not be empty$"):
            endpoint.broadcast("", "e", {})
        with pytest.raises(errors.InvalidArgumentError, match="^event must not be empty$"):
            endpoint.local_broadcast("t", "", {})
        with pytest.raises(errors.InvalidArgumentError, match="^socket id must not be empty$"):
            endpoint.disconnect("")
        with pytest.raises(errors.InvalidJsonError):
            endpoint.broadcast("t", "e", {"x": float("inf")})
        with pytest.raises(errors.InvalidJsonError):
            endpoint.broadcast("t", "e", {"x": object()})
        assert endpoint.broadcast("t", "e", {"fine": True}) == 0

        # Same port twice: the OS refuses the bind.
        taken = Endpoint(port=endpoint.port)
        with pytest.raises(errors.SwitchboardOSError) as info:
            await taken.start()
        assert isinstance(info.value, OSError)


async def test_actions_on_an_ended_channel_raise_channel_not_found(phx: Phx) -> None:
    kept: List[Socket] = []
    refs: List[SocketRef] = []

    class Keep(Channel):
        async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
            kept.append(socket)
            return ok()

        async def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
            refs.append(socket.socket_ref())
            return noreply()

    endpoint = Endpoint()
    endpoint.channel("keep:*", Keep)
    async with endpoint:
        await phx.connect(endpoint.url)
        await phx.join("keep:1")
        kept[0].push("still", {"here": True})
        await phx.wait_for(lambda: phx.received("keep:1", "still"), "push by socket")
        later = asyncio.ensure_future(phx.push("keep:1", "later"))
        await eventually(lambda: refs, "a socket_ref from handle_in")

        # Names must not be empty: the core's check and words, on a live channel.
        def empty(call: Callable[[], None], what: str) -> None:
            words = f"^{what} must not be empty$"
            with pytest.raises(errors.InvalidArgumentError, match=words) as e:
                call()
            assert e.value.code == "SB_E_INVALID_ARGUMENT"

        empty(lambda: kept[0].push("", {}), "event")
        empty(lambda: kept[0].broadcast("", {}), "event")
        empty(lambda: kept[0].broadcast_from("", {}), "event")
        empty(lambda: kept[0].subscribe(""), "topic")
        empty(lambda: refs[0].reply("", {}), "status")
        refs[0].reply("ok", {"late": True})
        assert (await later)["response"] == {"late": True}
        await phx.leave("keep:1")

        # The core forgets the channel once the binding dropped its Leave request (after
        # terminate), a moment after the leave reply; until then pushes still go out (after
        # phx_close, as pushes from terminate do). Wait for the refusal itself, not a sleep.
        def refused() -> bool:
            try:
                kept[0].push("gone", {})
            except errors.ChannelNotFoundError:
                return True
            return False

        await eventually(refused, "push refused with ChannelNotFoundError")
        with pytest.raises(errors.ChannelNotFoundError):
            kept[0].track("k", {})
        # An ended channel is not found, whatever else is wrong with the call.
        calls: List[Callable[[], None]] = [
            lambda: kept[0].push("", {}),
            lambda: kept[0].broadcast("", {}),
            lambda: kept[0].subscribe(""),
            lambda: refs[0].reply("", {}),
        ]
        for call in calls:
            with pytest.raises(errors.ChannelNotFoundError):
                call()
        # No message to reply to (outside handle_in): an invalid argument, as the core and
        # Phoenix's ArgumentError say.
        with pytest.raises(errors.InvalidArgumentError, match="no ref to reply to") as caught:
            kept[0].socket_ref()
        assert caught.value.code == "SB_E_INVALID_ARGUMENT"


def test_port_is_free_after_close() -> None:
    async def main() -> int:
        async with Endpoint() as ep:
            return ep.port

    port = asyncio.run(main())
    s = pysocket.socket()
    s.bind(("127.0.0.1", port))
    s.close()


def test_options_are_refused_with_the_cores_words() -> None:
    def message(**options: Any) -> str:
        with pytest.raises(errors.InvalidArgumentError) as caught:
            Endpoint(**options)
        return str(caught.value)

    assert message(port="4000") == '`port` must be an integer from 0 to 65535 (got the string "4000")'
    assert message(max_channels=1.5) == "`max_channels` must be an integer from 1 to 4294967295 (got 1.5)"
    assert message(auth_token=1) == "`auth_token` must be true or false (got 1)"
    assert "non-empty list of origins" in message(check_origin=[])
    assert "`max_header_bytes` must be an integer from 8192" in message(max_header_bytes=100)
    assert message(drain={"batch_sise": 1}) == (
        "unknown option `batch_sise` of `drain` (did you mean `batch_size`?)"
    )
    for pattern in ("*:lobby", "room:*:x", "room:**"):
        with pytest.raises(errors.InvalidArgumentError, match="invalid channel pattern"):
            Endpoint().channel(pattern, Faulty)
    Endpoint(check_origin=False, max_header_bytes=8192, drain=(1, 0, 0)).channel("room:*", Faulty)


async def test_handshake_options_reach_the_listener() -> None:
    endpoint = Endpoint(header_read_timeout_ms=200, max_header_bytes=8192)
    async with endpoint:
        loop = asyncio.get_running_loop()
        # A connection that sends nothing is closed after 200 ms (the default is 10 s).
        reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
        started = loop.time()
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""
        assert loop.time() - started < 5
        writer.close()
        # A 10 KiB header is over 8 192 bytes: 431 (the default 16 KiB would accept it).
        reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
        pad = "a" * 10 * 1024
        writer.write(f"GET /socket/websocket HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}\r\n\r\n".encode())
        answer = await asyncio.wait_for(reader.read(), timeout=5)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:40]
        writer.close()


def test_a_refusal_status_outside_400_to_599_is_refused_where_it_is_made() -> None:
    from switchboard import Refused

    assert Refused(429).status == 429
    for bad in (200, 399, 600):
        with pytest.raises(errors.InvalidArgumentError) as e:
            Refused(bad)
        assert e.value.code == "SB_E_INVALID_ARGUMENT"
        assert str(e.value) == f"a connect refusal status must be from 400 to 599 (got {bad})"
    with pytest.raises(errors.InvalidArgumentError):
        Refused("403")  # type: ignore[arg-type]
