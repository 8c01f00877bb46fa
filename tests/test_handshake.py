"""Opening handshake: server accept/reject matrix, client-side validation,
WSUpgradeResponse helpers and URL errors."""

import asyncio
import time
from http import HTTPStatus

import pytest

import picows_like as picows
from helpers import (OP_TEXT, T, RawConn, RawServer, RecordingListener, build_frame,
                     build_request, compute_accept, get_header, new_key,
                     parse_http_head, wf, ws_server)

WSMsgType = picows.WSMsgType

asyncio_test = pytest.mark.asyncio


def test_compute_accept_rfc_example():
    # The example from RFC 6455 section 1.3 validates our own helper.
    assert compute_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# -----------------------------------------------------------------------------
# Server side, raw client
# -----------------------------------------------------------------------------

async def _request(port, data: bytes):
    """Send ``data`` and return the parsed response or None if the server
    closed the connection without answering."""
    conn = await RawConn.open(port)
    try:
        try:
            await conn.send(data)
        except (ConnectionResetError, BrokenPipeError):
            pass
        try:
            return await conn.read_response()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None
    finally:
        conn.abort()


async def _assert_server_still_works(port):
    conn = await RawConn.open(port)
    try:
        await conn.client_handshake()
        await conn.send(build_frame(OP_TEXT, b"alive?", mask=True))
        f = await conn.read_frame()
        assert (f.opcode, f.payload) == (OP_TEXT, b"alive?")
    finally:
        conn.abort()


@asyncio_test
async def test_valid_request_gets_101_with_correct_accept():
    async with ws_server() as srv:
        conn = await RawConn.open(srv.port)
        key = new_key()
        await conn.send(build_request(path="/chat?room=1", key=key))
        resp = await conn.read_response()
        assert resp.start_line.startswith("HTTP/1.1 101")
        assert resp.header("Sec-WebSocket-Accept") == compute_accept(key)
        assert resp.header("Upgrade").lower() == "websocket"
        assert "upgrade" in resp.header("Connection").lower()
        assert srv.requests[0].path == b"/chat?room=1"
        # The upgraded connection carries frames.
        await conn.send(build_frame(OP_TEXT, b"hi", mask=True))
        f = await conn.read_frame()
        assert (f.opcode, f.masked, f.payload) == (OP_TEXT, False, b"hi")
        conn.abort()


def _variant(name, stricter=False, **kwargs):
    marks = [pytest.mark.stricter_than_picows] if stricter else []
    return pytest.param(kwargs, id=name, marks=marks)


@asyncio_test
@pytest.mark.parametrize("kwargs", [
    _variant("upgrade_mixed_case", upgrade="WebSocket"),
    _variant("connection_lowercase", connection="upgrade"),
    _variant("connection_uppercase", connection="UPGRADE"),
    _variant("with_origin_and_user_agent",
             extra=[("Origin", "http://example.com"), ("User-Agent", "raw/1.0")]),
    _variant("connection_keep_alive_upgrade", connection="keep-alive, Upgrade", stricter=True),
    _variant("connection_upgrade_keep_alive", connection="Upgrade, keep-alive", stricter=True),
])
async def test_accepted_request_variants(kwargs):
    async with ws_server() as srv:
        conn = await RawConn.open(srv.port)
        try:
            key = new_key()
            await conn.send(build_request(key=key, **kwargs))
            resp = await conn.read_response()
            assert resp.status == 101, resp.head
            assert resp.header("Sec-WebSocket-Accept") == compute_accept(key)
        finally:
            conn.abort()


@asyncio_test
@pytest.mark.parametrize("key", [
    pytest.param(None, id="missing"),
    pytest.param("", id="empty"),
    pytest.param("c2hvcnQ=", id="base64_of_5_bytes"),
    pytest.param("AAAAAAAAAAAAAAAAAAAAAAAAAAAA", id="base64_of_21_bytes"),
    pytest.param("not base64 at all!!", id="not_base64"),
    pytest.param("dGhlIHNhbXBsZSBub25jZQ", id="missing_padding"),
])
async def test_bad_websocket_key_gets_400(key):
    async with ws_server() as srv:
        resp = await _request(srv.port, build_request(key=key))
        assert resp is not None, "expected an HTTP error response"
        assert resp.status == 400, resp.head
        assert srv.listeners == [] or all(
            not getattr(sl, "connected").done() for sl in srv.listeners)
        await _assert_server_still_works(srv.port)


@asyncio_test
@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("version", ["12", "14", "abc"])
async def test_wrong_websocket_version_gets_426(version):
    async with ws_server() as srv:
        resp = await _request(srv.port, build_request(version=version))
        assert resp is not None
        assert resp.status == 426, resp.head
        assert resp.header("Sec-WebSocket-Version") == "13"


@asyncio_test
async def test_missing_websocket_version_is_rejected():
    async with ws_server() as srv:
        resp = await _request(srv.port, build_request(version=None))
        assert resp is not None
        assert resp.status in (400, 426), resp.head


@asyncio_test
@pytest.mark.parametrize("kwargs", [
    pytest.param(dict(method="POST"), id="post"),
    pytest.param(dict(method="PUT"), id="put"),
    pytest.param(dict(method="HEAD"), id="head"),
    pytest.param(dict(upgrade=None), id="no_upgrade_header"),
    pytest.param(dict(upgrade="h2c"), id="upgrade_h2c"),
    pytest.param(dict(connection=None), id="no_connection_header"),
    pytest.param(dict(connection="keep-alive"), id="connection_without_upgrade"),
    pytest.param(dict(http_version="HTTP/1.0"), id="http_1_0"),
])
async def test_invalid_upgrade_request_is_rejected(kwargs):
    async with ws_server() as srv:
        resp = await _request(srv.port, build_request(**kwargs))
        # An error response (4xx/5xx) or a plain close; never a 101.
        if resp is not None:
            assert 400 <= resp.status < 600, resp.head
        await _assert_server_still_works(srv.port)


@asyncio_test
@pytest.mark.parametrize("data", [
    pytest.param(b"HELLO\r\n\r\n", id="one_word"),
    pytest.param(b"GET /\r\n\r\n", id="two_words"),
    pytest.param(b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", id="four_words"),
    pytest.param(b"\x01\x02\x03 \xff\xfe \x00\r\n\r\n", id="binary_junk"),
    pytest.param(b"GET / HTTP/1.1\r\nthis is not a header\r\n\r\n", id="bad_header_line"),
])
async def test_garbage_request_gets_400(data):
    async with ws_server() as srv:
        resp = await _request(srv.port, data)
        assert resp is not None, "expected a 400 response"
        assert resp.status == 400, resp.head
        await _assert_server_still_works(srv.port)


@asyncio_test
async def test_oversized_headers_rejected_and_server_survives():
    async with ws_server() as srv:
        conn = await RawConn.open(srv.port)
        head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 100) for i in range(10000))
        assert len(pad) > 1024 * 1024
        try:
            conn.write(head + pad + b"\r\n")
            await conn.drain()
        except (ConnectionResetError, BrokenPipeError):
            pass
        data = await conn.read_to_eof()
        # Either an HTTP error status or just a closed connection.
        if data:
            assert data.startswith(b"HTTP/1.1 4") or data.startswith(b"HTTP/1.1 5"), data[:80]
        conn.abort()
        assert all(not sl.connected.done() for sl in srv.listeners)
        await _assert_server_still_works(srv.port)


@asyncio_test
@pytest.mark.parametrize("partial", [
    pytest.param(b"", id="nothing_sent"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", id="incomplete_request"),
])
async def test_server_handshake_timeout_closes_connection(partial):
    async with ws_server(websocket_handshake_timeout=0.2) as srv:
        conn = await RawConn.open(srv.port)
        started = time.monotonic()
        if partial:
            await conn.send(partial)
        data = await conn.read_to_eof(timeout=2.5)
        elapsed = time.monotonic() - started
        assert b"101" not in data
        assert 0.15 <= elapsed < 2.0, elapsed
        conn.abort()
        await _assert_server_still_works(srv.port)


@asyncio_test
async def test_server_handshake_timeout_does_not_affect_established_connection():
    async with ws_server(websocket_handshake_timeout=0.2) as srv:
        conn = await RawConn.open(srv.port)
        await conn.client_handshake()
        await asyncio.sleep(0.4)  # deliberately outlive the handshake timeout
        await conn.send(build_frame(OP_TEXT, b"still here", mask=True))
        f = await conn.read_frame()
        assert f.payload == b"still here"
        conn.abort()


@asyncio_test
async def test_request_tail_after_headers_is_not_lost():
    # Headers and the first frame arrive in separate writes that straddle.
    async with ws_server() as srv:
        conn = await RawConn.open(srv.port)
        key = new_key()
        data = build_request(key=key) + build_frame(OP_TEXT, b"tail", mask=True)
        await conn.send_trickle(data, 7)
        resp = await conn.read_response()
        assert resp.status == 101
        f = await conn.read_frame()
        assert f.payload == b"tail"
        conn.abort()


# -----------------------------------------------------------------------------
# Client side, raw server
# -----------------------------------------------------------------------------

async def _client_against(response_fn, **connect_kwargs):
    """Run ws_connect against a raw server whose answer is produced by
    ``response_fn(key) -> bytes`` and return the exception ws_connect raised."""
    async with RawServer() as raw:
        task = asyncio.ensure_future(picows.ws_connect(RecordingListener, raw.url(),
                                                       **connect_kwargs))
        conn = await raw.accept()
        _, headers = await conn.read_request()
        key = get_header(headers, "Sec-WebSocket-Key")
        data = response_fn(key)
        if data:
            conn.write(data)
        done, _ = await asyncio.wait({task}, timeout=T)
        assert task in done, "ws_connect did not finish"
        exc = task.exception()
        if exc is None:
            task.result()[0].disconnect(False)
        return exc


def _101(key, *, accept=None, upgrade=b"websocket", connection=b"Upgrade", extra=b""):
    lines = [b"HTTP/1.1 101 Switching Protocols"]
    if upgrade is not None:
        lines.append(b"Upgrade: " + upgrade)
    if connection is not None:
        lines.append(b"Connection: " + connection)
    acc = compute_accept(key).encode() if accept is None else accept
    if acc != b"":
        lines.append(b"Sec-WebSocket-Accept: " + acc)
    return b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n"


@asyncio_test
async def test_client_accepts_valid_101():
    exc = await _client_against(lambda key: _101(key))
    assert exc is None


@asyncio_test
@pytest.mark.parametrize("accept", [
    pytest.param(b"s3pPLMBiTxaGzEBKXfsbp4xeTPs=", id="wrong_value"),
    pytest.param(b"", id="missing"),
    pytest.param(b"garbage", id="garbage"),
])
async def test_client_rejects_wrong_accept(accept):
    exc = await _client_against(lambda key: _101(key, accept=accept))
    assert isinstance(exc, picows.WSHandshakeError), repr(exc)


@asyncio_test
@pytest.mark.parametrize("kwargs", [
    pytest.param(dict(upgrade=None), id="missing_upgrade"),
    pytest.param(dict(upgrade=b"h2c"), id="wrong_upgrade"),
    pytest.param(dict(connection=None), id="missing_connection"),
    pytest.param(dict(connection=b"close"), id="wrong_connection"),
])
async def test_client_rejects_bad_upgrade_headers(kwargs):
    exc = await _client_against(lambda key: _101(key, **kwargs))
    assert isinstance(exc, picows.WSInvalidUpgradeError), repr(exc)
    assert isinstance(exc, picows.WSInvalidHeaderError)


@asyncio_test
@pytest.mark.parametrize("status, phrase", [(200, b"OK"), (400, b"Bad Request"),
                                            (403, b"Forbidden"), (500, b"Internal Server Error"),
                                            (503, b"Service Unavailable")])
async def test_client_rejects_non_101_status(status, phrase):
    body = b"nope: " + phrase

    def response(key):
        return (b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                % (status, phrase, len(body), body))

    exc = await _client_against(response)
    assert isinstance(exc, picows.WSInvalidStatusError), repr(exc)
    assert exc.response is not None
    assert exc.response.status == status
    assert exc.response.headers["Content-Type"] == "text/plain"
    assert exc.raw_body == body


@asyncio_test
@pytest.mark.parametrize("data", [
    pytest.param(b"garbage garbage garbage\r\n\r\n", id="words"),
    pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", id="ssh_banner"),
    pytest.param(b"HTTP/1.1 abc Switching\r\n\r\n", id="non_numeric_status"),
    pytest.param(b"\xff\xfe\xfd\r\n\r\n", id="binary"),
])
async def test_client_rejects_garbage_response(data):
    exc = await _client_against(lambda key: data)
    assert isinstance(exc, picows.WSInvalidMessageError), repr(exc)
    assert isinstance(exc, picows.WSHandshakeError)


@asyncio_test
@pytest.mark.parametrize("partial", [
    pytest.param(b"", id="no_response"),
    pytest.param(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n",
                 id="incomplete_response"),
])
async def test_client_handshake_timeout(partial):
    started = time.monotonic()
    exc = await _client_against(lambda key: partial, websocket_handshake_timeout=0.2)
    elapsed = time.monotonic() - started
    assert isinstance(exc, (asyncio.TimeoutError, TimeoutError, picows.WSHandshakeError)), \
        repr(exc)
    assert 0.15 <= elapsed < 2.0, elapsed


@asyncio_test
@pytest.mark.stricter_than_picows
async def test_client_raises_when_server_closes_before_response():
    async with RawServer() as raw:
        task = asyncio.ensure_future(picows.ws_connect(RecordingListener, raw.url()))
        conn = await raw.accept()
        await conn.read_request()
        conn.close()
        done, _ = await asyncio.wait({task}, timeout=T)
        assert task in done
        exc = task.exception()
        assert isinstance(exc, (picows.WSHandshakeError, ConnectionError, EOFError)), \
            f"ws_connect must fail, got {task.result() if exc is None else exc!r}"


@asyncio_test
async def test_client_connection_refused():
    async with RawServer() as raw:
        port = raw.port
    # The port is closed now.
    with pytest.raises(OSError):
        await wf(picows.ws_connect(RecordingListener, f"ws://127.0.0.1:{port}/"))


@asyncio_test
async def test_client_follows_redirect():
    async with RawServer() as target, RawServer() as redirector:
        task = asyncio.ensure_future(
            picows.ws_connect(RecordingListener, redirector.url("/old")))
        conn1 = await redirector.accept()
        start, _ = await conn1.read_request()
        assert start.split(" ")[1] == "/old"
        conn1.write(b"HTTP/1.1 302 Found\r\nLocation: " + target.url("/new").encode()
                    + b"\r\nContent-Length: 0\r\n\r\n")
        conn2 = await target.accept()
        start, _ = await conn2.server_handshake()
        assert start.split(" ")[1] == "/new"
        client, cl = await wf(task)
        assert client.request.path == b"/new"
        client.disconnect(False)
        await wf(client.wait_disconnected())


@asyncio_test
async def test_client_redirect_not_followed_when_disabled():
    def response(key):
        return b"HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n"
    exc = await _client_against(response, max_redirects=0)
    assert isinstance(exc, picows.WSHandshakeError), repr(exc)
    assert exc.response.status == 302


@asyncio_test
@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/",
    "https://127.0.0.1:9/",
    "ftp://127.0.0.1:9/",
    "127.0.0.1:9",
    "ws://",
    "ws://127.0.0.1:9/path#fragment",
])
async def test_invalid_url(url):
    with pytest.raises(picows.WSInvalidURL) as ei:
        await wf(picows.ws_connect(RecordingListener, url))
    assert isinstance(ei.value, picows.WSError)


# -----------------------------------------------------------------------------
# WSUpgradeResponse / WSUpgradeResponseWithListener unit tests
# -----------------------------------------------------------------------------

def _parse_response_bytes(data: bytes):
    head, sep, body = bytes(data).partition(b"\r\n\r\n")
    assert sep, "response must contain an empty line"
    start, headers = parse_http_head(head)
    return start, headers, body


def test_create_101_response():
    r = picows.WSUpgradeResponse.create_101_response()
    assert r.status == HTTPStatus.SWITCHING_PROTOCOLS
    assert r.version == b"HTTP/1.1"
    assert r.headers["Upgrade"].lower() == "websocket"
    assert r.headers["connection"].lower() == "upgrade"
    assert not r.body


@pytest.mark.parametrize("extra", [{"X-A": "1", "X-B": "2"}, [("X-A", "1"), ("X-B", "2")]],
                         ids=["dict", "list"])
def test_create_101_response_extra_headers(extra):
    r = picows.WSUpgradeResponse.create_101_response(extra_headers=extra)
    assert r.headers["x-a"] == "1" and r.headers["X-B"] == "2"
    start, headers, body = _parse_response_bytes(r.to_bytes())
    assert start == "HTTP/1.1 101 Switching Protocols"
    assert get_header(headers, "X-A") == "1"
    assert get_header(headers, "Upgrade").lower() == "websocket"
    assert body == b""


def test_create_error_response():
    r = picows.WSUpgradeResponse.create_error_response(403, b"go away",
                                                        extra_headers={"X-Why": "test"})
    assert r.status == HTTPStatus.FORBIDDEN
    assert r.version == b"HTTP/1.1"
    assert r.body == b"go away"
    assert r.headers["X-Why"] == "test"
    start, headers, body = _parse_response_bytes(r.to_bytes())
    assert start == "HTTP/1.1 403 Forbidden"
    assert get_header(headers, "Content-Length") == "7"
    assert get_header(headers, "X-Why") == "test"
    assert body == b"go away"


def test_create_error_response_accepts_httpstatus_and_no_body():
    r = picows.WSUpgradeResponse.create_error_response(HTTPStatus.SERVICE_UNAVAILABLE)
    assert r.status == 503
    start, headers, body = _parse_response_bytes(r.to_bytes())
    assert start == "HTTP/1.1 503 Service Unavailable"
    assert body == b""
    assert get_header(headers, "Content-Length") in (None, "0")


@pytest.mark.parametrize("status", [101, 200, 302, 399])
def test_create_error_response_rejects_non_error_status(status):
    with pytest.raises(ValueError):
        picows.WSUpgradeResponse.create_error_response(status)


def test_create_redirect_response():
    r = picows.WSUpgradeResponse.create_redirect_response(
        HTTPStatus.TEMPORARY_REDIRECT, "ws://example.com/new", extra_headers=[("X-R", "1")])
    assert r.status == 307
    assert r.headers["Location"] == "ws://example.com/new"
    assert r.headers["X-R"] == "1"
    start, headers, body = _parse_response_bytes(r.to_bytes())
    assert start == "HTTP/1.1 307 Temporary Redirect"
    assert get_header(headers, "location") == "ws://example.com/new"


@pytest.mark.parametrize("status", [200, 299, 400, 404])
def test_create_redirect_response_rejects_non_3xx(status):
    with pytest.raises(ValueError):
        picows.WSUpgradeResponse.create_redirect_response(status, "ws://x/")


def test_create_ok_response():
    r = picows.WSUpgradeResponse.create_ok_response(b"healthy")
    assert r.status == HTTPStatus.OK
    assert r.body == b"healthy"
    assert r.headers["Content-Type"].startswith("text/plain")
    start, headers, body = _parse_response_bytes(r.to_bytes())
    assert start == "HTTP/1.1 200 OK"
    assert get_header(headers, "Content-Length") == "7"
    assert body == b"healthy"

    r2 = picows.WSUpgradeResponse.create_ok_response(
        b"{}", extra_headers={"Content-Type": "application/json"})
    assert r2.headers.getall("Content-Type") == ["application/json"]


def test_to_bytes_returns_bytes_like():
    data = picows.WSUpgradeResponse.create_error_response(404, b"x").to_bytes()
    assert isinstance(data, (bytes, bytearray))
    assert bytes(data).startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert bytes(data).endswith(b"\r\n\r\nx")


def test_upgrade_response_with_listener_validation():
    ok = picows.WSUpgradeResponse.create_101_response()
    err = picows.WSUpgradeResponse.create_error_response(400)
    with pytest.raises(ValueError):
        picows.WSUpgradeResponseWithListener(ok, None)
    with pytest.raises(ValueError):
        picows.WSUpgradeResponseWithListener(err, picows.WSListener())
    pair = picows.WSUpgradeResponseWithListener(err, None)
    assert pair.response is err and pair.listener is None
    listener = picows.WSListener()
    pair = picows.WSUpgradeResponseWithListener(ok, listener)
    assert pair.response is ok and pair.listener is listener


def test_exception_hierarchy():
    assert issubclass(picows.WSHandshakeError, picows.WSError)
    assert issubclass(picows.WSError, Exception)
    for cls in (picows.WSInvalidMessageError, picows.WSInvalidStatusError,
                picows.WSInvalidHeaderError):
        assert issubclass(cls, picows.WSHandshakeError)
    assert issubclass(picows.WSInvalidUpgradeError, picows.WSInvalidHeaderError)
    assert issubclass(picows.WSProtocolError, picows.WSError)
    assert issubclass(picows.WSInvalidURL, picows.WSError)

    e = picows.WSHandshakeError("desc", b"hdr", b"body", None)
    assert e.raw_header == b"hdr" and e.raw_body == b"body" and e.response is None
    h = picows.WSInvalidHeaderError("desc", "Name", "val")
    assert h.name == "Name" and h.value == "val"
    p = picows.WSProtocolError(picows.WSCloseCode.PROTOCOL_ERROR, "bad frame")
    assert p.code == picows.WSCloseCode.PROTOCOL_ERROR
    assert str(p) == "bad frame"
    u = picows.WSInvalidURL("http://x", "scheme isn't ws or wss")
    assert u.url == "http://x"


def test_enums():
    assert picows.WSMsgType.CONTINUATION == 0 or picows.WSMsgType.CONTINUATION.value == 0
    values = {m.name: int(m.value) for m in picows.WSMsgType}
    assert values == {"CONTINUATION": 0, "TEXT": 1, "BINARY": 2, "CLOSE": 8, "PING": 9,
                      "PONG": 10}
    assert int(picows.WSCloseCode.OK.value) == 1000
    assert int(picows.WSCloseCode.PROTOCOL_ERROR.value) == 1002
    assert int(picows.WSCloseCode.MESSAGE_TOO_BIG.value) == 1009
    assert int(picows.WSCloseCode.INTERNAL_ERROR.value) == 1011
    assert int(picows.WSCloseCode.NO_INFO.value) == 0
    assert {m.name for m in picows.WSAutoPingStrategy} == {"PING_WHEN_IDLE",
                                                           "PING_PERIODICALLY"}
