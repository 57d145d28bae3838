"""Host-answered HTTP routes on the endpoint's port."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Optional, Tuple

import pytest

from switchboard import Endpoint, HttpRequest, HttpResponse, errors


def fetch(url: str, body: Optional[bytes] = None) -> Tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.headers.get("content-type", ""), res.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers.get("content-type", ""), e.read()


async def test_routes_answer_from_asyncio_handlers() -> None:
    endpoint = Endpoint(request_timeout_ms=300)
    seen = []
    # The stalled route answers only after the test got its 504: late by construction, not
    # because a sleep outlasted the 300 ms request timeout.
    release = asyncio.Event()

    @endpoint.http_route("/api")
    async def api(req: HttpRequest) -> HttpResponse:
        seen.append(req)
        if req.path == "/api/boom":
            raise RuntimeError("route exploded")
        if req.path == "/api/stall":
            await release.wait()
        if req.path == "/api/wrong":
            return "not a response"  # type: ignore[return-value]
        return HttpResponse.json(
            {"method": req.method, "path": req.path, "q": req.query_params(),
             "body": req.json() if req.body else None}
        )

    async with endpoint:
        base = f"http://127.0.0.1:{endpoint.port}"
        status, ctype, body = await asyncio.to_thread(fetch, f"{base}/api/x?a=1&a=2")
        assert (status, ctype) == (200, "application/json")
        assert body == b'{"method":"GET","path":"/api/x","q":{"a":["1","2"]},"body":null}'
        status, _, body = await asyncio.to_thread(fetch, f"{base}/api", b'{"k":[1]}')
        assert status == 200 and b'"body":{"k":[1]}' in body and seen[-1].content_type == "application/json"
        assert (await asyncio.to_thread(fetch, f"{base}/apix"))[0] == 404
        assert (await asyncio.to_thread(fetch, f"{base}/api/boom"))[0] == 500
        assert (await asyncio.to_thread(fetch, f"{base}/api/wrong"))[0] == 500
        assert (await asyncio.to_thread(fetch, f"{base}/api/stall"))[0] == 504
        release.set()


async def test_a_bad_prefix_is_refused_at_start() -> None:
    endpoint = Endpoint()
    endpoint.http_route("/bad/", lambda req: None)  # type: ignore[type-var]
    with pytest.raises(errors.InvalidArgumentError, match="prefix"):
        await endpoint.start()
