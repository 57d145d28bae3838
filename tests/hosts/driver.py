"""The Python driver of the cross-language behaviour table (tests/hosts/cases.json): runs every
case it can express against the real Python front-end (the installed ``switchboard`` package)
and prints one JSON line per case on stdout: {"id", "code" (SB_E_* or SB_OK; null for an
error without one), "message", "class", ...observations}.

The protocol with tests/hosts/behaviour.test.mjs is the one driver.mjs describes: the
``local`` cases, then {"ready": port} once the scenario endpoint listens (channels room:lobby,
room:*, * in that order; HTTP routes /api, /api/v2, /bad; a connect callback), a line per
``client`` / ``channel`` case as the runner drives clients, {"sync": k} for each stdin
{"cmd": "sync", "n": k}, and on {"cmd": "close"} the ``closed`` cases, then {"end": true}.

Usage: python tests/hosts/driver.py [cases.json]
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from switchboard import (
    Channel,
    ChannelRef,
    Connected,
    Endpoint,
    HttpResponse,
    Json,
    Refused,
    noreply,
    ok,
    reply,
    stop,
)

LANG = "python"
CASES_PATH = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("cases.json")
CASES = json.loads(CASES_PATH.read_text(encoding="utf-8"))["cases"]
MINE = [c for c in CASES if not c.get("skip", {}).get(LANG)]
BY_ID = {c["id"]: c for c in MINE}


def out(obj: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def result(case_id: str, err: Optional[BaseException] = None, **extra: Any) -> Dict[str, Any]:
    """The result line of a call that raised ``err`` (or returned, when None)."""
    if err is None:
        return {"id": case_id, "code": "SB_OK", **extra}
    code = getattr(err, "code", None) or None
    return {"id": case_id, "code": code, "message": str(err), "class": type(err).__name__, **extra}


def payload_of(d: Dict[str, Any]) -> Any:
    """A case's payload: ``binary`` text as ``bytes``, ``raw`` JSON text (``Json``), else the
    JSON value."""
    if "binary" in d:
        return d["binary"].encode()
    return Json(d["raw"].encode()) if "raw" in d else d.get("payload")


# ---- local cases --------------------------------------------------------------------------


async def attempt(case_id: str, fn: Any, **extra: Any) -> Dict[str, Any]:
    try:
        r = fn()
        if asyncio.iscoroutine(r):
            await r
        return result(case_id, **extra)
    except Exception as e:  # noqa: BLE001 - every failure is a result
        return result(case_id, e, **extra)


async def run_local(c: Dict[str, Any], started: Endpoint) -> Dict[str, Any]:
    d = c["do"]
    op = d["op"]
    if op == "option":
        return await attempt(c["id"], lambda: Endpoint(**{d["name"]: d["value"]}))
    if op == "mount":
        return await attempt(c["id"], lambda: Endpoint(mounts=[d["path"]]))
    if op == "static_file":
        return await attempt(
            c["id"], lambda: Endpoint(static_files=[(d["route"], d["path"], d["content_type"])])
        )
    if op in ("channels", "http_routes"):
        ep = Endpoint()
        when = "register"
        try:
            for p in d.get("patterns", []):
                ep.channel(p, Channel)
            for p in d.get("prefixes", []):
                ep.http_route(p, lambda req: HttpResponse())
            when = "start"
            await ep.start()
            return result(c["id"], when="start")
        except Exception as e:  # noqa: BLE001
            return result(c["id"], e, when=when)
        finally:
            await ep.close()
    if op == "broadcast":
        return await attempt(c["id"], lambda: started.broadcast(d["topic"], d["event"], payload_of(d)))
    if op == "broadcast_before_start":
        return await attempt(c["id"], lambda: Endpoint().broadcast(d["topic"], d["event"], payload_of(d)))
    if op == "disconnect":
        return await attempt(c["id"], lambda: started.disconnect(d["socket_id"]))
    if op == "subscribe":
        return await attempt(c["id"], lambda: started.subscribe(d["topic"]).close())
    if op == "channel_id":
        # ChannelRef is public; the native endpoint it acts through is not (no public way to
        # name a channel by a number that was never issued).
        ref = ChannelRef(started._hub, d["channel_id"], "room:x")
        if d["action"] == "push":
            return await attempt(c["id"], lambda: ref.push(d["event"], payload_of(d)))
        return await attempt(c["id"], lambda: ref.track(d["key"], d["meta"]))
    if op == "history":
        return await history_case(c["id"], d)
    raise ValueError(f"{c['id']}: unknown local op {op}")


def history_summary(page: Dict[str, Any]) -> str:
    """The history case's summary of a page, the same text in every driver."""
    ns = ",".join(str(m["payload"]["n"]) for m in page["messages"])
    at = ",".join(m["position"].rsplit(":", 1)[1] for m in page["messages"])
    text = f"n={ns} at={at} latest={page['position'].rsplit(':', 1)[1]} recovered={str(page['recovered']).lower()}"
    return text + (f" reason={page['reason']}" if "reason" in page else "")


async def history_case(case_id: str, d: Dict[str, Any]) -> Dict[str, Any]:
    """A fresh endpoint keeping ``size`` messages of ``hist:*``, ``broadcasts`` broadcasts on
    ``hist:a``, then a read of ``topic`` after ``since`` (an offset in the topic's epoch, or
    text as given) with ``limit``."""
    try:
        ep = Endpoint(history=[{"topic": "hist:*", "size": d["size"], "ttl_ms": 60_000}])
    except Exception as e:  # noqa: BLE001
        return result(case_id, e)
    await ep.start()
    try:
        for n in range(1, d["broadcasts"] + 1):
            ep.broadcast("hist:a", "e", {"n": n})
        since = d.get("since")
        if isinstance(since, int):
            epoch = ep.history("hist:a", limit=1)["position"].rsplit(":", 1)[0]
            since = f"{epoch}:{since}"
        try:
            page = ep.history(d["topic"], since, d["limit"])
        except Exception as e:  # noqa: BLE001 - every failure is a result
            return result(case_id, e)
        return result(case_id, page=history_summary(page))
    finally:
        await ep.close()


# ---- the scenario endpoint ----------------------------------------------------------------

#: The case whose failure the ``switchboard`` logger reports next (set just before).
expecting: Optional[str] = None
#: Case ids whose terminate line was printed (a rejoined topic terminates twice).
terminated: set = set()
#: The socket kept past its channel (closed_channel_push).
kept_socket: Any = None


class Capture(logging.Handler):
    """Failures the dispatcher logs (a handler's result it could not answer with)."""

    def emit(self, record: logging.LogRecord) -> None:
        global expecting
        if expecting is None or record.exc_info is None:
            return
        case_id, expecting = expecting, None
        out(result(case_id, record.exc_info[1]))


log = logging.getLogger("switchboard")
log.addHandler(Capture())
log.propagate = False  # the failures the cases ask for are not noise on stderr

endpoint = Endpoint(request_timeout_ms=1000)


@endpoint.connect
def on_connect(params: Dict[str, Any], info: Any) -> Any:
    global expecting
    c = BY_ID.get(params.get("case", ""))
    if c is None:
        return Connected(id=params.get("id"))
    d = c["do"]
    expecting = c["id"]
    if d["answer"] in ("refuse", "refuse_default"):
        answer = Refused(d["status"]) if d["answer"] == "refuse" else Refused()
        expecting = None
        out(result(c["id"]))
        return answer
    return Connected(assigns=d["assigns"])


def probe(name: str) -> type:
    """A channel that only says which registration a join reached."""

    class Probe(Channel):
        def join(self, topic: str, payload: Any, socket: Any) -> Any:
            if isinstance(payload, dict) and payload.get("case") in BY_ID:
                out(result(payload["case"], handler=name))
            return ok()

    return Probe


class Scenario(Channel):
    """The ``*`` channel: each case's topic, driven by the case's ``do``."""

    case: Optional[str] = None

    def join(self, topic: str, payload: Any, socket: Any) -> Any:
        global expecting, kept_socket
        if payload.get("channel_actions"):
            self.case = "channel_actions"
            return ok()
        c = BY_ID.get(payload.get("case", ""))
        if c is None:
            return ok()
        if c["do"]["op"] == "probe_handler":
            out(result(c["id"], handler="*"))
            return ok()
        if c["do"]["op"] == "join_wrong_answer":
            expecting = c["id"]
            return noreply()
        if c["do"]["op"] == "join_reply":
            expecting = c["id"]
            return ok(c["do"]["payload"])
        if c["do"]["op"] == "join_hang":
            return asyncio.Event().wait()  # awaited by the dispatcher: never answers
        if c["do"]["op"] == "join_late_reply":
            try:
                socket.socket_ref().reply("ok", {})
                out(result(c["id"]))
            except Exception as e:  # noqa: BLE001
                out(result(c["id"], e))
            return ok()
        self.case = c["id"]
        if c["do"].get("keep_socket"):
            kept_socket = socket
        return ok()

    def handle_in(self, event: str, payload: Any, socket: Any) -> Any:
        global expecting
        if self.case == "channel_actions":
            return channel_actions(socket)
        assert self.case is not None
        d = BY_ID[self.case]["do"]
        if d["op"] == "reply_status":
            expecting = self.case
            return reply(d["status"], {})
        if d.get("crash"):
            raise RuntimeError("crash requested by the case")
        if d["op"] == "push_binary":
            try:
                socket.push(d["event"], payload_of(d))
                out(result(self.case))
            except Exception as e:  # noqa: BLE001
                out(result(self.case, e))
            return reply("ok", {})
        if d.get("disconnect"):
            endpoint.disconnect(socket.id)
            return noreply()
        if "stop" in d:
            kind, detail = d["stop"]["kind"], d["stop"].get("detail", "")
            if kind == "abnormal":
                return stop(detail)
            return stop((kind, detail) if detail else kind)
        return reply("ok", {})

    def terminate(self, reason: Any, socket: Any) -> None:
        c = BY_ID.get(self.case or "")
        if c is None or c["do"]["op"] != "lifecycle" or c["id"] in terminated:
            return
        terminated.add(c["id"])
        line = result(c["id"], kind=str(reason), detail=reason.detail)
        if c["do"].get("push_in_terminate"):
            try:
                socket.push("bye", {})
                line["push_in_terminate"] = "SB_OK"
            except Exception as e:  # noqa: BLE001
                line["push_in_terminate"] = getattr(e, "code", None) or None
                line["push_in_terminate_message"] = str(e)
        out(line)


CHANNEL_OPS = {"push", "broadcast", "broadcast_from", "track_twice", "track", "update", "late_reply", "subscribe"}


def channel_actions(socket: Any) -> Any:
    """Runs every ``channel`` case on this joined channel, one line each."""
    for c in MINE:
        if c["where"] != "channel":
            continue
        d = c["do"]
        op = d["op"]
        if op not in CHANNEL_OPS:
            raise ValueError(f"{c['id']}: unknown channel op {op}")
        try:
            if op == "push":
                socket.push(d["event"], payload_of(d))
            elif op == "broadcast":
                socket.broadcast(d["event"], payload_of(d))
            elif op == "broadcast_from":
                socket.broadcast_from(d["event"], payload_of(d))
            elif op == "track_twice":
                socket.track(d["key"], d["meta"])
                socket.track(d["key"], d["meta"])
            elif op == "track":
                socket.track(d["key"], d["meta"])
            elif op == "update":
                socket.update(d["key"], d["meta"])
            elif op == "late_reply":
                socket.socket_ref().reply(d["status"], payload_of(d))
            else:
                socket.subscribe(d["topic"])
            out(result(c["id"]))
        except Exception as e:  # noqa: BLE001
            out(result(c["id"], e))
    return reply("ok", {})


endpoint.channel("room:lobby", probe("room:lobby"))
endpoint.channel("room:*", probe("room:*"))
endpoint.channel("*", Scenario)


@endpoint.http_route("/api")
def api(req: Any) -> HttpResponse:
    return HttpResponse(body="/api")


@endpoint.http_route("/api/v2")
def api_v2(req: Any) -> HttpResponse:
    return HttpResponse(body="/api/v2")


@endpoint.http_route("/bad")
def bad(req: Any) -> HttpResponse:
    global expecting
    c = BY_ID.get(req.query_params().get("case", [""])[0])
    if c is None:
        return HttpResponse(status=404)
    expecting = c["id"]
    d = c["do"]
    if "content_type" in d:
        return HttpResponse(status=d["status"], content_type=d["content_type"])
    return HttpResponse(status=d["status"])


# ---- main ---------------------------------------------------------------------------------


async def closed_cases() -> None:
    for c in MINE:
        if c["where"] != "closed":
            continue
        d = c["do"]
        if d["op"] == "broadcast":
            out(await attempt(c["id"], lambda: endpoint.broadcast(d["topic"], d["event"], payload_of(d))))
        elif d["op"] == "start":
            out(await attempt(c["id"], endpoint.start))
        elif d["op"] == "push_kept":
            if kept_socket is None:
                out({"id": c["id"], "code": None, "message": "no socket was kept (terminate_drain did not join)"})
            else:
                out(await attempt(c["id"], lambda: kept_socket.push(d["event"], payload_of(d))))
        else:
            raise ValueError(f"{c['id']}: unknown closed op {d['op']}")


async def main() -> None:
    global expecting
    loop = asyncio.get_running_loop()
    port = await endpoint.start()
    for c in MINE:
        if c["where"] == "local":
            out(await run_local(c, endpoint))
    out({"ready": port})

    commands: "asyncio.Queue[Optional[Dict[str, Any]]]" = asyncio.Queue()
    pending = b""

    def on_stdin() -> None:
        nonlocal pending
        data = os.read(0, 65536)
        if not data:
            loop.remove_reader(0)
            commands.put_nowait(None)
            return
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                commands.put_nowait(json.loads(line))

    loop.add_reader(0, on_stdin)
    closed = False
    while True:
        cmd = await commands.get()
        if cmd is None:
            break
        if cmd["cmd"] == "sync":
            expecting = None
            out({"sync": cmd["n"]})
        elif cmd["cmd"] == "close":
            await endpoint.close()
            closed = True
            await closed_cases()
            out({"end": True})
    if not closed:
        await endpoint.close()


asyncio.run(main())
