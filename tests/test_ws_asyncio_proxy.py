"""Proxies in websockets' asyncio client API, run unchanged against
``websockets.asyncio.client`` (the reference) and
``picows_like.websockets.asyncio.client``: HTTP CONNECT (request line,
credentials, 407), the proxy from the environment with no_proxy and
proxy=None, refusals (403, 502, no answer) as the same exception types,
https:// proxies for ws:// and wss:// targets, SOCKS5 (python-socks) with
the name resolved at the proxy (socks5h) or here (socks5), and redirects
that keep going through the proxy.  Every wait is bounded.
"""
import asyncio
import base64
import contextlib
import importlib.util
import ssl
import struct
import types
from http import HTTPStatus

import pytest

websockets = pytest.importorskip("websockets")
import websockets.asyncio.client  # noqa: E402
import websockets.asyncio.server  # noqa: E402
import websockets.exceptions  # noqa: E402

import picows_like.websockets.asyncio.client  # noqa: E402
import picows_like.websockets.exceptions  # noqa: E402
from proxy_servers import HttpConnectProxy, HttpsConnectProxy, free_port, pproxy_server, tls_pair  # noqa: E402

T = 5.0

if not hasattr(websockets.exceptions, "InvalidProxyStatus"):     # websockets < 15
    pytest.skip("this websockets has no proxy support", allow_module_level=True)

HAVE_SOCKS = importlib.util.find_spec("python_socks") is not None
needs_socks = pytest.mark.skipif(not HAVE_SOCKS, reason="python-socks is not installed")

IMPLS = {
    "websockets": types.SimpleNamespace(connect=websockets.asyncio.client.connect,
                                        exc=websockets.exceptions),
    "picows_like": types.SimpleNamespace(connect=picows_like.websockets.asyncio.client.connect,
                                         exc=picows_like.websockets.exceptions),
}


@pytest.fixture(params=sorted(IMPLS))
def impl(request):
    return IMPLS[request.param]


@pytest.fixture(autouse=True)
def no_environment_proxy(monkeypatch):
    """proxy=True (the default) reads the environment: start with it empty."""
    for name in ("ws", "wss", "http", "https", "socks", "all", "no"):
        for var in (f"{name}_proxy", f"{name.upper()}_PROXY"):
            monkeypatch.delenv(var, raising=False)


async def echo(ws):
    async for message in ws:
        await ws.send(message)


@contextlib.asynccontextmanager
async def echo_server(ssl_context=None, process_request=None):
    """websockets' asyncio server on 127.0.0.1 (the target); yields its URI."""
    async with websockets.asyncio.server.serve(echo, "127.0.0.1", 0, ssl=ssl_context,
                                               process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"{'wss' if ssl_context else 'ws'}://127.0.0.1:{port}/"


async def round_trip(impl, uri, text, **kwargs):
    """Connect with `kwargs`, echo `text`, close; the closed connection."""
    ws = await asyncio.wait_for(impl.connect(uri, open_timeout=T, **kwargs), T)
    try:
        await asyncio.wait_for(ws.send(text), T)
        assert await asyncio.wait_for(ws.recv(), T) == text
        return ws
    finally:
        await asyncio.wait_for(ws.close(), T)


async def test_http_connect_proxy(impl):
    async with HttpConnectProxy() as proxy, echo_server() as uri:
        await round_trip(impl, uri, "through the proxy", proxy=proxy.url())
        (start, headers), = proxy.requests
        port = uri.rsplit(":", 1)[1].strip("/")
        assert start == f"CONNECT 127.0.0.1:{port} HTTP/1.1"
        assert "proxy-authorization" not in headers
        assert b"GET / HTTP/1.1" in proxy.forwarded               # the upgrade went through
        assert b"through the proxy" not in proxy.forwarded        # masked


async def test_proxy_credentials_and_407(impl):
    async with HttpConnectProxy(auth=("user", "p@ss")) as proxy, echo_server() as uri:
        with pytest.raises(impl.exc.InvalidProxyStatus) as info:
            await asyncio.wait_for(impl.connect(uri, proxy=proxy.url(), open_timeout=T), T)
        assert info.value.response.status_code == 407
        assert isinstance(info.value, impl.exc.ProxyError)
        await round_trip(impl, uri, "authenticated", proxy=proxy.url("user:p%40ss"))
        token = base64.b64encode(b"user:p@ss").decode()
        assert proxy.requests[-1][1]["proxy-authorization"] == f"Basic {token}"
        assert token.encode() not in proxy.forwarded      # for the proxy only


async def test_proxy_from_the_environment(impl, monkeypatch):
    async with HttpConnectProxy() as proxy, echo_server() as uri:
        monkeypatch.setenv("ws_proxy", proxy.url())
        await round_trip(impl, uri, "env")                       # proxy=True
        assert len(proxy.requests) == 1
        await round_trip(impl, uri, "direct", proxy=None)
        assert len(proxy.requests) == 1
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        await round_trip(impl, uri, "bypassed")
        assert len(proxy.requests) == 1
        # An explicit proxy is used whatever no_proxy says.
        await round_trip(impl, uri, "explicit", proxy=proxy.url())
        assert len(proxy.requests) == 2


async def test_environment_proxy_for_wss_is_https_proxy(impl, monkeypatch):
    """A wss:// URI does not take http_proxy; https_proxy it does."""
    server_ctx, client_ctx = tls_pair()
    async with HttpConnectProxy() as proxy, echo_server(server_ctx) as uri:
        monkeypatch.setenv("http_proxy", proxy.url())
        await round_trip(impl, uri, "direct", ssl=client_ctx)
        assert proxy.requests == []
        monkeypatch.setenv("https_proxy", proxy.url())
        await round_trip(impl, uri, "proxied", ssl=client_ctx)
        assert len(proxy.requests) == 1


class ClosingProxy(HttpConnectProxy):
    """Reads the CONNECT, closes without answering."""

    def _early_answer(self):
        return ()


async def test_proxy_refusals(impl):
    async with HttpConnectProxy() as proxy:
        # The test proxy refuses targets off the loopback (403) ...
        with pytest.raises(impl.exc.InvalidProxyStatus) as info:
            await asyncio.wait_for(impl.connect("ws://example.invalid/", proxy=proxy.url(),
                                                open_timeout=T), T)
        assert info.value.response.status_code == 403
        # ... and answers 502 when the target refuses.
        with pytest.raises(impl.exc.InvalidProxyStatus) as info:
            await asyncio.wait_for(impl.connect(f"ws://127.0.0.1:{free_port()}/",
                                                proxy=proxy.url(), open_timeout=T), T)
        assert info.value.response.status_code == 502
    async with ClosingProxy() as proxy:
        with pytest.raises(impl.exc.InvalidProxyMessage):
            await asyncio.wait_for(impl.connect("ws://127.0.0.1:9/", proxy=proxy.url(),
                                                open_timeout=T), T)


async def test_unreachable_proxy_is_an_oserror(impl):
    with pytest.raises(OSError):
        await asyncio.wait_for(impl.connect("ws://127.0.0.1:9/",
                                            proxy=f"http://127.0.0.1:{free_port()}",
                                            open_timeout=T), T)


async def test_invalid_proxy_arguments(impl):
    with pytest.raises(impl.exc.InvalidProxy):
        await asyncio.wait_for(impl.connect("ws://127.0.0.1:9/", proxy="ftp://127.0.0.1:21",
                                            open_timeout=T), T)
    with pytest.raises(ValueError, match="proxy_ssl"):
        await asyncio.wait_for(impl.connect("ws://127.0.0.1:9/", proxy="http://127.0.0.1:9",
                                            proxy_ssl=ssl.create_default_context(),
                                            open_timeout=T), T)


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_https_proxy(impl, secure):
    proxy_server_ctx, proxy_client_ctx = tls_pair()
    target_server_ctx, target_client_ctx = tls_pair()       # another CA
    async with HttpsConnectProxy(proxy_server_ctx) as proxy, \
            echo_server(target_server_ctx if secure else None) as uri:
        kwargs = {"ssl": target_client_ctx} if secure else {}
        await round_trip(impl, uri, "tls to the proxy", proxy=proxy.url(),
                         proxy_ssl=proxy_client_ctx, **kwargs)
        assert len(proxy.requests) == 1
        # The proxy saw the upgrade in clear for ws://, TLS records only for wss://.
        assert (b"GET / HTTP/1.1" in proxy.forwarded) is not secure


async def test_https_proxy_certificate_is_verified(impl):
    proxy_server_ctx, _ = tls_pair()
    _, other_client_ctx = tls_pair()                         # trusts another CA
    async with HttpsConnectProxy(proxy_server_ctx) as proxy, echo_server() as uri:
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.wait_for(impl.connect(uri, proxy=proxy.url(),
                                                proxy_ssl=other_client_ctx,
                                                open_timeout=T), T)
        assert proxy.requests == []


async def test_redirects_keep_going_through_the_proxy(impl):
    async with HttpConnectProxy() as proxy, echo_server() as final_uri:
        def redirect(connection, request):
            response = connection.respond(HTTPStatus.FOUND, "")
            response.headers["Location"] = final_uri
            return response

        async with echo_server(process_request=redirect) as first_uri:
            ws = await round_trip(impl, first_uri, "redirected", proxy=proxy.url())
        targets = [start.split(" ")[1] for start, _ in proxy.requests]
        first_port = first_uri.rsplit(":", 1)[1].strip("/")
        final_port = final_uri.rsplit(":", 1)[1].strip("/")
        assert targets == [f"127.0.0.1:{first_port}", f"127.0.0.1:{final_port}"]
        assert ws.close_code == 1000


# -- SOCKS -------------------------------------------------------------------

@needs_socks
async def test_socks5_proxy_with_credentials(impl):
    async with pproxy_server("socks5", "u", "pw") as proxy_url, echo_server() as uri:
        await round_trip(impl, uri, "socks5", proxy=proxy_url)
        await round_trip(impl, uri, "socks5h",
                         proxy=proxy_url.replace("socks5://", "socks5h://", 1))


class RecordingSocks5:
    """A minimal SOCKS5 server (no authentication, CONNECT only) recording
    the address type and address of each request; it always connects to
    127.0.0.1 on the requested port, or refuses with reply 0x02 (not allowed
    by ruleset) when `refuse`."""

    def __init__(self, refuse=False):
        self.refuse = refuse
        self.requests = []          # (address type, address)
        self._tasks = set()

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self._server.close()
        for t in list(self._tasks):
            t.cancel()

    async def _handle(self, reader, writer):
        self._tasks.add(asyncio.current_task())
        try:
            ver, n = await reader.readexactly(2)
            await reader.readexactly(n)
            writer.write(b"\x05\x00")
            _, _, _, atyp = await reader.readexactly(4)
            if atyp == 1:
                address = ".".join(map(str, await reader.readexactly(4)))
            elif atyp == 4:
                address = (await reader.readexactly(16)).hex()
            else:
                address = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            port, = struct.unpack("!H", await reader.readexactly(2))
            self.requests.append((atyp, address))
            if self.refuse:
                writer.write(b"\x05\x02\x00\x01" + bytes(6))
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            self._tasks.discard(asyncio.current_task())

    @staticmethod
    async def _pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()


@needs_socks
@pytest.mark.parametrize("scheme,remote", [("socks5h", True), ("socks5", False)])
async def test_socks5_name_resolution(impl, scheme, remote):
    """socks5h:// sends the host name to the proxy; socks5:// resolves it
    here and sends an address."""
    async with RecordingSocks5() as proxy, echo_server() as uri:
        uri = uri.replace("127.0.0.1", "localhost", 1)
        await round_trip(impl, uri, scheme, proxy=f"{scheme}://127.0.0.1:{proxy.port}")
        (atyp, address), = proxy.requests
        if remote:
            assert (atyp, address) == (3, "localhost")
        else:
            assert atyp in (1, 4)       # IPv4 or IPv6 address, resolved by the client


@needs_socks
async def test_socks5_proxy_to_a_wss_target(impl):
    server_ctx, client_ctx = tls_pair()
    async with RecordingSocks5() as proxy, echo_server(server_ctx) as uri:
        await round_trip(impl, uri, "tls through socks", ssl=client_ctx,
                         proxy=f"socks5h://127.0.0.1:{proxy.port}")
        assert proxy.requests == [(1, "127.0.0.1")]


@needs_socks
async def test_socks5_refusal_is_a_proxy_error(impl):
    async with RecordingSocks5(refuse=True) as proxy:
        with pytest.raises(impl.exc.ProxyError) as info:
            await asyncio.wait_for(impl.connect("ws://127.0.0.1:9/",
                                                proxy=f"socks5h://127.0.0.1:{proxy.port}",
                                                open_timeout=T), T)
        assert not isinstance(info.value, (impl.exc.InvalidProxyStatus,
                                           impl.exc.InvalidProxyMessage))
        assert len(proxy.requests) == 1


@needs_socks
async def test_socks_proxy_from_the_environment(impl, monkeypatch):
    async with RecordingSocks5() as proxy, echo_server() as uri:
        monkeypatch.setenv("socks_proxy", f"socks5h://127.0.0.1:{proxy.port}")
        await round_trip(impl, uri, "socks from env")
        assert proxy.requests == [(1, "127.0.0.1")]


# -- ours only ---------------------------------------------------------------

async def test_proxy_server_hostname_other_than_the_proxy_host_is_not_supported():
    connect = IMPLS["picows_like"].connect
    with pytest.raises(NotImplementedError, match="proxy_server_hostname"):
        await asyncio.wait_for(connect("ws://127.0.0.1:9/", proxy="https://127.0.0.1:9",
                                       proxy_server_hostname="proxy.example",
                                       open_timeout=T), T)
    with pytest.raises(NotImplementedError, match="proxy_ssl_handshake_timeout"):
        connect("ws://127.0.0.1:9/", proxy="https://127.0.0.1:9",
                proxy_ssl_handshake_timeout=1)
