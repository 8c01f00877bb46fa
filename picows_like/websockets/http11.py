"""Handshake Request / Response records (as in ``websockets.http11``)."""
import http
import sys
from dataclasses import dataclass
from typing import Any

from .datastructures import Headers

__all__ = ["Request", "Response", "USER_AGENT", "SERVER"]

_PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
USER_AGENT = f"Python/{_PY} picows_like.websockets"
SERVER = f"Python/{_PY} picows_like.websockets"


@dataclass
class Request:
    """The opening handshake request: ``path`` (with the query) and headers."""
    path: str
    headers: Headers
    method: str = "GET"
    protocol: str = "HTTP/1.1"

    @classmethod
    def from_core(cls, request: Any) -> "Request":
        """Convert picows_like's WSUpgradeRequest."""
        return cls(request.path.decode("latin-1"), Headers(request.headers),
                   request.method.decode("latin-1"), request.version.decode("latin-1"))


@dataclass
class Response:
    """The opening handshake response."""
    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes = b""

    @classmethod
    def from_core(cls, response: Any) -> "Response":
        """Convert picows_like's WSUpgradeResponse."""
        status = response.status
        return cls(int(status), getattr(status, "phrase", ""), Headers(response.headers),
                   response.body or b"")

    def to_core(self) -> Any:
        """Convert to picows_like's WSUpgradeResponse."""
        from ..handshake import WSUpgradeResponse
        from multidict import CIMultiDict
        status = self.status_code
        try:
            status = http.HTTPStatus(status)
        except ValueError:
            pass
        return WSUpgradeResponse(status, CIMultiDict(self.headers.items()
                                                      if hasattr(self.headers, "items")
                                                      else self.headers),
                                 bytes(self.body) if self.body else None)
