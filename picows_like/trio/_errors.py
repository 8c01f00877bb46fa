"""The exceptions and the CloseReason record of picows_like.trio."""
from typing import Optional, Tuple

# wsproto's names for the close codes (trio-websocket shows them).
_CLOSE_NAMES = {
    1000: "NORMAL_CLOSURE", 1001: "GOING_AWAY", 1002: "PROTOCOL_ERROR",
    1003: "UNSUPPORTED_DATA", 1005: "NO_STATUS_RCVD", 1006: "ABNORMAL_CLOSURE",
    1007: "INVALID_FRAME_PAYLOAD_DATA", 1008: "POLICY_VIOLATION", 1009: "MESSAGE_TOO_BIG",
    1010: "MANDATORY_EXT", 1011: "INTERNAL_ERROR", 1012: "SERVICE_RESTART",
    1013: "TRY_AGAIN_LATER", 1015: "TLS_HANDSHAKE_FAILED",
}


class HandshakeError(Exception):
    """An error while connecting to or disconnecting from the peer."""


class ConnectionTimeout(HandshakeError):
    """The opening handshake did not finish in time."""


class DisconnectionTimeout(HandshakeError):
    """The closing handshake did not finish in time."""


class ConnectionClosed(Exception):
    """The connection is closed (or closing); ``reason`` is its CloseReason."""

    def __init__(self, reason: Optional["CloseReason"]) -> None:
        super().__init__(reason)
        self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}<{self.reason}>"


class ConnectionRejected(HandshakeError):
    """The server answered the upgrade request with an HTTP status other than 101."""

    def __init__(self, status_code: int, headers: Tuple[Tuple[bytes, bytes], ...],
                 body: Optional[bytes]) -> None:
        super().__init__(status_code, headers, body)
        self.status_code = status_code
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"{type(self).__name__}<status_code={self.status_code}>"


class CloseReason:
    """Why a connection closed: ``code``, its ``name`` and the ``reason`` text."""

    __slots__ = ("_code", "_name", "_reason")

    def __init__(self, code: int, reason: Optional[str]) -> None:
        self._code = code
        name = _CLOSE_NAMES.get(code)
        if name is None:
            if 1000 <= code <= 2999:
                name = "RFC_RESERVED"
            elif 3000 <= code <= 3999:
                name = "IANA_RESERVED"
            elif 4000 <= code <= 4999:
                name = "PRIVATE_RESERVED"
            else:
                name = "INVALID_CODE"
        self._name = name
        self._reason = reason

    @property
    def code(self) -> int:
        """The numeric close code."""
        return self._code

    @property
    def name(self) -> str:
        """The close code's name."""
        return self._name

    @property
    def reason(self) -> Optional[str]:
        """The reason text, or None."""
        return self._reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}<code={self._code}, name={self._name}, " \
               f"reason={self._reason}>"
