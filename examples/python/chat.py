"""The chat demo hosted from Python (contract: examples/chat/CONTRACT.md; twins:
examples/rust/chat.rs, examples/c/chat.c).

    pip install ./bindings/python && npm ci
    python examples/python/chat.py        # then open http://127.0.0.1:4000/

Env: PORT (default 4000; 0 picks a free port), SB_REPO_ROOT (where examples/chat/ and
node_modules/phoenix are; default: found from this file's location); for a cluster
(docs/CLUSTER.md, examples/chat/CONTRACT.md "Cluster") SB_CLUSTER (a broker URL,
``redis://host:port`` or ``nats://host:port``; unset or empty: a single node), SB_NODE (the
node name; default the core's ``switchboard@localhost``, or ``chat-<pid>@127.0.0.1`` in a
cluster), SB_HEARTBEAT_MS (the option ``broker_heartbeat_ms``), SB_NODE_DOWN_MS
(``presence_down_period_ms``) and SB_PRESENCE_BROADCAST_MS (``presence_broadcast_period_ms``); alone
or on Redis, ``room:*`` keeps its last SB_HISTORY_SIZE (100) messages for SB_HISTORY_TTL_MS
(600 000) ms (docs/HISTORY.md, CONTRACT.md "History"); ``/socket`` also serves long-poll at
``/socket/longpoll`` (docs/LONGPOLL.md, CONTRACT.md "Long-poll") with SB_LONGPOLL_WINDOW_MS (the
option ``longpoll_window_ms``) and SB_SECRET_KEY_BASE (``secret_key_base``, needed in a
cluster). Listens on 127.0.0.1 only, prints ``LISTENING 127.0.0.1:<port>``, exits on SIGTERM /
Ctrl-C, and when its stdin is a pipe or terminal that reaches end of file (so a test runner's
child cannot outlive it).

* connect needs a non-empty ``user`` param (trimmed; else HTTP 403); the name goes into the
  socket assigns;
* ``room:*`` is the only channel: join ok ``{}``, then (through ``send_info`` →
  ``handle_info``, Phoenix's after_join pattern) the user is tracked in presence with
  ``{"online_at": <ms since epoch>}`` and gets the room's ``presence_state``;
* ``new_msg {body}`` is broadcast to the room as ``new_msg {user, body}`` and answered ok
  ``{}``; a missing or non-string body is answered error ``{"reason": "body must be a
  string"}``; any other event crashes the channel, as the Rust handler's error does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict

from switchboard import (
    Channel,
    Connected,
    ConnectInfo,
    Endpoint,
    Json,
    Refused,
    Socket,
    SwitchboardError,
    error,
    ok,
    on_stdin_eof,
)
from switchboard.errors import BrokerError

PHOENIX_MJS = "node_modules/phoenix/priv/static/phoenix.mjs"


def repo_root() -> Path:
    env = os.environ.get("SB_REPO_ROOT")
    return Path(env) if env else Path(__file__).resolve().parent.parent.parent


async def connect(params: Dict[str, Any], info: ConnectInfo) -> Any:
    """Phoenix connect/3: refuse without a user name, else keep it in the assigns."""
    user = params.get("user")
    if not isinstance(user, str) or not user.strip():
        return Refused(403)
    return Connected({"user": user.strip()})


#: Largest ``new_msg`` payload, in bytes of JSON text (examples/chat/CONTRACT.md).
MAX_MESSAGE_BYTES = 8192


class Room(Channel):
    """The ``room:*`` channel. Payloads arrive as raw JSON text (``raw = True``), so that a
    message is measured before it is parsed."""

    raw = True

    async def join(self, topic: str, payload: Any, socket: Socket) -> Any:
        # Presence is tracked after the join reply (the Phoenix `after_join` pattern).
        socket.send_info("after_join")
        return ok()

    async def handle_info(self, message: Any, socket: Socket) -> Any:
        if message == "after_join":
            socket.track(socket.assigns["user"], {"online_at": int(time.time() * 1000)})
            socket.push("presence_state", socket.presence_list())
        return None

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
        if event != "new_msg":
            raise ValueError(f"unknown event {event!r}")
        # Checked before parsing: parsing is the costly part of a message (CONTRACT.md).
        if not isinstance(payload, Json):
            return error({"reason": "body must be a string"})
        if len(payload) > MAX_MESSAGE_BYTES:
            return error({"reason": "message too long"})
        parsed = payload.decode_json()
        body = parsed.get("body") if isinstance(parsed, dict) else None
        if not isinstance(body, str):
            return error({"reason": "body must be a string"})
        # The name comes from the connect assigns, never from the payload.
        try:
            socket.broadcast("new_msg", {"user": socket.assigns["user"], "body": body})
        except BrokerError as e:
            # In a cluster whose broker is unreachable: the room's clients on this node have
            # the message, the other nodes do not (CONTRACT.md "Cluster"). Not retried.
            print(f"chat: new_msg reached this node only: {e}", file=sys.stderr)
        return ok()


def env_value(text: str) -> Any:
    """Env text as an option value: an integer when it reads as one, else the text itself,
    which the core then refuses with its own message, as in the Rust, C and Node demos."""
    try:
        return int(text)
    except ValueError:
        return text


# The cluster's timing options, from env (CONTRACT.md "Cluster").
CLUSTER_ENV = (
    ("SB_HEARTBEAT_MS", "broker_heartbeat_ms"),
    ("SB_NODE_DOWN_MS", "presence_down_period_ms"),
    ("SB_PRESENCE_BROADCAST_MS", "presence_broadcast_period_ms"),
)


# How many `room:*` messages a single node keeps, and for how long (CONTRACT.md "History").
HISTORY_SIZE = 100
HISTORY_TTL_MS = 600_000


def cluster_options() -> Dict[str, Any]:
    """The node name and cluster options from SB_NODE, SB_CLUSTER and CLUSTER_ENV, and
    (alone or on Redis) the rooms' history from SB_HISTORY_SIZE and SB_HISTORY_TTL_MS (empty values
    read as unset). The core checks them (docs/OPTIONS.md)."""
    options: Dict[str, Any] = {}
    broker = os.environ.get("SB_CLUSTER")
    node = os.environ.get("SB_NODE")
    if broker:
        options["broker"] = broker
    # NATS keeps no messages: a cluster on it has no history (the core refuses it there).
    if not (broker or "").startswith("nats://"):
        size = os.environ.get("SB_HISTORY_SIZE")
        ttl_ms = os.environ.get("SB_HISTORY_TTL_MS")
        options["history"] = [{
            "topic": "room:*",
            "size": env_value(size) if size else HISTORY_SIZE,
            "ttl_ms": env_value(ttl_ms) if ttl_ms else HISTORY_TTL_MS,
        }]
    if node:
        options["node"] = node
    elif broker:
        # Two demos of one machine in one cluster must not share a name (the core refuses a
        # second live node with the same name).
        options["node"] = f"chat-{os.getpid()}@127.0.0.1"
    for var, option in CLUSTER_ENV:
        value = os.environ.get(var)
        if value:
            options[option] = env_value(value)
    return options


def longpoll_options() -> Dict[str, Any]:
    """Long-poll on ``/socket`` (the endpoint's mount options are its one mount's), for
    browsers whose WebSocket cannot get through (the page falls back to it by itself;
    CONTRACT.md "Long-poll"): the window from SB_LONGPOLL_WINDOW_MS and the secret that signs
    session tokens from SB_SECRET_KEY_BASE (empty values read as unset). The core checks
    them, and refuses long-poll in a cluster without a secret."""
    options: Dict[str, Any] = {"longpoll": True}
    window = os.environ.get("SB_LONGPOLL_WINDOW_MS")
    if window:
        options["longpoll_window_ms"] = env_value(window)
    secret = os.environ.get("SB_SECRET_KEY_BASE")
    if secret:
        # Always text: a secret of digits is still no number.
        options["secret_key_base"] = secret
    return options


async def main() -> None:
    # The library's warnings and errors on stderr, through logging's "switchboard" logger
    # (docs/OPERATIONS.md "Logs"): a broker link lost and back, slow consumers, ...
    logging.basicConfig(level=logging.WARNING, format="chat: %(levelname)s %(name)s: %(message)s")
    root = repo_root()
    page = root / "examples/chat"
    if not (root / PHOENIX_MJS).is_file():
        print(f"chat: {root / PHOENIX_MJS} is missing: run `npm ci` at the repository root first "
              "(/phoenix.mjs answers 404 until then)", file=sys.stderr)
    cluster = cluster_options()
    try:
        endpoint = Endpoint(
            port=int(os.environ.get("PORT", "4000")),
            static_files=[
                ("/", str(page / "index.html"), "text/html; charset=utf-8"),
                ("/app.js", str(page / "app.js"), "text/javascript"),
                ("/phoenix.mjs", str(root / PHOENIX_MJS), "text/javascript"),
            ],
            **cluster,
            **longpoll_options(),
            # Prometheus metrics for operators (CONTRACT.md "Metrics").
            metrics_path="/metrics",
        )
        endpoint.connect(connect)
        endpoint.channel("room:*", Room)
        port = await endpoint.start()
    except SwitchboardError as e:
        print(f"chat: {e} ({e.code or 'no code'})", file=sys.stderr)
        sys.exit(1)
    if "broker" in cluster:
        print(f"chat: node {cluster['node']} joined the cluster at {cluster['broker']}", file=sys.stderr)
    print(f"LISTENING 127.0.0.1:{port}", flush=True)
    on_stdin_eof(endpoint.stop)
    await endpoint.serve(handle_signals=True)


if __name__ == "__main__":
    asyncio.run(main())
