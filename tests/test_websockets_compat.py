"""The websockets.asyncio API, tested against websockets *and* picows_like.websockets.

Every test here is written against the public websockets API only (the
``lib`` object is ``websockets`` or ``picows_like.websockets``), so the same
code runs unchanged against both libraries:

* ``lib``:                 tests that need one library (both ends or no peer);
* ``server_lib`` x ``client_lib``: client/server tests, run for every pair,
  which is also the interop evidence (our server + websockets client,
  websockets server + our client).

Each test additionally runs on the asyncio and uvloop event loops (conftest).
Raw-socket peers (helpers.RawServer / RawConn) stand in where a misbehaving
peer is needed.
"""
import asyncio
import contextlib
import http
import itertools
import os
import re
import socket
import tempfile

import pytest

from helpers import OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT, RawConn, RawServer, build_frame, wf

import picows_like.websockets
import websockets

LIBS = {"websockets": websockets, "picows_like": picows_like.websockets}
WEBSOCKETS_VERSION = tuple(int(part) for part in websockets.version.version.split(".")[:2])


def needs_websockets(version, *libs):
    """Skip when one of `libs` is the real websockets, older than `version`: Python 3.9
    gets websockets 15 and 3.10 gets 16 (their last releases there), and some tests
    use behaviour of later releases.  picows_like.websockets is always tested."""
    if WEBSOCKETS_VERSION < version and any(lib is websockets for lib in libs):
        pytest.skip(f"websockets {websockets.version.version} installed; this needs "
                    f">= {'.'.join(map(str, version))}")


@pytest.fixture(params=list(LIBS))
def lib(request):
    return LIBS[request.param]


@pytest.fixture(params=list(LIBS))
def server_lib(request):
    return LIBS[request.param]


@pytest.fixture(params=list(LIBS))
def client_lib(request):
    return LIBS[request.param]


def spawn(awaitable):
    """A task awaiting `awaitable` (connect objects are awaitables, not coroutines)."""
    async def run():
        return await awaitable
    return asyncio.create_task(run())


def fast_reconnect():
    return itertools.repeat(0.05)


@contextlib.asynccontextmanager
async def running(lib, handler, **kwargs):
    """A server of `lib` on an ephemeral port; yields (server, base url)."""
    async with lib.serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        yield server, f"ws://127.0.0.1:{port}"


async def echo(ws):
    async for message in ws:
        await ws.send(message)


# -- data transfer ---------------------------------------------------------------

async def test_echo_text_and_binary(server_lib, client_lib):
    async with running(server_lib, echo) as (_, url):
        async with client_lib.connect(url) as ws:
            assert ws.state is client_lib.State.OPEN
            await ws.send("héllo wörld")
            assert await wf(ws.recv()) == "héllo wörld"
            await ws.send(b"\x00\xffbinary")
            assert await wf(ws.recv()) == b"\x00\xffbinary"
            await ws.send(bytearray(b"ba"))
            assert await wf(ws.recv()) == b"ba"
            await ws.send(memoryview(b"mv"))
            assert await wf(ws.recv()) == b"mv"
            await ws.send("")
            assert await wf(ws.recv()) == ""
            await ws.send(b"")
            assert await wf(ws.recv()) == b""


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 1024 * 1024])
async def test_echo_sizes(server_lib, client_lib, size):
    async with running(server_lib, echo, max_size=2 ** 21) as (_, url):
        async with client_lib.connect(url, max_size=2 ** 21) as ws:
            payload = os.urandom(size)
            await ws.send(payload)
            assert await wf(ws.recv()) == payload
            text = "ü" * (size // 2)
            await ws.send(text)
            assert await wf(ws.recv()) == text


async def test_recv_decode_override(server_lib, client_lib):
    async with running(server_lib, echo) as (_, url):
        async with client_lib.connect(url) as ws:
            await ws.send("tëxt")
            assert await wf(ws.recv(decode=False)) == "tëxt".encode()
            await ws.send("tëxt".encode())
            assert await wf(ws.recv(decode=True)) == "tëxt"
            await ws.send("keep")
            assert await wf(ws.recv(decode=True)) == "keep"


async def test_send_text_flag(server_lib, client_lib):
    async with running(server_lib, echo) as (_, url):
        async with client_lib.connect(url) as ws:
            await ws.send(b"as text", text=True)
            assert await wf(ws.recv()) == "as text"
            await ws.send("as binary", text=False)
            assert await wf(ws.recv()) == b"as binary"


async def test_send_fragments_from_iterables(server_lib, client_lib):
    async def agen(items):
        for item in items:
            await asyncio.sleep(0)
            yield item

    async with running(server_lib, echo) as (_, url):
        async with client_lib.connect(url) as ws:
            await ws.send(["frag", "mënt", "ed"])
            assert await wf(ws.recv()) == "fragmënted"
            await ws.send([b"a", b"b", b"c"])
            assert await wf(ws.recv()) == b"abc"
            await ws.send(agen(["x", "y"]))
            assert await wf(ws.recv()) == "xy"
            await ws.send(agen([b"1", b"2", b"3"]))
            assert await wf(ws.recv()) == b"123"
            await ws.send([])                   # nothing is sent
            await ws.send("after")
            assert await wf(ws.recv()) == "after"


async def test_send_awaitable_works_with_asyncio_helpers(server_lib, client_lib):
    async with running(server_lib, echo) as (_, url):
        async with client_lib.connect(url) as ws:
            await asyncio.create_task(ws.send("task"))
            assert await wf(ws.recv()) == "task"
            await asyncio.wait_for(ws.send(b"wait_for"), 5)
            assert await wf(ws.recv()) == b"wait_for"
            await asyncio.gather(ws.send("g1"), ws.send("g2"))
            assert sorted([await wf(ws.recv()), await wf(ws.recv())]) == ["g1", "g2"]
            await ws.close()
            with pytest.raises(client_lib.ConnectionClosedOK):
                await ws.send("after close")
            with pytest.raises(client_lib.ConnectionClosedOK):
                await asyncio.create_task(ws.send("after close"))


async def test_send_rejects_bad_types(lib):
    async with running(lib, echo) as (_, url):
        async with lib.connect(url) as ws:
            with pytest.raises(TypeError):
                await ws.send({"a": 1})
            with pytest.raises(TypeError):
                await ws.send(42)
            await ws.send("still open")
            assert await wf(ws.recv()) == "still open"


async def test_send_mixed_fragments_fails_connection(lib):
    async with running(lib, echo) as (_, url):
        async with lib.connect(url) as ws:
            with pytest.raises(TypeError):
                await ws.send(["text", b"bytes"])
            with pytest.raises(lib.ConnectionClosedError):
                await wf(ws.recv())


async def test_recv_streaming(server_lib, client_lib):
    async def handler(ws):
        await ws.recv()
        await ws.send(["stre", "äm", "ing"])
        await ws.send(b"single")
        await ws.wait_closed()

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url) as ws:
            await ws.send("go")
            parts = [p async for p in ws.recv_streaming()]
            assert "".join(parts) == "streäming"
            assert len(parts) >= 3
            assert all(isinstance(p, str) for p in parts)
            parts = [p async for p in ws.recv_streaming()]
            assert parts == [b"single"]


async def test_async_for_ends_on_normal_close(server_lib, client_lib):
    async def handler(ws):
        for i in range(5):
            await ws.send(f"m{i}")
        await ws.close()

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url) as ws:
            received = [m async for m in ws]
            assert received == [f"m{i}" for i in range(5)]
            assert ws.close_code == 1000


async def test_async_for_raises_on_error_close(server_lib, client_lib):
    async def handler(ws):
        await ws.send("one")
        await ws.close(1011, "boom")

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url) as ws:
            received = []
            with pytest.raises(client_lib.ConnectionClosedError) as info:
                async for m in ws:
                    received.append(m)
            assert received == ["one"]
            assert info.value.rcvd.code == 1011
            assert info.value.rcvd.reason == "boom"


async def test_handler_exception_closes_with_1011(server_lib, client_lib):
    async def handler(ws):
        await ws.recv()
        raise RuntimeError("handler bug")

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url) as ws:
            await ws.send("x")
            with pytest.raises(client_lib.ConnectionClosedError):
                await wf(ws.recv())
            assert ws.close_code == 1011


async def test_queued_messages_survive_close(server_lib, client_lib):
    async def handler(ws):
        for i in range(3):
            await ws.send(i * "x" + "!")
        await ws.close()

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url) as ws:
            await wf(ws.wait_closed())
            assert ws.state is client_lib.State.CLOSED
            assert [await wf(ws.recv()) for _ in range(3)] == ["!", "x!", "xx!"]
            with pytest.raises(client_lib.ConnectionClosedOK):
                await wf(ws.recv())


# -- closing ---------------------------------------------------------------------

async def test_close_code_and_reason_both_sides(server_lib, client_lib):
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        with contextlib.suppress(Exception):
            await ws.recv()
        await ws.wait_closed()
        seen.set_result((ws.close_code, ws.close_reason, ws.state))

    async with running(server_lib, handler) as (_, url):
        ws = await client_lib.connect(url)
        assert ws.close_code is None and ws.close_reason is None
        await ws.close(4000, "bye now")
        assert ws.state is client_lib.State.CLOSED
        assert ws.close_code == 4000 and ws.close_reason == "bye now"
        code, reason, state = await wf(seen)
        assert (code, reason) == (4000, "bye now")
        assert state is server_lib.State.CLOSED


async def test_operations_after_close(server_lib, client_lib):
    async with running(server_lib, echo) as (_, url):
        ws = await client_lib.connect(url)
        await ws.close()
        await ws.close()                    # idempotent
        await ws.wait_closed()
        with pytest.raises(client_lib.ConnectionClosedOK) as info:
            await wf(ws.recv())
        assert info.value.rcvd.code == 1000 and info.value.sent.code == 1000
        assert info.value.rcvd_then_sent is False
        with pytest.raises(client_lib.ConnectionClosedOK):
            await wf(ws.send("late"))
        with pytest.raises(client_lib.ConnectionClosedOK):
            await wf(ws.ping())
        with pytest.raises(client_lib.ConnectionClosed):
            await wf(ws.pong())


async def test_close_going_away_is_ok(server_lib, client_lib):
    async def handler(ws):
        await ws.close(1001)

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url) as ws:
            with pytest.raises(client_lib.ConnectionClosedOK):
                await wf(ws.recv())
            assert ws.close_code == 1001


async def test_context_manager_exit_with_exception_closes_1011(server_lib, client_lib):
    needs_websockets((17, 0), client_lib)          # closes with 1011, not 1000
    codes = asyncio.get_running_loop().create_future()

    async def handler(ws):
        await ws.wait_closed()
        codes.set_result(ws.close_code)

    async with running(server_lib, handler) as (_, url):
        with pytest.raises(ZeroDivisionError):
            async with client_lib.connect(url):
                1 / 0
        assert await wf(codes) == 1011


async def test_server_close_sends_1001_and_waits(server_lib, client_lib):
    handler_done = asyncio.Event()

    async def handler(ws):
        try:
            await ws.wait_closed()
        finally:
            handler_done.set()

    server = await server_lib.serve(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ws = await client_lib.connect(f"ws://127.0.0.1:{port}")
    await asyncio.sleep(0.05)
    server.close()
    await wf(server.wait_closed())
    assert handler_done.is_set()
    with pytest.raises(client_lib.ConnectionClosedOK):
        await wf(ws.recv())
    assert ws.close_code == 1001
    with pytest.raises(OSError):
        await wf(client_lib.connect(f"ws://127.0.0.1:{port}"))


async def test_server_close_with_custom_code(server_lib, client_lib):
    needs_websockets((16, 0), server_lib)          # Server.close(code=, reason=)
    async def handler(ws):
        await ws.wait_closed()

    async with running(server_lib, handler) as (server, url):
        async with client_lib.connect(url) as ws:
            await asyncio.sleep(0.02)
            server.close(code=1012, reason="restart")
            with pytest.raises(client_lib.ConnectionClosedError):
                await wf(ws.recv())
            assert (ws.close_code, ws.close_reason) == (1012, "restart")


async def test_server_close_keeping_connections(lib):
    async with running(lib, echo) as (server, url):
        async with lib.connect(url) as ws:
            server.close(close_connections=False)
            await asyncio.sleep(0.05)
            await ws.send("still")
            assert await wf(ws.recv()) == "still"
        await wf(server.wait_closed())


async def test_serve_forever_cancel(lib):
    needs_websockets((17, 0), lib)
    server = await lib.serve(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    task = asyncio.create_task(server.serve_forever())
    async with lib.connect(f"ws://127.0.0.1:{port}") as ws:
        await ws.send("a")
        assert await wf(ws.recv()) == "a"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await wf(task)
    await wf(server.wait_closed())
    assert not server.is_serving()


async def test_connections_property_and_broadcast(server_lib, client_lib):
    async def handler(ws):
        await ws.wait_closed()

    async with running(server_lib, handler) as (server, url):
        clients = [await client_lib.connect(url) for _ in range(3)]
        for _ in range(100):
            if len(server.connections) == 3:
                break
            await asyncio.sleep(0.01)
        assert len(server.connections) == 3
        server_lib.broadcast(server.connections, "to all")
        server_lib.broadcast(server.connections, b"bytes to all")
        for ws in clients:
            assert await wf(ws.recv()) == "to all"
            assert await wf(ws.recv()) == b"bytes to all"
        await clients[0].close()
        for _ in range(100):
            if len(server.connections) == 2:
                break
            await asyncio.sleep(0.01)
        server_lib.broadcast(server.connections, "to two")    # skips the closed one
        for ws in clients[1:]:
            assert await wf(ws.recv()) == "to two"
            await ws.close()


# -- ping / pong / latency ---------------------------------------------------------

async def test_ping_returns_awaitable_latency(server_lib, client_lib):
    async with running(server_lib, echo) as (_, url):
        async with client_lib.connect(url) as ws:
            assert ws.latency == 0
            waiter = await ws.ping()
            latency = await wf(waiter)
            assert isinstance(latency, float) and 0 <= latency < 3
            assert ws.latency == latency
            waiter = await ws.ping("custom")
            await wf(waiter)
            waiter = await ws.ping(b"bin")
            with pytest.raises(client_lib.ConcurrencyError):
                await ws.ping(b"bin")
            await wf(waiter)
            await ws.pong(b"unsolicited")
            await ws.send("alive")
            assert await wf(ws.recv()) == "alive"


async def test_pending_ping_fails_when_closed(lib):
    async with RawServer() as raw:
        task = spawn(lib.connect(raw.url(), ping_interval=None))
        conn = await raw.accept()
        await conn.server_handshake()
        ws = await wf(task)
        waiter = await ws.ping()
        conn.abort()
        with pytest.raises(lib.ConnectionClosed):
            await wf(waiter)
        assert ws.close_code == 1006


async def test_keepalive_updates_latency(server_lib, client_lib):
    async with running(server_lib, echo) as (_, url):
        async with client_lib.connect(url, ping_interval=0.05, ping_timeout=1) as ws:
            for _ in range(100):
                if ws.latency > 0:
                    break
                await asyncio.sleep(0.02)
            assert 0 < ws.latency < 1


async def test_keepalive_timeout_closes_1011(lib):
    async with RawServer() as raw:
        task = spawn(lib.connect(raw.url(), ping_interval=0.05, ping_timeout=0.1,
                                               close_timeout=0.2))
        conn = await raw.accept()
        await conn.server_handshake()
        ws = await wf(task)
        # The raw peer never answers the pings.
        with pytest.raises(lib.ConnectionClosedError) as info:
            await wf(ws.recv())
        assert info.value.sent is not None and info.value.sent.code == 1011
        conn.abort()


# -- receiving: cancellation, concurrency, flow control --------------------------

async def test_recv_cancellation_loses_nothing(server_lib, client_lib):
    async def handler(ws):
        await ws.recv()
        for i in range(200):
            await ws.send(str(i))
            if i % 7 == 0:
                await asyncio.sleep(0.001)
        await ws.wait_closed()

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url) as ws:
            await ws.send("start")
            received = []
            while len(received) < 200:
                try:
                    received.append(await asyncio.wait_for(ws.recv(), 0.0005))
                except asyncio.TimeoutError:
                    pass
            assert received == [str(i) for i in range(200)]


async def test_recv_cancelled_inside_a_coroutine_loses_nothing(server_lib, client_lib):
    """As above, but recv() is awaited inside the user's coroutine (so the
    cancellation is thrown through that coroutine into recv's awaitable)."""
    async def handler(ws):
        await ws.recv()
        for i in range(100):
            await ws.send(str(i))
            if i % 5 == 0:
                await asyncio.sleep(0.001)
        await ws.wait_closed()

    async def get(ws):
        return await ws.recv()

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url) as ws:
            await ws.send("start")
            received = []
            while len(received) < 100:
                task = asyncio.ensure_future(get(ws))
                await asyncio.sleep(0)
                if len(received) % 3 == 0:
                    task.cancel()
                try:
                    received.append(await wf(task))
                except asyncio.CancelledError:
                    pass
            assert received == [str(i) for i in range(100)]


async def test_recv_timeout_then_message(server_lib, client_lib):
    async def handler(ws):
        await ws.recv()
        await asyncio.sleep(0.2)
        await ws.send("late")
        await ws.wait_closed()

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url) as ws:
            await ws.send("go")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.05)
            assert await wf(ws.recv()) == "late"


async def test_concurrent_recv_is_an_error(server_lib, client_lib):
    async with running(server_lib, echo) as (_, url):
        async with client_lib.connect(url) as ws:
            first = asyncio.create_task(ws.recv())
            await asyncio.sleep(0.01)
            with pytest.raises(client_lib.ConcurrencyError):
                await ws.recv()
            await ws.send("for first")
            assert await wf(first) == "for first"


async def test_max_queue_flow_control_keeps_order(server_lib, client_lib):
    count = 300

    async def handler(ws):
        await ws.recv()
        for i in range(count):
            await ws.send(f"{i:04d}" * 256)
        await ws.wait_closed()

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url, max_queue=2) as ws:
            await ws.send("go")
            await asyncio.sleep(0.1)            # let the queue fill up and reading pause
            for i in range(count):
                assert await wf(ws.recv()) == f"{i:04d}" * 256


async def test_write_limit_many_large_messages(server_lib, client_lib):
    count, size = 40, 256 * 1024

    async def handler(ws):
        total = 0
        async for message in ws:
            total += len(message)
            if total == count * size:
                await ws.send(str(total))

    async with running(server_lib, handler, max_size=2 ** 20) as (_, url):
        async with client_lib.connect(url, write_limit=16 * 1024) as ws:
            payload = os.urandom(size)
            for _ in range(count):
                await ws.send(payload)
            assert await wf(ws.recv(), 10) == str(count * size)


# -- limits and protocol errors ------------------------------------------------------

async def test_max_size_closes_1009(server_lib, client_lib):
    result = asyncio.get_running_loop().create_future()

    async def handler(ws):
        try:
            await ws.recv()
        except Exception as exc:
            result.set_result(exc)

    async with running(server_lib, handler, max_size=1000) as (_, url):
        async with client_lib.connect(url) as ws:
            await ws.send(b"x" * 1001)
            with pytest.raises(client_lib.ConnectionClosedError):
                await wf(ws.recv())
            assert ws.close_code == 1009
        exc = await wf(result)
        assert isinstance(exc, server_lib.ConnectionClosedError)
        assert exc.sent.code == 1009


async def test_max_size_fragmented_message_closes_1009(server_lib, client_lib):
    async with running(server_lib, echo, max_size=1000) as (_, url):
        async with client_lib.connect(url) as ws:
            await ws.send([b"x" * 600, b"y" * 600])
            with pytest.raises(client_lib.ConnectionClosedError):
                await wf(ws.recv())
            assert ws.close_code == 1009


async def test_client_max_size(server_lib, client_lib):
    async with running(server_lib, echo) as (_, url):
        async with client_lib.connect(url, max_size=100) as ws:
            await ws.send("y" * 100)
            assert await wf(ws.recv()) == "y" * 100
            await ws.send("z" * 101)
            with pytest.raises(client_lib.ConnectionClosedError) as info:
                await wf(ws.recv())
            assert info.value.sent.code == 1009


async def test_invalid_utf8_from_peer_closes_1007(lib):
    async with RawServer() as raw:
        task = spawn(lib.connect(raw.url(), close_timeout=0.5))
        conn = await raw.accept()
        await conn.server_handshake()
        ws = await wf(task)
        conn.write(build_frame(OP_TEXT, b"ok"))
        conn.write(build_frame(OP_TEXT, b"\xc3\x28 invalid"))
        await conn.drain()
        assert await wf(ws.recv()) == "ok"
        with pytest.raises(lib.ConnectionClosedError) as info:
            await wf(ws.recv())
        assert info.value.sent.code == 1007
        conn.abort()


async def test_fragmented_text_split_multibyte(lib):
    async with RawServer() as raw:
        task = spawn(lib.connect(raw.url()))
        conn = await raw.accept()
        await conn.server_handshake()
        ws = await wf(task)
        data = "€uro".encode()
        conn.write(build_frame(OP_TEXT, data[:1], fin=False))
        conn.write(build_frame(OP_CONT, data[1:2], fin=False))
        conn.write(build_frame(OP_CONT, data[2:], fin=True))
        conn.write(build_frame(OP_BINARY, b"\x01", fin=False))
        conn.write(build_frame(OP_CONT, b"\x02", fin=True))
        await conn.drain()
        assert await wf(ws.recv()) == "€uro"
        assert await wf(ws.recv()) == b"\x01\x02"
        conn.write(build_frame(OP_CLOSE, b"\x03\xe8"))
        await conn.drain()
        assert await conn.read_close_code() == 1000
        conn.close()
        with pytest.raises(lib.ConnectionClosedOK):
            await wf(ws.recv())


async def test_close_timeout_when_peer_never_answers(lib):
    async with RawServer() as raw:
        task = spawn(lib.connect(raw.url(), close_timeout=0.2))
        conn = await raw.accept()
        await conn.server_handshake()
        ws = await wf(task)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await wf(ws.close())
        assert loop.time() - start < 2
        assert ws.state is lib.State.CLOSED
        assert ws.close_code == 1006
        conn.abort()


# -- handshake ------------------------------------------------------------------------

async def test_request_and_response_objects(server_lib, client_lib):
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        seen.set_result(ws.request)
        await ws.wait_closed()

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url + "/path/x?q=1&r=2",
                                      additional_headers={"X-Token": "abc"},
                                      user_agent_header="compat-test/1.0") as ws:
            request = await wf(seen)
            assert request.path == "/path/x?q=1&r=2"
            assert request.headers["X-Token"] == "abc"
            assert request.headers["x-token"] == "abc"
            assert request.headers["User-Agent"] == "compat-test/1.0"
            assert request.headers["Host"].startswith("127.0.0.1")
            assert ws.response.status_code == 101
            assert ws.response.headers["Upgrade"].lower() == "websocket"
            assert ws.request.path == "/path/x?q=1&r=2"
            assert ws.subprotocol is None
            assert ws.local_address[0] == "127.0.0.1"
            assert ws.remote_address[1] == int(url.rsplit(":", 1)[1])


# -- subprotocols -------------------------------------------------------------------

async def test_subprotocol_negotiated_server_order_wins(server_lib, client_lib):
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        seen.set_result(ws.subprotocol)
        await echo(ws)

    async with running(server_lib, handler, subprotocols=["chat.v2", "chat"]) as (_, url):
        async with client_lib.connect(url, subprotocols=["chat", "chat.v2"]) as ws:
            assert ws.subprotocol == "chat.v2"
            assert ws.response.headers["Sec-WebSocket-Protocol"] == "chat.v2"
            assert await wf(seen) == "chat.v2"
            await ws.send("over chat.v2")
            assert await wf(ws.recv()) == "over chat.v2"
        async with client_lib.connect(url, subprotocols=["chat"]) as ws:
            assert ws.subprotocol == "chat"


async def test_subprotocol_ignored_when_server_has_none(server_lib, client_lib):
    async with running(server_lib, echo) as (_, url):
        async with client_lib.connect(url, subprotocols=["chat"]) as ws:
            assert ws.subprotocol is None
            assert "Sec-WebSocket-Protocol" not in ws.response.headers


async def test_subprotocol_mismatch_is_400(server_lib, client_lib):
    async with running(server_lib, echo, subprotocols=["chat"]) as (_, url):
        for offer in (None, ["other"]):
            with pytest.raises(client_lib.InvalidStatus) as info:
                await wf(client_lib.connect(url, subprotocols=offer))
            assert info.value.response.status_code == 400


async def test_select_subprotocol(server_lib, client_lib):
    offers = []

    def select_subprotocol(connection, subprotocols):
        offers.append(list(subprotocols))
        return "b" if "b" in subprotocols else None

    async with running(server_lib, echo, select_subprotocol=select_subprotocol) as (_, url):
        async with client_lib.connect(url, subprotocols=["a", "b"]) as ws:
            assert ws.subprotocol == "b"
        async with client_lib.connect(url) as ws:
            assert ws.subprotocol is None
            await ws.send("no subprotocol")
            assert await wf(ws.recv()) == "no subprotocol"
    assert offers == [["a", "b"], []]


@pytest.mark.parametrize("with_hook", [False, True])
async def test_select_subprotocol_errors(server_lib, client_lib, with_hook):
    def select_subprotocol(connection, subprotocols):
        if "bug" in subprotocols:
            raise RuntimeError("bug in select_subprotocol")
        raise server_lib.NegotiationError("no thanks")

    hooks = {"process_request": lambda connection, request: None} if with_hook else {}
    async with running(server_lib, echo, select_subprotocol=select_subprotocol,
                       **hooks) as (_, url):
        with pytest.raises(client_lib.InvalidStatus) as info:
            await wf(client_lib.connect(url, subprotocols=["chat"]))
        assert info.value.response.status_code == 400
        with pytest.raises(client_lib.InvalidStatus) as info:
            await wf(client_lib.connect(url, subprotocols=["bug"]))
        assert info.value.response.status_code == 500


async def test_client_rejects_subprotocol_it_did_not_offer(server_lib, client_lib):
    async with running(server_lib, echo, select_subprotocol=lambda c, s: "rogue") as (_, url):
        with pytest.raises(client_lib.InvalidHandshake):
            await wf(client_lib.connect(url, subprotocols=["chat"]))


# -- compression (permessage-deflate) -------------------------------------------------

@contextlib.asynccontextmanager
async def counting_relay(url):
    """A TCP relay in front of `url`; yields (relay url, byte counts per
    direction) so that tests can see what went over the wire."""
    host, port = url.rsplit("/", 1)[-1].rsplit(":", 1)
    counts = {"up": 0, "down": 0}

    async def pipe(reader, writer, key):
        try:
            while data := await reader.read(65536):
                counts[key] += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    tasks = set()

    async def on_client(reader, writer):
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        tasks.add(asyncio.ensure_future(pipe(reader, up_writer, "up")))
        tasks.add(asyncio.ensure_future(pipe(up_reader, writer, "down")))

    relay = await asyncio.start_server(on_client, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{relay.sockets[0].getsockname()[1]}", counts
    finally:
        relay.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def compressible(size):
    words = [b"alpha", b"beta", b"gamma", b"delta", b"epsilon", b"zeta", b"eta"]
    out = bytearray()
    i = 0
    while len(out) < size:
        out += words[(i * 7 + i // 3) % len(words)] + b" "
        i += 1
    return bytes(out[:size])


async def test_compression_is_negotiated_by_default(server_lib, client_lib):
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        seen.set_result(ws.response.headers.get("Sec-WebSocket-Extensions"))
        await echo(ws)

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url) as ws:
            offer = ws.request.headers["Sec-WebSocket-Extensions"]
            assert offer.startswith("permessage-deflate")
            answer = ws.response.headers["Sec-WebSocket-Extensions"]
            assert answer.startswith("permessage-deflate")
            assert await wf(seen) == answer


async def test_compressed_messages_round_trip(server_lib, client_lib):
    async with running(server_lib, echo, max_size=2 ** 21) as (_, url):
        async with counting_relay(url) as (relay_url, counts):
            async with client_lib.connect(relay_url, max_size=2 ** 21) as ws:
                assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
                text = compressible(200_000).decode()
                binary = compressible(300_000)
                for _ in range(3):      # context takeover across messages
                    await ws.send(text)
                    assert await wf(ws.recv()) == text
                    await ws.send(binary)
                    assert await wf(ws.recv()) == binary
                await ws.send(["frag", "mented ", "téxt"])
                assert await wf(ws.recv()) == "fragmented téxt"
                await ws.send([binary[:1000], binary[1000:5000]])
                assert await wf(ws.recv()) == binary[:5000]
                random_bytes = os.urandom(10_000)
                await ws.send(random_bytes)
                assert await wf(ws.recv()) == random_bytes
                await ws.send("")
                assert await wf(ws.recv()) == ""
    # 1.5 MB of payload each way; compressed it is a small fraction of that.
    assert counts["up"] < 200_000, counts
    assert counts["down"] < 200_000, counts


@pytest.mark.parametrize("side", ["client", "server"])
async def test_compression_none_on_either_side_disables_it(server_lib, client_lib, side):
    server_kwargs = {"compression": None} if side == "server" else {}
    client_kwargs = {"compression": None} if side == "client" else {}
    async with running(server_lib, echo, **server_kwargs) as (_, url):
        async with counting_relay(url) as (relay_url, counts):
            async with client_lib.connect(relay_url, **client_kwargs) as ws:
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
                payload = compressible(100_000)
                await ws.send(payload)
                assert await wf(ws.recv()) == payload
    assert counts["up"] > 100_000 and counts["down"] > 100_000, counts


async def test_process_response_sees_negotiated_headers(server_lib, client_lib):
    seen = {}

    def process_response(connection, request, response):
        seen["extensions"] = response.headers.get("Sec-WebSocket-Extensions")
        seen["protocol"] = response.headers.get("Sec-WebSocket-Protocol")

    async with running(server_lib, echo, subprotocols=["v2"],
                       process_response=process_response) as (_, url):
        async with client_lib.connect(url, subprotocols=["v2"]) as ws:
            assert seen["protocol"] == "v2" == ws.subprotocol
            assert seen["extensions"] == ws.response.headers["Sec-WebSocket-Extensions"]
            assert seen["extensions"].startswith("permessage-deflate")


def test_unsupported_compression_value(lib):
    with pytest.raises(ValueError):
        lib.connect("ws://127.0.0.1:1/", compression="brotli")


async def test_compression_with_subprotocol_and_hooks(server_lib, client_lib):
    async def process_request(connection, request):
        await asyncio.sleep(0)
        return None

    async with running(server_lib, echo, subprotocols=["json"],
                       process_request=process_request) as (_, url):
        async with client_lib.connect(url, subprotocols=["json"]) as ws:
            assert ws.subprotocol == "json"
            assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
            payload = compressible(50_000).decode()
            await ws.send(payload)
            assert await wf(ws.recv()) == payload


async def test_additional_headers_as_pairs(server_lib, client_lib):
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        seen.set_result(ws.request.headers.get_all("X-Multi"))
        await ws.wait_closed()

    async with running(server_lib, handler) as (_, url):
        async with client_lib.connect(url, additional_headers=[("X-Multi", "1"),
                                                               ("X-Multi", "2")]):
            assert await wf(seen) == ["1", "2"]


async def test_process_request_rejects(server_lib, client_lib):
    def process_request(connection, request):
        if request.path == "/health":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if request.path != "/ok":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "forbidden\n")
        return None

    async with running(server_lib, echo, process_request=process_request) as (_, url):
        with pytest.raises(client_lib.InvalidStatus) as info:
            await wf(client_lib.connect(url + "/nope"))
        assert info.value.response.status_code == 403
        assert info.value.response.body == b"forbidden\n"
        assert isinstance(info.value, client_lib.InvalidHandshake)
        with pytest.raises(client_lib.InvalidStatus) as info:
            await wf(client_lib.connect(url + "/health"))
        assert info.value.response.status_code == 200
        async with client_lib.connect(url + "/ok") as ws:
            await ws.send("in")
            assert await wf(ws.recv()) == "in"


async def test_async_process_request_and_response(server_lib, client_lib):
    async def process_request(connection, request):
        await asyncio.sleep(0.01)
        if "X-Deny" in request.headers:
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "no\n")
        return None

    async def process_response(connection, request, response):
        await asyncio.sleep(0.01)
        response.headers["X-Server-Says"] = "hi"
        return None

    async with running(server_lib, echo, process_request=process_request,
                       process_response=process_response) as (_, url):
        async with client_lib.connect(url) as ws:
            assert ws.response.headers["X-Server-Says"] == "hi"
            await ws.send("x")
            assert await wf(ws.recv()) == "x"
        with pytest.raises(client_lib.InvalidStatus) as info:
            await wf(client_lib.connect(url, additional_headers={"X-Deny": "1"}))
        assert info.value.response.status_code == 401


async def test_addresses_known_in_process_request(server_lib, client_lib):
    seen = []

    async def process_request(connection, request):
        seen.append((connection.remote_address, connection.local_address))
        return None

    async with running(server_lib, echo, process_request=process_request) as (_, url):
        async with client_lib.connect(url) as ws:
            await ws.send("x")
            assert await wf(ws.recv()) == "x"
            remote, local = seen[0]
            assert tuple(remote[:2]) == tuple(ws.local_address[:2])
            assert tuple(local[:2]) == tuple(ws.remote_address[:2])


async def test_process_request_exception_is_500(server_lib, client_lib):
    def process_request(connection, request):
        raise ValueError("bug in process_request")

    async with running(server_lib, echo, process_request=process_request) as (_, url):
        with pytest.raises(client_lib.InvalidStatus) as info:
            await wf(client_lib.connect(url))
        assert info.value.response.status_code == 500


async def test_basic_auth(server_lib, client_lib):
    users = asyncio.Queue()

    async def handler(ws):
        users.put_nowait(ws.username)
        await ws.wait_closed()

    auth = server_lib.basic_auth(realm="test", credentials=[("alice", "s3cret"),
                                                            ("bob", "pw")])
    async with running(server_lib, handler, process_request=auth) as (_, url):
        host = url.split("//", 1)[1]
        async with client_lib.connect(f"ws://alice:s3cret@{host}"):
            assert await wf(users.get()) == "alice"
        async with client_lib.connect(url, additional_headers={
                "Authorization": "Basic Ym9iOnB3"}):          # bob:pw
            assert await wf(users.get()) == "bob"
        with pytest.raises(client_lib.InvalidStatus) as info:
            await wf(client_lib.connect(url))
        assert info.value.response.status_code == 401
        assert "Basic" in info.value.response.headers["WWW-Authenticate"]
        with pytest.raises(client_lib.InvalidStatus) as info:
            await wf(client_lib.connect(f"ws://alice:wrong@{host}"))
        assert info.value.response.status_code == 401


async def test_basic_auth_check_credentials_coroutine(lib):
    async def check(username, password):
        await asyncio.sleep(0.01)
        return password == username[::-1]

    async def handler(ws):
        await ws.send(ws.username)

    auth = lib.basic_auth(check_credentials=check)
    async with running(lib, handler, process_request=auth) as (_, url):
        host = url.split("//", 1)[1]
        async with lib.connect(f"ws://abc:cba@{host}") as ws:
            assert await wf(ws.recv()) == "abc"
        with pytest.raises(lib.InvalidStatus):
            await wf(lib.connect(f"ws://abc:abc@{host}"))
    with pytest.raises(ValueError):
        lib.basic_auth()


async def test_origins(server_lib, client_lib):
    origins = ["https://good.example", re.compile(r"https://[a-z]+\.trusted\.example"), None]
    async with running(server_lib, echo, origins=origins) as (_, url):
        async with client_lib.connect(url, origin="https://good.example") as ws:
            await ws.send("a")
            assert await wf(ws.recv()) == "a"
        async with client_lib.connect(url, origin="https://app.trusted.example"):
            pass
        async with client_lib.connect(url):                 # no Origin: None allowed
            pass
        with pytest.raises(client_lib.InvalidStatus) as info:
            await wf(client_lib.connect(url, origin="https://evil.example"))
        assert info.value.response.status_code == 403


async def test_server_header(server_lib, client_lib):
    async with running(server_lib, echo, server_header="compat-server") as (_, url):
        async with client_lib.connect(url) as ws:
            assert ws.response.headers["Server"] == "compat-server"


async def test_not_websocket_request_is_rejected(lib):
    async with running(lib, echo) as (_, url):
        port = int(url.rsplit(":", 1)[1])
        conn = await RawConn.open(port)
        await conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response = await conn.read_response()
        assert 400 <= response.status < 500
        conn.abort()


async def test_invalid_uri(lib):
    needs_websockets((17, 0), lib)                 # connect() checks the URI at once
    with pytest.raises(lib.InvalidURI):
        lib.connect("http://127.0.0.1/")
    with pytest.raises(lib.InvalidURI):
        lib.connect("not a uri")


async def test_connection_refused(lib):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(OSError):
        await wf(lib.connect(f"ws://127.0.0.1:{port}"))


async def test_open_timeout(lib):
    async with RawServer() as raw:                      # accepts, never answers
        # asyncio.TimeoutError is the builtin TimeoutError from Python 3.11 on; before,
        # websockets raises the asyncio one.
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            await wf(lib.connect(raw.url(), open_timeout=0.2))


async def test_server_rejects_with_500(lib):
    async with RawServer() as raw:
        task = spawn(lib.connect(raw.url()))
        conn = await raw.accept()
        await conn.read_request()
        await conn.send(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nbad")
        with pytest.raises(lib.InvalidStatus) as info:
            await wf(task)
        assert info.value.response.status_code == 500
        assert info.value.response.body == b"bad"


async def test_connect_awaitable_and_manual_close(server_lib, client_lib):
    async with running(server_lib, echo) as (_, url):
        ws = await client_lib.connect(url)
        try:
            await ws.send("manual")
            assert await wf(ws.recv()) == "manual"
        finally:
            await ws.close()
        await wf(ws.wait_closed())


# -- reconnecting --------------------------------------------------------------------

async def test_async_for_connect_reconnects(server_lib, client_lib):
    needs_websockets((17, 0), client_lib)          # connect(reconnect_delays=)
    connections = 0

    async def handler(ws):
        nonlocal connections
        connections += 1
        await ws.send(f"conn {connections}")
        await ws.close()

    async with running(server_lib, handler) as (_, url):
        seen = []
        async for ws in client_lib.connect(url, reconnect_delays=fast_reconnect):
            try:
                seen.append(await wf(ws.recv()))
                await wf(ws.recv())
            except client_lib.ConnectionClosed:
                pass
            if len(seen) == 3:
                break
        assert seen == ["conn 1", "conn 2", "conn 3"]


async def test_async_for_connect_retries_until_server_is_up(server_lib, client_lib):
    needs_websockets((17, 0), client_lib)          # connect(reconnect_delays=)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"ws://127.0.0.1:{port}"

    async def late_server():
        await asyncio.sleep(0.3)
        return await server_lib.serve(echo, "127.0.0.1", port)

    starter = asyncio.create_task(late_server())
    try:
        async for ws in client_lib.connect(url, reconnect_delays=fast_reconnect):
            await ws.send("up")
            assert await wf(ws.recv()) == "up"
            break
    finally:
        server = await wf(starter)
        server.close()
        await wf(server.wait_closed())


async def test_async_for_connect_fatal_error_stops(server_lib, client_lib):
    needs_websockets((17, 0), client_lib)          # connect(reconnect_delays=)
    def process_request(connection, request):
        return connection.respond(http.HTTPStatus.NOT_FOUND, "gone\n")

    async with running(server_lib, echo, process_request=process_request) as (_, url):
        with pytest.raises(client_lib.InvalidStatus):
            async for ws in client_lib.connect(url, reconnect_delays=fast_reconnect):
                pytest.fail("must not connect")


# -- unix sockets ----------------------------------------------------------------------

async def test_unix_socket(server_lib, client_lib):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ws.sock")
        async with server_lib.unix_serve(echo, path):
            async with client_lib.unix_connect(path) as ws:
                await ws.send("over unix")
                assert await wf(ws.recv()) == "over unix"
                assert ws.request.path == "/"


# -- data structures and exceptions ---------------------------------------------------

def test_exception_hierarchy(lib):
    assert issubclass(lib.ConnectionClosedOK, lib.ConnectionClosed)
    assert issubclass(lib.ConnectionClosedError, lib.ConnectionClosed)
    assert issubclass(lib.ConnectionClosed, lib.WebSocketException)
    for name in ("InvalidStatus", "InvalidMessage", "InvalidHeader", "InvalidUpgrade",
                 "InvalidOrigin", "SecurityError", "NegotiationError"):
        assert issubclass(getattr(lib, name), lib.InvalidHandshake), name
    assert issubclass(lib.InvalidHandshake, lib.WebSocketException)
    assert issubclass(lib.InvalidURI, lib.WebSocketException)
    assert issubclass(lib.ProtocolError, lib.WebSocketException)
    assert issubclass(lib.PayloadTooBig, lib.WebSocketException)
    assert issubclass(lib.ConcurrencyError, RuntimeError)
    assert lib.CloseCode.NORMAL_CLOSURE == 1000 and lib.CloseCode.GOING_AWAY == 1001
    assert [s.name for s in lib.State] == ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]


def test_headers(lib):
    headers = lib.Headers([("X-A", "1"), ("x-a", "2"), ("Other", "v")])
    assert headers.get_all("x-A") == ["1", "2"]
    assert headers["other"] == "v"
    with pytest.raises(lib.MultipleValuesError):
        headers["X-A"]
    with pytest.raises(KeyError):
        headers["missing"]
    headers["New"] = "n"
    assert "new" in headers and headers["NEW"] == "n"


def test_connection_closed_str(lib):
    exc = lib.ConnectionClosedOK(None, None, None)
    assert str(exc) == "no close frame received or sent"
