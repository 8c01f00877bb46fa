"""The HTTP/1.1 upgrade handshake (RFC 6455 4): build, parse with hard
limits, validate.  Runs once per connection, so it is plain Python."""
import base64
import binascii
import hashlib
import os
import re
from http import HTTPStatus
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Tuple, Union

from multidict import CIMultiDict

from .exceptions import (WSHandshakeError, WSInvalidHeaderError, WSInvalidMessageError,
                         WSInvalidStatusError, WSInvalidUpgradeError)
from .extensions.permessage_deflate import WSNegotiationError, WSPerMessageDeflate

WSHeadersLike = Union[Mapping[str, str], Iterable[Tuple[str, str]]]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Hard limits on what a peer can make us buffer and parse.
MAX_HEADER_BYTES = 16 * 1024          # an HTTP head, as picows' max_size
MAX_HEADER_COUNT = 128
MAX_BODY_BYTES = 1024 * 1024
_TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789"
                         b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# What we write: names are RFC 9110 tokens; values never carry CR, LF or NUL,
# the three characters that can end a header line early (response splitting).
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SPLITTING_RE = re.compile(r"[\r\n\0]")
# What we read in a request: a field value is VCHAR, obs-text, SP and HTAB
# (RFC 9110 5.5); the request target printable ASCII without spaces; Host
# an RFC 3986 authority (host and optional port).
_BAD_VALUE_RE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_SPLITTING_BYTES_RE = re.compile(rb"[\r\n\0]")
_TARGET_RE = re.compile(rb"[\x21-\x7e]+")
_HOST_RE = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:\[\]]+")


def make_key() -> bytes:
    """A fresh Sec-WebSocket-Key: 16 random bytes, base64."""
    return base64.b64encode(os.urandom(16))


def accept_value(key: bytes) -> bytes:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def check_header(name: Any, value: Any) -> None:
    """Refuse a header field we are about to write that could split the
    message: the name must be an RFC 9110 token and the value must not hold
    CR, LF or NUL (ValueError; TypeError when either is not a str).  Every
    header the library writes passes here once, when it is built.  The
    message names the header but never repeats the value (it may be a
    credential)."""
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError(f"header names and values must be str, got "
                        f"{type(name).__name__} and {type(value).__name__}")
    if _TOKEN_RE.fullmatch(name) is None:
        raise ValueError(f"invalid HTTP header name {name!r}: not a token")
    if _SPLITTING_RE.search(value) is not None:
        raise ValueError(f"invalid value for HTTP header {name!r}: "
                         f"CR, LF and NUL are not allowed")


def check_headers(headers: Any) -> None:
    """check_header for every field of a CIMultiDict (or pairs); a value
    that is not a str is checked as the str() that to_bytes() writes."""
    for name, value in (headers.items() if hasattr(headers, "items") else headers):
        check_header(name, value if isinstance(value, str) else str(value))


def add_extra_headers(headers: CIMultiDict, extra_headers: Optional[WSHeadersLike]) -> None:
    """Add user headers (each checked by check_header); a user `Host`
    replaces ours, others are appended."""
    if not extra_headers:
        return
    items = extra_headers.items() if hasattr(extra_headers, "items") else extra_headers
    for name, value in items:
        check_header(name, value)
        if name.lower() == "host":
            headers[name] = value
        else:
            headers.add(name, value)


def header_tokens(headers: CIMultiDict, name: str) -> list:
    """Comma-separated tokens of every `name` header, lower-cased."""
    return [t.strip().lower() for v in headers.getall(name, ()) for t in v.split(",")
            if t.strip()]


class WSUpgradeRequest:
    """The opening handshake request: method, path, version as bytes.

    On a server, ``peername`` and ``sockname`` are the connection's addresses
    (as ``transport.get_extra_info`` gives them), so a listener factory can
    decide by client address; an addition over picows, None elsewhere.

    validate_request() and accept_extensions() keep their results on the
    request, so a listener factory that already checked it (the websockets
    layer does, to show the 101 to its hooks) and the core that answers it
    do that work once."""
    __slots__ = ("method", "path", "version", "headers", "peername", "sockname",
                 "_accept", "_extensions")

    def __init__(self, method: bytes = b"GET", path: bytes = b"/",
                 version: bytes = b"HTTP/1.1", headers: Optional[CIMultiDict] = None):
        self.method = method
        self.path = path
        self.version = version
        self.headers = CIMultiDict() if headers is None else headers
        self.peername: Any = None
        self.sockname: Any = None
        self._accept: Optional[bytes] = None
        self._extensions: Any = None        # (compression, accept_offers' answer)

    def __repr__(self) -> str:
        return f"WSUpgradeRequest({self.method!r}, {self.path!r}, {self.version!r})"


class WSUpgradeResponse:
    """The opening handshake response (101 or an HTTP error/redirect).

    Header names must be RFC 9110 tokens and values must not contain CR,
    LF or NUL: the constructor, every factory (`extra_headers`, a
    redirect's `location`) and to_bytes() raise ValueError otherwise, so a
    value taken from a request cannot add headers of its own."""
    __slots__ = ("version", "status", "headers", "body")

    def __init__(self, status: Union[int, HTTPStatus] = HTTPStatus.SWITCHING_PROTOCOLS,
                 headers: Optional[CIMultiDict] = None, body: Optional[bytes] = None,
                 version: bytes = b"HTTP/1.1"):
        self.version = version
        self.status = _status(status)
        if headers is None:
            headers = CIMultiDict()
        else:
            check_headers(headers)
        self.headers = headers
        self.body = body

    @staticmethod
    def create_101_response(extra_headers: Optional[WSHeadersLike] = None) -> "WSUpgradeResponse":
        """101 Switching Protocols with the Upgrade/Connection headers."""
        self = WSUpgradeResponse(HTTPStatus.SWITCHING_PROTOCOLS)
        add_extra_headers(self.headers, extra_headers)
        self.headers["Connection"] = "upgrade"
        self.headers["Upgrade"] = "websocket"
        return self

    @staticmethod
    def create_ok_response(body: Optional[bytes] = None,
                           extra_headers: Optional[WSHeadersLike] = None) -> "WSUpgradeResponse":
        """200 OK, for plain-HTTP answers such as health checks."""
        self = WSUpgradeResponse(HTTPStatus.OK, body=body)
        add_extra_headers(self.headers, extra_headers)
        self.headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return self

    @staticmethod
    def create_error_response(status: Union[int, HTTPStatus], body: Optional[bytes] = None,
                              extra_headers: Optional[WSHeadersLike] = None) -> "WSUpgradeResponse":
        """An error response (status >= 400) with an optional body."""
        if status < 400:
            raise ValueError(f"invalid error response code {status}, can be only >=400")
        self = WSUpgradeResponse(status, body=body)
        add_extra_headers(self.headers, extra_headers)
        return self

    @staticmethod
    def create_redirect_response(status: Union[int, HTTPStatus], location: str,
                                 extra_headers: Optional[WSHeadersLike] = None) -> "WSUpgradeResponse":
        """A 3xx redirect to `location`."""
        if not 300 <= status <= 399:
            raise ValueError(f"invalid redirect response code {status}, can be only 3xx")
        check_header("Location", location)
        self = WSUpgradeResponse(status)
        add_extra_headers(self.headers, extra_headers)
        self.headers["Location"] = location
        return self

    def to_bytes(self) -> bytearray:
        """The response as it goes on the wire (adds Content-Length for a
        body).  Headers changed after the response was built are checked
        again here (ValueError), once per handshake."""
        out = bytearray(b"%b %d %b\r\n" % (self.version, self.status.value,
                                            self.status.phrase.encode()))
        headers = self.headers
        check_headers(headers)
        if self.body:
            headers.setdefault("Content-Type", "text/plain")
            headers["Content-Length"] = str(len(self.body))
        for name, value in headers.items():
            out += f"{name}: {value}\r\n".encode("latin-1")
        out += b"\r\n"
        if self.body:
            out += self.body
        return out

    def __repr__(self) -> str:
        return f"WSUpgradeResponse({self.status!r})"


class WSUpgradeResponseWithListener:
    """A custom response bound to the listener that serves the connection."""
    __slots__ = ("response", "listener")

    def __init__(self, response: WSUpgradeResponse, listener: Any):
        if response.status == 101 and listener is None:
            raise ValueError("listener cannot be None for 101 Switching Protocols response")
        if response.status >= 400 and listener is not None:
            raise ValueError("listener must be None for error response")
        self.response = response
        self.listener = listener


def _status(status: Union[int, HTTPStatus]) -> HTTPStatus:
    return status if isinstance(status, HTTPStatus) else HTTPStatus(status)


class HandshakeRejected(Exception):
    """Server side: the request cannot be upgraded; `response` says why."""

    def __init__(self, status: int, reason: str, extra_headers: Optional[WSHeadersLike] = None):
        super().__init__(reason)
        self.response = WSUpgradeResponse.create_error_response(
            status, reason.encode() + b"\n", extra_headers)


def _split_head(raw: bytes, what: str, error: Callable[[str], Exception],
                strict: bool = False) -> Tuple[bytes, CIMultiDict]:
    """Split a header block (without the final CRLFCRLF) into its start line
    and headers, enforcing the size and count limits.  A line folded onto
    the previous one (obs-fold), a name that is not a token (so also space
    before the colon) and CR, LF or NUL in a value are errors; `strict`
    (requests) also refuses every other control character in a value."""
    if len(raw) > MAX_HEADER_BYTES:
        raise error(f"{what} headers exceed {MAX_HEADER_BYTES} bytes")
    lines = raw.split(b"\r\n")
    if len(lines) - 1 > MAX_HEADER_COUNT:
        raise error(f"{what} has more than {MAX_HEADER_COUNT} headers")
    headers: CIMultiDict = CIMultiDict()
    bad_value = _BAD_VALUE_RE if strict else _SPLITTING_BYTES_RE
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            raise error(f"folded {what} header line (obs-fold)")
        name, sep, value = line.partition(b":")
        if not sep or not name or not _TOKEN_CHARS.issuperset(name):
            raise error(f"malformed {what} header line {line[:64]!r}")
        if bad_value.search(value) is not None:
            raise error(f"{what} header {name[:64]!r} has an invalid value")
        headers.add(name.decode("ascii"), value.strip(b" \t").decode("latin-1"))
    return lines[0], headers


def parse_request(raw: bytes) -> WSUpgradeRequest:
    """Parse an HTTP request head; HandshakeRejected(400) when malformed.

    Strict where a proxy in front could read the same bytes differently
    (request smuggling): the version is exactly HTTP/1.1, the target is
    printable ASCII, there is no body (no Transfer-Encoding, Content-Length
    absent or 0) and exactly one well-formed Host."""
    def bad(msg: str) -> HandshakeRejected:
        return HandshakeRejected(400, msg)
    start, headers = _split_head(raw, "request", bad, strict=True)
    parts = start.split(b" ")
    if len(parts) != 3 or not parts[0] or not _TOKEN_CHARS.issuperset(parts[0]):
        raise bad(f"malformed request line {start[:64]!r}")
    method, target, version = parts
    if version != b"HTTP/1.1":
        raise bad(f"unsupported HTTP version {version[:16]!r}, expected HTTP/1.1")
    if _TARGET_RE.fullmatch(target) is None:
        raise bad("invalid request target: control character, space or non-ASCII byte")
    if "Transfer-Encoding" in headers:
        raise bad("Transfer-Encoding is not supported in an upgrade request")
    for value in headers.getall("Content-Length", ()):
        # Only "0" (or 00..., also as a list) is a body we can ignore; no int().
        for item in value.split(","):
            item = item.strip(" \t")
            if not item or item.strip("0"):
                raise bad("an upgrade request cannot have a body "
                          f"(Content-Length {value[:32]!r})")
    hosts = headers.getall("Host", ())
    if len(hosts) != 1:
        raise bad("an upgrade request needs exactly one Host header, "
                  f"got {len(hosts)}")
    if _HOST_RE.fullmatch(hosts[0]) is None:
        raise bad("invalid Host header")
    return WSUpgradeRequest(method, target, version, headers)


def validate_request(request: WSUpgradeRequest) -> bytes:
    """Check an upgrade request (RFC 6455 4.2.1); return the accept value or
    raise HandshakeRejected with the response to send.  Checked once: a
    second call on the same request returns the first call's value."""
    accept = request._accept
    if accept is not None:
        return accept
    if request.method != b"GET":
        raise HandshakeRejected(405, "WebSocket upgrade requires the GET method",
                                {"Allow": "GET"})
    if request.version == b"HTTP/1.0":
        raise HandshakeRejected(400, "WebSocket upgrade requires HTTP/1.1")
    headers = request.headers
    if "websocket" not in header_tokens(headers, "Upgrade"):
        # 400 as picows (RFC 6455 4.2.2 allows any fitting 4xx).
        raise HandshakeRejected(400, "missing or invalid Upgrade header, expected 'websocket'")
    if "upgrade" not in header_tokens(headers, "Connection"):
        raise HandshakeRejected(400, "missing or invalid Connection header, expected 'Upgrade'")
    versions = headers.getall("Sec-WebSocket-Version", ())
    if versions != ["13"]:
        raise HandshakeRejected(426, "unsupported Sec-WebSocket-Version, this server speaks 13",
                                {"Sec-WebSocket-Version": "13"})
    keys = headers.getall("Sec-WebSocket-Key", ())
    if len(keys) != 1:
        raise HandshakeRejected(400, "missing or repeated Sec-WebSocket-Key header")
    key = keys[0].encode("latin-1")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except (binascii.Error, ValueError):
        raise HandshakeRejected(400, "invalid Sec-WebSocket-Key header, expected "
                                     "16 bytes in base64") from None
    request._accept = accept = accept_value(key)
    return accept


def build_request(parsed_url: Any, key: bytes, extra_headers: Optional[WSHeadersLike],
                  compression: Optional[WSPerMessageDeflate] = None,
                  subprotocols: Optional[Sequence[str]] = None) -> Tuple[WSUpgradeRequest, bytes]:
    """The client's upgrade request object and its wire bytes, with our
    permessage-deflate offer and subprotocol list when there are any."""
    host = parsed_url.host
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if parsed_url.is_secure else 80
    if parsed_url.port != default_port:
        host = f"{host}:{parsed_url.port}"
    headers: CIMultiDict = CIMultiDict()
    headers["Host"] = host
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Key"] = key.decode()
    headers["Sec-WebSocket-Version"] = "13"
    if compression is not None:
        headers["Sec-WebSocket-Extensions"] = compression.offer()
    if subprotocols:
        headers["Sec-WebSocket-Protocol"] = ", ".join(subprotocols)
    check_headers(headers)               # Host and subprotocols come from the caller
    add_extra_headers(headers, extra_headers)
    path = parsed_url.resource_name.encode("latin-1")
    if _TARGET_RE.fullmatch(path) is None:
        raise ValueError("invalid character in the URL path or query: control "
                         "character, space or non-ASCII")
    request = WSUpgradeRequest(b"GET", path, b"HTTP/1.1", headers)
    wire = bytearray(b"GET %b HTTP/1.1\r\n" % path)
    for name, value in headers.items():
        wire += f"{name}: {value}\r\n".encode("latin-1")
    wire += b"\r\n"
    return request, bytes(wire)


def parse_response(raw: bytes, body: Optional[bytes] = None) -> WSUpgradeResponse:
    """Parse an HTTP response head; WSInvalidMessageError when malformed."""
    def bad(msg: str) -> WSInvalidMessageError:
        return WSInvalidMessageError(msg, raw, body)
    start, headers = _split_head(raw, "response", bad)
    parts = start.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() \
            or len(parts[1]) != 3:
        raise bad(f"malformed status line {start[:64]!r}")
    try:
        status = HTTPStatus(int(parts[1]))
    except ValueError:
        raise bad(f"unknown HTTP status {parts[1]!r}") from None
    return WSUpgradeResponse(status, headers, body, parts[0])


def validate_response(response: WSUpgradeResponse, key: bytes, raw: bytes,
                      compression: Optional[WSPerMessageDeflate] = None,
                      subprotocols: Optional[Sequence[str]] = None
                      ) -> Tuple[Optional[WSPerMessageDeflate], Optional[str]]:
    """Check the server's answer to our upgrade (RFC 6455 4.2.2 / 4.1);
    return the negotiated compression and subprotocol (or None)."""
    body = response.body
    if response.status != HTTPStatus.SWITCHING_PROTOCOLS:
        raise WSInvalidStatusError(
            f"expected upgrade response with status 101 Switching Protocols, but received "
            f"{response.status.value} {response.status.phrase}", raw, body, response)
    headers = response.headers
    if "websocket" not in header_tokens(headers, "Upgrade"):
        raise WSInvalidUpgradeError("cannot upgrade, invalid upgrade header",
                                    "Upgrade", headers.get("Upgrade"), raw, body, response)
    if "upgrade" not in header_tokens(headers, "Connection"):
        raise WSInvalidUpgradeError("cannot upgrade, invalid connection header",
                                    "Connection", headers.get("Connection"), raw, body, response)
    accept = headers.getall("Sec-WebSocket-Accept", ())
    if accept != [accept_value(key).decode()]:
        raise WSInvalidHeaderError("cannot upgrade, invalid sec-websocket-accept response",
                                   "Sec-WebSocket-Accept", ",".join(accept) or None,
                                   raw, body, response)
    agreed = None
    extensions = headers.getall("Sec-WebSocket-Extensions", ())
    if extensions:
        if compression is None:
            raise WSInvalidHeaderError("server sent Sec-WebSocket-Extensions that the client "
                                       "did not offer", "Sec-WebSocket-Extensions",
                                       ", ".join(extensions), raw, body, response)
        try:
            agreed = compression.accept_response(extensions)
        except WSNegotiationError as exc:
            raise WSInvalidHeaderError(f"permessage-deflate: {exc}", "Sec-WebSocket-Extensions",
                                       ", ".join(extensions), raw, body, response) from None
    protocols = header_tokens_raw(headers, "Sec-WebSocket-Protocol")
    if not protocols:
        return agreed, None
    if len(protocols) != 1 or protocols[0] not in (subprotocols or ()):
        raise WSInvalidHeaderError("server chose a subprotocol the client did not offer",
                                   "Sec-WebSocket-Protocol", ", ".join(protocols),
                                   raw, body, response)
    return agreed, protocols[0]


def header_tokens_raw(headers: CIMultiDict, name: str) -> list:
    """Comma-separated values of every `name` header, case kept."""
    return [t.strip() for v in headers.getall(name, ()) for t in v.split(",") if t.strip()]


def accept_extensions(request: WSUpgradeRequest, compression: WSPerMessageDeflate
                      ) -> Optional[Tuple[WSPerMessageDeflate, str]]:
    """Server side: `compression`'s answer to the client's permessage-deflate
    offers, (agreed settings, Sec-WebSocket-Extensions value) or None;
    HandshakeRejected (400) for a malformed offer.  Computed once per
    request and `compression`."""
    done = request._extensions
    if done is not None and done[0] is compression:
        return done[1]
    try:
        accepted = compression.accept_offers(
            request.headers.getall("Sec-WebSocket-Extensions", []))
    except WSNegotiationError as exc:
        raise HandshakeRejected(400, f"malformed Sec-WebSocket-Extensions: {exc}") from None
    request._extensions = (compression, accepted)
    return accepted


def negotiate(request: WSUpgradeRequest, response: WSUpgradeResponse,
              compression: Optional[WSPerMessageDeflate],
              subprotocols: Optional[Sequence[str]]
              ) -> Tuple[Optional[WSPerMessageDeflate], Optional[str]]:
    """Server side: answer the client's extension offers and subprotocol
    list in `response`; return what was agreed.  A Sec-WebSocket-Protocol
    the listener factory already put in the response is kept as its choice."""
    agreed = None
    if compression is not None:
        accepted = accept_extensions(request, compression)
        if accepted is not None:
            agreed, value = accepted
            response.headers["Sec-WebSocket-Extensions"] = value
    chosen = response.headers.get("Sec-WebSocket-Protocol")
    if chosen is None and subprotocols:
        offered = header_tokens_raw(request.headers, "Sec-WebSocket-Protocol")
        chosen = next((p for p in subprotocols if p in offered), None)
        if chosen is not None:
            response.headers["Sec-WebSocket-Protocol"] = chosen
    return agreed, chosen


def content_length(headers: CIMultiDict) -> int:
    """Declared body length of a non-101 response, 0 if none; bounded."""
    value = headers.get("Content-Length")
    if value is None:
        return 0
    # ASCII digits only: str.isdigit() also accepts "\xb3" (superscript 3,
    # a header value is read as latin-1), which int() then refuses.
    if not (value.isascii() and value.isdigit()):
        raise WSInvalidMessageError(f"invalid Content-Length {value[:32]!r}")
    # No int() of thousands of digits (Python refuses more than 4300).
    return MAX_BODY_BYTES if len(value) > 9 else min(int(value), MAX_BODY_BYTES)


__all__ = ["WSUpgradeRequest", "WSUpgradeResponse", "WSUpgradeResponseWithListener",
           "WSHandshakeError", "WSHeadersLike"]
