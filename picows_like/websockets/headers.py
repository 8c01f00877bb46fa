"""Parsers of the list-valued handshake headers, as ``websockets.headers``
has them: Connection (tokens) and Upgrade (protocol[/version]), with
InvalidHeaderFormat naming the header, what was expected and where parsing
stopped.  Shared by the sans-I/O handshake and the legacy API."""
import re
from typing import Any, List, Pattern

from .exceptions import InvalidHeaderFormat

__all__ = ["check_extension_list", "parse_connection", "parse_subprotocol_list",
           "parse_upgrade"]

# RFC 9110 token, and the Upgrade grammar's protocol-name ["/" protocol-version].
_TOKEN_ITEM = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_PROTOCOL_ITEM = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+(?:/[-!#$%&'*+.^_`|~0-9a-zA-Z]+)?")
_OWS = re.compile(r"[\t ]*")
# RFC 6455 9.1: extension-token *( OWS ";" OWS param ), param: token
# [ OWS "=" OWS (token / quoted-string) ], as websockets.headers parses it.
_TOKEN = r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_QUOTED = r'"(?:[\x09\x20-\x21\x23-\x5b\x5d-\x7e]|\\[\x09\x20-\x7e\x80-\xff])*"'
_EXTENSION_ITEM = re.compile(
    rf"{_TOKEN}(?:[\t ]*;[\t ]*{_TOKEN}(?:[\t ]*=[\t ]*(?:{_TOKEN}|{_QUOTED}))?)*")
_QUOTED_RE = re.compile(_QUOTED)
_QUOTED_PAIR = re.compile(r"\\(.)")


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


def check_extension_list(headers: Any) -> None:
    """Every Sec-WebSocket-Extensions header is a well-formed list of
    extensions, a quoted parameter value a token once unquoted
    (InvalidHeaderFormat otherwise, as websockets)."""
    name = "Sec-WebSocket-Extensions"
    for value in headers.get_all(name):
        for item in _parse_list(value, name, _EXTENSION_ITEM, "token"):
            for quoted in _QUOTED_RE.finditer(item):
                if _TOKEN_ITEM.fullmatch(_QUOTED_PAIR.sub(r"\1", quoted.group()[1:-1])) is None:
                    raise InvalidHeaderFormat(name, "invalid quoted header content", value,
                                              value.find(quoted.group()))
