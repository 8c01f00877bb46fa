"""picows_like.trio: trio-websocket's API on the engine.

Each test is a plain function running its body with ``trio.run`` under a
``trio.fail_after`` bound (the ``trio_test`` decorator below): conftest.py
parametrizes and wraps coroutine tests for asyncio/uvloop, which does not
apply to trio, and a plain test is kept once there.

Peers: our own server and client, a raw trio socket speaking frames by hand
(fragments, interleaved pings, an abort, a silent server), and trio-websocket
0.12.2 in both directions.
"""
import base64
import functools
import hashlib
import inspect
import struct

import pytest

trio = pytest.importorskip("trio")
import trio.testing  # noqa: E402

from picows_like.trio import (CloseReason, ConnectionClosed, ConnectionRejected,  # noqa: E402
                              ConnectionTimeout, Endpoint, open_websocket,
                              open_websocket_url, serve_websocket)

TEST_TIMEOUT = 10
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def trio_test(fn):
    """Run the async test body with trio, bounded in time."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        async def main():
            with trio.fail_after(TEST_TIMEOUT):
                await fn(*args, **kwargs)
        trio.run(main)
    # pytest must see a plain function with the test's own parameters.
    del wrapper.__wrapped__
    wrapper.__signature__ = inspect.signature(fn)
    return wrapper


async def echo_handler(request):
    ws = await request.accept()
    while True:
        try:
            msg = await ws.get_message()
        except ConnectionClosed:
            return
        await ws.send_message(msg)


async def start_server(nursery, handler=echo_handler, **kwargs):
    return await nursery.start(
        functools.partial(serve_websocket, handler, "127.0.0.1", 0, None, **kwargs))


# -- a hand-driven peer ------------------------------------------------------

def frame(opcode, payload=b"", fin=True, mask=None):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        head += mask
    return head + payload


async def read_head(stream):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(4096)
        assert chunk, "peer closed during the handshake"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


async def raw_server_handshake(stream):
    head, rest = await read_head(stream)
    key = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
           if line.lower().startswith(b"sec-websocket-key:")][0]
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    await stream.send_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    return rest


def parse_frames(data):
    """(opcode, fin, unmasked payload) of the complete frames in data, and the rest."""
    out, pos = [], 0
    while len(data) - pos >= 2:
        b0, b1 = data[pos], data[pos + 1]
        n, hlen = b1 & 0x7F, 2
        if n == 126:
            if len(data) - pos < 4:
                break
            n, hlen = struct.unpack_from("!H", data, pos + 2)[0], 4
        elif n == 127:
            if len(data) - pos < 10:
                break
            n, hlen = struct.unpack_from("!Q", data, pos + 2)[0], 10
        klen = 4 if b1 & 0x80 else 0
        if len(data) - pos < hlen + klen + n:
            break
        key = data[pos + hlen:pos + hlen + klen]
        payload = data[pos + hlen + klen:pos + hlen + klen + n]
        if key:
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        out.append((b0 & 0x0F, bool(b0 & 0x80), bytes(payload)))
        pos += hlen + klen + n
    return out, data[pos:]


async def read_frames(stream, count, buf=b""):
    frames = []
    while True:
        got, buf = parse_frames(buf)
        frames += got
        if len(frames) >= count:
            return frames, buf
        chunk = await stream.receive_some(65536)
        assert chunk, f"EOF after {frames}"
        buf += chunk


async def raw_listener(nursery, serve):
    listeners = await nursery.start(functools.partial(trio.serve_tcp, serve, 0,
                                                      host="127.0.0.1"))
    return listeners[0].socket.getsockname()[1]


# -- echo ----------------------------------------------------------------------

SIZES = [0, 1, 125, 126, 65535, 65536, 2 ** 20]


@pytest.mark.parametrize("size", SIZES)
@trio_test
async def test_echo_sizes_text_and_bytes(size):
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery)
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
            await ws.send_message(payload)
            assert await ws.get_message() == payload
            text = ("aé€😀" * (size // 10 + 1))
            text = text[:size] if len(text.encode()) <= 2 ** 20 else text[:size // 4]
            await ws.send_message(text)
            got = await ws.get_message()
            assert type(got) is str and got == text
        assert ws.closed.code == 1000
        nursery.cancel_scope.cancel()


@trio_test
async def test_metadata_subprotocol_headers_path():
    seen = {}

    async def handler(request):
        seen["path"] = request.path
        seen["proposed"] = request.proposed_subprotocols
        seen["headers"] = request.headers
        seen["remote"] = request.remote
        ws = await request.accept(subprotocol="two", extra_headers=[(b"X-Srv", b"yes")])
        seen["is_server"] = ws.is_server
        seen["server_path"] = ws.path
        await ws.send_message("hello")
        with pytest.raises(ConnectionClosed):
            await ws.get_message()

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        assert isinstance(server.listeners[0], Endpoint)
        port = server.port
        url = f"ws://127.0.0.1:{server.port}/a/b?q=1"
        async with open_websocket_url(url, subprotocols=["one", "two"],
                                      extra_headers=[(b"X-Cli", b"abc")]) as ws:
            assert await ws.get_message() == "hello"
            assert ws.is_client and not ws.is_server
            assert ws.subprotocol == "two"
            assert ws.path == "/a/b?q=1"
            assert (b"x-srv", b"yes") in ws.handshake_headers
            assert isinstance(ws.local, Endpoint) and ws.remote.port == server.port
            assert ws.remote.url == f"ws://127.0.0.1:{server.port}"
        nursery.cancel_scope.cancel()
    assert seen["path"] == "/a/b?q=1" and seen["server_path"] == "/a/b?q=1"
    assert seen["proposed"] == ("one", "two")
    assert (b"x-cli", b"abc") in seen["headers"]
    assert seen["is_server"] and seen["remote"].port != port


@trio_test
async def test_ping_pong_and_argument_checks():
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery)
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            await ws.ping()
            await ws.ping(b"abc")
            await ws.pong(b"unsolicited")
            with pytest.raises(ValueError):
                await ws.send_message(bytearray(b"x"))
            with pytest.raises(ValueError):
                await ws.send_message(5)
            await ws.send_message("still fine")
            assert await ws.get_message() == "still fine"
        nursery.cancel_scope.cancel()


@trio_test
async def test_pong_answers_earlier_pings_and_duplicate_payload_refused():
    async def serve(stream):
        rest = await raw_server_handshake(stream)
        frames, rest = await read_frames(stream, 2, rest)
        assert [f[:1] + f[2:] for f in frames] == [(9, b"a"), (9, b"b")]
        await stream.send_all(frame(10, b"b"))      # answers both
        await read_frames(stream, 1, rest)          # the CLOSE
        await stream.send_all(frame(8, struct.pack("!H", 1000)))
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        port = await raw_listener(nursery, serve)
        async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
            async with trio.open_nursery() as inner:
                inner.start_soon(ws.ping, b"a")
                await trio.testing.wait_all_tasks_blocked()
                with pytest.raises(ValueError, match="already in flight"):
                    await ws.ping(b"a")
                await ws.ping(b"b")
        nursery.cancel_scope.cancel()


# -- a peer sending fragments and control frames in between ---------------------

@trio_test
async def test_fragmented_messages_from_peer_with_interleaved_ping():
    done = trio.Event()
    seen = {}

    async def serve(stream):
        rest = await raw_server_handshake(stream)
        text = "héllo wörld €".encode()
        # A TEXT message split inside a multi-byte character, a PING in between.
        await stream.send_all(frame(1, text[:2], fin=False) + frame(9, b"p1")
                              + frame(0, text[2:10], fin=False) + frame(0, text[10:]))
        await stream.send_all(frame(2, b"\x00" * 70000, fin=False) + frame(0, b"", fin=False)
                              + frame(0, b"\x01" * 3))
        frames, rest = await read_frames(stream, 1, rest)
        seen["pong"] = frames[0]
        await stream.send_all(frame(8, struct.pack("!H", 4000) + b"bye"))
        frames, rest = await read_frames(stream, 1, rest)
        seen["close_reply"] = frames[0]
        await stream.aclose()
        done.set()

    async with trio.open_nursery() as nursery:
        port = await raw_listener(nursery, serve)
        async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
            assert await ws.get_message() == "héllo wörld €"
            assert await ws.get_message() == b"\x00" * 70000 + b"\x01" * 3
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == 4000
            assert info.value.reason.reason == "bye"
            assert info.value.reason.name == "PRIVATE_RESERVED"
        await done.wait()
        nursery.cancel_scope.cancel()
    assert seen["pong"] == (10, True, b"p1")
    assert seen["close_reply"][0] == 8 and seen["close_reply"][2][:2] == struct.pack("!H", 4000)


# -- close paths ---------------------------------------------------------------

@trio_test
async def test_client_close_with_code_reaches_server_handler():
    got = trio.Event()
    seen = {}

    async def handler(request):
        ws = await request.accept()
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        seen["reason"] = info.value.reason
        seen["closed"] = ws.closed
        got.set()

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            await ws.aclose(4001, "client done")
            assert ws.closed.code == 4001  # the server's echo of our CLOSE
            with pytest.raises(ConnectionClosed):
                await ws.send_message("late")
            with pytest.raises(ConnectionClosed):
                await ws.get_message()
        await got.wait()
        nursery.cancel_scope.cancel()
    assert (seen["reason"].code, seen["reason"].reason) == (4001, "client done")
    assert seen["closed"].code == 4001


@trio_test
async def test_server_close_reaches_client_after_pending_messages():
    async def handler(request):
        ws = await request.accept()
        await ws.send_message("last words")
        await ws.aclose(1001, "going")

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler, message_queue_size=4)
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False,
                                  message_queue_size=4) as ws:
            assert await ws.get_message() == "last words"
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
        nursery.cancel_scope.cancel()
    reason = info.value.reason
    assert (reason.code, reason.name, reason.reason) == (1001, "GOING_AWAY", "going")
    assert ws.closed.code == 1001


@trio_test
async def test_peer_abort_is_1006():
    async def serve(stream):
        await raw_server_handshake(stream)
        await stream.send_all(frame(1, b"one"))
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        port = await raw_listener(nursery, serve)
        async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
            assert await ws.get_message() == "one"
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == 1006
            assert info.value.reason.name == "ABNORMAL_CLOSURE"
            with pytest.raises(ConnectionClosed):
                await ws.send_message("x")
        nursery.cancel_scope.cancel()


@trio_test
async def test_message_too_big_closes_with_1009():
    async def handler(request):
        ws = await request.accept()
        await ws.send_message(b"x" * 2000)
        with pytest.raises(ConnectionClosed):
            await ws.get_message()

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False,
                                  max_message_size=1000) as ws:
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == 1009
        nursery.cancel_scope.cancel()


@trio_test
async def test_server_fails_too_big_message_and_drops_a_peer_that_never_answers():
    handler_done = trio.Event()

    async def handler(request):
        ws = await request.accept()
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        assert info.value.reason.code == 1009
        handler_done.set()

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler, max_message_size=1000,
                                    disconnect_timeout=0.3)
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        head, rest = await read_head(stream)
        assert head.startswith(b"HTTP/1.1 101")
        await stream.send_all(frame(2, b"y" * 2000, mask=b"abcd"))
        frames, rest = await read_frames(stream, 1, rest)
        assert frames[0][0] == 8 and frames[0][2][:2] == struct.pack("!H", 1009)
        # We never answer the CLOSE: the server drops the TCP connection after
        # its disconnect_timeout.
        with trio.fail_after(3):
            while await stream.receive_some(4096):
                pass
        await handler_done.wait()
        await stream.aclose()
        nursery.cancel_scope.cancel()


@trio_test
async def test_cancelled_body_sends_close_frame():
    seen = trio.Event()
    reasons = []

    async def handler(request):
        ws = await request.accept()
        await ws.send_message("go")
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            reasons.append(exc.reason)
            seen.set()

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        with trio.move_on_after(5) as scope:
            async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
                assert await ws.get_message() == "go"
                scope.cancel()
                await ws.get_message()     # cancelled here
        assert scope.cancelled_caught
        await seen.wait()
        nursery.cancel_scope.cancel()
    assert reasons[0].code == 1000


# -- handshake failures ------------------------------------------------------------

@trio_test
async def test_reject_with_status_headers_body():
    async def handler(request):
        await request.reject(403, extra_headers=[(b"X-Why", b"test")], body=b"nope")

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        with pytest.raises(ConnectionRejected) as info:
            async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pytest.fail("connected")
        nursery.cancel_scope.cancel()
    assert info.value.status_code == 403
    assert info.value.body == b"nope"
    assert (b"x-why", b"test") in info.value.headers
    assert repr(info.value) == "ConnectionRejected<status_code=403>"


@trio_test
async def test_connect_timeout_on_silent_server():
    async def serve(stream):
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        port = await raw_listener(nursery, serve)
        start = trio.current_time()
        with pytest.raises(ConnectionTimeout):
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False,
                                      connect_timeout=0.3):
                pytest.fail("connected")
        assert 0.25 < trio.current_time() - start < 3
        nursery.cancel_scope.cancel()


@trio_test
async def test_server_drops_a_silent_client_after_connect_timeout():
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, connect_timeout=0.2)
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        assert await stream.receive_some(100) == b""   # closed by the server
        await stream.aclose()
        nursery.cancel_scope.cancel()


def test_close_reason_names():
    assert CloseReason(1000, None).name == "NORMAL_CLOSURE"
    assert CloseReason(1007, "x").name == "INVALID_FRAME_PAYLOAD_DATA"
    assert CloseReason(2000, None).name == "RFC_RESERVED"
    assert CloseReason(3000, None).name == "IANA_RESERVED"
    assert CloseReason(4999, None).name == "PRIVATE_RESERVED"
    assert CloseReason(5000, None).name == "INVALID_CODE"
    assert repr(CloseReason(1001, "bye")) == "CloseReason<code=1001, name=GOING_AWAY, reason=bye>"


# -- interop with trio-websocket ---------------------------------------------------

INTEROP_MESSAGES = ["", "text é", b"", b"\x00\xff" * 40000, "x" * 200000]


@trio_test
async def test_trio_websocket_client_against_our_server():
    tw = pytest.importorskip("trio_websocket")
    closed = trio.Event()
    reasons = []

    async def handler(request):
        ws = await request.accept(subprotocol="chat")
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except ConnectionClosed as exc:
            reasons.append(exc.reason)
            closed.set()

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        async with tw.open_websocket("127.0.0.1", server.port, "/x", use_ssl=False,
                                     subprotocols=["chat"]) as ws:
            assert ws.subprotocol == "chat"
            for msg in INTEROP_MESSAGES:
                await ws.send_message(msg)
                assert await ws.get_message() == msg
            await ws.ping(b"tw")
            await ws.aclose(4100, "tw done")
        await closed.wait()
        nursery.cancel_scope.cancel()
    assert (reasons[0].code, reasons[0].reason) == (4100, "tw done")


@trio_test
async def test_our_client_against_trio_websocket_server():
    tw = pytest.importorskip("trio_websocket")
    closed = trio.Event()
    reasons = []

    async def handler(request):
        ws = await request.accept(subprotocol="chat")
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except tw.ConnectionClosed as exc:
            reasons.append(exc.reason)
            closed.set()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(tw.serve_websocket, handler, "127.0.0.1", 0, None)
        async with open_websocket("127.0.0.1", server.port, "/x", use_ssl=False,
                                  subprotocols=["chat"]) as ws:
            assert ws.subprotocol == "chat"
            for msg in INTEROP_MESSAGES:
                await ws.send_message(msg)
                assert await ws.get_message() == msg
            await ws.ping(b"ours")
            await ws.aclose(4200, "ours done")
            assert ws.closed.code == 4200
        await closed.wait()
        nursery.cancel_scope.cancel()
    assert (reasons[0].code, reasons[0].reason) == (4200, "ours done")


@trio_test
async def test_trio_websocket_server_rejects_our_client():
    tw = pytest.importorskip("trio_websocket")

    async def handler(request):
        await request.reject(404, body=b"no such path")

    async with trio.open_nursery() as nursery:
        server = await nursery.start(tw.serve_websocket, handler, "127.0.0.1", 0, None)
        with pytest.raises(ConnectionRejected) as info:
            async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pytest.fail("connected")
        nursery.cancel_scope.cancel()
    assert info.value.status_code == 404 and info.value.body == b"no such path"


# -- TLS, 4 MiB, and websockets in both directions ---------------------------------

@pytest.fixture(scope="module")
def tls_contexts():
    trustme = pytest.importorskip("trustme")
    import ssl
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


BIG = 4 * 2 ** 20


def test_tls_echo_ours_and_trio_websocket_client(tls_contexts):
    server_ctx, client_ctx = tls_contexts
    tw = pytest.importorskip("trio_websocket")

    @trio_test
    async def run():
        async with trio.open_nursery() as nursery:
            server = await nursery.start(functools.partial(
                serve_websocket, echo_handler, "127.0.0.1", 0, server_ctx,
                max_message_size=BIG))
            assert server.listeners[0].is_ssl
            url = f"wss://127.0.0.1:{server.port}/tls"
            async with open_websocket_url(url, client_ctx, max_message_size=BIG) as ws:
                assert ws.remote.is_ssl
                for msg in [b"", "tls é", b"\x07" * BIG]:
                    await ws.send_message(msg)
                    assert await ws.get_message() == msg
            async with tw.open_websocket_url(url, client_ctx, max_message_size=BIG) as ws:
                for msg in [b"", "tls é", b"\x07" * 300000]:
                    await ws.send_message(msg)
                    assert await ws.get_message() == msg
            nursery.cancel_scope.cancel()

    run()


@trio_test
async def test_websockets_sync_client_against_our_server():
    sync_client = pytest.importorskip("websockets.sync.client")
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, max_message_size=BIG)

        def client():
            with sync_client.connect(f"ws://127.0.0.1:{server.port}/", max_size=None,
                                     compression=None) as ws:
                out = []
                for msg in ["", "é" * 1000, b"\x01" * BIG]:
                    ws.send(msg)
                    out.append(ws.recv() == msg)
                ws.close(4300, "sync done")
                return out

        assert await trio.to_thread.run_sync(client) == [True, True, True]
        nursery.cancel_scope.cancel()


@trio_test
async def test_our_client_against_websockets_asyncio_server():
    pytest.importorskip("websockets.asyncio.server")
    import asyncio
    import threading
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosedError

    ready = threading.Event()
    state = {}

    def run_server():
        async def main():
            async def echo(ws):
                try:
                    async for msg in ws:
                        await ws.send(msg)
                except ConnectionClosedError:
                    pass
                state["close"] = (ws.close_code, ws.close_reason)
            stop = asyncio.get_running_loop().create_future()
            state["stop"] = lambda: stop.get_loop().call_soon_threadsafe(stop.set_result, None)
            async with serve(echo, "127.0.0.1", 0, max_size=None, compression=None) as srv:
                state["port"] = srv.sockets[0].getsockname()[1]
                ready.set()
                await stop
        asyncio.run(main())

    thread = threading.Thread(target=run_server, daemon=True)
    thread.start()
    try:
        assert await trio.to_thread.run_sync(ready.wait, 5)
        async with open_websocket("127.0.0.1", state["port"], "/", use_ssl=False,
                                  max_message_size=BIG) as ws:
            for msg in ["", "text", b"", b"\x02" * BIG]:
                await ws.send_message(msg)
                assert await ws.get_message() == msg
            await ws.ping()
            await ws.aclose(4400, "bye")
            assert ws.closed.code == 4400
    finally:
        if "stop" in state:
            state["stop"]()
        await trio.to_thread.run_sync(thread.join, 5)
    assert state["close"] == (4400, "bye")


# -- the hot path's scheduling, the handshake's pipelining, compression ---------------

@trio_test
async def test_a_task_that_only_sends_lets_others_run():
    """send_message on plain TCP writes without a trip through the scheduler,
    but makes a schedule point every few sends."""
    ticks = 0
    stop = False

    async def ticker():
        nonlocal ticks
        while not stop:
            ticks += 1
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery)
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            nursery.start_soon(ticker)
            await trio.sleep(0)
            before = ticks
            for _ in range(400):
                await ws.send_message(b"x")
            during = ticks - before
            stop = True
        nursery.cancel_scope.cancel()
    assert during >= 400 // 8 - 2, during


@trio_test
async def test_cancelled_send_and_get_do_nothing():
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery)
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False,
                                  message_queue_size=4) as ws:
            with trio.CancelScope() as scope:
                scope.cancel()
                await ws.send_message("never sent")
            assert scope.cancelled_caught
            await ws.send_message("one")
            await ws.send_message("two")
            while not ws._queue.items:      # "one" queued, "two" may be on its way
                await trio.sleep(0.01)
            with trio.CancelScope() as scope:
                scope.cancel()
                await ws.get_message()       # a message is there: still cancelled
            assert scope.cancelled_caught
            assert [await ws.get_message(), await ws.get_message()] == ["one", "two"]
        nursery.cancel_scope.cancel()


@trio_test
async def test_zero_queue_hands_messages_over_in_order():
    async def handler(request):
        ws = await request.accept()
        for i in range(20):
            await ws.send_message(f"m{i}")
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False,
                                  message_queue_size=0) as ws:
            got = []
            with pytest.raises(ConnectionClosed):
                while True:
                    got.append(await ws.get_message())
        nursery.cancel_scope.cancel()
    assert got == [f"m{i}" for i in range(20)]


@trio_test
async def test_response_pipelined_with_messages_and_close_opens_the_client():
    """The 101, two messages and a CLOSE in one write, a queue of one: the
    client must open (the reader must not wait for room in the queue before
    it has told open_websocket the handshake is done)."""
    async def serve(stream):
        head, _ = await read_head(stream)
        key = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:")][0]
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            + frame(1, b"first") + frame(1, b"second")
            + frame(8, struct.pack("!H", 1001) + b"bye"))
        await read_frames(stream, 1)           # the client's CLOSE
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        port = await raw_listener(nursery, serve)
        async with open_websocket("127.0.0.1", port, "/", use_ssl=False,
                                  message_queue_size=1) as ws:
            assert await ws.get_message() == "first"
            assert await ws.get_message() == "second"
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
        nursery.cancel_scope.cancel()
    assert (info.value.reason.code, info.value.reason.reason) == (1001, "bye")


@trio_test
async def test_compression_keyword():
    from picows_like import WSPerMessageDeflate
    seen = {}

    async def handler(request):
        ws = await request.accept()
        seen.setdefault("server", ws.compression)
        try:
            await ws.send_message(await ws.get_message())
        except ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler, compression="deflate")
        settings = WSPerMessageDeflate(client_max_window_bits=10, level=9)
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False,
                                  compression=settings) as ws:
            assert ws.compression.client_max_window_bits == 10
            await ws.send_message("compressible " * 1000)
            assert await ws.get_message() == "compressible " * 1000
        assert seen["server"].client_max_window_bits == 10
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            assert ws.compression is None                  # off by default
        with pytest.raises(ValueError):
            async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False,
                                      compression="gzip"):
                pass
        nursery.cancel_scope.cancel()
