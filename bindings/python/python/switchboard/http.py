"""HTTP routes answered by the host on the endpoint's port (for health checks, small APIs,
test control routes), without an HTTP server of your own: see ``Endpoint.http_route``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Union
from urllib.parse import parse_qs, unquote

__all__ = ["HttpRequest", "HttpResponse"]


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request, read in full (bodies over 1 MiB are answered 413 by the core).
    ``path`` and ``query`` are percent-encoded as sent (``query`` without ``?``)."""

    method: str
    path: str
    query: str
    content_type: "str | None"
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not)."""
        return json.loads(self.body)

    def query_params(self) -> Dict[str, List[str]]:
        """The query string decoded: ``{name: [values]}``."""
        return parse_qs(self.query)

    @property
    def decoded_path(self) -> str:
        """``path`` percent-decoded."""
        return unquote(self.path)


@dataclass(frozen=True)
class HttpResponse:
    """The answer: ``status`` (100-999), ``body`` and its ``content_type``."""

    status: int = 200
    body: Union[bytes, str] = b""
    content_type: str = "text/plain; charset=utf-8"

    @classmethod
    def json(cls, value: Any, status: int = 200) -> "HttpResponse":
        """A JSON response (``application/json``)."""
        return cls(status, json.dumps(value, separators=(",", ":")).encode(), "application/json")
