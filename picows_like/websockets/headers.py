"""Parsers of the list-valued handshake headers, as ``websockets.headers``
has them: Connection (tokens) and Upgrade (protocol[/version]), with
InvalidHeaderFormat naming the header, what was expected and where parsing
stopped.  Shared by the sans-I/O handshake and the legacy API."""
import re
from typing import Any, List, Pattern

from .exceptions import InvalidHeaderFormat

__all__ = ["parse_connection", "parse_subprotocol_list", "parse_upgrade"]

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


def parse_connection(headers: Any) -> List[str]:
    """The options of every Connection header, in order."""
    return _options(headers, "Connection", _TOKEN_ITEM, "token")


def parse_upgrade(headers: Any) -> List[str]:
    """The protocols of every Upgrade header, in order."""
    return _options(headers, "Upgrade", _PROTOCOL_ITEM, "protocol")


def parse_subprotocol_list(headers: Any) -> List[str]:
    """The subprotocols of every Sec-WebSocket-Protocol header, in order
    (tokens; an empty or malformed value is InvalidHeaderFormat)."""
    return _options(headers, "Sec-WebSocket-Protocol", _TOKEN_ITEM, "token")
