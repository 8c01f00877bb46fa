"""websockets' threaded API beyond messages, run unchanged against
``websockets.sync`` (the reference) and ``picows_like.websockets.sync``:
proxies (HTTP CONNECT, HTTPS proxies with TLS inside, SOCKS5, from the
environment), redirects and their credential rules, ``reconnect`` /
``connect(legacy=False)`` iteration, ``basic_auth``, ``broadcast`` and
``route``; then interop with asyncio peers of both libraries in both
directions, shutdown with 1001 included.  Every wait is bounded.
"""
import asyncio
import base64
import contextlib
import queue
import socket
import threading
import time
import types

import pytest

websockets = pytest.importorskip("websockets")
import websockets.asyncio.client  # noqa: E402
import websockets.asyncio.server  # noqa: E402
import websockets.exceptions  # noqa: E402
import websockets.sync.client  # noqa: E402
import websockets.sync.server  # noqa: E402

import picows_like.websockets.asyncio.client  # noqa: E402
import picows_like.websockets.asyncio.server  # noqa: E402
import picows_like.websockets.exceptions  # noqa: E402
import picows_like.websockets.sync.client  # noqa: E402
import picows_like.websockets.sync.router  # noqa: E402
import picows_like.websockets.sync.server  # noqa: E402
from proxy_servers import HttpConnectProxy, HttpsConnectProxy, pproxy_server, tls_pair  # noqa: E402
from test_sync_api import echo, running  # noqa: E402

T = 5.0


def _impl(client, server, router, exceptions):
    return types.SimpleNamespace(
        connect=client.connect, reconnect=client.reconnect, serve=server.serve,
        basic_auth=server.basic_auth, broadcast=server.broadcast,
        route=getattr(router, "route", None), exc=exceptions)


try:
    import websockets.sync.router as _websockets_router
except ImportError:
    _websockets_router = None

if not hasattr(websockets.sync.client, "reconnect"):      # an older websockets
    pytest.skip("websockets.sync has no reconnect() here: websockets is too old",
                allow_module_level=True)

IMPLS = {
    "websockets": _impl(websockets.sync.client, websockets.sync.server,
                        _websockets_router, websockets.exceptions),
    "picows_like": _impl(picows_like.websockets.sync.client,
                         picows_like.websockets.sync.server,
                         picows_like.websockets.sync.router,
                         picows_like.websockets.exceptions),
}


@pytest.fixture(params=sorted(IMPLS))
def impl(request):
    return IMPLS[request.param]


@pytest.fixture(autouse=True)
def no_environment_proxy(monkeypatch):
    """proxy=True (the default) reads the environment: keep it empty."""
    for name in ("ws", "wss", "http", "https", "socks", "all", "no"):
        for var in (f"{name}_proxy", f"{name.upper()}_PROXY"):
            monkeypatch.delenv(var, raising=False)


class LoopThread:
    """An asyncio loop in a thread, for the asyncio peers and test proxies."""

    def __enter__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever)
        self.thread.start()
        return self

    def run(self, coro, timeout=T):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @contextlib.contextmanager
    def enter(self, async_cm):
        value = self.run(async_cm.__aenter__())
        try:
            yield value
        finally:
            self.run(async_cm.__aexit__(None, None, None))

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(T)
        self.loop.close()
        assert not self.thread.is_alive()


# -- proxies ---------------------------------------------------------------------

def test_http_connect_proxy(impl):
    with LoopThread() as lt, lt.enter(HttpConnectProxy()) as proxy, \
            running(impl, echo) as (_, uri):
        with impl.connect(uri, proxy=proxy.url(), user_agent_header="ua-test") as ws:
            ws.send("through the proxy")
            assert ws.recv(timeout=T) == "through the proxy"
        (start, headers), = proxy.requests
        port = uri.rsplit(":", 1)[1].strip("/")
        assert start == f"CONNECT 127.0.0.1:{port} HTTP/1.1"
        assert b"through the proxy" not in proxy.forwarded      # masked
        assert b"GET / HTTP/1.1" in proxy.forwarded


def test_http_proxy_credentials_and_407(impl):
    with LoopThread() as lt, lt.enter(HttpConnectProxy(auth=("user", "p@ss"))) as proxy, \
            running(impl, echo) as (_, uri):
        with pytest.raises(impl.exc.InvalidProxyStatus) as info:
            impl.connect(uri, proxy=proxy.url(), open_timeout=T)
        assert info.value.response.status_code == 407
        with impl.connect(uri, proxy=proxy.url("user:p%40ss"), open_timeout=T) as ws:
            ws.send("ok")
            assert ws.recv(timeout=T) == "ok"
        token = base64.b64encode(b"user:p@ss").decode()
        assert proxy.requests[-1][1]["proxy-authorization"] == f"Basic {token}"
        # The proxy's credentials go to the proxy only.
        assert token.encode() not in proxy.forwarded


def test_proxy_from_the_environment(impl, monkeypatch):
    with LoopThread() as lt, lt.enter(HttpConnectProxy()) as proxy, \
            running(impl, echo) as (_, uri):
        monkeypatch.setenv("ws_proxy", proxy.url())
        with impl.connect(uri) as ws:
            ws.send("env")
            assert ws.recv(timeout=T) == "env"
        assert len(proxy.requests) == 1
        with impl.connect(uri, proxy=None) as ws:       # proxy=None: direct
            ws.send("direct")
            assert ws.recv(timeout=T) == "direct"
        assert len(proxy.requests) == 1
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        with impl.connect(uri) as ws:
            ws.send("bypassed")
            assert ws.recv(timeout=T) == "bypassed"
        assert len(proxy.requests) == 1


def test_invalid_proxy_url(impl):
    with pytest.raises(impl.exc.InvalidProxy):
        impl.connect("ws://127.0.0.1:1/", proxy="ftp://127.0.0.1:21")


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_https_proxy(impl, secure):
    proxy_server_ctx, proxy_client_ctx = tls_pair()
    target_server_ctx, target_client_ctx = tls_pair()       # another CA
    with LoopThread() as lt, lt.enter(HttpsConnectProxy(proxy_server_ctx)) as proxy, \
            running(impl, echo, ssl=target_server_ctx if secure else None) as (_, uri):
        if secure:
            uri = uri.replace("ws://", "wss://", 1)
        kwargs = {"ssl": target_client_ctx} if secure else {}
        with impl.connect(uri, proxy=proxy.url(), proxy_ssl=proxy_client_ctx,
                          open_timeout=T, **kwargs) as ws:
            for size in (5, 70000, 300000):
                ws.send(b"s" * size)
                assert ws.recv(timeout=T) == b"s" * size
        assert ws.close_code == 1000
        assert len(proxy.requests) == 1
        if secure:      # the proxy saw TLS records only
            assert b"GET / HTTP/1.1" not in proxy.forwarded


def test_https_proxy_certificate_is_verified(impl):
    proxy_server_ctx, _ = tls_pair()
    _, other_client_ctx = tls_pair()
    import ssl
    with LoopThread() as lt, lt.enter(HttpsConnectProxy(proxy_server_ctx)) as proxy, \
            running(impl, echo) as (_, uri):
        with pytest.raises(ssl.SSLError):
            impl.connect(uri, proxy=proxy.url(), proxy_ssl=other_client_ctx, open_timeout=T)
        assert proxy.requests == []


def test_proxy_refusals_and_silence(impl):
    with LoopThread() as lt, lt.enter(HttpConnectProxy()) as proxy:
        # The test proxy refuses targets off the loopback (403) ...
        with pytest.raises(impl.exc.InvalidProxyStatus) as info:
            impl.connect("ws://example.invalid/", proxy=proxy.url(), open_timeout=T)
        assert info.value.response.status_code == 403
        # ... and answers 502 when the target refuses.
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        with pytest.raises(impl.exc.InvalidProxyStatus) as info:
            impl.connect(f"ws://127.0.0.1:{port}/", proxy=proxy.url(), open_timeout=T)
        assert info.value.response.status_code == 502
    with LoopThread() as lt, lt.enter(HttpConnectProxy(silent=True)) as proxy:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            impl.connect("ws://127.0.0.1:9/", proxy=proxy.url(), open_timeout=0.5)
        assert time.monotonic() - start < T


def test_tls_in_tls_with_a_sending_thread():
    """Ours: over an https:// proxy to a wss:// target, a thread sends while
    the main thread receives (the inner TLS session is shared by both)."""
    impl = IMPLS["picows_like"]
    proxy_server_ctx, proxy_client_ctx = tls_pair()
    target_server_ctx, target_client_ctx = tls_pair()
    messages = [bytes([i]) * (1000 * i + 1) for i in range(60)]
    with LoopThread() as lt, lt.enter(HttpsConnectProxy(proxy_server_ctx)) as proxy, \
            running(impl, echo, ssl=target_server_ctx) as (_, uri):
        with impl.connect(uri.replace("ws://", "wss://", 1), proxy=proxy.url(),
                          proxy_ssl=proxy_client_ctx, ssl=target_client_ctx,
                          open_timeout=T) as ws:
            sender = threading.Thread(target=lambda: [ws.send(m) for m in messages])
            sender.start()
            got = [ws.recv(timeout=T) for _ in messages]
            sender.join(T)
            assert got == messages
        assert ws.close_code == 1000


def test_socks5_proxy(impl):
    with LoopThread() as lt, lt.enter(pproxy_server("socks5", "u", "pw")) as proxy_url, \
            running(impl, echo) as (_, uri):
        with impl.connect(uri, proxy=proxy_url, open_timeout=T) as ws:
            ws.send("socks")
            assert ws.recv(timeout=T) == "socks"
        with impl.connect(uri, proxy=proxy_url.replace("socks5://", "socks5h://", 1),
                          open_timeout=T) as ws:
            ws.send("socks5h")
            assert ws.recv(timeout=T) == "socks5h"


class SplittingRelay:
    """A TCP relay that delivers each chunk from the server in two parts,
    50 ms apart (TLS records arrive in pieces, as through a real proxy)."""

    def __init__(self, target_port):
        self.target_port = target_port
        self._tasks = set()

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self._server.close()
        for task in list(self._tasks):
            task.cancel()

    async def _handle(self, reader, writer):
        self._tasks.add(asyncio.current_task())
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src, dst, split):
            try:
                while data := await src.read(65536):
                    if split and len(data) > 1:
                        dst.write(data[:1])
                        await dst.drain()
                        await asyncio.sleep(0.05)
                        data = data[1:]
                    dst.write(data)
                    await dst.drain()
                if dst.can_write_eof():
                    dst.write_eof()
            except OSError:
                pass

        try:
            await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))
        finally:
            writer.close()
            up_writer.close()
            self._tasks.discard(asyncio.current_task())


def test_close_over_tls_whose_records_arrive_in_pieces(impl):
    """close() must not disturb the reader blocked in the TLS socket: the
    server's CLOSE, arriving in two pieces, is read and the code is 1000."""
    server_ctx, client_ctx = tls_pair()
    with running(impl, echo, ssl=server_ctx) as (_, uri), LoopThread() as lt:
        port = int(uri.rsplit(":", 1)[1].strip("/"))
        with lt.enter(SplittingRelay(port)) as relay:
            for _ in range(3):
                with impl.connect(f"wss://127.0.0.1:{relay.port}/", ssl=client_ctx,
                                  open_timeout=T) as ws:
                    ws.send("piecewise")
                    assert ws.recv(timeout=T) == "piecewise"
                assert ws.close_code == 1000


def test_close_frame_in_the_same_read_as_the_101(impl):
    """A server that closes right after accepting: its CLOSE comes in the same
    packet as the 101.  The client answers it (the server gets the client's
    CLOSE) and sees 1000 at once instead of waiting out a timeout."""
    from helpers import compute_accept
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    got = queue.Queue()

    def serve_once():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(T)
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            key = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:")][0]
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                         + compute_accept(key).encode() + b"\r\n\r\n"
                         + b"\x88\x02\x03\xe8")            # CLOSE 1000, same write
            try:
                frame = conn.recv(2)
            except socket.timeout:
                frame = b""
            got.put(frame)

    thread = threading.Thread(target=serve_once)
    thread.start()
    try:
        with impl.connect(f"ws://127.0.0.1:{port}/", compression=None, open_timeout=T,
                          close_timeout=T) as ws:
            start = time.monotonic()
            with pytest.raises(impl.exc.ConnectionClosedOK):
                ws.recv(timeout=T)
            assert ws.close_code == 1000
            assert time.monotonic() - start < T / 2
        assert got.get(timeout=2 * T)[:1] == b"\x88"      # the client's CLOSE
    finally:
        thread.join(2 * T)
        listener.close()


# -- redirects -------------------------------------------------------------------

class Recorder:
    """A handler + process_request recording each request's headers; paths
    in `redirects` answer 302 to their target."""

    def __init__(self, redirects=None):
        self.redirects = dict(redirects or {})
        self.requests = []

    def process_request(self, connection, request):
        self.requests.append((request.path, request.headers))
        target = self.redirects.get(request.path)
        if target is not None:
            response = connection.respond(302, "moved\n")
            response.headers["Location"] = target
            return response
        return None


SECRETS = {"Authorization": "Bearer tok", "Cookie": "c=1", "X-Other": "kept"}


def test_cross_origin_redirect_drops_credentials(impl):
    target = Recorder()
    with running(impl, echo, process_request=target.process_request) as (_, target_uri):
        origin = Recorder({"/go": target_uri + "landing"})
        with running(impl, echo, process_request=origin.process_request) as (_, uri):
            with impl.connect(uri + "go", additional_headers=SECRETS) as ws:
                ws.send("after redirect")
                assert ws.recv(timeout=T) == "after redirect"
            assert origin.requests[0][1]["Authorization"] == "Bearer tok"
            path, headers = target.requests[0]
            assert path == "/landing"
            assert "Authorization" not in headers and "Cookie" not in headers
            assert headers["X-Other"] == "kept"


def test_userinfo_goes_only_to_its_origin(impl):
    target = Recorder()
    with running(impl, echo, process_request=target.process_request) as (_, target_uri):
        origin = Recorder({"/go": target_uri})
        with running(impl, echo, process_request=origin.process_request) as (_, uri):
            with impl.connect(uri.replace("ws://", "ws://alice:pw@", 1) + "go"):
                pass
            auth = origin.requests[0][1]["Authorization"]
            assert base64.b64decode(auth.split()[1]) == b"alice:pw"
            assert "Authorization" not in target.requests[0][1]


def test_same_origin_redirect_keeps_credentials(impl):
    recorder = Recorder({"/old": "/new"})
    with running(impl, echo, process_request=recorder.process_request) as (_, uri):
        with impl.connect(uri + "old", additional_headers=SECRETS) as ws:
            ws.send("x")
            assert ws.recv(timeout=T) == "x"
        assert [p for p, _ in recorder.requests] == ["/old", "/new"]
        assert recorder.requests[1][1]["Authorization"] == "Bearer tok"
        assert recorder.requests[1][1]["Cookie"] == "c=1"


def test_redirect_loop_is_a_security_error(impl):
    recorder = Recorder({"/a": "/b", "/b": "/a"})
    with running(impl, echo, process_request=recorder.process_request) as (_, uri):
        with pytest.raises(impl.exc.SecurityError):
            impl.connect(uri + "a", open_timeout=T)
        assert len(recorder.requests) == 10         # WEBSOCKETS_MAX_REDIRECTS


def test_redirect_from_wss_to_ws_is_refused(impl):
    server_ctx, client_ctx = tls_pair()
    plain = Recorder()
    with running(impl, echo, process_request=plain.process_request) as (_, plain_uri):
        secure = Recorder({"/": plain_uri})
        with running(impl, echo, ssl=server_ctx,
                     process_request=secure.process_request) as (_, uri):
            with pytest.raises(impl.exc.SecurityError):
                impl.connect(uri.replace("ws://", "wss://", 1), ssl=client_ctx,
                             open_timeout=T)
    assert plain.requests == []


# -- reconnecting --------------------------------------------------------------------

def test_reconnect_retries_transient_errors_and_raises_fatal_ones(impl):
    answers = [503, 503, None, 404]

    def process_request(connection, request):
        status = answers.pop(0)
        return None if status is None else connection.respond(status, "no\n")

    def delays():
        while True:
            yield 0.01

    with running(impl, echo, process_request=process_request) as (_, uri):
        seen = []
        with pytest.raises(impl.exc.InvalidStatus) as info:
            for ws in impl.connect(uri, legacy=False, reconnect_delays=delays,
                                   open_timeout=T):
                ws.send("up")
                seen.append(ws.recv(timeout=T))
        assert info.value.response.status_code == 404
        assert seen == ["up"] and answers == []


def test_reconnect_object_is_a_context_manager(impl):
    with running(impl, echo) as (_, uri):
        with impl.reconnect(uri) as ws:
            ws.send("cm")
            assert ws.recv(timeout=T) == "cm"
        assert ws.close_code == 1000


def test_reconnect_backs_off_after_going_away():
    """Ours (like picows_like's asyncio clients, unlike websockets.sync): a
    connection that ended with a RECONNECT_CLOSE_CODES code delays the next
    attempt; a normal close does not."""
    from picows_like.reconnect import RECONNECT_CLOSE_CODES
    impl = IMPLS["picows_like"]
    codes = [1000, 1012, 1000]
    asked = []

    def delays():
        asked.append(True)
        while True:
            yield 0.0

    def handler(ws):
        ws.close(codes.pop(0))

    assert 1012 in RECONNECT_CLOSE_CODES
    with running(impl, handler) as (_, uri):
        closes = []
        for ws in impl.connect(uri, legacy=False, reconnect_delays=delays):
            with pytest.raises(impl.exc.ConnectionClosed):
                ws.recv(timeout=T)
            closes.append(ws.close_code)
            if len(closes) == 3:
                break
    assert closes == [1000, 1012, 1000]
    assert len(asked) == 1          # only after the 1012


# -- basic_auth, broadcast, route ------------------------------------------------------

def test_basic_auth(impl):
    names = queue.Queue()

    def handler(ws):
        names.put(ws.username)
        echo(ws)

    auth = impl.basic_auth(realm="test", credentials=[("alice", "pw1"), ("bob", "pw2")])
    with running(impl, handler, process_request=auth) as (_, uri):
        with pytest.raises(impl.exc.InvalidStatus) as info:
            impl.connect(uri, open_timeout=T)
        assert info.value.response.status_code == 401
        assert info.value.response.headers["WWW-Authenticate"] == \
            'Basic realm="test", charset="UTF-8"'
        with pytest.raises(impl.exc.InvalidStatus):
            impl.connect(uri.replace("ws://", "ws://bob:pw1@", 1), open_timeout=T)
        with impl.connect(uri.replace("ws://", "ws://bob:pw2@", 1)) as ws:
            ws.send("in")
            assert ws.recv(timeout=T) == "in"
        assert names.get(timeout=T) == "bob"
    with pytest.raises(ValueError):
        impl.basic_auth()
    with pytest.raises(TypeError):
        impl.basic_auth(credentials=42)


def test_basic_auth_check_credentials(impl):
    auth = impl.basic_auth(check_credentials=lambda user, password: password == user[::-1])
    with running(impl, echo, process_request=auth) as (_, uri):
        with impl.connect(uri.replace("ws://", "ws://abc:cba@", 1)) as ws:
            ws.send("ok")
            assert ws.recv(timeout=T) == "ok"
        with pytest.raises(impl.exc.InvalidStatus):
            impl.connect(uri.replace("ws://", "ws://abc:abc@", 1), open_timeout=T)


def test_broadcast(impl):
    joined = queue.Queue()
    done = threading.Event()

    def handler(ws):
        joined.put(ws)
        done.wait(T)

    with running(impl, handler) as (server, uri):
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(impl.connect(uri)) for _ in range(3)]
            for _ in clients:
                joined.get(timeout=T)
            assert len(server.connections) == 3
            impl.broadcast(server.connections, "to all")
            impl.broadcast(server.connections, b"\x01\x02")
            impl.broadcast(server.connections, "as bytes", text=False)
            for ws in clients:
                assert ws.recv(timeout=T) == "to all"
                assert ws.recv(timeout=T) == b"\x01\x02"
                assert ws.recv(timeout=T) == b"as bytes"
            with pytest.raises(TypeError):
                impl.broadcast(server.connections, 42)
            clients[0].close()
            impl.broadcast(server.connections, "after one left")    # skipped, no error
            for ws in clients[1:]:
                assert ws.recv(timeout=T) == "after one left"
            done.set()


def test_route(impl):
    werkzeug_routing = pytest.importorskip("werkzeug.routing")
    if impl.route is None:
        pytest.skip("this websockets has no websockets.sync.router")

    def channel(ws, channel_id):
        ws.send(f"channel {channel_id}")

    def root(ws):
        ws.send("root")

    url_map = werkzeug_routing.Map([
        werkzeug_routing.Rule("/", endpoint=root),
        werkzeug_routing.Rule("/channel/<int:channel_id>", endpoint=channel),
        werkzeug_routing.Rule("/old", redirect_to="/channel/7"),
    ])
    with impl.route(url_map, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            uri = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
            with impl.connect(uri + "/channel/42") as ws:
                assert ws.recv(timeout=T) == "channel 42"
            with impl.connect(uri + "/") as ws:
                assert ws.recv(timeout=T) == "root"
            with impl.connect(uri + "/old") as ws:        # werkzeug's redirect, followed
                assert ws.recv(timeout=T) == "channel 7"
            with pytest.raises(impl.exc.InvalidStatus) as info:
                impl.connect(uri + "/nowhere", open_timeout=T)
            assert info.value.response.status_code == 404
        finally:
            server.shutdown()
            thread.join(T)
    assert not thread.is_alive()


# -- interop with asyncio peers ------------------------------------------------------

ASYNC_SERVERS = {
    "websockets": websockets.asyncio.server.serve,
    "picows_like": picows_like.websockets.asyncio.server.serve,
}
ASYNC_CLIENTS = {
    "websockets": websockets.asyncio.client.connect,
    "picows_like": picows_like.websockets.asyncio.client.connect,
}


@pytest.mark.parametrize("server_name", sorted(ASYNC_SERVERS))
def test_our_sync_client_with_asyncio_servers(server_name):
    serve = ASYNC_SERVERS[server_name]

    async def handler(ws):
        async for message in ws:
            await ws.send(message)

    async def start():
        return await serve(handler, "127.0.0.1", 0).__aenter__()

    with LoopThread() as lt:
        server = lt.run(start())
        try:
            port = server.sockets[0].getsockname()[1]
            connect = picows_like.websockets.sync.client.connect
            with connect(f"ws://127.0.0.1:{port}/") as ws:
                for size in (0, 125, 70000, 2 ** 20):
                    ws.send("t" * size)
                    assert ws.recv(timeout=T) == "t" * size
                    ws.send(b"b" * size)
                    assert ws.recv(timeout=T) == b"b" * size
                ws.send(["frag", "mented"])
                assert ws.recv(timeout=T) == "fragmented"
                assert ws.ping(b"p").wait(T)
                ws.close(4002, "bye")
            assert ws.close_code == 4002
        finally:
            lt.run(server.__aexit__(None, None, None))


@pytest.mark.parametrize("client_name", sorted(ASYNC_CLIENTS))
def test_asyncio_clients_with_our_sync_server(client_name):
    connect = ASYNC_CLIENTS[client_name]
    with running(IMPLS["picows_like"], echo) as (server, uri):
        async def main():
            async with connect(uri) as ws:
                for size in (0, 125, 70000, 2 ** 20):
                    await ws.send("t" * size)
                    assert await asyncio.wait_for(ws.recv(), T) == "t" * size
                    await ws.send(b"b" * size)
                    assert await asyncio.wait_for(ws.recv(), T) == b"b" * size
                await ws.send(["frag", "mented"])
                assert await asyncio.wait_for(ws.recv(), T) == "fragmented"
                await asyncio.wait_for(await ws.ping(), T)
                await ws.close(4003, "done")
            return ws.close_code

        assert asyncio.run(asyncio.wait_for(main(), 4 * T)) == 4003


@pytest.mark.parametrize("client_name", sorted(ASYNC_CLIENTS))
def test_shutdown_closes_asyncio_clients_with_1001(client_name):
    connect = ASYNC_CLIENTS[client_name]
    server_impl = IMPLS["picows_like"]
    with server_impl.serve(echo, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        uri = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"

        async def main():
            clients = [await connect(uri) for _ in range(2)]
            for ws in clients:
                await ws.send("x")
                assert await asyncio.wait_for(ws.recv(), T) == "x"
            loop = asyncio.get_running_loop()
            shutdown = loop.run_in_executor(None, server.shutdown)
            codes = []
            for ws in clients:
                with pytest.raises((websockets.exceptions.ConnectionClosedOK,
                                    picows_like.websockets.exceptions.ConnectionClosedOK)):
                    await asyncio.wait_for(ws.recv(), T)
                codes.append(ws.close_code)
            await asyncio.wait_for(shutdown, T)
            return codes

        try:
            assert asyncio.run(asyncio.wait_for(main(), 4 * T)) == [1001, 1001]
        finally:
            server.shutdown()
            thread.join(T)
    assert not thread.is_alive()
