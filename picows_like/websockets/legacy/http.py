"""HTTP/1.1 handshake readers of websockets' legacy API
(``websockets.legacy.http``): ``read_request`` / ``read_response`` on an
:class:`asyncio.StreamReader`.

Limits and errors are websockets': at most ``MAX_NUM_HEADERS`` header lines
and ``MAX_LINE_LENGTH`` bytes a line (``SecurityError``; the same
``WEBSOCKETS_MAX_NUM_HEADERS`` / ``WEBSOCKETS_MAX_LINE_LENGTH`` environment
variables), ``EOFError`` when the stream ends before the empty line,
``ValueError`` for a malformed request, status or header line.  Header
names and values are checked by the same patterns as the sans-I/O parser
(:mod:`picows_like.websockets.http11`); non-ASCII bytes come back as
surrogate escapes, as websockets returns them.
"""
import asyncio
from typing import Tuple

from .. import http11 as _http11
from ..datastructures import Headers
from ..exceptions import SecurityError

__all__ = ["read_request", "read_response"]

MAX_NUM_HEADERS = _http11.MAX_NUM_HEADERS
MAX_LINE_LENGTH = _http11.MAX_LINE_LENGTH

_is_value = _http11._VALUE
_shown = _http11._shown


async def read_request(stream: asyncio.StreamReader) -> Tuple[str, Headers]:
    """Read a ``GET`` request line and its headers; return ``(path,
    headers)``.  The path is neither decoded nor checked; a body, if any, is
    left in `stream`."""
    try:
        line = await read_line(stream)
    except EOFError as exc:
        raise EOFError("connection closed while reading HTTP request line") from exc
    parts = line.split(b" ", 2)
    if len(parts) != 3:
        raise ValueError(f"invalid HTTP request line: {_shown(line)}")
    method, raw_path, version = parts
    if method != b"GET":
        raise ValueError(f"unsupported HTTP method: {_shown(method)}")
    if version != b"HTTP/1.1":
        raise ValueError(f"unsupported HTTP version: {_shown(version)}")
    path = raw_path.decode("ascii", "surrogateescape")
    return path, await read_headers(stream)


async def read_response(stream: asyncio.StreamReader) -> Tuple[int, str, Headers]:
    """Read an HTTP/1.1 status line and its headers; return ``(status_code,
    reason, headers)``.  A body, if any, is left in `stream`."""
    try:
        line = await read_line(stream)
    except EOFError as exc:
        raise EOFError("connection closed while reading HTTP status line") from exc
    parts = line.split(b" ", 2)
    if len(parts) != 3:
        raise ValueError(f"invalid HTTP status line: {_shown(line)}")
    version, raw_status, raw_reason = parts
    if version != b"HTTP/1.1":
        raise ValueError(f"unsupported HTTP version: {_shown(version)}")
    try:
        status_code = int(raw_status)
    except ValueError:
        raise ValueError(f"invalid HTTP status code: {_shown(raw_status)}") from None
    if not 100 <= status_code < 1000:
        raise ValueError(f"unsupported HTTP status code: {_shown(raw_status)}")
    if not _is_value(raw_reason):
        raise ValueError(f"invalid HTTP reason phrase: {_shown(raw_reason)}")
    return status_code, raw_reason.decode(), await read_headers(stream)


async def read_headers(stream: asyncio.StreamReader) -> Headers:
    """Header lines up to the empty line (no obsolete line folding)."""
    headers = Headers()
    for _ in range(MAX_NUM_HEADERS + 1):
        try:
            line = await read_line(stream)
        except EOFError as exc:
            raise EOFError("connection closed while reading HTTP headers") from exc
        if line == b"":
            return headers
        raw_name, raw_value = _http11.parse_header_line(line)
        headers.set_insecure(raw_name.decode("ascii"),
                             raw_value.decode("ascii", "surrogateescape"))
    raise SecurityError("too many HTTP headers")


async def read_line(stream: asyncio.StreamReader) -> bytes:
    """One CRLF-terminated line, CRLF removed.  The StreamReader's own limit
    bounds the read (ValueError past it); SecurityError past
    MAX_LINE_LENGTH, EOFError without the CRLF."""
    line = await stream.readline()
    if len(line) > MAX_LINE_LENGTH:
        raise SecurityError("line too long")
    if not line.endswith(b"\r\n"):
        raise EOFError("line without CRLF")
    return line[:-2]
