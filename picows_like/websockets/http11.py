"""Handshake Request / Response records and their HTTP/1.1 parsers (as in
``websockets.http11``).

The parsers are generator-based coroutines driven by a reader that offers
``read_line(limit, too_long_exc)``, ``read_exact(n)`` and
``read_to_eof(limit, too_long_exc)`` generators (websockets' StreamReader
protocol); they are pure Python and used only by the sans-I/O facade.
"""
import dataclasses
import http
import os
import re
import sys
import warnings
from typing import Any, Callable, Generator, Optional, Tuple, Type, Union

from .datastructures import Headers
from .exceptions import (HeaderLineTooLong, RequestLineTooLong, SecurityError,
                         StatusLineTooLong, TooManyHeaders)

__all__ = ["Request", "Response", "USER_AGENT", "SERVER"]

_PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
USER_AGENT = os.environ.get("WEBSOCKETS_USER_AGENT", f"Python/{_PY} picows_like.websockets")
SERVER = os.environ.get("WEBSOCKETS_SERVER", f"Python/{_PY} picows_like.websockets")

# Limits, with websockets' environment variables and defaults.
MAX_NUM_HEADERS = int(os.environ.get("WEBSOCKETS_MAX_NUM_HEADERS", "128"))
MAX_LINE_LENGTH = int(os.environ.get("WEBSOCKETS_MAX_LINE_LENGTH", "8192"))
MAX_BODY_SIZE = int(os.environ.get("WEBSOCKETS_MAX_BODY_SIZE", "1_048_576"))

BytesOrArray = Union[bytes, bytearray]
ReadLine = Callable[[int, Type[Exception]], Generator[None, None, BytesOrArray]]
ReadExact = Callable[[int], Generator[None, None, BytesOrArray]]

# RFC 9110 token (header names), field value without CR / LF / controls but
# tab (obs-text allowed), and bounded decimal / hexadecimal numbers.
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+").fullmatch
_VALUE = re.compile(rb"[\x09\x20-\x7e\x80-\xff]*").fullmatch
_DIGITS = re.compile(rb"[0-9]{1,18}").fullmatch
_HEXDIGITS = re.compile(rb"[0-9a-fA-F]{1,15}").fullmatch


def _shown(raw: BytesOrArray) -> str:
    """Bytes as text for an error message."""
    return bytes(raw).decode(errors="backslashreplace")


@dataclasses.dataclass
class Request:
    """The opening handshake request: ``path`` (with the query) and headers."""
    path: str
    headers: Headers
    method: str = "GET"
    protocol: str = "HTTP/1.1"
    _exception: Optional[Exception] = None

    @property
    def exception(self) -> Optional[Exception]:
        """Deprecated (as in websockets): use ServerProtocol.handshake_exc."""
        warnings.warn("Request.exception is deprecated; "
                      "use ServerProtocol.handshake_exc instead",
                      DeprecationWarning, stacklevel=2)
        return self._exception

    @classmethod
    def parse(cls, read_line: ReadLine) -> Generator[None, None, "Request"]:
        """Read a request head (no body).

        Raises EOFError, RequestLineTooLong, HeaderLineTooLong,
        TooManyHeaders, UnicodeDecodeError (non-ASCII method or path),
        ValueError (malformed), NotImplementedError (Transfer-Encoding).
        """
        try:
            line = yield from parse_line(read_line, RequestLineTooLong)
        except EOFError as exc:
            raise EOFError("connection closed while reading HTTP request line") from exc
        parts = line.split(b" ", 2)
        if len(parts) != 3:
            raise ValueError(f"invalid HTTP request line: {_shown(line)}")
        raw_method, raw_path, raw_protocol = parts
        if raw_protocol not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise ValueError("unsupported protocol; expected HTTP/1.1 or HTTP/1.0: "
                             f"{_shown(line)}")
        method = raw_method.decode("ascii")
        protocol = raw_protocol.decode("ascii")
        path = raw_path.decode("ascii")
        headers = yield from parse_headers(read_line)
        if "Transfer-Encoding" in headers:
            raise NotImplementedError("transfer codings aren't supported")
        # A body is refused, but "Content-Length: 0" (even repeated) is tolerated.
        if any(value != "0" for value in headers.get_all("Content-Length")):
            raise ValueError("unsupported request body")
        return cls(path, headers, method, protocol)

    def serialize(self) -> bytes:
        """Request line and headers, as sent (the request line must be ASCII)."""
        head = f"{self.method} {self.path} {self.protocol}\r\n".encode("ascii")
        return head + self.headers.serialize()

    @classmethod
    def from_core(cls, request: Any) -> "Request":
        """Convert picows_like's WSUpgradeRequest (every header pair kept)."""
        core_headers = request.headers
        pairs = core_headers.items() if hasattr(core_headers, "items") else core_headers
        headers = Headers()
        for name, value in pairs:
            headers.set_insecure(name, value)
        return cls(request.path.decode("latin-1"), headers,
                   request.method.decode("latin-1"), request.version.decode("latin-1"))


@dataclasses.dataclass
class Response:
    """The opening handshake response."""
    status_code: int
    reason_phrase: str
    headers: Headers
    body: BytesOrArray = b""
    _exception: Optional[Exception] = None

    @property
    def exception(self) -> Optional[Exception]:
        """Deprecated (as in websockets): use ClientProtocol.handshake_exc."""
        warnings.warn("Response.exception is deprecated; "
                      "use ClientProtocol.handshake_exc instead",
                      DeprecationWarning, stacklevel=2)
        return self._exception

    @classmethod
    def parse(cls, read_line: ReadLine, read_exact: ReadExact, read_to_eof: ReadLine,
              proxy: bool = False) -> Generator[None, None, "Response"]:
        """Read a response: status line, headers and (unless `proxy`) the body.

        Raises EOFError, StatusLineTooLong, HeaderLineTooLong, TooManyHeaders,
        SecurityError (body limits), LookupError / ValueError (malformed),
        NotImplementedError (a transfer coding other than chunked).
        """
        try:
            line = yield from parse_line(read_line, StatusLineTooLong)
        except EOFError as exc:
            raise EOFError("connection closed while reading HTTP status line") from exc
        parts = line.split(b" ", 2)
        if len(parts) != 3:
            raise ValueError(f"invalid HTTP status line: {_shown(line)}")
        protocol, raw_code, raw_reason = parts
        if proxy:  # some proxies still answer in HTTP/1.0
            if protocol not in (b"HTTP/1.1", b"HTTP/1.0"):
                raise ValueError("unsupported protocol; expected HTTP/1.1 or HTTP/1.0: "
                                 f"{_shown(line)}")
        elif protocol != b"HTTP/1.1":
            raise ValueError(f"unsupported protocol; expected HTTP/1.1: {_shown(line)}")
        if not _DIGITS(raw_code):
            raise ValueError(f"invalid status code; expected integer; got {_shown(raw_code)}")
        status_code = int(raw_code)
        if not 100 <= status_code < 600:
            raise ValueError(f"invalid status code; expected 100–599; got {_shown(raw_code)}")
        if not _VALUE(raw_reason):
            raise ValueError(f"invalid HTTP reason phrase: {_shown(raw_reason)}")
        reason = raw_reason.decode("iso-8859-1")
        headers = yield from parse_headers(read_line)
        if proxy:
            body: BytesOrArray = b""
        else:
            body = yield from read_body(status_code, headers, read_line, read_exact,
                                        read_to_eof)
        return cls(status_code, reason, headers, body)

    def serialize(self) -> bytes:
        """Status line, headers and body, as sent (ISO-8859-1 reason phrase)."""
        head = f"HTTP/1.1 {self.status_code} {self.reason_phrase}\r\n".encode("iso-8859-1")
        return head + self.headers.serialize() + self.body

    @classmethod
    def from_core(cls, response: Any) -> "Response":
        """Convert picows_like's WSUpgradeResponse (every header pair kept)."""
        status = response.status
        core_headers = response.headers
        pairs = core_headers.items() if hasattr(core_headers, "items") else core_headers
        headers = Headers()
        for name, value in pairs:
            headers.set_insecure(name, value)
        return cls(int(status), getattr(status, "phrase", ""), headers, response.body or b"")

    def to_core(self) -> Any:
        """Convert to picows_like's WSUpgradeResponse."""
        from multidict import CIMultiDict

        from ..handshake import WSUpgradeResponse
        status = self.status_code
        try:
            status = http.HTTPStatus(status)
        except ValueError:
            pass
        headers = self.headers
        if hasattr(headers, "raw_items"):
            pairs = list(headers.raw_items())
        elif hasattr(headers, "items"):
            pairs = list(headers.items())
        else:
            pairs = list(headers)
        return WSUpgradeResponse(status, CIMultiDict(pairs),
                                 bytes(self.body) if self.body else None)


def parse_line(read_line: ReadLine,
               too_long_exc_type: Type[Exception] = SecurityError
               ) -> Generator[None, None, BytesOrArray]:
    """One CRLF-terminated line, CRLF removed (EOFError without the CRLF)."""
    line = yield from read_line(MAX_LINE_LENGTH, too_long_exc_type)
    if not line.endswith(b"\r\n"):
        raise EOFError("line without CRLF")
    return line[:-2]


def parse_header_line(line: BytesOrArray) -> Tuple[BytesOrArray, BytesOrArray]:
    """(name, value) of one header line, the value stripped of surrounding
    blanks; ValueError when the line, the name or the value is malformed."""
    name_value = line.split(b":", 1)
    if len(name_value) != 2:
        raise ValueError(f"invalid HTTP header line: {_shown(line)}")
    raw_name, raw_value = name_value
    if not _TOKEN(raw_name):
        raise ValueError(f"invalid HTTP header name: {_shown(raw_name)}")
    raw_value = raw_value.strip(b" \t")
    if not _VALUE(raw_value):
        raise ValueError(f"invalid HTTP header value: {_shown(raw_value)}")
    return raw_name, raw_value


def parse_headers(read_line: ReadLine) -> Generator[None, None, Headers]:
    """Header lines up to the empty line; values decoded as ISO-8859-1.

    Raises EOFError, HeaderLineTooLong, TooManyHeaders, ValueError.  No
    obsolete line folding.
    """
    headers = Headers()
    for _ in range(MAX_NUM_HEADERS + 1):
        try:
            line = yield from parse_line(read_line, HeaderLineTooLong)
        except EOFError as exc:
            raise EOFError("connection closed while reading HTTP headers") from exc
        if line == b"":
            return headers
        raw_name, raw_value = parse_header_line(line)
        headers.set_insecure(raw_name.decode("ascii"), raw_value.decode("iso-8859-1"))
    raise TooManyHeaders(f"expected no more than {MAX_NUM_HEADERS} headers")


def read_body(status_code: int, headers: Headers, read_line: ReadLine,
              read_exact: ReadExact, read_to_eof: ReadLine
              ) -> Generator[None, None, BytesOrArray]:
    """The response body: none for 1xx / 204 / 304, else chunked,
    Content-Length or up to EOF, within MAX_BODY_SIZE (SecurityError)."""
    if 100 <= status_code < 200 or status_code in (204, 304):
        return b""
    coding = headers.get("Transfer-Encoding")   # MultipleValuesError is a LookupError
    if coding is not None:
        if coding != "chunked":
            raise NotImplementedError(f"transfer coding {coding} isn't supported")
        body = b""
        while True:
            size_line = yield from parse_line(read_line, SecurityError)
            raw_size = size_line.split(b";", 1)[0]
            if not _HEXDIGITS(raw_size):
                raise SecurityError(f"invalid chunk size: {_shown(raw_size)}")
            size = int(raw_size, 16)
            if size == 0:
                break
            if len(body) + size > MAX_BODY_SIZE:
                raise SecurityError(f"chunk too large: {size} bytes after {len(body)} bytes")
            body += yield from read_exact(size)
            if (yield from read_exact(2)) != b"\r\n":
                raise ValueError("chunk without CRLF")
        yield from parse_headers(read_line)   # trailer, discarded
        return body
    length = headers.get("Content-Length")
    if length is not None:
        if not _DIGITS(length.encode("iso-8859-1")):
            raise SecurityError(f"invalid content length: {length}")
        size = int(length)
        if size > MAX_BODY_SIZE:
            raise SecurityError(f"body too large: {size} bytes")
        return (yield from read_exact(size))
    return (yield from read_to_eof(MAX_BODY_SIZE, SecurityError))
