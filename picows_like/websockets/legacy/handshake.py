"""The opening-handshake header helpers of websockets' legacy API
(``websockets.legacy.handshake``).

Code that runs the HTTP exchange itself calls them on both sides::

    key = build_request(request_headers)             # client
    key = check_request(request_headers)             # server, InvalidHandshake -> 400
    build_response(response_headers, key)            # server
    check_response(response_headers, key)            # client

They read and write :class:`~picows_like.websockets.datastructures.Headers`
and raise websockets' exceptions (``InvalidUpgrade``, ``InvalidHeader``,
``InvalidHeaderValue``, ``InvalidHeaderFormat``), with its messages.  The
Sec-WebSocket-Key / Sec-WebSocket-Accept values are the core's
(:mod:`picows_like.handshake`).
"""
from typing import Any

from ... import handshake as _core
from ..datastructures import Headers
from ..exceptions import InvalidHeaderValue, InvalidUpgrade
from ..headers import parse_connection, parse_upgrade
from ..protocol import check_key_and_version, single_header

__all__ = ["build_request", "check_request", "build_response", "check_response"]

def _check_upgrade(headers: Any, connection_separator: str) -> None:
    connection = parse_connection(headers)
    if not any(option.lower() == "upgrade" for option in connection):
        raise InvalidUpgrade("Connection", connection_separator.join(connection))
    upgrade = parse_upgrade(headers)
    # Case-insensitive: RFC 6455 writes "WebSocket" in its IANA section.
    if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
        raise InvalidUpgrade("Upgrade", ", ".join(upgrade))


def _accept(key: str) -> str:
    return _core.accept_value(key.encode()).decode()


def build_request(headers: Headers) -> str:
    """Add the handshake headers to a client request (Upgrade, Connection, a
    fresh Sec-WebSocket-Key, Sec-WebSocket-Version: 13); return the key for
    :func:`check_response`."""
    key = _core.make_key().decode()
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Key"] = key
    headers["Sec-WebSocket-Version"] = "13"
    return key


def check_request(headers: Headers) -> str:
    """Check the handshake headers of a client request; return its
    Sec-WebSocket-Key for :func:`build_response`.

    The method, HTTP version, Host and Origin are the caller's to check.
    Raises InvalidUpgrade (Connection / Upgrade), InvalidHeaderFormat
    (unparsable Connection / Upgrade), InvalidHeader (a missing or repeated
    Sec-WebSocket-Key / Sec-WebSocket-Version), InvalidHeaderValue (a key
    that is not 16 bytes in base64, a version other than 13); the server
    answers any of them with 400 Bad Request.
    """
    _check_upgrade(headers, ", ")
    return check_key_and_version(headers)


def build_response(headers: Headers, key: str) -> None:
    """Add the handshake headers to the server's 101 response for the
    Sec-WebSocket-Key `key` (from :func:`check_request`)."""
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Accept"] = _accept(key)


def check_response(headers: Headers, key: str) -> None:
    """Check the handshake headers of the server's response to the request
    that sent `key` (from :func:`build_request`).

    The status code and HTTP version are the caller's to check.  Raises
    InvalidUpgrade, InvalidHeaderFormat, InvalidHeader (missing or repeated
    Sec-WebSocket-Accept) or InvalidHeaderValue (a wrong accept value).
    """
    # websockets joins the Connection options with a space here (", " in
    # check_request); the message is kept identical.
    _check_upgrade(headers, " ")
    accept = single_header(headers, "Sec-WebSocket-Accept")
    if accept != _accept(key):
        raise InvalidHeaderValue("Sec-WebSocket-Accept", accept)
