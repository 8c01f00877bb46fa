"""The exceptions of the websockets-compatible layer.

Same names and hierarchy as ``websockets.exceptions`` (websockets 13-17), so
``except websockets.exceptions.ConnectionClosed`` style code keeps working
after switching the import.  websockets itself is never imported.

* WebSocketException
    * ConnectionClosed
        * ConnectionClosedOK
        * ConnectionClosedError
    * InvalidURI
    * InvalidProxy
    * InvalidHandshake
        * SecurityError
            * RequestLineTooLong
            * StatusLineTooLong
            * HeaderLineTooLong
            * TooManyHeaders
        * ProxyError
            * InvalidProxyMessage
            * InvalidProxyStatus
        * InvalidMessage
        * InvalidMethod
        * InvalidProtocol
        * InvalidStatus
        * InvalidHeader
            * InvalidHeaderFormat
            * InvalidHeaderValue
            * InvalidOrigin
            * InvalidUpgrade
        * NegotiationError
            * DuplicateParameter
            * InvalidParameterName
            * InvalidParameterValue
    * ProtocolError
    * PayloadTooBig
    * TooManyFragments
    * InvalidState
    * ConcurrencyError
"""
import warnings
from typing import Any, Optional

__all__ = [
    "WebSocketException", "ConnectionClosed", "ConnectionClosedOK", "ConnectionClosedError",
    "InvalidURI", "InvalidProxy", "InvalidHandshake", "SecurityError", "RequestLineTooLong",
    "StatusLineTooLong", "HeaderLineTooLong", "TooManyHeaders", "ProxyError",
    "InvalidProxyMessage", "InvalidProxyStatus", "InvalidMessage", "InvalidMethod",
    "InvalidProtocol", "InvalidStatus", "InvalidHeader", "InvalidHeaderFormat",
    "InvalidHeaderValue", "InvalidOrigin", "InvalidUpgrade", "NegotiationError",
    "DuplicateParameter", "InvalidParameterName", "InvalidParameterValue", "ProtocolError",
    "PayloadTooBig", "TooManyFragments", "InvalidState", "ConcurrencyError",
]


class WebSocketException(Exception):
    """Base class for all exceptions defined by this layer."""


class ConnectionClosed(WebSocketException):
    """Raised when trying to interact with a closed connection.

    ``rcvd`` / ``sent``: the CLOSE frames received / sent (``Close`` objects
    with ``code`` and ``reason``) or None; ``rcvd_then_sent`` tells their
    order when both exist.
    """

    def __init__(self, rcvd: Any, sent: Any, rcvd_then_sent: Optional[bool] = None) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        # The order is known exactly when both frames exist.
        assert (rcvd_then_sent is None) == (rcvd is None or sent is None)

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    @property
    def code(self) -> int:
        """Deprecated (as in websockets): the received close code (1006 if none)."""
        warnings.warn("ConnectionClosed.code is deprecated; "
                      "use Protocol.close_code or ConnectionClosed.rcvd.code",
                      DeprecationWarning, stacklevel=2)
        if self.rcvd is None:
            from .frames import CloseCode
            return CloseCode.ABNORMAL_CLOSURE
        return self.rcvd.code

    @property
    def reason(self) -> str:
        """Deprecated (as in websockets): the received close reason."""
        warnings.warn("ConnectionClosed.reason is deprecated; "
                      "use Protocol.close_reason or ConnectionClosed.rcvd.reason",
                      DeprecationWarning, stacklevel=2)
        return "" if self.rcvd is None else self.rcvd.reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection terminated properly (1000, 1001 or no code, both ways)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection terminated with an error (other code, or no handshake)."""


class InvalidURI(WebSocketException):
    """The URI isn't a valid ws:// or wss:// URI."""

    def __init__(self, uri: str, msg: str) -> None:
        self.uri = uri
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.uri} isn't a valid URI: {self.msg}"


class InvalidProxy(WebSocketException):
    """The proxy isn't valid."""

    def __init__(self, proxy: str, msg: str) -> None:
        self.proxy = proxy
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.proxy} isn't a valid proxy: {self.msg}"


class InvalidHandshake(WebSocketException):
    """The opening handshake failed."""


class SecurityError(InvalidHandshake):
    """A security limit was hit during the handshake (e.g. a bad redirect)."""


class RequestLineTooLong(SecurityError):
    """The request line of a handshake request is too long."""


class StatusLineTooLong(SecurityError):
    """The status line of a handshake response is too long."""


class HeaderLineTooLong(SecurityError):
    """A header line of a handshake request or response is too long."""


class TooManyHeaders(SecurityError):
    """A handshake request or response has too many headers."""


class ProxyError(InvalidHandshake):
    """Connecting through a proxy failed."""


class InvalidProxyMessage(ProxyError):
    """The proxy's response is malformed."""


class InvalidProxyStatus(ProxyError):
    """The proxy rejected the connection."""

    def __init__(self, response: Any) -> None:
        self.response = response

    def __str__(self) -> str:
        return f"proxy rejected connection: HTTP {self.response.status_code:d}"


class InvalidMessage(InvalidHandshake):
    """The handshake request or response is malformed (or the connection
    closed during it: then ``__cause__`` is an EOFError)."""


class InvalidMethod(InvalidHandshake):
    """The handshake request method isn't GET."""

    def __init__(self, method: str) -> None:
        self.method = method

    def __str__(self) -> str:
        return f"unsupported HTTP method: {self.method}"


class InvalidProtocol(InvalidHandshake):
    """The handshake protocol isn't HTTP/1.1."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol

    def __str__(self) -> str:
        return f"unsupported HTTP version: {self.protocol}"


class InvalidStatus(InvalidHandshake):
    """The server rejected the upgrade; ``response`` is its HTTP response."""

    def __init__(self, response: Any) -> None:
        self.response = response

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status_code:d}"


class InvalidHeader(InvalidHandshake):
    """An HTTP header is missing or invalid."""

    def __init__(self, name: str, value: Optional[str] = None) -> None:
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """An HTTP header cannot be parsed."""

    def __init__(self, name: str, error: str, header: str, pos: int) -> None:
        super().__init__(name, f"{error} at {pos} in {header}")


class InvalidHeaderValue(InvalidHeader):
    """An HTTP header has a wrong value."""


class InvalidOrigin(InvalidHeader):
    """The Origin header of the request isn't allowed."""

    def __init__(self, origin: Optional[str]) -> None:
        super().__init__("Origin", origin)


class InvalidUpgrade(InvalidHeader):
    """The Upgrade or Connection header is missing or invalid."""


class NegotiationError(InvalidHandshake):
    """Negotiating an extension or subprotocol failed."""


class DuplicateParameter(NegotiationError):
    """A parameter appears twice in an extension header."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"duplicate parameter: {self.name}"


class InvalidParameterName(NegotiationError):
    """A parameter name in an extension header is invalid."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"invalid parameter name: {self.name}"


class InvalidParameterValue(NegotiationError):
    """A parameter value in an extension header is invalid."""

    def __init__(self, name: str, value: Optional[str]) -> None:
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing value for parameter {self.name}"
        if self.value == "":
            return f"empty value for parameter {self.name}"
        return f"invalid value for parameter {self.name}: {self.value}"


class ProtocolError(WebSocketException):
    """The peer (or the caller) broke the WebSocket protocol."""


class PayloadTooBig(WebSocketException):
    """A frame or message exceeds max_size.

    ``PayloadTooBig(size, max_size)``: ``size`` may be None when unknown;
    ``set_current_size()`` records how much of the message came before, which
    raises the limit reported by the same amount.  ``PayloadTooBig(message)``
    is deprecated, as in websockets.
    """

    def __init__(self, size_or_message: Any, max_size: Optional[int] = None,
                 current_size: Optional[int] = None) -> None:
        if isinstance(size_or_message, str):
            assert max_size is None and current_size is None
            warnings.warn("PayloadTooBig(message) is deprecated; "
                          "change to PayloadTooBig(size, max_size)",
                          DeprecationWarning, stacklevel=2)
            self.message: Optional[str] = size_or_message
        else:
            assert max_size is not None
            self.message = None
            self.size: Optional[int] = size_or_message
            self.max_size: int = max_size
            self.current_size: Optional[int] = None
            self.set_current_size(current_size)

    def __str__(self) -> str:
        if self.message is not None:
            return self.message
        text = "frame "
        if self.size is not None:
            text += f"with {self.size} bytes "
        if self.current_size is not None:
            text += f"after reading {self.current_size} bytes "
        return text + f"exceeds limit of {self.max_size} bytes"

    def set_current_size(self, current_size: Optional[int]) -> None:
        """Record the bytes of the message read before this frame (once)."""
        assert self.current_size is None
        if current_size is not None:
            self.max_size += current_size
            self.current_size = current_size


class TooManyFragments(WebSocketException):
    """A fragmented message has more frames than allowed."""

    def __init__(self, max_fragments: int) -> None:
        super().__init__(f"fragmented message exceeds limit of {max_fragments} frames")


class InvalidState(WebSocketException, AssertionError):
    """An operation is forbidden in the current connection state."""


class ConcurrencyError(WebSocketException, RuntimeError):
    """Two coroutines receive (or send a fragmented message) concurrently."""
