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
import base64
import binascii
import re
from typing import Any, List, Pattern

from ... import handshake as _core
from ..datastructures import Headers, MultipleValuesError
from ..exceptions import InvalidHeader, InvalidHeaderFormat, InvalidHeaderValue, InvalidUpgrade

__all__ = ["build_request", "check_request", "build_response", "check_response"]

# RFC 9110 token, and the Upgrade grammar's protocol-name ["/" protocol-version].
_TOKEN_ITEM = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_PROTOCOL_ITEM = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+(?:/[-!#$%&'*+.^_`|~0-9a-zA-Z]+)?")
_OWS = re.compile(r"[\t ]*")


def _skip_delimiters(header: str, pos: int) -> int:
    """Past any run of "," each followed by optional whitespace (RFC 9110
    asks recipients to ignore empty list elements)."""
    while pos < len(header) and header[pos] == ",":
        pos = _OWS.match(header, pos + 1).end()  # type: ignore[union-attr]
    return pos


def _parse_list(header: str, name: str, item: Pattern, what: str) -> List[str]:
    """The items of a comma-separated ``1#item`` header value (the value is
    expected without leading or trailing whitespace, as the HTTP reader
    leaves it).  InvalidHeaderFormat names the header, what was expected and
    the position where parsing stopped."""
    pos = _skip_delimiters(header, 0)
    items = []
    while True:
        match = item.match(header, pos)
        if match is None:
            raise InvalidHeaderFormat(name, f"expected {what}", header, pos)
        items.append(match.group())
        pos = _OWS.match(header, match.end()).end()  # type: ignore[union-attr]
        if pos == len(header):
            return items
        if header[pos] != ",":
            raise InvalidHeaderFormat(name, "expected comma", header, pos)
        pos = _skip_delimiters(header, pos)
        if pos == len(header):
            return items


def _options(headers: Any, name: str, item: Pattern, what: str) -> List[str]:
    return [option for value in headers.get_all(name)
            for option in _parse_list(value, name, item, what)]


def _check_upgrade(headers: Any, connection_separator: str) -> None:
    connection = _options(headers, "Connection", _TOKEN_ITEM, "token")
    if not any(option.lower() == "upgrade" for option in connection):
        raise InvalidUpgrade("Connection", connection_separator.join(connection))
    upgrade = _options(headers, "Upgrade", _PROTOCOL_ITEM, "protocol")
    # Case-insensitive: RFC 6455 writes "WebSocket" in its IANA section.
    if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
        raise InvalidUpgrade("Upgrade", ", ".join(upgrade))


def _single(headers: Any, name: str) -> str:
    try:
        return headers[name]
    except KeyError as exc:
        raise InvalidHeader(name) from exc
    except MultipleValuesError as exc:
        raise InvalidHeader(name, "multiple values") from exc


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
    key = _single(headers, "Sec-WebSocket-Key")
    try:
        raw_key = base64.b64decode(key.encode(), validate=True)
    except binascii.Error as exc:
        raise InvalidHeaderValue("Sec-WebSocket-Key", key) from exc
    if len(raw_key) != 16:
        raise InvalidHeaderValue("Sec-WebSocket-Key", key)
    version = _single(headers, "Sec-WebSocket-Version")
    if version != "13":
        raise InvalidHeaderValue("Sec-WebSocket-Version", version)
    return key


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
    accept = _single(headers, "Sec-WebSocket-Accept")
    if accept != _accept(key):
        raise InvalidHeaderValue("Sec-WebSocket-Accept", accept)
