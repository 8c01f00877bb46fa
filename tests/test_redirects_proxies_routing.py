"""How ws_connect reaches a server: redirects, proxies (HTTP CONNECT, SOCKS4,
SOCKS5), socket_factory, use_aiofastnet; a routing server with plain-HTTP
answers on the same port; the errors a caller can act on.  Everything on
loopback, on asyncio and uvloop (conftest), with bounded waits."""

import asyncio
import base64
import errno
import http.client
import importlib.util
import os
import socket
import ssl
import sys
from http import HTTPStatus

import pytest

import picows_like as picows
from helpers import RawServer, RecordingListener, close_client, connect, make_payload, wf, ws_server
from picows_like.proxy import WSProxyError
from proxy_servers import (AFN_PARAMS, HAVE_AIOFASTNET, HttpConnectProxy, free_port,
                           have_microsocks, microsocks_server, pproxy_server, tls_pair)

WSMsgType = picows.WSMsgType
WSUpgradeResponse = picows.WSUpgradeResponse
WSUpgradeResponseWithListener = picows.WSUpgradeResponseWithListener


def _has(module):
    """Installed?  (find_spec: pproxy patches asyncio streams when imported.)"""
    return importlib.util.find_spec(module) is not None


needs_trustme = pytest.mark.skipif(not _has("trustme"), reason="trustme is not installed")
needs_socks = pytest.mark.skipif(not _has("python_socks"), reason="python-socks is not installed")
needs_pproxy = pytest.mark.skipif(not _has("pproxy"), reason="pproxy is not installed")
needs_microsocks = pytest.mark.skipif(not have_microsocks(),
                                      reason="microsocks (Debian package) is not installed")


async def echo_ok(transport, listener, payload=b"hello"):
    transport.send(WSMsgType.BINARY, payload)
    assert await listener.next_message() == (WSMsgType.BINARY, payload)


def redirect(status, location):
    return WSUpgradeResponseWithListener(
        WSUpgradeResponse.create_redirect_response(status, location), None)


def router(routes):
    """Server factory: `routes[path] = (status, location)` redirects, other
    paths get an echoing listener.  `routes` may be filled after start."""
    def factory(request):
        target = routes.get(request.path.decode())
        if target is None:
            return RecordingListener(echo=True)
        return redirect(*target)
    return factory


def paths(srv):
    return [r.path.decode() for r in srv.requests]


# =============================================================================
# Redirects
# =============================================================================

@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("kind", ["relative", "relative-no-slash", "absolute"])
async def test_redirect_is_followed(status, kind):
    routes = {}
    async with ws_server(router(routes)) as srv:
        routes["/dir/start"] = (status, {"relative": "/dir/target?x=1",
                                         "relative-no-slash": "target?x=1",
                                         "absolute": srv.url("/dir/target?x=1")}[kind])
        client, cl = await connect(srv.url("/dir/start"))
        await echo_ok(client, cl)
        assert paths(srv) == ["/dir/start", "/dir/target?x=1"]
        await close_client(client)


async def test_redirect_to_another_server_and_factory_sees_final_response():
    routes = {}
    seen = []

    def factory(request, response):
        seen.append((request.path, response.status))
        return RecordingListener()

    async with ws_server() as target, ws_server(router(routes)) as front:
        routes["/"] = (HTTPStatus.TEMPORARY_REDIRECT, target.url("/there"))
        client, cl = await connect(front.url("/"), factory)
        await echo_ok(client, cl)
        assert paths(front) == ["/"] and paths(target) == ["/there"]
        assert seen == [(b"/there", HTTPStatus.SWITCHING_PROTOCOLS)]
        await close_client(client)


async def test_max_redirects_zero_returns_the_3xx():
    routes = {"/a": (302, "/b")}
    async with ws_server(router(routes)) as srv:
        with pytest.raises(picows.WSInvalidStatusError) as info:
            await connect(srv.url("/a"), max_redirects=0)
        exc = info.value
        assert exc.response.status == 302
        assert exc.response.headers["Location"] == "/b"
        assert exc.raw_header.startswith(b"HTTP/1.1 302")
        assert paths(srv) == ["/a"]


async def test_max_redirects_limits_a_chain():
    routes = {"/1": (302, "/2"), "/2": (302, "/3"), "/3": (302, "/4")}
    async with ws_server(router(routes)) as srv:
        with pytest.raises(picows.WSInvalidStatusError, match="max_redirects=2") as info:
            await connect(srv.url("/1"), max_redirects=2)
        assert info.value.response.status == 302
        assert paths(srv) == ["/1", "/2", "/3"]
        client, cl = await connect(srv.url("/1"), max_redirects=3)
        await echo_ok(client, cl)
        await close_client(client)


async def test_redirect_without_location_is_a_clear_error():
    async with RawServer() as raw:
        task = asyncio.create_task(connect(raw.url("/")))
        conn = await raw.accept()
        await conn.read_request()
        await conn.send(b"HTTP/1.1 302 Found\r\nContent-Length: 5\r\n\r\nmoved")
        with pytest.raises(picows.WSHandshakeError, match="without a Location") as info:
            await wf(task)
        exc = info.value
        assert not isinstance(exc, picows.WSInvalidStatusError)
        assert exc.response.status == 302
        assert exc.raw_header.startswith(b"HTTP/1.1 302 Found")
        assert exc.raw_body == b"moved"


@needs_trustme
async def test_wss_to_ws_redirect_is_refused():
    server_ctx, client_ctx = tls_pair()
    routes = {}
    async with ws_server() as plain, ws_server(router(routes), ssl=server_ctx) as secure:
        routes["/"] = (302, plain.url("/"))
        with pytest.raises(picows.WSHandshakeError, match="insecure") as info:
            await connect(f"wss://127.0.0.1:{secure.port}/", ssl_context=client_ctx)
        assert info.value.response.status == 302
        assert plain.requests == []


@needs_trustme
async def test_ws_to_wss_redirect_uses_ssl_context():
    server_ctx, client_ctx = tls_pair()
    routes = {}
    async with ws_server(ssl=server_ctx) as secure, ws_server(router(routes)) as plain:
        routes["/"] = (308, f"wss://127.0.0.1:{secure.port}/tls")
        client, cl = await connect(plain.url("/"), ssl_context=client_ctx)
        assert client.is_secure
        await echo_ok(client, cl)
        await close_client(client)


@pytest.mark.parametrize("cycle", [["/a"], ["/a", "/b"], ["/a", "/b", "/c"]])
async def test_redirect_loop_is_detected(cycle):
    routes = {p: (302, cycle[(i + 1) % len(cycle)]) for i, p in enumerate(cycle)}
    async with ws_server(router(routes)) as srv:
        with pytest.raises(picows.WSHandshakeError, match="redirect loop") as info:
            await connect(srv.url(cycle[0]), max_redirects=10)
        assert info.value.response.status == 302
        assert paths(srv) == cycle


@pytest.mark.parametrize("status", [300, 304])
async def test_other_3xx_are_not_followed(status):
    async with RawServer() as raw:
        task = asyncio.create_task(connect(raw.url("/")))
        conn = await raw.accept()
        await conn.read_request()
        await conn.send(f"HTTP/1.1 {status} X\r\nLocation: /b\r\n\r\n".encode())
        with pytest.raises(picows.WSInvalidStatusError) as info:
            await wf(task)
        assert info.value.response.status == status


async def test_error_response_body_reaches_the_client():
    def factory(request):
        return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(
            HTTPStatus.FORBIDDEN, b"no entry\n", [("X-Reason", "test")]), None)

    async with ws_server(factory) as srv:
        with pytest.raises(picows.WSInvalidStatusError) as info:
            await connect(srv.url("/"))
        exc = info.value
        assert exc.response.status == 403 and exc.response.headers["X-Reason"] == "test"
        assert exc.raw_body == b"no entry\n" and exc.response.body == b"no entry\n"
        assert "403" in str(exc)


# =============================================================================
# HTTP CONNECT proxy
# =============================================================================

@pytest.mark.parametrize("size", [5, 70000, 1024 * 1024])
async def test_http_proxy_echo(size):
    payload = make_payload(size)
    async with ws_server() as srv, HttpConnectProxy() as proxy:
        client, cl = await connect(srv.url("/p"), proxy=proxy.url())
        await echo_ok(client, cl, payload)
        start, headers = proxy.requests[0]
        assert start == f"CONNECT 127.0.0.1:{srv.port} HTTP/1.1"
        assert headers["host"] == f"127.0.0.1:{srv.port}"
        assert "proxy-authorization" not in headers
        assert b"GET /p HTTP/1.1" in proxy.forwarded       # the upgrade went through it
        await close_client(client)


@pytest.mark.parametrize("userinfo,user,password", [
    ("user:secret", "user", "secret"),
    ("us%40er:p%3Ass%20w", "us@er", "p:ss w"),      # percent-encoded in the URL
])
async def test_http_proxy_basic_auth(userinfo, user, password):
    async with ws_server() as srv, HttpConnectProxy(auth=(user, password)) as proxy:
        client, cl = await connect(srv.url(), proxy=proxy.url(userinfo))
        await echo_ok(client, cl)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        assert proxy.requests[0][1]["proxy-authorization"] == f"Basic {token}"
        await close_client(client)


@pytest.mark.parametrize("userinfo", ["", "user:wrong"])
async def test_http_proxy_407(userinfo):
    async with ws_server() as srv, HttpConnectProxy(auth=("user", "secret")) as proxy:
        with pytest.raises(WSProxyError, match="407") as info:
            await connect(srv.url(), proxy=proxy.url(userinfo))
        exc = info.value
        assert isinstance(exc, picows.WSHandshakeError)
        assert exc.status == 407 and exc.response.status == 407
        assert exc.response.headers["Proxy-Authenticate"] == 'Basic realm="test"'
        assert exc.raw_header.startswith(b"HTTP/1.1 407")
        assert exc.raw_body == b"proxy auth required\n"
        assert "wrong" not in str(exc) and "secret" not in str(exc)
        assert srv.requests == []


async def test_http_proxy_403_and_502():
    async with HttpConnectProxy() as proxy:
        with pytest.raises(WSProxyError, match="403 Forbidden") as info:
            await connect("ws://not-loopback.example:80/", proxy=proxy.url())
        assert info.value.status == 403 and info.value.raw_body == b"loopback only\n"
        with pytest.raises(WSProxyError, match="502") as info:
            await connect(f"ws://127.0.0.1:{free_port()}/", proxy=proxy.url())
        assert info.value.status == 502


async def test_http_proxy_unreachable_is_connection_refused():
    async with ws_server() as srv:
        with pytest.raises(ConnectionRefusedError):
            await connect(srv.url(), proxy=f"http://127.0.0.1:{free_port()}")


async def test_http_proxy_that_closes_or_stalls():
    async with ws_server() as srv:
        async with RawServer() as closing:
            task = asyncio.create_task(connect(srv.url(), proxy=f"http://127.0.0.1:{closing.port}"))
            conn = await closing.accept()
            await conn.read_head()
            conn.close()
            with pytest.raises(WSProxyError, match="closed the connection"):
                await wf(task)
        async with HttpConnectProxy(silent=True) as stalled:
            with pytest.raises(asyncio.TimeoutError):
                await connect(srv.url(), proxy=stalled.url(), websocket_handshake_timeout=0.3)


@needs_trustme
async def test_wss_through_http_proxy_is_end_to_end_tls():
    server_ctx, client_ctx = tls_pair()
    async with ws_server(ssl=server_ctx) as srv, HttpConnectProxy() as proxy:
        client, cl = await connect(f"wss://localhost:{srv.port}/secret-path",
                                   proxy=proxy.url(), ssl_context=client_ctx)
        assert client.is_secure
        await echo_ok(client, cl, b"private payload")
        assert proxy.requests[0][0] == f"CONNECT localhost:{srv.port} HTTP/1.1"
        assert proxy.forwarded and b"secret-path" not in proxy.forwarded
        assert b"private payload" not in proxy.forwarded
        await close_client(client)


@needs_trustme
async def test_tls_failure_through_a_proxy_is_the_ssl_error():
    server_ctx, _ = tls_pair()
    async with ws_server(ssl=server_ctx) as srv, HttpConnectProxy() as proxy:
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(f"wss://localhost:{srv.port}/", proxy=proxy.url())


async def test_redirect_through_proxy_opens_a_second_tunnel():
    routes = {"/old": (301, "/new")}
    async with ws_server(router(routes)) as srv, HttpConnectProxy() as proxy:
        client, cl = await connect(srv.url("/old"), proxy=proxy.url())
        await echo_ok(client, cl)
        assert [r[0] for r in proxy.requests] == [f"CONNECT 127.0.0.1:{srv.port} HTTP/1.1"] * 2
        assert paths(srv) == ["/old", "/new"]
        await close_client(client)


async def test_proxy_url_validation():
    with pytest.raises(picows.WSInvalidURL, match="proxy scheme"):
        await connect("ws://127.0.0.1:1/", proxy="ftp://127.0.0.1:21")
    with pytest.raises(picows.WSInvalidURL):
        await connect("ws://127.0.0.1:1/", proxy="http://")
    with pytest.raises(ValueError, match="proxy_ssl_context"):
        await connect("ws://127.0.0.1:1/", proxy="http://127.0.0.1:3128",
                      proxy_ssl_context=ssl.create_default_context())


async def test_socks_without_python_socks_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "python_socks", None)
    with pytest.raises(ImportError, match=r"picows_like\[socks\]"):
        await connect("ws://127.0.0.1:1/", proxy="socks5://127.0.0.1:1080")


# =============================================================================
# SOCKS proxies
# =============================================================================

@needs_socks
@needs_pproxy
@pytest.mark.parametrize("scheme,user,password", [
    ("socks4", None, None), ("socks4", "someuser", None),
    ("socks5", None, None), ("socks5", "user", "secret"),
])
async def test_socks_pproxy_echo(scheme, user, password):
    async with ws_server() as srv, pproxy_server(scheme, user, password) as proxy:
        client, cl = await connect(srv.url("/s?q=1"), proxy=proxy)
        await echo_ok(client, cl, make_payload(100000))
        assert paths(srv) == ["/s?q=1"]
        await close_client(client)


@needs_socks
@needs_pproxy
async def test_socks4_resolves_host_names_locally():
    async with ws_server() as srv, pproxy_server("socks4") as proxy:
        client, cl = await connect(f"ws://localhost:{srv.port}/", proxy=proxy)
        await echo_ok(client, cl)
        assert srv.requests[0].headers["Host"] == f"localhost:{srv.port}"
        await close_client(client)


@needs_socks
@needs_pproxy
async def test_socks5_pproxy_wrong_password():
    async with ws_server() as srv, pproxy_server("socks5", "user", "secret") as proxy:
        bad = proxy.replace("user:secret@", "user:wrong@")
        with pytest.raises(WSProxyError, match="SOCKS5 proxy") as info:
            await connect(srv.url(), proxy=bad)
        assert "wrong" not in str(info.value)
        assert srv.requests == []


@needs_socks
@needs_microsocks
async def test_socks5_microsocks_auth_and_refusals():
    async with ws_server() as srv, microsocks_server("user", "secret") as base:
        good = base.replace("socks5://", "socks5://user:secret@")
        client, cl = await connect(srv.url(), proxy=good)
        await echo_ok(client, cl, make_payload(70000))
        await close_client(client)

        with pytest.raises(WSProxyError, match="authentication failure"):
            await connect(srv.url(), proxy=base.replace("socks5://", "socks5://user:bad@"))
        with pytest.raises(WSProxyError, match="authentication methods"):
            await connect(srv.url(), proxy=base)
        with pytest.raises(WSProxyError, match="refused") as info:
            await connect(f"ws://127.0.0.1:{free_port()}/", proxy=good)
        assert info.value.error_code == 5                   # RFC 1928: refused
        assert len(srv.requests) == 1


@needs_socks
@needs_trustme
@pytest.mark.parametrize("which", [pytest.param("pproxy", marks=needs_pproxy),
                                   pytest.param("microsocks", marks=needs_microsocks)])
async def test_wss_through_socks5(which):
    server_ctx, client_ctx = tls_pair()
    async with ws_server(ssl=server_ctx) as srv:
        proxy_cm = pproxy_server("socks5") if which == "pproxy" else microsocks_server()
        async with proxy_cm as proxy:
            client, cl = await connect(f"wss://localhost:{srv.port}/", proxy=proxy,
                                       ssl_context=client_ctx)
            assert client.is_secure
            await echo_ok(client, cl, make_payload(200000))
            await close_client(client)


@needs_socks
async def test_socks_proxy_unreachable_is_connection_refused():
    with pytest.raises(ConnectionRefusedError):
        await connect("ws://127.0.0.1:1/", proxy=f"socks5://127.0.0.1:{free_port()}")


# =============================================================================
# socket_factory
# =============================================================================

def connected_socket(parsed):
    return socket.create_connection((parsed.host, parsed.port), timeout=2)


async def async_connected_socket(parsed):
    await asyncio.sleep(0)
    return connected_socket(parsed)


def unconnected_socket(parsed):
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM)


@pytest.mark.parametrize("factory", [connected_socket, async_connected_socket,
                                     unconnected_socket], ids=["sync", "async", "unconnected"])
async def test_socket_factory(factory):
    seen = []

    def recording(parsed):
        seen.append(parsed)
        return factory(parsed)

    async with ws_server() as srv:
        client, cl = await connect(srv.url("/f?a=b"), socket_factory=recording)
        await echo_ok(client, cl)
        assert [(p.host, p.port, p.path, p.query) for p in seen] == \
            [("127.0.0.1", srv.port, "/f", "a=b")]
        sock = client.underlying_transport.get_extra_info("socket")
        assert sock.getpeername() == ("127.0.0.1", srv.port)
        await close_client(client)


@pytest.mark.parametrize("is_async", [False, True])
async def test_socket_factory_none_falls_back(is_async):
    calls = []

    def sync_none(parsed):
        calls.append(parsed.url)

    async def async_none(parsed):
        calls.append(parsed.url)

    async with ws_server() as srv:
        client, cl = await connect(srv.url(), socket_factory=async_none if is_async else sync_none)
        await echo_ok(client, cl)
        assert calls == [srv.url()]
        await close_client(client)


async def test_socket_factory_is_called_again_after_a_redirect():
    routes = {"/a": (302, "/b")}
    seen = []

    def factory(parsed):
        seen.append(parsed.path)
        return connected_socket(parsed)

    async with ws_server(router(routes)) as srv:
        client, cl = await connect(srv.url("/a"), socket_factory=factory)
        await echo_ok(client, cl)
        assert seen == ["/a", "/b"]
        await close_client(client)


@needs_trustme
async def test_socket_factory_with_wss():
    server_ctx, client_ctx = tls_pair()
    async with ws_server(ssl=server_ctx) as srv:
        client, cl = await connect(f"wss://localhost:{srv.port}/", ssl_context=client_ctx,
                                   socket_factory=unconnected_socket)
        assert client.is_secure
        await echo_ok(client, cl)
        await close_client(client)


@pytest.mark.parametrize("returns_none", [False, True])
async def test_socket_factory_gets_the_proxy_endpoint(returns_none):
    seen = []

    def factory(parsed):
        seen.append(parsed)
        return None if returns_none else connected_socket(parsed)

    async with ws_server() as srv, HttpConnectProxy(auth=("u", "p")) as proxy:
        client, cl = await connect(srv.url(), proxy=proxy.url("u:p"), socket_factory=factory)
        await echo_ok(client, cl)
        assert [(p.scheme, p.host, p.port) for p in seen] == [("http", "127.0.0.1", proxy.port)]
        assert len(proxy.requests) == 1
        await close_client(client)


@needs_socks
@needs_pproxy
async def test_socket_factory_with_socks_proxy():
    seen = []

    async def factory(parsed):
        seen.append((parsed.scheme, parsed.port))
        return unconnected_socket(parsed)

    async with ws_server() as srv, pproxy_server("socks5", "user", "pw") as proxy:
        client, cl = await connect(srv.url(), proxy=proxy, socket_factory=factory)
        await echo_ok(client, cl)
        assert seen == [("socks5", int(proxy.rsplit(":", 1)[1]))]
        await close_client(client)


async def test_socket_factory_errors():
    async with ws_server() as srv:
        with pytest.raises(TypeError, match="socket_factory"):
            await connect(srv.url(), socket_factory=lambda parsed: "not a socket")

        def boom(parsed):
            raise RuntimeError("factory failed")
        with pytest.raises(RuntimeError, match="factory failed"):
            await connect(srv.url(), socket_factory=boom)

        closed = free_port()

        def wrong_port(parsed):
            return socket.create_connection(("127.0.0.1", closed))
        with pytest.raises(ConnectionRefusedError):
            await connect(srv.url(), socket_factory=wrong_port)


# =============================================================================
# use_aiofastnet
# =============================================================================

def transport_module(ws_transport):
    return type(ws_transport.underlying_transport).__module__


@pytest.mark.parametrize("afn", AFN_PARAMS)
async def test_use_aiofastnet(afn):
    async with ws_server(use_aiofastnet=afn) as srv:
        client, cl = await connect(srv.url(), use_aiofastnet=afn)
        sl = await srv.next_listener()
        for tr in (client, sl.transport):
            assert transport_module(tr).startswith("aiofastnet") == afn
        for size in (0, 125, 70000, 1024 * 1024):
            await echo_ok(client, cl, make_payload(size))
        await close_client(client)


@pytest.mark.parametrize("default", [{}, {"use_aiofastnet": None}], ids=["omitted", "None"])
async def test_aiofastnet_is_off_by_default_for_plain_tcp_even_when_installed(default):
    # Unlike picows: plain TCP uses aiofastnet only on request (see ws_connect's
    # docstring); tests/test_tls.py checks that TLS uses it by default.
    async with ws_server(**default) as srv:
        client, cl = await connect(srv.url(), **default)
        sl = await srv.next_listener()
        assert not transport_module(client).startswith("aiofastnet")
        assert not transport_module(sl.transport).startswith("aiofastnet")
        await close_client(client)


@pytest.mark.skipif(not HAVE_AIOFASTNET, reason="aiofastnet is not installed")
async def test_use_aiofastnet_through_a_proxy():
    async with ws_server() as srv, HttpConnectProxy() as proxy:
        client, cl = await connect(srv.url(), proxy=proxy.url(), use_aiofastnet=True)
        assert transport_module(client).startswith("aiofastnet")
        await echo_ok(client, cl, make_payload(300000))
        await close_client(client)


async def test_use_aiofastnet_when_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "aiofastnet", None)       # import fails
    async with ws_server() as srv:
        with pytest.raises(ImportError, match="aiofastnet"):
            await connect(srv.url(), use_aiofastnet=True)
    with pytest.raises(ImportError, match="aiofastnet"):
        await picows.ws_create_server(RecordingListener, "127.0.0.1", 0, use_aiofastnet=True)


# =============================================================================
# Routing server
# =============================================================================

class Upper(RecordingListener):
    def handle_frame(self, transport, frame, rec):
        if rec.msg_type == WSMsgType.TEXT:
            transport.send(WSMsgType.TEXT, rec.payload.upper())
        else:
            super().handle_frame(transport, frame, rec)


def routing_factory(seen):
    def factory(request):
        seen.append(request)
        path, _, query = request.path.decode().partition("?")
        if path == "/health":
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_ok_response(b"ok\n"), None)
        if path == "/echo":
            return RecordingListener(echo=True)
        if path == "/upper":
            return Upper()
        if path == "/private":
            if request.headers.get("Authorization") == "Bearer t0k":
                return WSUpgradeResponseWithListener(
                    WSUpgradeResponse.create_101_response([("X-Route", "private")]),
                    RecordingListener(echo=True))
            return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(
                HTTPStatus.FORBIDDEN, b"token required\n"), None)
        if path == "/old":
            return redirect(HTTPStatus.TEMPORARY_REDIRECT, "/echo?" + query)
        return None
    return factory


def http_get(port, path, headers=None):
    """A plain HTTP/1.1 GET with http.client (run it in a thread)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


async def test_routing_by_path_query_and_headers():
    seen = []
    async with ws_server(routing_factory(seen)) as srv:
        echo, el = await connect(srv.url("/echo?room=7"), extra_headers={"X-Client": "t1"})
        upper, ul = await connect(srv.url("/upper"))
        echo.send(WSMsgType.TEXT, b"abc")
        upper.send(WSMsgType.TEXT, b"abc")
        assert await el.next_message() == (WSMsgType.TEXT, b"abc")
        assert await ul.next_message() == (WSMsgType.TEXT, b"ABC")
        assert seen[0].path == b"/echo?room=7" and seen[0].method == b"GET"
        assert seen[0].headers["X-Client"] == "t1"

        with pytest.raises(picows.WSInvalidStatusError) as info:
            await connect(srv.url("/nowhere"))
        assert info.value.response.status == 404

        with pytest.raises(picows.WSInvalidStatusError) as info:
            await connect(srv.url("/private"))
        assert info.value.response.status == 403 and info.value.raw_body == b"token required\n"
        private, pl = await connect(srv.url("/private"),
                                    lambda req, resp: RecordingListener(),
                                    extra_headers=[("Authorization", "Bearer t0k")])
        await echo_ok(private, pl)

        moved, ml = await connect(srv.url("/old?room=9"))
        await echo_ok(moved, ml)
        assert seen[-1].path == b"/echo?room=9"
        for tr in (echo, upper, private, moved):
            await close_client(tr)


async def test_health_check_and_plain_http_on_the_websocket_port():
    async with ws_server(routing_factory([])) as srv:
        status, headers, body = await wf(asyncio.to_thread(http_get, srv.port, "/health"))
        assert (status, body) == (200, b"ok\n")
        assert headers["Content-Length"] == "3" and headers["Connection"] == "close"
        status, headers, body = await wf(asyncio.to_thread(http_get, srv.port, "/private"))
        assert (status, body) == (403, b"token required\n")
        status, headers, _ = await wf(asyncio.to_thread(http_get, srv.port, "/old?x=1"))
        assert status == 307 and headers["Location"] == "/echo?x=1"
        status, _, _ = await wf(asyncio.to_thread(http_get, srv.port, "/missing"))
        assert status == 404
        # A plain GET to a WebSocket route is not an upgrade: 400/426-style refusal.
        status, _, _ = await wf(asyncio.to_thread(http_get, srv.port, "/echo"))
        assert 400 <= status < 500
        # WebSocket clients keep working on the same port.
        client, cl = await connect(srv.url("/echo"))
        await echo_ok(client, cl)
        await close_client(client)


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
async def test_reuse_port_and_other_kwargs_reach_create_server():
    first = await wf(picows.ws_create_server(lambda r: RecordingListener(echo=True),
                                             "127.0.0.1", 0, reuse_port=True, backlog=16))
    port = first.sockets[0].getsockname()[1]
    try:
        with pytest.raises(OSError) as info:
            await wf(picows.ws_create_server(RecordingListener, "127.0.0.1", port))
        assert info.value.errno == errno.EADDRINUSE
        second = await wf(picows.ws_create_server(lambda r: RecordingListener(echo=True),
                                                  "127.0.0.1", port, reuse_port=True,
                                                  start_serving=False))
        try:
            assert not second.is_serving()
            await second.start_serving()
            assert second.is_serving()
            clients = [await connect(f"ws://127.0.0.1:{port}/") for _ in range(4)]
            for tr, listener in clients:
                await echo_ok(tr, listener)
                await close_client(tr)
        finally:
            second.close()
    finally:
        first.close()


# =============================================================================
# Errors a caller can act on
# =============================================================================

async def test_unresolvable_host_is_gaierror():
    # '!' is not allowed in a host name: the resolver fails locally, no DNS query.
    with pytest.raises(socket.gaierror):
        await connect("ws://bad!host:80/")


async def test_connection_refused():
    with pytest.raises(ConnectionRefusedError):
        await connect(f"ws://127.0.0.1:{free_port()}/")


async def test_invalid_url():
    for url in ("http://127.0.0.1/", "ws:///nohost", "ws://127.0.0.1/#frag"):
        with pytest.raises(picows.WSInvalidURL):
            await connect(url)


async def test_handshake_timeout_when_server_never_answers():
    async with RawServer() as raw:
        with pytest.raises(asyncio.TimeoutError):
            await connect(raw.url(), websocket_handshake_timeout=0.2)


def test_ws_connect_docstring_lists_the_errors():
    doc = picows.ws_connect.__doc__
    for name in ("WSInvalidURL", "gaierror", "ConnectionRefusedError", "SSLCertVerificationError",
                 "WSProxyError", "WSInvalidStatusError", "Location", "TimeoutError"):
        assert name in doc, name


# =============================================================================
# The examples, run as programs
# =============================================================================

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO_ROOT, "examples")


def example_env():
    """The examples import picows_like from this checkout."""
    paths = [REPO_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def loop_flag():
    return ["--uvloop"] if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else []


async def run_example(name, *args, timeout=20):
    """Run examples/<name> to completion; returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, os.path.join(EXAMPLES, name), *args, *loop_flag(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=example_env())
    try:
        out, err = await wf(proc.communicate(), timeout)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()


@needs_trustme
async def test_example_tls_echo():
    code, out, err = await run_example("tls_echo.py")
    assert code == 0, err
    assert "is_secure=True" in out and "echo  1048576 bytes" in out and out.endswith("done\n")
    assert "Traceback" not in err


async def test_example_proxy_client():
    async with ws_server() as srv, HttpConnectProxy(auth=("user", "pw")) as proxy:
        code, out, err = await run_example("proxy_client.py", srv.url("/"),
                                           "--proxy", proxy.url("user:pw"), "--message", "hi")
        assert code == 0, err
        assert "reply: hi" in out and "user:pw" not in out
        code, out, err = await run_example("proxy_client.py", srv.url("/"),
                                           "--proxy", proxy.url("user:bad"))
        assert code == 1 and "proxy refused" in err and "407" in err
        assert "Traceback" not in err
        code, out, err = await run_example("proxy_client.py", srv.url("/"),
                                           "--proxy", f"http://127.0.0.1:{free_port()}")
        assert code == 1 and "ConnectionRefusedError" in err


async def test_example_routing_server():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, os.path.join(EXAMPLES, "routing_server.py"), "--port", "0", *loop_flag(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=example_env())
    try:
        first = (await wf(proc.stdout.readline(), 15)).decode()
        assert first.startswith("listening on ws://127.0.0.1:"), first
        port = int(first.split(":")[2].split("/")[0])

        status, headers, body = await wf(asyncio.to_thread(http_get, port, "/health"))
        assert status == 200 and body.startswith(b"ok uptime=")
        status, _, _ = await wf(asyncio.to_thread(http_get, port, "/nope"))
        assert status == 404

        client, cl = await connect(f"ws://127.0.0.1:{port}/v1/echo")   # 307 -> /echo
        client.send(WSMsgType.TEXT, b"routed")
        assert await cl.next_message() == (WSMsgType.TEXT, b"routed")
        await close_client(client)

        ticks, tl = await connect(f"ws://127.0.0.1:{port}/ticks?n=3")
        assert [(await tl.next_message())[1] for _ in range(3)] == \
            [b'{"seq":0}', b'{"seq":1}', b'{"seq":2}']
        await tl.wait_disconnected()

        with pytest.raises(picows.WSInvalidStatusError) as info:
            await connect(f"ws://127.0.0.1:{port}/admin")
        assert info.value.response.status == 401
        admin, al = await connect(f"ws://127.0.0.1:{port}/admin",
                                  extra_headers={"Authorization": "Bearer secret"})
        await close_client(admin)
    finally:
        if proc.returncode is None:
            proc.terminate()
        out, err = await wf(proc.communicate(), 10)
    assert proc.returncode == 0, err
    assert out.decode().endswith("stopped\n")
