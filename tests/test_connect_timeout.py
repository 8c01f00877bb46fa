"""websocket_handshake_timeout bounds the whole client connect (TCP connect,
socket_factory, proxy negotiation, TLS, the upgrade and redirects) with
asyncio.TimeoutError, as in picows, and leaves nothing open; a server with
ssl= drops a client that never completes TLS within the same timeout."""

import asyncio
import contextlib
import importlib.util
import socket

import pytest

import picows_like as picows
from helpers import RecordingListener, wf, ws_server
from proxy_servers import AFN_PARAMS, tls_pair

trustme = pytest.importorskip("trustme")

TIMEOUT = 0.4
# How late the timeout may fire on a loaded 2-core machine.  Every stall
# below lasts far longer (forever, or asyncio's 60 s TLS default).
SLACK = 1.5
HAVE_SOCKS = importlib.util.find_spec("python_socks") is not None


@pytest.fixture(scope="module")
def tls():
    return tls_pair()


class SilentServer:
    """Accepts TCP connections and never sends a byte.  `closed` is set
    when a peer has closed its side (what the client must do on timeout).
    With `answer`, it first waits for `expect` and sends `answer`, then
    goes silent (an HTTP proxy that opens a tunnel to nowhere)."""

    def __init__(self, expect=None, answer=None):
        self.expect, self.answer = expect, answer
        self.accepted = asyncio.Event()
        self.closed = asyncio.Event()
        self.received = bytearray()
        self._writers = []

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        for w in self._writers:
            w.transport.abort()
        self._server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _serve(self, reader, writer):
        self._writers.append(writer)
        self.accepted.set()
        try:
            if self.expect is not None:
                self.received += await reader.readuntil(self.expect)
                writer.write(self.answer)
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                self.received += data
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        self.closed.set()


async def _expect_timeout(url, **kwargs):
    """ws_connect must fail with picows' asyncio.TimeoutError within the
    timeout (plus slack); returns the exception."""
    kwargs.setdefault("websocket_handshake_timeout", TIMEOUT)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        # The outer bound only turns a hang into a failure of this test.
        await asyncio.wait_for(picows.ws_connect(RecordingListener, url, **kwargs),
                               kwargs["websocket_handshake_timeout"] + 4)
    except asyncio.TimeoutError as exc:
        elapsed = loop.time() - started
        assert "websocket handshake timeout" in str(exc), \
            f"not ws_connect's own timeout after {elapsed:.2f}s: {exc!r}"
        assert elapsed < kwargs["websocket_handshake_timeout"] + SLACK, elapsed
        return exc
    pytest.fail("ws_connect did not time out")


async def test_silent_server_times_out_and_is_hung_up_on():
    async with SilentServer() as server:
        exc = await _expect_timeout(f"ws://127.0.0.1:{server.port}/")
        assert isinstance(exc, asyncio.TimeoutError)
        await wf(server.closed.wait(), 2)           # nothing stays open
        assert server.received.startswith(b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize("afn", AFN_PARAMS)
async def test_server_stalling_tls_times_out(tls, afn):
    # The server accepts TCP and never answers the ClientHello: before,
    # asyncio's 60 s TLS handshake timeout applied, not ours.
    _, client_ctx = tls
    async with SilentServer() as server:
        await _expect_timeout(f"wss://127.0.0.1:{server.port}/", ssl_context=client_ctx,
                              use_aiofastnet=afn)
        await wf(server.closed.wait(), 2)
        assert server.received[:1] == b"\x16"        # a TLS handshake record was sent


async def test_tcp_connect_that_never_completes_times_out():
    # A listening socket whose accept queue is full drops further SYNs: the
    # connect stalls in the kernel (loopback only, no external network).
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filler.connect(("127.0.0.1", port))       # takes the only slot
        await _expect_timeout(f"ws://127.0.0.1:{port}/")


async def test_stalled_socket_factory_times_out():
    cancelled = asyncio.Event()

    async def socket_factory(parsed_url):
        try:
            await asyncio.Event().wait()            # never gives a socket
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await _expect_timeout("ws://127.0.0.1:9/", socket_factory=socket_factory)
    assert cancelled.is_set()


async def test_silent_http_proxy_times_out():
    async with SilentServer() as proxy:
        await _expect_timeout("ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{proxy.port}")
        await wf(proxy.closed.wait(), 2)
        assert proxy.received.startswith(b"CONNECT 127.0.0.1:9 HTTP/1.1\r\n")


async def test_proxy_tunnel_to_a_silent_tls_server_times_out(tls):
    # The proxy opens the tunnel (200) and then nothing answers the TLS
    # ClientHello: the proxy step is done, TLS must still be bounded.
    _, client_ctx = tls
    async with SilentServer(expect=b"\r\n\r\n",
                            answer=b"HTTP/1.1 200 Connection established\r\n\r\n") as proxy:
        await _expect_timeout("wss://127.0.0.1:9/", ssl_context=client_ctx,
                              proxy=f"http://127.0.0.1:{proxy.port}")
        await wf(proxy.closed.wait(), 2)


@pytest.mark.skipif(not HAVE_SOCKS, reason="python-socks is not installed")
async def test_silent_socks5_proxy_times_out():
    async with SilentServer() as proxy:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(picows.ws_connect(
                RecordingListener, "ws://127.0.0.1:9/", proxy=f"socks5://127.0.0.1:{proxy.port}",
                websocket_handshake_timeout=TIMEOUT), TIMEOUT + 4)
        assert loop.time() - started < TIMEOUT + SLACK
        await wf(proxy.closed.wait(), 2)


async def test_timeout_covers_the_whole_redirect_chain():
    # The first server answers its redirect late, the second never answers:
    # each alone is within the timeout, together they are not.
    timeout = 1.0
    delay = 0.8 * timeout

    async with SilentServer() as silent:
        async def slow_redirect(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(delay)
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:{silent.port}/\r\n"
                         f"Content-Length: 0\r\n\r\n".encode())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(slow_redirect, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(picows.ws_connect(
                    RecordingListener, f"ws://127.0.0.1:{port}/",
                    websocket_handshake_timeout=timeout), timeout + 4)
            elapsed = loop.time() - started
            # Bounded per attempt it would take delay + timeout = 1.8 s.
            assert elapsed < timeout + 0.5, elapsed
            await wf(silent.accepted.wait(), 1)
        finally:
            server.close()


@pytest.mark.parametrize("afn", AFN_PARAMS)
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_tiny_timeout_raises_timeout_error(tls, afn, secure):
    # As picows' own test: an unreasonably small timeout ends in
    # asyncio.TimeoutError (before, the 101 could win the race).
    server_ctx, client_ctx = tls
    scheme, ssl_kwargs = ("wss", {"ssl_context": client_ctx}) if secure else ("ws", {})
    async with ws_server(ssl=server_ctx if secure else None, use_aiofastnet=afn) as srv:
        for _ in range(3):
            with pytest.raises(asyncio.TimeoutError):
                await wf(picows.ws_connect(RecordingListener, f"{scheme}://127.0.0.1:{srv.port}/",
                                           use_aiofastnet=afn, websocket_handshake_timeout=0.00001,
                                           **ssl_kwargs))


async def test_connect_within_the_timeout_still_works(tls):
    server_ctx, client_ctx = tls
    async with ws_server(ssl=server_ctx) as srv:
        transport, listener = await wf(picows.ws_connect(
            RecordingListener, f"wss://127.0.0.1:{srv.port}/", ssl_context=client_ctx,
            websocket_handshake_timeout=2))
        # The deadline is gone once connected: the connection outlives it.
        await asyncio.sleep(0)
        assert not transport.is_disconnected
        transport.disconnect(False)
        await wf(transport.wait_disconnected())


# -----------------------------------------------------------------------------
# Server side: the TLS handshake
# -----------------------------------------------------------------------------

async def _wait_hang_up(reader, timeout):
    """Read until EOF/reset; returns the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    with contextlib.suppress(ConnectionError):
        while await asyncio.wait_for(reader.read(65536), timeout):
            pass
    return loop.time() - started


@pytest.mark.parametrize("afn", AFN_PARAMS)
@pytest.mark.parametrize("sends", [b"", b"\x16\x03\x01"])      # nothing / half a record
async def test_server_drops_client_that_never_completes_tls(tls, afn, sends):
    server_ctx, _ = tls
    async with ws_server(ssl=server_ctx, use_aiofastnet=afn,
                         websocket_handshake_timeout=TIMEOUT) as srv:
        reader, writer = await wf(asyncio.open_connection("127.0.0.1", srv.port))
        try:
            if sends:
                writer.write(sends)
            # Before, asyncio's 60 s ssl_handshake_timeout applied: this
            # read would time out instead of seeing the server hang up.
            elapsed = await _wait_hang_up(reader, TIMEOUT + SLACK + 1)
            assert elapsed < TIMEOUT + SLACK
        finally:
            writer.transport.abort()


async def test_server_keeps_an_explicit_ssl_handshake_timeout(tls):
    server_ctx, _ = tls
    async with ws_server(ssl=server_ctx, websocket_handshake_timeout=TIMEOUT,
                         ssl_handshake_timeout=30) as srv:
        reader, writer = await wf(asyncio.open_connection("127.0.0.1", srv.port))
        try:
            # The caller's 30 s wins: still connected well after our timeout.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(1), TIMEOUT + 0.6)
        finally:
            writer.transport.abort()
