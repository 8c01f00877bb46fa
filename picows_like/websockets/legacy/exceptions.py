"""The exceptions of websockets' legacy API (``websockets.legacy.exceptions``)."""
import http
from typing import Any

from ..datastructures import Headers
from ..exceptions import InvalidHandshake, InvalidMessage
from ..exceptions import ProtocolError as WebSocketProtocolError

__all__ = ["InvalidStatusCode", "AbortHandshake", "RedirectHandshake", "InvalidMessage",
           "WebSocketProtocolError"]


class InvalidStatusCode(InvalidHandshake):
    """The server answered the handshake with another status than 101;
    ``status_code`` and ``headers`` tell what it sent."""

    def __init__(self, status_code: int, headers: Headers) -> None:
        self.status_code = status_code
        self.headers = headers

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.status_code}"


class AbortHandshake(InvalidHandshake):
    """Raised (by process_request's return value, or by a handshake()
    override) to answer the handshake with this HTTP response."""

    def __init__(self, status: Any, headers: Any, body: bytes = b"") -> None:
        self.status = http.HTTPStatus(status)
        self.headers = Headers(headers)
        self.body = body

    def __str__(self) -> str:
        return f"HTTP {self.status:d}, {len(self.headers)} headers, {len(self.body)} bytes"


class RedirectHandshake(InvalidHandshake):
    """A handshake was redirected (kept for code that imports it: the
    client follows redirects itself)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __str__(self) -> str:
        return f"redirect to {self.uri}"
