"""The exceptions picows_like raises; names and fields follow picows."""
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from .handshake import WSUpgradeResponse


class WSError(Exception):
    """Base exception type for websocket-specific exceptions."""


class WSHandshakeError(WSError):
    """The HTTP upgrade negotiation failed (raised by ws_connect).

    `raw_header` / `raw_body` hold what the peer sent, `response` the parsed
    response when there was one.
    """

    def __init__(self, description: str, raw_header: Optional[bytes] = None,
                 raw_body: Optional[bytes] = None,
                 response: "Optional[WSUpgradeResponse]" = None):
        super().__init__(description)
        self.raw_header = raw_header
        self.raw_body = raw_body
        self.response = response


class WSInvalidMessageError(WSHandshakeError):
    """The HTTP handshake request or response is malformed."""


class WSConnectionClosedBeforeHandshake(WSInvalidMessageError):
    """The connection ended before the HTTP upgrade completed (no complete
    response arrived).  A WSInvalidMessageError, as raised before this type
    existed, so existing ``except`` clauses still catch it; callers that must
    tell a dropped connection from a malformed answer (retry or not) test for
    this type instead of the message text."""


class WSRedirectError(WSHandshakeError):
    """ws_connect refused to follow a redirect (no Location header, a
    secure-to-insecure redirect, or a redirect loop)."""


class WSInvalidStatusError(WSHandshakeError):
    """The HTTP handshake response status rejects the WebSocket upgrade."""


class WSInvalidHeaderError(WSHandshakeError):
    """An HTTP header of the handshake is missing or invalid."""

    def __init__(self, description: str, name: str, value: Optional[str] = None,
                 raw_header: Optional[bytes] = None, raw_body: Optional[bytes] = None,
                 response: "Optional[WSUpgradeResponse]" = None):
        super().__init__(description, raw_header, raw_body, response)
        self.name = name
        self.value = value


class WSInvalidUpgradeError(WSInvalidHeaderError):
    """The Upgrade / Connection headers of the handshake are invalid."""


class WSProtocolError(WSError):
    """A frame broke RFC 6455 or a limit such as max_frame_size.

    Before this is raised the connection sends a CLOSE with `code` and
    disconnects.  Raise it from a listener callback to choose the close code.
    """

    def __init__(self, code: Any, message: Any):
        self.code = code
        super().__init__(code, message)

    def __str__(self) -> str:
        return str(self.args[1])


class WSInvalidURL(WSError):
    """ws_connect was given a URL that is not a valid WebSocket URL."""

    def __init__(self, url: str, msg: str) -> None:
        super().__init__(f"{url} isn't a valid URL: {msg}")
        self.url = url
