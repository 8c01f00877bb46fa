"""Strict HTTP at the opening handshake.

Server side: an upgrade request that a proxy in front could read
differently (request smuggling shapes: a body, a second Host, a folded
line, a bare CR or LF, an odd version or target) gets a 400 with a short
reason and ``Connection: close``, never a 101, and the connection closes;
the listener factory never sees such a request.  Odd but legal requests
still get their 101.

Writing side: every header the library writes refuses CR, LF and NUL in a
value and a name that is not an RFC 9110 token, with ValueError, when the
response or request is built (response splitting)."""

import asyncio

import pytest
from multidict import CIMultiDict

import picows_like as picows
from helpers import T, RawConn, RecordingListener, compute_accept, ws_server
from picows_like import WSUpgradeResponse, WSUpgradeResponseWithListener

asyncio_test = pytest.mark.asyncio
# picows 2.3.1 checks part of this (version, body, folding) but not Host, the
# target or what it writes.
pytestmark = pytest.mark.stricter_than_picows

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
BASE = [b"Host: 127.0.0.1", b"Upgrade: websocket", b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + KEY.encode(), b"Sec-WebSocket-Version: 13"]


def raw_request(start: bytes = b"GET / HTTP/1.1", add=(), drop=()) -> bytes:
    """A valid upgrade request, with header lines added and lines whose
    name is in `drop` left out."""
    lines = [ln for ln in BASE if ln.split(b":")[0] not in drop]
    return b"\r\n".join([start, *lines, *add]) + b"\r\n\r\n"


async def exchange(port: int, data: bytes) -> bytes:
    """Send `data`, return all the server wrote until it closed (bounded:
    a server that keeps the connection open fails the test)."""
    conn = await RawConn.open(port)
    try:
        try:
            await conn.send(data)
        except (ConnectionResetError, BrokenPipeError):
            pass
        return await conn.read_to_eof(timeout=T)
    finally:
        conn.abort()


def split_response(data: bytes):
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no complete HTTP response: {data[:200]!r}"
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers, body


def _bad(name, status=400, **kwargs):
    return pytest.param(raw_request(**kwargs), status, id=name)


def _bad_raw(name, data, status=400):
    return pytest.param(data, status, id=name)


BAD_REQUESTS = [
    # A body, or a second way to frame one.
    _bad("transfer_encoding_chunked", add=[b"Transfer-Encoding: chunked"]),
    _bad("transfer_encoding_identity", add=[b"Transfer-Encoding: identity"]),
    _bad("transfer_encoding_lowercase_name", add=[b"transfer-encoding: chunked"]),
    _bad("transfer_encoding_empty", add=[b"Transfer-Encoding:"]),
    _bad("te_and_content_length_0", add=[b"Content-Length: 0", b"Transfer-Encoding: chunked"]),
    _bad("content_length_5", add=[b"Content-Length: 5"]),
    _bad("content_length_malformed", add=[b"Content-Length: abc"]),
    _bad("content_length_plus_0", add=[b"Content-Length: +0"]),
    _bad("content_length_minus_0", add=[b"Content-Length: -0"]),
    _bad("content_length_hex_0", add=[b"Content-Length: 0x0"]),
    _bad("content_length_empty", add=[b"Content-Length:"]),
    _bad("content_length_huge", add=[b"Content-Length: " + b"9" * 5000]),
    _bad("content_length_dup_different", add=[b"Content-Length: 0", b"Content-Length: 5"]),
    _bad("content_length_list_different", add=[b"Content-Length: 0, 5"]),
    # Host: exactly one, an authority.
    _bad("no_host", drop=[b"Host"]),
    _bad("two_hosts", add=[b"Host: 127.0.0.1"]),
    _bad("two_different_hosts", add=[b"Host: evil.example"]),
    _bad("host_empty", drop=[b"Host"], add=[b"Host:"]),
    _bad("host_with_space", drop=[b"Host"], add=[b"Host: a b"]),
    _bad("host_with_userinfo", drop=[b"Host"], add=[b"Host: user@127.0.0.1"]),
    _bad("host_with_path", drop=[b"Host"], add=[b"Host: 127.0.0.1/x"]),
    # Request target: printable ASCII, no control characters.
    _bad("target_control_char", start=b"GET /a\x01b HTTP/1.1"),
    _bad("target_nul", start=b"GET /a\x00b HTTP/1.1"),
    _bad("target_tab", start=b"GET /a\tb HTTP/1.1"),
    _bad("target_del", start=b"GET /a\x7fb HTTP/1.1"),
    _bad("target_non_ascii", start=b"GET /caf\xc3\xa9 HTTP/1.1"),
    _bad("target_bare_lf", start=b"GET /a\nb HTTP/1.1"),
    # Version: exactly HTTP/1.1.
    _bad("version_1_9xyz", start=b"GET / HTTP/1.9xyz"),
    _bad("version_1_2", start=b"GET / HTTP/1.2"),
    _bad("version_1_1x", start=b"GET / HTTP/1.1x"),
    _bad("version_trailing_cr", start=b"GET / HTTP/1.1\r"),
    _bad("version_1_0", start=b"GET / HTTP/1.0"),
    _bad("version_lowercase", start=b"GET / http/1.1"),
    _bad("version_2", start=b"GET / HTTP/2.0"),
    # Header lines a proxy may read differently.
    _bad("obs_fold_space", add=[b"X-A: 1", b" folded"]),
    _bad("obs_fold_tab_header", add=[b"X-A: 1", b"\tTransfer-Encoding: chunked"]),
    _bad("space_before_colon", add=[b"Transfer-Encoding : chunked"]),
    _bad("tab_before_colon", add=[b"X-A\t: 1"]),
    _bad("name_not_token", add=[b"X(A): 1"]),
    _bad("name_non_ascii", add=[b"X-\xe9: 1"]),
    _bad("empty_name", add=[b": 1"]),
    _bad("bare_lf_in_value", add=[b"X-A: a\nTransfer-Encoding: chunked"]),
    _bad("bare_cr_in_value", add=[b"X-A: a\rTransfer-Encoding: chunked"]),
    _bad("nul_in_value", add=[b"X-A: a\x00b"]),
    _bad("control_char_in_value", add=[b"X-A: a\x01b"]),
    _bad("escape_in_value", add=[b"X-A: a\x1bb"]),
    _bad("del_in_value", add=[b"X-A: a\x7fb"]),
    # Methods: answered 405 with Allow: GET (after the listener factory).
    _bad("method_post", 405, start=b"POST / HTTP/1.1"),
    _bad("method_lowercase_get", start=b"get / HTTP/1.1"),
    _bad("method_head", 405, start=b"HEAD / HTTP/1.1"),
    # The answers the server already had.
    _bad("websocket_version_12", 426, drop=[b"Sec-WebSocket-Version"],
         add=[b"Sec-WebSocket-Version: 12"]),
]

# Rejected while the request is parsed, before the listener factory runs.
_AFTER_FACTORY = {405, 426}


@asyncio_test
@pytest.mark.parametrize("data,status", BAD_REQUESTS)
async def test_bad_request_is_refused_and_closed(data, status):
    async with ws_server() as srv:
        answer = await exchange(srv.port, data)
        start, headers, body = split_response(answer)
        assert start.startswith(b"HTTP/1.1 %d " % status), answer[:300]
        assert b" 101 " not in answer
        assert headers.get(b"connection") == [b"close"], answer[:300]
        assert body, "the answer carries a short reason"
        assert len(body) < 200
        assert headers.get(b"content-length") == [str(len(body)).encode()]
        if status == 405:
            assert headers.get(b"allow") == [b"GET"]
        if status not in _AFTER_FACTORY:
            assert srv.requests == [], "the listener factory saw a refused request"
        assert not any(listener.connected.done() for listener in srv.listeners)


@asyncio_test
async def test_head_too_large_is_closed_without_an_answer():
    # picows' answer to a head over its 16 KiB limit (its suite checks it).
    async with ws_server() as srv:
        answer = await exchange(
            srv.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * (70 * 1024))
        assert answer == b""
        assert srv.requests == []


GOOD_REQUESTS = [
    pytest.param(raw_request(), id="plain"),
    pytest.param(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nUPGRADE: WebSocket\r\n"
                 b"connection: upgrade\r\nsec-websocket-key: " + KEY.encode() +
                 b"\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n", id="header_name_case"),
    pytest.param(b"GET / HTTP/1.1\r\nHost:127.0.0.1\r\nUpgrade:   websocket  \r\n"
                 b"Connection:\tUpgrade\t\r\nSec-WebSocket-Key:" + KEY.encode() +
                 b"\r\nSec-WebSocket-Version:  13\r\n\r\n", id="odd_spaces_in_values"),
    pytest.param(raw_request(drop=[b"Host"], add=[b"Host: 127.0.0.1:8080"]), id="host_with_port"),
    pytest.param(raw_request(drop=[b"Host"], add=[b"Host: [::1]:9000"]), id="host_ipv6"),
    pytest.param(raw_request(drop=[b"Host"], add=[b"Host: ws.example.com"]), id="host_name"),
    pytest.param(raw_request(add=[b"Content-Length: 0"]), id="content_length_0"),
    pytest.param(raw_request(add=[b"Content-Length: 0", b"Content-Length: 0"]),
                 id="content_length_0_twice"),
    pytest.param(raw_request(add=[b"Content-Length: 0, 0"]), id="content_length_0_list"),
    pytest.param(raw_request(start=b"GET http://127.0.0.1/chat HTTP/1.1"), id="absolute_form"),
    pytest.param(raw_request(start=b"GET /a%20b?x=1&y=[2]&z=~ HTTP/1.1"), id="encoded_target"),
    pytest.param(raw_request(add=[b"X-Name: caf\xe9"]), id="obs_text_in_value"),
    pytest.param(raw_request(add=[b"X-Empty:"]), id="empty_value"),
    pytest.param(raw_request(add=[b"X-Tab: a\tb"]), id="tab_inside_value"),
    pytest.param(raw_request(add=[b"!#$%&'*+-.^_`|~: token_specials"]), id="token_name"),
]


@asyncio_test
@pytest.mark.parametrize("data", GOOD_REQUESTS)
async def test_odd_but_legal_request_is_upgraded(data):
    async with ws_server() as srv:
        conn = await RawConn.open(srv.port)
        try:
            await conn.send(data)
            resp = await conn.read_response()
            assert resp.status == 101, resp.head
            assert resp.header("Sec-WebSocket-Accept") == compute_accept(KEY)
            assert len(srv.requests) == 1
        finally:
            conn.abort()


@asyncio_test
async def test_request_seen_by_factory_keeps_target_and_host():
    async with ws_server() as srv:
        conn = await RawConn.open(srv.port)
        try:
            await conn.send(raw_request(start=b"GET http://127.0.0.1/chat?a=1 HTTP/1.1"))
            assert (await conn.read_response()).status == 101
            request = srv.requests[0]
            assert request.path == b"http://127.0.0.1/chat?a=1"
            assert request.version == b"HTTP/1.1"
            assert request.headers.getall("Host") == ["127.0.0.1"]
        finally:
            conn.abort()


# -----------------------------------------------------------------------------
# Writing side: response splitting
# -----------------------------------------------------------------------------

SPLITTING_VALUES = [
    pytest.param("/x\r\nSet-Cookie: a=1", id="crlf"),
    pytest.param("/x\nSet-Cookie: a=1", id="lf"),
    pytest.param("/x\rSet-Cookie: a=1", id="cr"),
    pytest.param("/x\0y", id="nul"),
]
BAD_NAMES = [
    pytest.param("X-A\r\nSet-Cookie", id="crlf"),
    pytest.param("X-A\0", id="nul"),
    pytest.param("X A", id="space"),
    pytest.param("X-A:", id="colon"),
    pytest.param("", id="empty"),
    pytest.param("X-\u00e9", id="non_ascii"),
    pytest.param("X(A)", id="separator"),
]


@pytest.mark.parametrize("value", SPLITTING_VALUES)
def test_redirect_location_refuses_splitting(value):
    with pytest.raises(ValueError, match="Location"):
        WSUpgradeResponse.create_redirect_response(302, value)


def _factories():
    return [
        ("create_101_response", lambda h: WSUpgradeResponse.create_101_response(h)),
        ("create_ok_response", lambda h: WSUpgradeResponse.create_ok_response(b"ok", h)),
        ("create_error_response",
         lambda h: WSUpgradeResponse.create_error_response(403, b"no", h)),
        ("create_redirect_response",
         lambda h: WSUpgradeResponse.create_redirect_response(302, "/y", h)),
        ("constructor", lambda h: WSUpgradeResponse(101, CIMultiDict(h))),
    ]


@pytest.mark.parametrize("value", SPLITTING_VALUES)
@pytest.mark.parametrize("which", [name for name, _ in _factories()])
def test_factories_refuse_splitting_values(which, value):
    make = dict(_factories())[which]
    with pytest.raises(ValueError, match="X-A"):
        make([("X-A", value)])
    # The same value under a dict works the same way.
    with pytest.raises(ValueError):
        make({"X-A": value})


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("which", [name for name, _ in _factories()])
def test_factories_refuse_non_token_names(which, name):
    make = dict(_factories())[which]
    with pytest.raises(ValueError, match="name"):
        make([(name, "v")])


def test_error_message_does_not_repeat_the_value():
    with pytest.raises(ValueError) as info:
        WSUpgradeResponse.create_101_response([("Authorization", "Bearer s3cret\r\n")])
    assert "s3cret" not in str(info.value)


def test_legal_headers_still_build():
    r = WSUpgradeResponse.create_101_response(
        [("X-Tab", "a\tb"), ("X-Latin", "caf\u00e9"), ("!#$%&'*+-.^_`|~", "v"), ("X-E", "")])
    wire = bytes(r.to_bytes())
    assert b"X-Tab: a\tb\r\n" in wire and b"X-Latin: caf\xe9\r\n" in wire
    r = WSUpgradeResponse.create_redirect_response(302, "ws://h/x?a=b%0D%0A")
    assert b"Location: ws://h/x?a=b%0D%0A\r\n" in bytes(r.to_bytes())
    # A value that is not a str is written (and checked) as its str().
    r = WSUpgradeResponse.create_101_response()
    r.headers["X-N"] = 5
    assert b"X-N: 5\r\n" in bytes(r.to_bytes())


@pytest.mark.parametrize("value", SPLITTING_VALUES)
def test_header_changed_after_build_is_refused_by_to_bytes(value):
    r = WSUpgradeResponse.create_101_response()
    r.headers["X-A"] = value
    with pytest.raises(ValueError, match="X-A"):
        r.to_bytes()


# -- the server never writes a bad header a listener factory supplied --------

def _mutated_101(request):
    response = WSUpgradeResponse.create_101_response()
    response.headers["X-A"] = "1\r\nSet-Cookie: a=1"
    return WSUpgradeResponseWithListener(response, RecordingListener())


def _mutated_error(request):
    response = WSUpgradeResponse.create_error_response(403, b"no\n")
    response.headers["X-A"] = "1\r\nSet-Cookie: a=1"
    return WSUpgradeResponseWithListener(response, None)


def _custom_101_bad_name(request):
    return WSUpgradeResponseWithListener(
        WSUpgradeResponse.create_101_response([("Set-Cookie: a=1 X", "y")]),
        RecordingListener())


def _custom_101_crlf(request):
    return WSUpgradeResponseWithListener(
        WSUpgradeResponse.create_101_response({"X-A": "1\r\nSet-Cookie: a=1"}),
        RecordingListener())


def _custom_101_nul(request):
    return WSUpgradeResponseWithListener(
        WSUpgradeResponse.create_101_response({"X-A": "1\0Set-Cookie: a=1"}),
        RecordingListener())


@asyncio_test
@pytest.mark.parametrize("factory", [
    pytest.param(_mutated_101, id="101_header_set_after_build"),
    pytest.param(_mutated_error, id="error_header_set_after_build"),
    pytest.param(_custom_101_bad_name, id="custom_101_non_token_name"),
    pytest.param(_custom_101_crlf, id="custom_101_crlf_value"),
    pytest.param(_custom_101_nul, id="custom_101_nul_value"),
])
async def test_server_answers_500_instead_of_a_split_response(factory):
    async with ws_server(factory) as srv:
        answer = await exchange(srv.port, raw_request())
        start, headers, body = split_response(answer)
        assert start.startswith(b"HTTP/1.1 500 "), answer[:300]
        assert b"Set-Cookie" not in answer and b"set-cookie" not in headers
        assert headers.get(b"connection") == [b"close"]
        # A raw socket that followed the 101 would have got more than that.
        assert answer.count(b"HTTP/1.1") == 1


# -- client side ----------------------------------------------------------------

@asyncio_test
@pytest.mark.parametrize("headers", [
    pytest.param({"X-A": "1\r\nX-Injected: 1"}, id="crlf_value"),
    pytest.param({"X-A": "1\nX-Injected: 1"}, id="lf_value"),
    pytest.param({"X-A": "1\0"}, id="nul_value"),
    pytest.param([("X-A\r\nX-Injected", "1")], id="crlf_name"),
    pytest.param([("X A", "1")], id="space_in_name"),
    pytest.param([("X-A:", "1")], id="colon_in_name"),
    pytest.param([("", "1")], id="empty_name"),
])
async def test_client_extra_headers_refuse_splitting(headers):
    async with ws_server() as srv:
        with pytest.raises(ValueError):
            await asyncio.wait_for(
                picows.ws_connect(RecordingListener, srv.url(), extra_headers=headers), T)
        assert srv.requests == []


@asyncio_test
@pytest.mark.parametrize("kwargs", [
    pytest.param(dict(subprotocols=["chat\r\nX-Injected: 1"]), id="subprotocol_crlf"),
    pytest.param(dict(subprotocols=["chat\0"]), id="subprotocol_nul"),
    pytest.param(dict(path="/a\x00b"), id="path_nul"),
    pytest.param(dict(path="/a b"), id="path_space"),
    pytest.param(dict(path="/a?b=\x01"), id="query_control_char"),
])
async def test_client_request_refuses_splitting(kwargs):
    async with ws_server() as srv:
        kwargs = dict(kwargs)
        url = srv.url(kwargs.pop("path", "/"))
        with pytest.raises(ValueError):
            await asyncio.wait_for(picows.ws_connect(RecordingListener, url, **kwargs), T)
        assert srv.requests == []


# -- the websockets-compatible layer goes through the same checks ----------------

@asyncio_test
@pytest.mark.parametrize("kwargs", [
    pytest.param(dict(additional_headers={"X-A": "1\r\nX-Injected: 1"}), id="crlf_value"),
    pytest.param(dict(additional_headers={"X-A": "1\0"}), id="nul_value"),
    pytest.param(dict(additional_headers=[("X A", "1")]), id="non_token_name"),
    pytest.param(dict(user_agent_header="ua\r\nX-Injected: 1"), id="user_agent_crlf"),
])
async def test_websockets_layer_client_refuses_splitting(kwargs):
    from picows_like.websockets.asyncio.client import connect
    async with ws_server() as srv:
        with pytest.raises(ValueError):
            async with connect(srv.url(), open_timeout=T, **kwargs):
                pass
        assert srv.requests == []


@asyncio_test
async def test_websockets_layer_server_answers_500_for_split_header():
    from picows_like.websockets.asyncio.server import serve

    async def handler(ws):
        await ws.recv()

    def process_response(connection, request, response):
        response.headers["X-A"] = "1\r\nSet-Cookie: a=1"
        return response

    async with serve(handler, "127.0.0.1", 0, process_response=process_response) as server:
        port = server.sockets[0].getsockname()[1]
        answer = await exchange(port, raw_request())
        start, headers, _ = split_response(answer)
        assert start.startswith(b"HTTP/1.1 500 "), answer[:300]
        assert b"Set-Cookie" not in answer
