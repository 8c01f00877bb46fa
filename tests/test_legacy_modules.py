"""websockets.legacy's helper modules (handshake, http, framing), one test
body for two implementations.

Each case runs the same call on websockets.legacy.X and on
picows_like.websockets.legacy.X and asserts both give the same outcome: the
same return value, or an exception of the same class name with the same
message.  The reference outcome is also pinned (the exception class or a
value), so a case cannot pass by both sides doing nothing.
"""
import asyncio
import base64
import types
import warnings

import pytest

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import websockets.datastructures
    import websockets.exceptions
    import websockets.frames
    import websockets.legacy.framing
    import websockets.legacy.handshake
    import websockets.legacy.http

import picows_like.websockets.datastructures
import picows_like.websockets.exceptions
import picows_like.websockets.frames
import picows_like.websockets.legacy.framing
import picows_like.websockets.legacy.handshake
import picows_like.websockets.legacy.http


def _impl(root):
    return types.SimpleNamespace(
        handshake=root.legacy.handshake, http=root.legacy.http, framing=root.legacy.framing,
        Headers=root.datastructures.Headers, exceptions=root.exceptions, frames=root.frames)


WS = _impl(websockets)
OURS = _impl(picows_like.websockets)
BOTH = pytest.mark.parametrize("L", [WS, OURS], ids=["websockets", "picows_like"])

KEY = "dGhlIHNhbXBsZSBub25jZQ=="          # RFC 6455 section 1.3
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def outcome(call):
    """("ok", value) or (exception class name, message)."""
    try:
        return ("ok", call())
    except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
        return (type(exc).__name__, str(exc))


async def aoutcome(call):
    try:
        return ("ok", await call())
    except Exception as exc:  # noqa: BLE001
        return (type(exc).__name__, str(exc))


def same(run, expected):
    """Run `run(L)` on both implementations; assert equal outcomes and the
    reference's is `expected` (a class name or "ok")."""
    ref, ours = outcome(lambda: run(WS)), outcome(lambda: run(OURS))
    assert ours == ref
    assert ref[0] == expected, ref
    return ref


def headers(L, pairs):
    h = L.Headers()
    for name, value in pairs:
        h[name] = value
    return h


def test_legacy_module_exports():
    for name in ("handshake", "http", "framing"):
        assert getattr(OURS, name).__all__ is not None
    assert set(WS.handshake.__all__) == set(OURS.handshake.__all__)
    assert set(WS.http.__all__) == set(OURS.http.__all__)
    for name in ("read_headers", "read_line"):
        assert callable(getattr(WS.http, name)) and callable(getattr(OURS.http, name))
    assert OURS.http.MAX_NUM_HEADERS == WS.http.MAX_NUM_HEADERS == 128
    assert OURS.http.MAX_LINE_LENGTH == WS.http.MAX_LINE_LENGTH == 8192
    for name in ("Frame", "prepare_data", "prepare_ctrl", "encode_data", "parse_close",
                 "serialize_close", "Close"):
        assert hasattr(WS.framing, name) and hasattr(OURS.framing, name), name
    assert OURS.framing.Close is picows_like.websockets.frames.Close


# -- handshake -----------------------------------------------------------------

GOOD_REQUEST = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")]


def _replace(pairs, name, *values):
    """`pairs` with every `name` header replaced by `values` (none: removed)."""
    kept = [(n, v) for n, v in pairs if n != name]
    return kept + [(name, v) for v in values]


REQUEST_CASES = {
    "valid": (GOOD_REQUEST, "ok"),
    "connection-keep-alive-upgrade": (_replace(GOOD_REQUEST, "Connection", "keep-alive, Upgrade"), "ok"),
    "connection-two-headers": (_replace(GOOD_REQUEST, "Connection", "keep-alive", "upgrade"), "ok"),
    "connection-extra-commas": (_replace(GOOD_REQUEST, "Connection", ",, Upgrade ,,"), "ok"),
    "upgrade-mixed-case": (_replace(GOOD_REQUEST, "Upgrade", "WebSocket"), "ok"),
    "connection-missing": (_replace(GOOD_REQUEST, "Connection"), "InvalidUpgrade"),
    "connection-close": (_replace(GOOD_REQUEST, "Connection", "close"), "InvalidUpgrade"),
    "connection-list-without-upgrade": (_replace(GOOD_REQUEST, "Connection", "close, keep-alive"),
                                        "InvalidUpgrade"),
    "connection-empty": (_replace(GOOD_REQUEST, "Connection", ""), "InvalidHeaderFormat"),
    "connection-not-token": (_replace(GOOD_REQUEST, "Connection", "upgrade;x"), "InvalidHeaderFormat"),
    "connection-no-comma": (_replace(GOOD_REQUEST, "Connection", "keep-alive upgrade"),
                            "InvalidHeaderFormat"),
    "upgrade-missing": (_replace(GOOD_REQUEST, "Upgrade"), "InvalidUpgrade"),
    "upgrade-duplicate": (_replace(GOOD_REQUEST, "Upgrade", "websocket", "websocket"), "InvalidUpgrade"),
    "upgrade-list": (_replace(GOOD_REQUEST, "Upgrade", "websocket, h2c"), "InvalidUpgrade"),
    "upgrade-versioned": (_replace(GOOD_REQUEST, "Upgrade", "websocket/13"), "InvalidUpgrade"),
    "upgrade-other": (_replace(GOOD_REQUEST, "Upgrade", "h2c"), "InvalidUpgrade"),
    "upgrade-bad-format": (_replace(GOOD_REQUEST, "Upgrade", "web socket"), "InvalidHeaderFormat"),
    "upgrade-bad-slash": (_replace(GOOD_REQUEST, "Upgrade", "websocket/"), "InvalidHeaderFormat"),
    "key-missing": (_replace(GOOD_REQUEST, "Sec-WebSocket-Key"), "InvalidHeader"),
    "key-duplicate": (_replace(GOOD_REQUEST, "Sec-WebSocket-Key", KEY, KEY), "InvalidHeader"),
    "key-not-base64": (_replace(GOOD_REQUEST, "Sec-WebSocket-Key", "not base64!"), "InvalidHeaderValue"),
    "key-bad-padding": (_replace(GOOD_REQUEST, "Sec-WebSocket-Key", KEY[:-1]), "InvalidHeaderValue"),
    "key-15-bytes": (_replace(GOOD_REQUEST, "Sec-WebSocket-Key",
                              base64.b64encode(b"x" * 15).decode()), "InvalidHeaderValue"),
    "key-17-bytes": (_replace(GOOD_REQUEST, "Sec-WebSocket-Key",
                              base64.b64encode(b"x" * 17).decode()), "InvalidHeaderValue"),
    "key-empty": (_replace(GOOD_REQUEST, "Sec-WebSocket-Key", ""), "InvalidHeaderValue"),
    "version-missing": (_replace(GOOD_REQUEST, "Sec-WebSocket-Version"), "InvalidHeader"),
    "version-duplicate": (_replace(GOOD_REQUEST, "Sec-WebSocket-Version", "13", "13"), "InvalidHeader"),
    "version-8": (_replace(GOOD_REQUEST, "Sec-WebSocket-Version", "8"), "InvalidHeaderValue"),
    "version-13-padded": (_replace(GOOD_REQUEST, "Sec-WebSocket-Version", "13, 8"),
                          "InvalidHeaderValue"),
}


@pytest.mark.parametrize("case", list(REQUEST_CASES))
def test_check_request(case):
    pairs, expected = REQUEST_CASES[case]
    ref = same(lambda L: L.handshake.check_request(headers(L, pairs)), expected)
    if expected == "ok":
        assert ref[1] == KEY


@pytest.mark.parametrize("case", ["connection-missing", "key-not-base64", "version-8"])
def test_check_request_exception_classes(case):
    """The exceptions are the library's own classes, with the same bases."""
    pairs, expected = REQUEST_CASES[case]
    for L in (WS, OURS):
        with pytest.raises(getattr(L.exceptions, expected)) as info:
            L.handshake.check_request(headers(L, pairs))
        assert isinstance(info.value, L.exceptions.InvalidHeader)
        assert isinstance(info.value, L.exceptions.InvalidHandshake)


GOOD_RESPONSE = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                 ("Sec-WebSocket-Accept", ACCEPT)]

RESPONSE_CASES = {
    "valid": (GOOD_RESPONSE, "ok"),
    "upgrade-mixed-case": (_replace(GOOD_RESPONSE, "Upgrade", "WEBSOCKET"), "ok"),
    "connection-missing": (_replace(GOOD_RESPONSE, "Connection"), "InvalidUpgrade"),
    # websockets joins the options with a space in this message.
    "connection-list-without-upgrade": (_replace(GOOD_RESPONSE, "Connection", "close, keep-alive"),
                                        "InvalidUpgrade"),
    "connection-bad-format": (_replace(GOOD_RESPONSE, "Connection", "up grade"),
                              "InvalidHeaderFormat"),
    "upgrade-missing": (_replace(GOOD_RESPONSE, "Upgrade"), "InvalidUpgrade"),
    "upgrade-duplicate": (_replace(GOOD_RESPONSE, "Upgrade", "websocket", "websocket"),
                          "InvalidUpgrade"),
    "accept-missing": (_replace(GOOD_RESPONSE, "Sec-WebSocket-Accept"), "InvalidHeader"),
    "accept-duplicate": (_replace(GOOD_RESPONSE, "Sec-WebSocket-Accept", ACCEPT, ACCEPT),
                         "InvalidHeader"),
    "accept-wrong": (_replace(GOOD_RESPONSE, "Sec-WebSocket-Accept", ACCEPT.lower()),
                     "InvalidHeaderValue"),
    "accept-of-key": (_replace(GOOD_RESPONSE, "Sec-WebSocket-Accept", KEY), "InvalidHeaderValue"),
}


@pytest.mark.parametrize("case", list(RESPONSE_CASES))
def test_check_response(case):
    pairs, expected = RESPONSE_CASES[case]
    ref = same(lambda L: L.handshake.check_response(headers(L, pairs), KEY), expected)
    if expected == "ok":
        assert ref[1] is None


def test_build_response_rfc_value():
    def run(L):
        h = L.Headers()
        assert L.handshake.build_response(h, KEY) is None
        return list(h.raw_items())
    ref = same(run, "ok")
    assert ref[1] == [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                      ("Sec-WebSocket-Accept", ACCEPT)]


@pytest.mark.parametrize("client,server", [(WS, WS), (OURS, OURS), (WS, OURS), (OURS, WS)],
                         ids=["ws-ws", "ours-ours", "ws-client-ours-server",
                              "ours-client-ws-server"])
def test_build_check_round_trip(client, server):
    """A client's build_request passes the other library's check_request, and
    the server's build_response passes the client's check_response."""
    request = client.Headers()
    key = client.handshake.build_request(request)
    assert isinstance(key, str) and len(base64.b64decode(key, validate=True)) == 16
    assert [n for n, _ in request.raw_items()] == [
        "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version"]
    received = server.Headers(list(request.raw_items()))
    assert server.handshake.check_request(received) == key
    response = server.Headers()
    server.handshake.build_response(response, key)
    client.handshake.check_response(client.Headers(list(response.raw_items())), key)
    # A response for another key is refused.
    with pytest.raises(client.exceptions.InvalidHeaderValue):
        client.handshake.check_response(client.Headers(list(response.raw_items())),
                                        client.handshake.build_request(client.Headers()))


@BOTH
def test_build_request_keys_are_fresh(L):
    keys = {L.handshake.build_request(L.Headers()) for _ in range(20)}
    assert len(keys) == 20


# -- http ----------------------------------------------------------------------

def _many_headers(count):
    return b"".join(b"X-H%d: v\r\n" % i for i in range(count))


REQUEST_INPUTS = {
    "valid": (b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\n\r\n", "ok"),
    "valid-body-left": (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", "ok"),
    "value-whitespace-stripped": (b"GET / HTTP/1.1\r\nX-A: \t padded \t\r\nX-B:\r\n\r\n", "ok"),
    "non-ascii-path-and-value": (b"GET /caf\xc3\xa9 HTTP/1.1\r\nX-A: caf\xc3\xa9\r\n\r\n", "ok"),
    "repeated-header": (b"GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n", "ok"),
    "128-headers": (b"GET / HTTP/1.1\r\n" + _many_headers(128) + b"\r\n", "ok"),
    "empty": (b"", "EOFError"),
    "truncated-request-line": (b"GET / HTTP/1.1", "EOFError"),
    "truncated-headers": (b"GET / HTTP/1.1\r\nHost: a\r\n", "EOFError"),
    "truncated-header-line": (b"GET / HTTP/1.1\r\nHost: a", "EOFError"),
    "lf-only": (b"GET / HTTP/1.1\nHost: a\n\n", "EOFError"),
    "too-many-headers": (b"GET / HTTP/1.1\r\n" + _many_headers(129) + b"\r\n", "SecurityError"),
    "header-line-too-long": (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 8200 + b"\r\n\r\n",
                             "SecurityError"),
    "request-line-too-long": (b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\n\r\n", "SecurityError"),
    "over-stream-limit": (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", "ValueError"),
    "method-post": (b"POST / HTTP/1.1\r\n\r\n", "ValueError"),
    "version-1.0": (b"GET / HTTP/1.0\r\n\r\n", "ValueError"),
    "version-2": (b"GET / HTTP/2\r\n\r\n", "ValueError"),
    "request-line-two-parts": (b"GET /\r\n\r\n", "ValueError"),
    "request-line-extra-space": (b"GET / x HTTP/1.1\r\n\r\n", "ValueError"),
    "header-without-colon": (b"GET / HTTP/1.1\r\nHost\r\n\r\n", "ValueError"),
    "header-name-space": (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "ValueError"),
    "header-name-empty": (b"GET / HTTP/1.1\r\n: x\r\n\r\n", "ValueError"),
    "header-value-control": (b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", "ValueError"),
    "obsolete-folding": (b"GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", "ValueError"),
}


def _stream(data):
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    stream.feed_eof()
    return stream


async def _same_read(read, data, expected):
    ref = await aoutcome(lambda: read(WS)(_stream(data)))
    ours = await aoutcome(lambda: read(OURS)(_stream(data)))
    assert ref[0] == expected, ref
    assert ours[0] == ref[0] and (ref[0] == "ok" or ours[1] == ref[1]), (ref, ours)
    return ref, ours


def _plain_headers(h):
    return list(h.raw_items())


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(REQUEST_INPUTS))
async def test_read_request(case):
    data, expected = REQUEST_INPUTS[case]
    ref, ours = await _same_read(lambda L: L.http.read_request, data, expected)
    if expected == "ok":
        (ref_path, ref_headers), (our_path, our_headers) = ref[1], ours[1]
        assert our_path == ref_path
        assert _plain_headers(our_headers) == _plain_headers(ref_headers)
        assert isinstance(our_headers, OURS.Headers)


@pytest.mark.asyncio
async def test_read_request_values_and_rest_of_stream():
    for L in (WS, OURS):
        stream = _stream(REQUEST_INPUTS["non-ascii-path-and-value"][0] + b"rest")
        path, h = await L.http.read_request(stream)
        assert path == "/caf\udcc3\udca9"
        assert h["x-a"] == "caf\udcc3\udca9"
        assert await stream.read() == b"rest"


RESPONSE_INPUTS = {
    "valid-101": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\n\r\n", "ok"),
    "valid-empty-reason": (b"HTTP/1.1 101 \r\n\r\n", "ok"),
    "valid-404-body-left": (b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno", "ok"),
    "status-100": (b"HTTP/1.1 100 Continue\r\n\r\n", "ok"),
    "status-999": (b"HTTP/1.1 999 Whatever\r\n\r\n", "ok"),
    "reason-with-spaces-and-obs-text": (b"HTTP/1.1 200 Very \xe9 OK\r\n\r\n", "UnicodeDecodeError"),
    "empty": (b"", "EOFError"),
    "truncated-status-line": (b"HTTP/1.1 101 Switching", "EOFError"),
    "truncated-headers": (b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n", "EOFError"),
    "too-many-headers": (b"HTTP/1.1 101 OK\r\n" + _many_headers(129) + b"\r\n", "SecurityError"),
    "status-line-too-long": (b"HTTP/1.1 101 " + b"x" * 8200 + b"\r\n\r\n", "SecurityError"),
    "version-1.0": (b"HTTP/1.0 101 OK\r\n\r\n", "ValueError"),
    "status-line-two-parts": (b"HTTP/1.1 101\r\n\r\n", "ValueError"),
    "status-not-number": (b"HTTP/1.1 abc OK\r\n\r\n", "ValueError"),
    "status-99": (b"HTTP/1.1 99 OK\r\n\r\n", "ValueError"),
    "status-1000": (b"HTTP/1.1 1000 OK\r\n\r\n", "ValueError"),
    "status-negative": (b"HTTP/1.1 -101 OK\r\n\r\n", "ValueError"),
    "reason-control": (b"HTTP/1.1 101 O\x7fK\r\n\r\n", "ValueError"),
    "header-name-bad": (b"HTTP/1.1 101 OK\r\nX(A): 1\r\n\r\n", "ValueError"),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(RESPONSE_INPUTS))
async def test_read_response(case):
    data, expected = RESPONSE_INPUTS[case]
    ref, ours = await _same_read(lambda L: L.http.read_response, data, expected)
    if expected == "ok":
        (ref_code, ref_reason, ref_headers) = ref[1]
        (our_code, our_reason, our_headers) = ours[1]
        assert (our_code, our_reason) == (ref_code, ref_reason)
        assert type(our_code) is int
        assert _plain_headers(our_headers) == _plain_headers(ref_headers)


@pytest.mark.asyncio
async def test_read_line_and_read_headers():
    for data, expected in [(b"abc\r\nrest", "ok"), (b"abc\n", "EOFError"), (b"", "EOFError"),
                           (b"a" * 8193 + b"\r\n", "SecurityError")]:
        ref, ours = await _same_read(lambda L: L.http.read_line, data, expected)
        if expected == "ok":
            assert ours[1] == ref[1] == b"abc"
    ref, ours = await _same_read(lambda L: L.http.read_headers, b"A: 1\r\nB: 2\r\n\r\n", "ok")
    assert _plain_headers(ours[1]) == _plain_headers(ref[1]) == [("A", "1"), ("B", "2")]


@pytest.mark.asyncio
async def test_max_num_headers_is_read_at_call_time(monkeypatch):
    """Patching the module's limit (as websockets' own tests do) takes effect."""
    data = b"GET / HTTP/1.1\r\n" + _many_headers(3) + b"\r\n"
    for L in (WS, OURS):
        monkeypatch.setattr(L.http, "MAX_NUM_HEADERS", 2)
        with pytest.raises(L.exceptions.SecurityError, match="too many HTTP headers"):
            await L.http.read_request(_stream(data))


# -- framing -------------------------------------------------------------------

PREPARE_INPUTS = {
    "str": "café",
    "empty-str": "",
    "bytes": b"\x00\xff",
    "bytearray": bytearray(b"ab"),
    "memoryview": memoryview(b"abcd")[1:3],
    "int": 42,
    "none": None,
    "list": ["a"],
    "surrogate": "\udc80",
}


def _plain(value):
    """Comparable form of a prepare_* result: type name and content."""
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return (type(value).__name__, bytes(value))
    if isinstance(value, int):
        return int(value)
    return value


@pytest.mark.parametrize("function", ["prepare_data", "prepare_ctrl", "encode_data"])
@pytest.mark.parametrize("case", list(PREPARE_INPUTS))
def test_prepare(function, case):
    data = PREPARE_INPUTS[case]
    ref = outcome(lambda: _plain(getattr(WS.framing, function)(data)))
    ours = outcome(lambda: _plain(getattr(OURS.framing, function)(data)))
    assert ours == ref
    if case in ("int", "none", "list"):
        assert ref[0] == "TypeError"
    elif case == "surrogate":
        assert ref[0] == "UnicodeEncodeError"
    else:
        assert ref[0] == "ok"


@BOTH
def test_prepare_data_opcodes(L):
    opcode, payload = L.framing.prepare_data("é")
    assert opcode is L.frames.Opcode.TEXT and payload == "é".encode()
    view = memoryview(b"xy")
    opcode, payload = L.framing.prepare_data(view)
    assert opcode is L.frames.Opcode.BINARY and payload is view


CLOSE_PAYLOADS = {
    "empty": (b"", "ok"),
    "code-only": (b"\x03\xe8", "ok"),
    "code-and-reason": (b"\x03\xe9bye", "ok"),
    "utf8-reason": (b"\x03\xe8caf\xc3\xa9", "ok"),
    "bytearray": (bytearray(b"\x0f\xa0x"), "ok"),
    "code-3000": (b"\x0b\xb8", "ok"),
    "code-4999": (b"\x13\x87", "ok"),
    "too-short": (b"\x03", "ProtocolError"),
    "code-999": (b"\x03\xe7", "ProtocolError"),
    "code-1004": (b"\x03\xec", "ProtocolError"),
    "code-1005": (b"\x03\xed", "ProtocolError"),
    "code-1006": (b"\x03\xee", "ProtocolError"),
    "code-1015": (b"\x03\xf7", "ProtocolError"),
    "code-1016": (b"\x03\xf8", "ProtocolError"),
    "code-2999": (b"\x0b\xb7", "ProtocolError"),
    "code-5000": (b"\x13\x88", "ProtocolError"),
    "bad-utf8-reason": (b"\x03\xe8\xff", "UnicodeDecodeError"),
    "memoryview": (memoryview(b"\x03\xe8"), "AssertionError"),
}


@pytest.mark.parametrize("case", list(CLOSE_PAYLOADS))
def test_parse_close(case):
    data, expected = CLOSE_PAYLOADS[case]
    ref = same(lambda L: (lambda c: (int(c[0]), type(c[0]).__name__, c[1]))(
        L.framing.parse_close(data)), expected)
    if case == "empty":
        assert ref[1] == (1005, "CloseCode", "")


CLOSE_ARGS = {
    "1000": ((1000, ""), "ok"),
    "1001-reason": ((1001, "bye"), "ok"),
    "enum": ((websockets.frames.CloseCode.GOING_AWAY, "x"), "ok"),
    "3000": ((3000, "é"), "ok"),
    "4999": ((4999, ""), "ok"),
    "long-reason": ((1000, "r" * 200), "ok"),
    "0": ((0, ""), "ProtocolError"),
    "1004": ((1004, ""), "ProtocolError"),
    "1005": ((1005, ""), "ProtocolError"),
    "1006": ((1006, ""), "ProtocolError"),
    "1015": ((1015, ""), "ProtocolError"),
    "2999": ((2999, ""), "ProtocolError"),
    "5000": ((5000, ""), "ProtocolError"),
    "65536": ((65536, ""), "ProtocolError"),
}


@pytest.mark.parametrize("case", list(CLOSE_ARGS))
def test_serialize_close(case):
    args, expected = CLOSE_ARGS[case]
    ref = same(lambda L: L.framing.serialize_close(*args), expected)
    if expected == "ok":
        # And back.
        same(lambda L: L.framing.parse_close(ref[1]), "ok")


FRAMES = {
    "text": (True, 1, b"hi"),
    "binary-continued": (False, 2, b"\x00" * 300),
    "cont": (True, 0, b"x" * 70000),
    "close": (True, 8, b"\x03\xe8bye"),
    "ping-empty": (True, 9, b""),
    "pong": (True, 10, b"p"),
}


def _frame(L, fields, **kw):
    fin, opcode, data = fields
    return L.framing.Frame(fin, L.frames.Opcode(opcode), data, **kw)


@pytest.mark.parametrize("case", list(FRAMES))
def test_frame_record(case):
    ref = same(lambda L: (tuple(_frame(L, FRAMES[case])), str(_frame(L, FRAMES[case])),
                          _frame(L, FRAMES[case]).check()), "ok")
    assert ref[1][0][:3] == FRAMES[case]
    same(lambda L: (lambda nf: (type(nf).__name__, nf.opcode, nf.data, nf.fin))(
        _frame(L, FRAMES[case]).new_frame), "ok")


@pytest.mark.parametrize("fields,kw", [
    ((True, 1, b"x"), {"rsv1": True}), ((True, 1, b"x"), {"rsv3": True}),
    ((True, 9, b"x" * 126), {}), ((False, 8, b""), {})],
    ids=["rsv1", "rsv3", "control-too-long", "fragmented-control"])
def test_frame_check_errors(fields, kw):
    same(lambda L: _frame(L, fields, **kw).check(), "ProtocolError")


@pytest.mark.asyncio
@pytest.mark.parametrize("writer,reader", [(WS, OURS), (OURS, WS), (OURS, OURS)],
                         ids=["ws-writes", "ours-writes", "ours-both"])
@pytest.mark.parametrize("case", list(FRAMES))
@pytest.mark.parametrize("mask", [False, True], ids=["unmasked", "masked"])
async def test_frame_write_read_across(writer, reader, case, mask):
    """A frame written by one library's Frame.write reads back with the
    other's Frame.read."""
    chunks = []
    _frame(writer, FRAMES[case]).write(chunks.append, mask=mask)
    assert len(chunks) == 1
    stream = _stream(chunks[0] + b"next")
    frame = await reader.framing.Frame.read(stream.readexactly, mask=mask)
    assert isinstance(frame, reader.framing.Frame)
    assert (frame.fin, int(frame.opcode), bytes(frame.data)) == FRAMES[case]
    assert frame.opcode is reader.frames.Opcode(FRAMES[case][1])
    assert not (frame.rsv1 or frame.rsv2 or frame.rsv3)
    assert await stream.read() == b"next"


READ_ERRORS = {
    "masking-expected": (b"\x81\x02hi", True, None, "ProtocolError"),
    "masking-unexpected": (b"\x81\x82abcd\x09\x0b", False, None, "ProtocolError"),
    "bad-opcode": (b"\x83\x00", False, None, "ProtocolError"),
    "rsv2-set": (b"\xa1\x00", False, None, "ProtocolError"),
    "too-big": (b"\x82\x7e\x01\x00" + b"x" * 256, False, 255, "PayloadTooBig"),
    "too-big-64bit": (b"\x82\x7f" + (2 ** 40).to_bytes(8, "big"), False, 2 ** 20, "PayloadTooBig"),
    "within-max-size": (b"\x82\x7e\x01\x00" + b"x" * 256, False, 256, "ok"),
    "fragmented-ping": (b"\x09\x00", False, None, "ProtocolError"),
    "truncated-header": (b"\x81", False, None, "IncompleteReadError"),
    "truncated-payload": (b"\x81\x05hi", False, None, "IncompleteReadError"),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(READ_ERRORS))
async def test_frame_read_errors(case):
    data, mask, max_size, expected = READ_ERRORS[case]
    results = []
    for L in (WS, OURS):
        stream = _stream(data)
        result = await aoutcome(lambda: L.framing.Frame.read(
            stream.readexactly, mask=mask, max_size=max_size))
        if result[0] == "ok":
            result = ("ok", tuple(result[1]))
        results.append(result)
    assert results[0][0] == expected, results[0]
    assert results[1] == results[0]
