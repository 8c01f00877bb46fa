"""picows_like.websockets specifics: what is not (yet) supported, flow control
on the core's transport, cancellation guarantees, the server's handshake
path, the reconnect policy, and picows_like.reconnect (callback API)."""
import asyncio
import sys
import http
import itertools
import logging
import os

import pytest

from helpers import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawConn,
                     RawServer, build_frame, close_payload, wf)

import picows_like
import picows_like.websockets as pws
from picows_like._frame import make_test_frame
from picows_like.reconnect import WSReconnectingClient, backoff, ws_connect_forever
from picows_like.websockets.asyncio.connection import Connection


def spawn(awaitable):
    async def run():
        return await awaitable
    return asyncio.create_task(run())


def fast_reconnect():
    return itertools.repeat(0.02)


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def serve(handler=echo, **kwargs):
    server = await pws.serve(handler, "127.0.0.1", 0, **kwargs)
    return server, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def raw_client(lib_kwargs=None, url=None, raw=None):
    """Connect a pws client to `raw`, do the handshake: (ws, raw conn)."""
    task = spawn(pws.connect(raw.url(), **(lib_kwargs or {})))
    conn = await raw.accept()
    await conn.server_handshake()
    return await wf(task), conn


# -- unsupported features ----------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    ({"extensions": [object()]}, "extensions"),
    ({"proxy_ssl_handshake_timeout": 1}, "proxy_ssl_handshake_timeout"),
])
def test_connect_unsupported_features(kwargs, name):
    with pytest.raises(NotImplementedError, match=name):
        pws.connect("ws://127.0.0.1:1/", **kwargs)


@pytest.mark.parametrize("kwargs, name", [
    ({"extensions": [object()]}, "extensions"),
])
def test_serve_unsupported_features(kwargs, name):
    with pytest.raises(NotImplementedError, match=name):
        pws.serve(echo, "127.0.0.1", 0, **kwargs)


def test_route_is_not_supported():
    with pytest.raises(NotImplementedError, match="route"):
        pws.route(None, "127.0.0.1", 0)
    with pytest.raises(NotImplementedError, match="unix_route"):
        pws.unix_route(None, "/tmp/x.sock")


def test_bad_compression_value():
    with pytest.raises(ValueError):
        pws.connect("ws://127.0.0.1:1/", compression="brotli")


async def test_defaults_work_without_compression_and_proxy():
    server, url = await serve()
    try:
        async with pws.connect(url, compression=None, proxy=None) as ws:
            assert ws.subprotocol is None
            assert "Sec-WebSocket-Extensions" not in ws.request.headers
            await ws.send("x")
            assert await wf(ws.recv()) == "x"
    finally:
        server.close()
        await wf(server.wait_closed())


# -- recv(): cancellation, fragments, streaming -------------------------------------

async def test_cancelled_recv_after_delivery_keeps_message():
    """The message arrives, recv() is cancelled before it resumes: the
    message must stay queued for the next recv()."""
    server, url = await serve(handler=lambda ws: ws.wait_closed())
    try:
        async with pws.connect(url) as ws:
            task = asyncio.create_task(ws.recv())
            await asyncio.sleep(0.01)               # recv() is waiting
            ws.on_ws_frame(ws.ws_transport, make_test_frame(picows_like.WSMsgType.BINARY, b"m1"))
            task.cancel()                           # before the task resumes
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await wf(ws.recv()) == b"m1"
            # Same with a complete fragmented message.
            task = asyncio.create_task(ws.recv())
            await asyncio.sleep(0.01)
            ws.on_ws_frame(ws.ws_transport, make_test_frame(picows_like.WSMsgType.TEXT, b"a",
                                                            fin=False))
            await asyncio.sleep(0.01)
            assert not task.done()                  # incomplete: still waiting
            ws.on_ws_frame(ws.ws_transport, make_test_frame(picows_like.WSMsgType.CONTINUATION,
                                                            b"b", fin=True))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await wf(ws.recv()) == "ab"
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_recv_cancel_storm_raw_peer():
    async with RawServer() as raw:
        ws, conn = await raw_client(raw=raw)
        count = 500

        async def produce():
            for i in range(count):
                conn.write(build_frame(OP_TEXT, str(i).encode()))
                if i % 5 == 0:
                    await conn.drain()
                    await asyncio.sleep(0)
            await conn.drain()

        producer = asyncio.create_task(produce())
        received = []
        while len(received) < count:
            try:
                received.append(await asyncio.wait_for(ws.recv(), 0.0002))
            except asyncio.TimeoutError:
                pass
        await producer
        assert received == [str(i) for i in range(count)]
        conn.abort()


async def test_fragmented_reassembly_with_interleaved_control_frames():
    async with RawServer() as raw:
        ws, conn = await raw_client(raw=raw)
        conn.write(build_frame(OP_BINARY, b"part1-", fin=False))
        conn.write(build_frame(OP_PING, b"in-between"))
        conn.write(build_frame(OP_CONT, b"part2-", fin=False))
        conn.write(build_frame(OP_PONG, b"unsolicited"))
        conn.write(build_frame(OP_CONT, b"part3", fin=True))
        await conn.drain()
        assert await wf(ws.recv()) == b"part1-part2-part3"
        pong = await conn.read_frame()
        assert (pong.opcode, pong.payload) == (OP_PONG, b"in-between")
        conn.abort()


async def test_recv_streaming_yields_before_message_is_complete():
    async with RawServer() as raw:
        ws, conn = await raw_client(raw=raw)
        conn.write(build_frame(OP_TEXT, "fïrst ".encode(), fin=False))
        await conn.drain()
        stream = ws.recv_streaming()
        assert await wf(stream.__anext__()) == "fïrst "     # the rest is not sent yet
        conn.write(build_frame(OP_CONT, b"second", fin=True))
        await conn.drain()
        assert [p async for p in stream] == ["second"]
        conn.write(build_frame(OP_TEXT, b"next"))
        await conn.drain()
        assert await wf(ws.recv()) == "next"
        conn.abort()


async def test_fragmented_message_over_max_size_closes_1009():
    async with RawServer() as raw:
        ws, conn = await raw_client({"max_size": 10}, raw=raw)
        conn.write(build_frame(OP_BINARY, b"123456", fin=False))
        conn.write(build_frame(OP_CONT, b"789012", fin=True))
        await conn.drain()
        assert await conn.read_close_code() == 1009
        conn.shut_write()       # a server closes TCP first; the client waits for it
        with pytest.raises(pws.ConnectionClosedError) as info:
            await wf(ws.recv())
        assert info.value.sent.code == 1009
        conn.abort()


async def test_max_size_tuple_limits_fragments_and_messages():
    async with RawServer() as raw:
        ws, conn = await raw_client({"max_size": (20, 8)}, raw=raw)
        conn.write(build_frame(OP_BINARY, b"1234567", fin=False))
        conn.write(build_frame(OP_CONT, b"1234567", fin=True))
        await conn.drain()
        assert await wf(ws.recv()) == b"12345671234567"
        conn.write(build_frame(OP_BINARY, b"123456789"))        # fragment > 8
        await conn.drain()
        assert await conn.read_close_code() == 1009
        conn.abort()


async def test_peer_close_details():
    async with RawServer() as raw:
        ws, conn = await raw_client(raw=raw)
        conn.write(build_frame(OP_CLOSE, close_payload(1001, "going".encode())))
        await conn.drain()
        echo_close = (await conn.read_until_close())[1]
        assert echo_close.close_code == 1001 and echo_close.close_reason == b"going"
        conn.close()
        with pytest.raises(pws.ConnectionClosedOK) as info:
            await wf(ws.recv())
        exc = info.value
        assert exc.rcvd.code == pws.CloseCode.GOING_AWAY and exc.rcvd.reason == "going"
        assert exc.sent.code == 1001 and exc.rcvd_then_sent is True
        assert str(exc) == "received 1001 (going away) going; then sent 1001 (going away) going"
        assert (ws.close_code, ws.close_reason) == (1001, "going")


async def test_empty_close_frame_is_1005():
    async with RawServer() as raw:
        ws, conn = await raw_client(raw=raw)
        conn.write(build_frame(OP_CLOSE, b""))
        await conn.drain()
        await conn.read_until_close()
        conn.close()
        with pytest.raises(pws.ConnectionClosedOK) as info:
            await wf(ws.recv())
        assert info.value.rcvd.code == 1005
        assert ws.close_code == 1005


# -- flow control ---------------------------------------------------------------------

async def test_max_queue_pauses_and_resumes_reading():
    async with RawServer() as raw:
        ws, conn = await raw_client({"max_queue": (4, 1)}, raw=raw)
        for i in range(50):
            conn.write(build_frame(OP_BINARY, bytes([i]) * 100))
        await conn.drain()
        for _ in range(100):
            if not ws.transport.is_reading():
                break
            await asyncio.sleep(0.01)
        assert not ws.transport.is_reading()
        assert len(ws._assembler) >= 5
        received = [await wf(ws.recv()) for _ in range(50)]
        assert received == [bytes([i]) * 100 for i in range(50)]
        assert ws.transport.is_reading()
        conn.abort()


async def test_close_while_reading_is_paused_does_not_hang():
    async with RawServer() as raw:
        ws, conn = await raw_client({"max_queue": 1, "close_timeout": 2}, raw=raw)
        for i in range(20):
            conn.write(build_frame(OP_TEXT, b"x" * 1000))
        await conn.drain()
        await asyncio.sleep(0.05)
        closing = asyncio.create_task(ws.close())
        _, close = await conn.read_until_close()
        assert close.close_code == 1000
        conn.write(build_frame(OP_CLOSE, close_payload(1000)))
        await conn.drain()
        conn.close()
        await wf(closing, 1.5)
        assert ws.close_code == 1000


async def test_write_limit_makes_send_wait_for_drain():
    async with RawServer() as raw:
        ws, conn = await raw_client({"write_limit": 64 * 1024}, raw=raw)
        conn.writer.transport.pause_reading()        # the peer stops reading
        big = os.urandom(32 * 1024 * 1024)           # more than the socket buffers
        sender = asyncio.create_task(ws.send(big))
        await asyncio.sleep(0.2)
        assert not sender.done()
        assert ws._paused
        conn.writer.transport.resume_reading()
        frame = await conn.read_frame(timeout=5)     # now it reads
        assert frame.payload == big
        await wf(sender)
        conn.abort()


async def test_send_waits_for_fragmented_send_in_progress():
    server, url = await serve()
    try:
        async with pws.connect(url) as ws:
            gate = asyncio.Event()

            async def chunks():
                yield "a"
                await gate.wait()
                yield "b"

            fragmented = asyncio.create_task(ws.send(chunks()))
            await asyncio.sleep(0.02)
            single = asyncio.create_task(ws.send("single"))
            await asyncio.sleep(0.02)
            assert not single.done()
            gate.set()
            await wf(fragmented)
            await wf(single)
            assert await wf(ws.recv()) == "ab"
            assert await wf(ws.recv()) == "single"
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_close_during_fragmented_send_is_1011():
    server, url = await serve(handler=lambda ws: ws.wait_closed())
    try:
        ws = await pws.connect(url)
        gate = asyncio.Event()

        async def chunks():
            yield b"a"
            await gate.wait()
            yield b"b"

        fragmented = asyncio.create_task(ws.send(chunks()))
        await asyncio.sleep(0.02)
        await wf(ws.close())
        assert ws.close_code == 1011
        gate.set()
        with pytest.raises(pws.ConnectionClosed):
            await wf(fragmented)
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_broadcast_raise_exceptions():
    server, url = await serve(handler=lambda ws: ws.wait_closed())
    try:
        async with pws.connect(url) as ws:
            gate = asyncio.Event()

            async def chunks():
                yield b"a"
                await gate.wait()

            fragmented = asyncio.create_task(ws.send(chunks()))
            await asyncio.sleep(0.02)
            if sys.version_info >= (3, 11):
                with pytest.raises(ExceptionGroup) as info:  # noqa: F821 (3.11+)
                    pws.broadcast([ws], "x", raise_exceptions=True)
                assert "skipped broadcast" in str(info.value)
            else:       # as websockets: no ExceptionGroup, no raise_exceptions
                with pytest.raises(ValueError, match="requires at least Python 3.11"):
                    pws.broadcast([ws], "x", raise_exceptions=True)
            pws.broadcast([ws], "x")                 # logged, not raised
            gate.set()
            await wf(fragmented)
            with pytest.raises(TypeError):
                pws.broadcast([ws], 42)
    finally:
        server.close()
        await wf(server.wait_closed())


# -- server: handshake path -------------------------------------------------------------

@pytest.mark.parametrize("use_aiofastnet", [None, False])
async def test_server_transports(use_aiofastnet):
    async def process_request(connection, request):
        assert connection.state is pws.State.CONNECTING
        await asyncio.sleep(0.01)
        return None

    for hooks in ({}, {"process_request": process_request}):
        server, url = await serve(use_aiofastnet=use_aiofastnet, **hooks)
        try:
            async with pws.connect(url, use_aiofastnet=use_aiofastnet) as ws:
                for size in (10, 70000, 3 * 1024 * 1024 // 4):
                    await ws.send(b"z" * size)
                    assert await wf(ws.recv()) == b"z" * size
        finally:
            server.close()
            await wf(server.wait_closed())


@pytest.mark.parametrize("hook", [False, True])
async def test_frames_sent_with_the_request_are_kept(hook):
    async def process_request(connection, request):
        await asyncio.sleep(0.05)           # the early frame waits in the core's buffer

    server, url = await serve(**({"process_request": process_request} if hook else {}))
    try:
        port = int(url.rsplit(":", 1)[1])
        conn = await RawConn.open(port)
        from helpers import build_request, new_key
        key = new_key()
        await conn.send(build_request(key=key) +
                        build_frame(OP_TEXT, b"early", mask=True))
        response = await conn.read_response()
        assert response.status == 101
        frame = await conn.read_frame()
        assert frame.payload == b"early"
        conn.abort()
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_pending_handshake_gets_503_when_server_closes():
    server, url = await serve()
    port = int(url.rsplit(":", 1)[1])
    conn = await RawConn.open(port)
    await asyncio.sleep(0.02)
    server.close()
    await asyncio.sleep(0.02)
    from helpers import build_request
    await conn.send(build_request())
    response = await conn.read_response()
    assert response.status == 503
    conn.abort()
    await wf(server.wait_closed())


async def test_server_open_timeout_aborts_silent_clients():
    server, url = await serve(open_timeout=0.1)
    try:
        conn = await RawConn.open(int(url.rsplit(":", 1)[1]))
        assert await conn.read_to_eof(timeout=2) == b""
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_client_gone_during_async_process_request():
    started = asyncio.Event()

    async def process_request(connection, request):
        started.set()
        await asyncio.sleep(0.1)

    server, url = await serve(process_request=process_request)
    try:
        conn = await RawConn.open(int(url.rsplit(":", 1)[1]))
        from helpers import build_request
        await conn.send(build_request())
        await wf(started.wait())
        conn.abort()
        await asyncio.sleep(0.15)
        assert not server.connections
        async with pws.connect(url) as ws:        # the server is fine
            await ws.send("ok")
            assert await wf(ws.recv()) == "ok"
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_rejected_connection_is_closed():
    rejected = asyncio.get_running_loop().create_future()

    def process_request(connection, request):
        rejected.set_result(connection)
        return connection.respond(http.HTTPStatus.FORBIDDEN, "no\n")

    server, url = await serve(process_request=process_request)
    try:
        with pytest.raises(pws.InvalidStatus):
            await wf(pws.connect(url))
        connection = await wf(rejected)
        await wf(connection.wait_closed())
        assert connection.state is pws.State.CLOSED
        assert connection.response.status_code == 403
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_process_response_replaces_response():
    def process_response(connection, request, response):
        assert response.status_code == 101
        assert "Sec-WebSocket-Accept" in response.headers
        if request.path == "/teapot":
            return connection.respond(http.HTTPStatus.IM_A_TEAPOT, "tea\n")
        return None

    server, url = await serve(process_response=process_response)
    try:
        with pytest.raises(pws.InvalidStatus) as info:
            await wf(pws.connect(url + "/teapot"))
        assert info.value.response.status_code == 418
        assert info.value.response.body == b"tea\n"
        assert "418" in str(info.value)
        async with pws.connect(url + "/fine"):
            pass
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_create_connection_subclasses():
    class MyServerConnection(pws.ServerConnection):
        def hello(self):
            return "server hello"

    class MyClientConnection(pws.ClientConnection):
        pass

    async def handler(ws):
        assert isinstance(ws, MyServerConnection)
        ws.custom = "attributes allowed"
        await ws.send(ws.hello())

    server, url = await serve(handler, create_connection=MyServerConnection)
    try:
        async with pws.connect(url, create_connection=MyClientConnection) as ws:
            assert isinstance(ws, MyClientConnection)
            assert await wf(ws.recv()) == "server hello"
            ws.anything = 1
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_connect_with_sock_and_host_override():
    import socket
    server, url = await serve()
    port = int(url.rsplit(":", 1)[1])
    try:
        sock = socket.create_connection(("127.0.0.1", port))
        async with pws.connect("ws://example.invalid/", sock=sock) as ws:
            assert ws.request.headers["Host"] == "example.invalid"
            await ws.send("via sock")
            assert await wf(ws.recv()) == "via sock"
        async with pws.connect("ws://other.invalid:9/", host="127.0.0.1", port=port) as ws:
            assert ws.request.headers["Host"] == "other.invalid:9"
            await ws.send("via host/port")
            assert await wf(ws.recv()) == "via host/port"
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_handshake_errors_are_websockets_exceptions():
    async with RawServer() as raw:
        task = spawn(pws.connect(raw.url()))
        conn = await raw.accept()
        await conn.read_request()
        await conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        b"Connection: Upgrade\r\nSec-WebSocket-Accept: bad\r\n\r\n")
        with pytest.raises(pws.InvalidHeader) as info:
            await wf(task)
        assert info.value.name == "Sec-WebSocket-Accept"
    async with RawServer() as raw:
        task = spawn(pws.connect(raw.url()))
        conn = await raw.accept()
        await conn.read_request()
        conn.abort()
        with pytest.raises(pws.InvalidMessage) as info:
            await wf(task)
        assert isinstance(info.value.__cause__, EOFError)       # retryable
        assert pws.process_exception(info.value) is None


# -- reconnect policy of `async for ws in connect(...)` -------------------------------

async def test_async_for_backs_off_after_going_away_codes():
    closes = iter([1012, 1000, 1001, 1000])
    delays_used = []

    def delays():
        for d in itertools.count():
            delays_used.append(d)
            yield 0.01

    async def handler(ws):
        await ws.close(next(closes))

    server, url = await serve(handler)
    try:
        codes = []
        async for ws in pws.connect(url, reconnect_delays=delays):
            await wf(ws.wait_closed())
            codes.append(ws.close_code)
            if len(codes) == 4:
                break
        assert codes == [1012, 1000, 1001, 1000]
        # one backoff delay after 1012, none after 1000, a fresh one after 1001
        assert delays_used == [0, 0]
    finally:
        server.close()
        await wf(server.wait_closed())


def test_backoff_sequence():
    gen = backoff(initial_delay=1.0, min_delay=2.0, max_delay=10.0, factor=2.0)
    values = [next(gen) for _ in range(8)]
    assert 0 <= values[0] < 1.0
    assert 1.8 <= values[1] <= 2.2 and 3.6 <= values[2] <= 4.4
    assert all(9.0 <= v <= 11.0 for v in values[4:])
    gen = pws.backoff()
    first = next(gen)
    assert 0 <= first < 5


# -- picows_like.reconnect: the callback API helper ---------------------------------

class CountingListener(picows_like.WSListener):
    instances = []

    def __init__(self):
        self.transport = None
        self.messages = []
        CountingListener.instances.append(self)

    def on_ws_connected(self, transport):
        self.transport = transport

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == picows_like.WSMsgType.TEXT:
            self.messages.append(frame.get_payload_as_utf8_text())


async def test_ws_connect_forever_reconnects_and_stops():
    CountingListener.instances = []
    connected = asyncio.Queue()

    async def handler(ws):
        await ws.send("hello")
        if ws.request.path == "/drop":
            ws.transport.abort()                 # network failure: no CLOSE
        await ws.wait_closed()

    server, url = await serve(handler)
    try:
        feed = ws_connect_forever(
            CountingListener, url + "/drop", reconnect_delays=fast_reconnect,
            on_connected=lambda transport, listener: connected.put_nowait(listener))
        assert isinstance(feed, WSReconnectingClient)
        first = await wf(connected.get())
        second = await wf(connected.get())
        assert first is not second
        assert feed.connect_count >= 2
        await wf(feed.stop())
        assert not feed.is_running
        count = feed.connect_count
        await asyncio.sleep(0.1)
        assert feed.connect_count == count
        with pytest.raises(RuntimeError):
            await wf(feed.wait_connected())
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_ws_connect_forever_waits_for_server_and_closes_cleanly():
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    closed = asyncio.get_running_loop().create_future()

    async def handler(ws):
        await ws.wait_closed()
        closed.set_result(ws.close_code)

    async with ws_connect_forever(CountingListener, f"ws://127.0.0.1:{port}/",
                                  reconnect_delays=fast_reconnect) as feed:
        await asyncio.sleep(0.1)
        assert feed.transport is None and isinstance(feed.last_error, OSError)
        server = await pws.serve(handler, "127.0.0.1", port)
        try:
            transport, listener = await wf(feed.wait_connected())
            assert isinstance(listener, CountingListener)
            await wf(feed.stop(code=1001, reason="done"))
            assert await wf(closed) == 1001
        finally:
            server.close()
            await wf(server.wait_closed())


async def test_ws_connect_forever_gives_up_on_fatal_errors():
    def process_request(connection, request):
        return connection.respond(http.HTTPStatus.NOT_FOUND, "no\n")

    server, url = await serve(process_request=process_request)
    try:
        feed = ws_connect_forever(CountingListener, url, reconnect_delays=fast_reconnect)
        with pytest.raises(picows_like.WSInvalidStatusError):
            await wf(feed.wait_connected())
        with pytest.raises(picows_like.WSInvalidStatusError):
            await wf(feed.wait_stopped())
        await wf(feed.stop())
    finally:
        server.close()
        await wf(server.wait_closed())


async def test_ws_connect_forever_backs_off_after_service_restart():
    delays_used = []

    def delays():
        while True:
            delays_used.append(1)
            yield 0.01

    async def handler(ws):
        await ws.close(1012)

    server, url = await serve(handler)
    try:
        feed = ws_connect_forever(CountingListener, url, reconnect_delays=delays,
                                  stable_after=0.0)
        for _ in range(200):
            if feed.connect_count >= 3:
                break
            await asyncio.sleep(0.01)
        assert feed.connect_count >= 3 and len(delays_used) >= 2
        await wf(feed.stop())
    finally:
        server.close()
        await wf(server.wait_closed())


# -- data structures ----------------------------------------------------------------

def test_connection_is_a_core_listener():
    assert issubclass(pws.ClientConnection, picows_like.WSListener)
    assert issubclass(pws.ServerConnection, Connection)


def test_request_response_conversion():
    from multidict import CIMultiDict
    core_request = picows_like.WSUpgradeRequest(b"GET", b"/a?b=1", b"HTTP/1.1",
                                                CIMultiDict([("Host", "h"), ("X", "1")]))
    request = pws.Request.from_core(core_request)
    assert request.path == "/a?b=1" and request.headers["host"] == "h"
    response = pws.Response(404, "Not Found", pws.Headers([("X-A", "1")]), b"body")
    core = response.to_core()
    assert int(core.status) == 404 and core.body == b"body" and core.headers["X-A"] == "1"


def test_exception_strings():
    assert str(pws.InvalidURI("x://", "bad")) == "x:// isn't a valid URI: bad"
    assert str(pws.InvalidHeader("Origin")) == "missing Origin header"
    assert str(pws.PayloadTooBig(10, 5)) == "frame with 10 bytes exceeds limit of 5 bytes"
    closed = pws.ConnectionClosedError(pws.Close(1011, "x"), None)
    assert str(closed) == "received 1011 (internal error) x; no close frame sent"


def test_logging_does_not_crash_with_custom_logger(caplog):
    logger = logging.getLogger("custom.ws")
    conn = pws.connect("ws://127.0.0.1:1/", logger=logger)
    conn._log_info("hello %s", "world")


# -- TLS ----------------------------------------------------------------------------------

def _tls_contexts():
    import ssl
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


@pytest.mark.parametrize("use_aiofastnet", [None, False])
async def test_tls_both_ways(use_aiofastnet):
    import websockets as reference
    server_ctx, client_ctx = _tls_contexts()

    async def process_request(connection, request):
        await asyncio.sleep(0)
        return None

    for hooks in ({}, {"process_request": process_request}):
        server = await pws.serve(echo, "127.0.0.1", 0, ssl=server_ctx,
                                 use_aiofastnet=use_aiofastnet, **hooks)
        port = server.sockets[0].getsockname()[1]
        try:
            for lib in (pws, reference):
                kwargs = {"use_aiofastnet": use_aiofastnet} if lib is pws else {}
                async with lib.connect(f"wss://localhost:{port}/tls", ssl=client_ctx,
                                       **kwargs) as ws:
                    for size in (5, 200_000):
                        await ws.send("s" * size)
                        assert await wf(ws.recv()) == "s" * size
        finally:
            server.close()
            await wf(server.wait_closed())
    # our client against the reference server
    async with reference.serve(echo, "127.0.0.1", 0, ssl=server_ctx) as ref_server:
        port = ref_server.sockets[0].getsockname()[1]
        async with pws.connect(f"wss://localhost:{port}/", ssl=client_ctx) as ws:
            await ws.send(b"tls")
            assert await wf(ws.recv()) == b"tls"
