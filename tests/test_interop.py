"""Interoperability with independent WebSocket implementations
(websockets, aiohttp and websocket-client, each in the roles it has)."""

import asyncio

import pytest

import picows_like as picows
from helpers import connect, make_payload, wf, ws_server

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect as wsx_connect  # noqa: E402
from websockets.asyncio.server import serve as wsx_serve  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

pytestmark = pytest.mark.asyncio

WSMsgType = picows.WSMsgType
WSCloseCode = picows.WSCloseCode

SIZES = [0, 1, 125, 126, 65535, 65536, 1024 * 1024, 4 * 1024 * 1024]
KINDS = ["text", "binary"]

TIMEOUT = 5.0


def _message(size, kind):
    payload = make_payload(size, text=kind == "text")
    return payload.decode("ascii") if kind == "text" else payload


def _until_fin(frames):
    out = []
    for f in frames:
        out.append(f)
        if f.fin:
            break
    return out


def _assert_fragmented(frames, msg_type, data):
    # websockets may terminate a fragmented message with an empty final frame.
    assert len(frames) >= 3
    assert (frames[0].msg_type, frames[0].fin) == (msg_type, False)
    assert all(f.msg_type == WSMsgType.CONTINUATION for f in frames[1:])
    assert all(not f.fin for f in frames[:-1]) and frames[-1].fin
    assert b"".join(f.payload for f in frames) == data


# -----------------------------------------------------------------------------
# websockets client -> picows_like server
# -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", SIZES)
async def test_websockets_client_with_picows_server(size, kind):
    msg = _message(size, kind)
    async with ws_server() as srv:
        ws = await wf(wsx_connect(srv.url("/interop"), max_size=None, compression=None,
                                  open_timeout=TIMEOUT, close_timeout=TIMEOUT), TIMEOUT)
        try:
            await wf(ws.send(msg), TIMEOUT)
            echoed = await wf(ws.recv(), TIMEOUT)
            assert type(echoed) is type(msg)
            assert len(echoed) == size
            assert echoed == msg
        finally:
            await wf(ws.close(), TIMEOUT)
        # websockets side: the server answered our CLOSE(1000) with 1000.
        assert ws.close_code == 1000
        # picows_like side: saw the client's CLOSE 1000 and disconnected.
        sl = srv.listeners[0]
        await sl.wait_disconnected()
        closes = [f for f in sl.frames if f.msg_type == WSMsgType.CLOSE]
        assert len(closes) == 1 and closes[0].close_code == 1000
        assert int(sl.transport.close_handshake.recv.code) == 1000
        assert int(sl.transport.close_handshake.sent.code) == 1000


async def test_websockets_client_unicode_text_and_ping():
    text = "zażółć gęślą jaźń — 漢字 — 🙂" * 100
    async with ws_server() as srv:
        async with wsx_connect(srv.url(), compression=None, open_timeout=TIMEOUT,
                               close_timeout=TIMEOUT) as ws:
            await wf(ws.send(text))
            assert await wf(ws.recv()) == text
            pong_waiter = await wf(ws.ping(b"interop-ping"))
            latency = await wf(pong_waiter)
            assert latency >= 0
            # A fragmented message from websockets arrives as TEXT + CONTINUATION.
            await wf(ws.send(["frag-", "ment-", "ed"]))
            assert await wf(ws.recv()) == "frag-ment-ed"
        assert ws.close_code == 1000
        sl = srv.listeners[0]
        start = next(i for i, f in enumerate(sl.frames) if f.payload == b"frag-")
        frag = _until_fin(sl.frames[start:])
        _assert_fragmented(frag, WSMsgType.TEXT, b"frag-ment-ed")


async def test_picows_server_initiated_close_seen_by_websockets():
    async with ws_server() as srv:
        async with wsx_connect(srv.url(), compression=None, open_timeout=TIMEOUT,
                               close_timeout=TIMEOUT) as ws:
            sl = await srv.next_listener()
            sl.transport.send_close(WSCloseCode.GOING_AWAY, b"server shutdown")
            with pytest.raises(ConnectionClosed):
                await wf(ws.recv())
            assert ws.close_code == 1001
            assert ws.close_reason == "server shutdown"
        # websockets answered the CLOSE with the same code.
        rec = await sl.wait_frame(WSMsgType.CLOSE)
        assert rec.close_code == 1001


# -----------------------------------------------------------------------------
# websockets server -> picows_like client
# -----------------------------------------------------------------------------

class _EchoServer:
    def __init__(self):
        self.close_codes = asyncio.Queue()
        self.paths = []

    async def handler(self, ws):
        self.paths.append(ws.request.path)
        try:
            async for msg in ws:
                await ws.send(msg)
        except ConnectionClosed:
            pass
        finally:
            self.close_codes.put_nowait(ws.close_code)


async def _start_wsx_server(handler):
    server = await wf(wsx_serve(handler, "127.0.0.1", 0, max_size=None, compression=None,
                                close_timeout=TIMEOUT))
    port = server.sockets[0].getsockname()[1]
    return server, port


async def _stop_wsx_server(server):
    server.close()
    await wf(server.wait_closed(), TIMEOUT)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", SIZES)
async def test_picows_client_with_websockets_server(size, kind):
    msg = _message(size, kind)
    payload = msg.encode("ascii") if kind == "text" else msg
    msg_type = WSMsgType.TEXT if kind == "text" else WSMsgType.BINARY
    echo = _EchoServer()
    server, port = await _start_wsx_server(echo.handler)
    try:
        client, cl = await connect(f"ws://127.0.0.1:{port}/interop", timeout=TIMEOUT)
        client.send(msg_type, payload)
        got_type, got = await cl.next_message(TIMEOUT)
        assert got_type == msg_type
        assert len(got) == size
        assert got == payload

        client.send_close(WSCloseCode.OK)
        rec = await cl.wait_frame(WSMsgType.CLOSE, TIMEOUT)
        assert rec.close_code == 1000
        await wf(client.wait_disconnected(), TIMEOUT)
        assert await wf(echo.close_codes.get(), TIMEOUT) == 1000
        assert echo.paths == ["/interop"]
        assert int(client.close_handshake.sent.code) == 1000
        assert int(client.close_handshake.recv.code) == 1000
    finally:
        await _stop_wsx_server(server)


async def test_picows_client_fragments_and_ping_with_websockets_server():
    received = asyncio.Queue()

    async def handler(ws):
        async for msg in ws:
            received.put_nowait(msg)
            if msg == "send-fragmented":
                await ws.send([b"ab", b"cd", b"ef"])

    server, port = await _start_wsx_server(handler)
    try:
        client, cl = await connect(f"ws://127.0.0.1:{port}/")
        # Fragmented message from picows_like is reassembled by websockets.
        client.send(WSMsgType.TEXT, b"send-", fin=False)
        client.send(WSMsgType.CONTINUATION, b"fragmented", fin=True)
        assert await wf(received.get()) == "send-fragmented"
        # websockets sends a fragmented binary message.
        frames = [await cl.next_frame()]
        while not frames[-1].fin:
            frames.append(await cl.next_frame())
        _assert_fragmented(frames, WSMsgType.BINARY, b"abcdef")
        assert [f.payload for f in frames[:3]] == [b"ab", b"cd", b"ef"]
        # websockets auto-replies to our ping.
        client.send_ping(b"hello?")
        pong = await cl.wait_frame(WSMsgType.PONG)
        assert pong.payload == b"hello?"
        rtt = await wf(client.measure_roundtrip_time(2))
        assert len(rtt) == 2
        client.send_close(WSCloseCode.OK)
        await wf(client.wait_disconnected())
    finally:
        await _stop_wsx_server(server)


async def test_websockets_server_initiated_close_seen_by_picows_client():
    async def handler(ws):
        await ws.close(4002, "bye from websockets")

    server, port = await _start_wsx_server(handler)
    try:
        client, cl = await connect(f"ws://127.0.0.1:{port}/")
        rec = await cl.wait_frame(WSMsgType.CLOSE)
        assert rec.close_code == 4002
        assert rec.close_message == b"bye from websockets"
        # Peer-initiated close: wait_disconnected must not raise.
        await wf(client.wait_disconnected())
        assert int(client.close_handshake.recv.code) == 4002
    finally:
        await _stop_wsx_server(server)


# -----------------------------------------------------------------------------
# aiohttp client -> picows_like server
# -----------------------------------------------------------------------------

async def test_aiohttp_client_with_picows_server():
    aiohttp = pytest.importorskip("aiohttp")
    big = make_payload(200000)
    async with ws_server() as srv:
        async with aiohttp.ClientSession() as session:
            ws = await wf(session.ws_connect(srv.url("/aio"), autoclose=False,
                                             max_msg_size=0))
            try:
                await wf(ws.send_str("hello aiohttp ✓"))
                msg = await wf(ws.receive())
                assert msg.type == aiohttp.WSMsgType.TEXT
                assert msg.data == "hello aiohttp ✓"

                await wf(ws.send_bytes(big))
                msg = await wf(ws.receive())
                assert msg.type == aiohttp.WSMsgType.BINARY
                assert msg.data == big
            finally:
                await wf(ws.close())
            assert ws.close_code == 1000
        sl = srv.listeners[0]
        await sl.wait_disconnected()
        assert srv.requests[0].path == b"/aio"
        closes = [f for f in sl.frames if f.msg_type == WSMsgType.CLOSE]
        assert len(closes) == 1 and closes[0].close_code == 1000


# -----------------------------------------------------------------------------
# picows_like client -> aiohttp server
# -----------------------------------------------------------------------------

async def _start_aiohttp_server(handler):
    aiohttp_web = pytest.importorskip("aiohttp.web")
    app = aiohttp_web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = aiohttp_web.AppRunner(app)
    await runner.setup()
    site = aiohttp_web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.mark.parametrize("compression", [None, "deflate"])
@pytest.mark.parametrize("size", [0, 125, 126, 65536, 1024 * 1024, 4 * 1024 * 1024])
async def test_picows_client_with_aiohttp_server(size, compression):
    import aiohttp
    from aiohttp import web
    close_codes = asyncio.Queue()

    async def handler(request):
        ws = web.WebSocketResponse(max_msg_size=0, compress=compression is not None)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        close_codes.put_nowait(ws.close_code)
        return ws

    runner, port = await _start_aiohttp_server(handler)
    try:
        client, cl = await connect(f"ws://127.0.0.1:{port}/aio", timeout=TIMEOUT,
                                   compression=compression)
        assert (client.compression is not None) == (compression is not None)
        text = make_payload(size, text=True)
        binary = make_payload(size)
        client.send(WSMsgType.TEXT, text)
        client.send(WSMsgType.BINARY, binary)
        assert await cl.next_message(TIMEOUT) == (WSMsgType.TEXT, text)
        assert await cl.next_message(TIMEOUT) == (WSMsgType.BINARY, binary)
        # A fragmented message is reassembled by aiohttp and echoed whole.
        client.send(WSMsgType.BINARY, b"frag-", fin=False)
        client.send(WSMsgType.CONTINUATION, b"mented", fin=True)
        assert await cl.next_message(TIMEOUT) == (WSMsgType.BINARY, b"frag-mented")
        client.send_close(WSCloseCode.GOING_AWAY, b"done")
        rec = await cl.wait_frame(WSMsgType.CLOSE, TIMEOUT)
        assert rec.close_code == 1000       # aiohttp answers any CLOSE with 1000
        await wf(client.wait_disconnected(), TIMEOUT)
        assert await wf(close_codes.get(), TIMEOUT) == 1001
    finally:
        await wf(runner.cleanup(), TIMEOUT)


async def test_aiohttp_server_initiated_close_seen_by_picows_client():
    from aiohttp import web

    async def handler(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close(code=4003, message=b"bye from aiohttp")
        return ws

    runner, port = await _start_aiohttp_server(handler)
    try:
        client, cl = await connect(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT)
        rec = await cl.wait_frame(WSMsgType.CLOSE, TIMEOUT)
        assert (rec.close_code, rec.close_message) == (4003, b"bye from aiohttp")
        await wf(client.wait_disconnected(), TIMEOUT)
        assert int(client.close_handshake.recv.code) == 4003
    finally:
        await wf(runner.cleanup(), TIMEOUT)


# -----------------------------------------------------------------------------
# websocket-client (blocking, its own framing) -> picows_like server
# -----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 1024 * 1024, 4 * 1024 * 1024])
async def test_websocket_client_with_picows_server(size):
    websocket = pytest.importorskip("websocket")
    text = make_payload(size, text=True).decode("ascii")
    binary = make_payload(size)

    def client(url):
        ws = websocket.create_connection(url, timeout=TIMEOUT)
        try:
            ws.send(text)
            got_text = ws.recv()
            ws.send_binary(binary)
            got_binary = ws.recv()
            ws.ping(b"are you there")
            opcode, pong = ws.recv_data_frame(True)
            ws.send_close(websocket.STATUS_NORMAL, b"bye")
            opcode_close, close_frame = ws.recv_data_frame(True)
            return got_text, got_binary, (opcode, pong.data), (opcode_close, close_frame.data)
        finally:
            ws.shutdown()       # close() leaves the socket open once a CLOSE was received

    async with ws_server() as srv:
        got_text, got_binary, pong, close = await wf(
            asyncio.to_thread(client, srv.url("/wsclient")), 3 * TIMEOUT)
        assert got_text == text and got_binary == binary
        assert pong == (websocket.ABNF.OPCODE_PONG, b"are you there")
        assert close[0] == websocket.ABNF.OPCODE_CLOSE
        assert close[1][:2] == (1000).to_bytes(2, "big")
        sl = srv.listeners[0]
        await sl.wait_disconnected()
        closes = [f for f in sl.frames if f.msg_type == WSMsgType.CLOSE]
        assert [(f.close_code, f.close_message) for f in closes] == [(1000, b"bye")]


async def test_websocket_client_fragments_to_picows_server():
    websocket = pytest.importorskip("websocket")

    def client(url):
        ws = websocket.create_connection(url, timeout=TIMEOUT)
        try:
            ws.send_frame(websocket.ABNF.create_frame(b"one-", websocket.ABNF.OPCODE_BINARY, 0))
            ws.send_frame(websocket.ABNF.create_frame(b"two-", websocket.ABNF.OPCODE_CONT, 0))
            ws.send_frame(websocket.ABNF.create_frame(b"three", websocket.ABNF.OPCODE_CONT, 1))
            return ws.recv_data_frame(True)
        finally:
            ws.shutdown()

    async with ws_server() as srv:
        opcode, frame = await wf(asyncio.to_thread(client, srv.url("/")), 3 * TIMEOUT)
        # The server echoes frame by frame; websocket-client reassembles them.
        assert (opcode, frame.data) == (websocket.ABNF.OPCODE_BINARY, b"one-two-three")
        frames = [f for f in srv.listeners[0].frames if f.msg_type != WSMsgType.CLOSE]
        _assert_fragmented(frames, WSMsgType.BINARY, b"one-two-three")
