"""permessage-deflate and subprotocols end to end: compressed echo at many
sizes and every parameter combination in both roles (Autobahn 12/13 in
spirit), the wire format seen by a raw peer, bombs and corrupt data, and
interop with websockets and aiohttp with compression on."""
import asyncio
import os
import zlib

import aiohttp
import pytest
import websockets
from websockets.asyncio.client import connect as wsl_connect
from websockets.asyncio.server import serve as wsl_serve

import picows_like as picows
from picows_like import WSMsgType
from helpers import (OP_BINARY, OP_CONT, OP_PING, OP_TEXT, RawConn, RecordingListener,
                     build_frame, wf, ws_server)

if os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1":
    pytest.skip("picows has no permessage-deflate", allow_module_level=True)

from picows_like.extensions import WSPerMessageDeflate  # noqa: E402

WEBSOCKETS_VERSION = tuple(int(part) for part in websockets.version.version.split(".")[:2])
SIZES = [0, 1, 63, 64, 65, 1000, 65535, 65536, 262_144, 1024 * 1024]
CONFIGS = {
    "default": WSPerMessageDeflate(),
    "no_takeover_both": WSPerMessageDeflate(server_no_context_takeover=True,
                                            client_no_context_takeover=True),
    "server_nct": WSPerMessageDeflate(server_no_context_takeover=True),
    "client_nct": WSPerMessageDeflate(client_no_context_takeover=True),
    "windows_9_9": WSPerMessageDeflate(server_max_window_bits=9, client_max_window_bits=9),
    "windows_15_10": WSPerMessageDeflate(server_max_window_bits=15, client_max_window_bits=10),
    "windows_12_15": WSPerMessageDeflate(server_max_window_bits=12, client_max_window_bits=15),
    "window_8": WSPerMessageDeflate(client_max_window_bits=8, server_max_window_bits=8),
    "min_size_0": WSPerMessageDeflate(min_size=0),
}


def payload(n: int, seed: int) -> bytes:
    """Half compressible, half random, so both zlib paths are exercised."""
    rnd = os.urandom(n // 4)
    return (rnd + (b"tick %d;" % seed) * n)[:n]


@pytest.mark.parametrize("name", CONFIGS)
async def test_compressed_echo_every_config(name):
    cfg = CONFIGS[name]
    async with ws_server(compression=cfg) as srv:
        listener = RecordingListener()
        transport, _ = await wf(picows.ws_connect(lambda: listener, srv.url(), compression=cfg))
        assert transport.compression is not None
        assert srv.listeners[0].transport.compression is not None
        for i, n in enumerate(SIZES):
            for msg_type in (WSMsgType.BINARY, WSMsgType.TEXT):
                data = payload(n, i) if msg_type == WSMsgType.BINARY else (b"x%d " % i * n)[:n]
                transport.send(msg_type, data)
                got = await listener.next_message()
                assert got == (msg_type, data)
        transport.send_close(picows.WSCloseCode.OK)
        await wf(transport.wait_disconnected())


async def test_negotiated_parameters_visible():
    server_cfg = WSPerMessageDeflate(server_no_context_takeover=True, server_max_window_bits=11)
    async with ws_server(compression=server_cfg) as srv:
        transport, _ = await wf(picows.ws_connect(RecordingListener, srv.url(),
                                                  compression="deflate"))
        agreed = transport.compression
        assert agreed.server_no_context_takeover and agreed.server_max_window_bits == 11
        assert srv.listeners[0].transport.compression.server_max_window_bits == 11
        assert "server_max_window_bits=11" in transport.response.headers["Sec-WebSocket-Extensions"]
        transport.disconnect()


async def test_no_compression_by_default():
    async with ws_server() as srv:
        transport, _ = await wf(picows.ws_connect(RecordingListener, srv.url(),
                                                  compression="deflate"))
        assert transport.compression is None        # server did not enable it
        assert "Sec-WebSocket-Extensions" not in transport.response.headers
        transport.disconnect()
    async with ws_server(compression="deflate") as srv:
        transport, _ = await wf(picows.ws_connect(RecordingListener, srv.url()))
        assert transport.compression is None
        assert "Sec-WebSocket-Extensions" not in srv.requests[0].headers
        transport.disconnect()


async def _raw_deflate_client(srv, offer="permessage-deflate"):
    conn = await RawConn.open(srv.port)
    resp = await conn.client_handshake(extra=[("Sec-WebSocket-Extensions", offer)])
    return conn, resp


async def test_wire_format_seen_by_raw_peer():
    async with ws_server(compression="deflate") as srv:
        conn, resp = await _raw_deflate_client(srv)
        assert resp.header("Sec-WebSocket-Extensions") == "permessage-deflate"
        data = b"price=60000.5;" * 500
        co = zlib.compressobj(wbits=-15)
        wire = co.compress(data) + co.flush(zlib.Z_SYNC_FLUSH)
        await conn.send(build_frame(OP_TEXT, wire[:-4], mask=True, rsv=4))
        echo = await conn.read_frame()
        assert echo.opcode == OP_TEXT and echo.rsv == 4 and echo.fin
        assert len(echo.payload) < len(data) // 10
        assert zlib.decompressobj(wbits=-15).decompress(echo.payload + b"\0\0\xff\xff") == data
        # Tiny messages are not worth compressing: sent plain, RSV1 clear.
        await conn.send(build_frame(OP_BINARY, b"hi", mask=True))
        echo = await conn.read_frame()
        assert echo.rsv == 0 and echo.payload == b"hi"
        conn.close()


async def test_fragmented_compressed_message_reaches_listener_as_plain_fragments():
    async with ws_server(compression="deflate") as srv:
        conn, _ = await _raw_deflate_client(srv)
        co = zlib.compressobj(wbits=-15)
        parts = [co.compress(b"A" * 3000) + co.flush(zlib.Z_SYNC_FLUSH),
                 co.compress(b"B" * 3000) + co.flush(zlib.Z_SYNC_FLUSH)]
        await conn.send(build_frame(OP_BINARY, parts[0], fin=False, mask=True, rsv=4)
                        + build_frame(OP_PING, b"mid", mask=True)
                        + build_frame(OP_CONT, parts[1][:-4], fin=True, mask=True))
        listener = await wf(srv.next_listener())
        frames = [await listener.next_frame() for _ in range(2)]
        assert [(f.msg_type, f.fin, f.payload) for f in frames] == [
            (WSMsgType.BINARY, False, b"A" * 3000), (WSMsgType.CONTINUATION, True, b"B" * 3000)]
        assert not frames[0].rsv1          # listeners see decompressed data
        conn.close()


@pytest.mark.parametrize("frame,code", [
    (build_frame(OP_CONT, b"x", mask=True, rsv=4), 1002),        # RSV1 on a continuation
    (build_frame(OP_PING, b"x", mask=True, rsv=4), 1002),        # RSV1 on a control frame
    (build_frame(OP_BINARY, b"x", mask=True, rsv=2), 1002),      # RSV2 still reserved
    (build_frame(OP_BINARY, b"\xff\xfe\xfd\xfc", mask=True, rsv=4), 1007),   # corrupt
])
async def test_bad_compressed_frames(frame, code):
    async with ws_server(compression="deflate") as srv:
        conn, _ = await _raw_deflate_client(srv)
        if frame[0] & 0x0F == OP_CONT:
            frame = build_frame(OP_BINARY, b"", fin=False, mask=True) + frame
        await conn.send(frame)
        assert await conn.read_close_code() == code


async def test_decompression_bomb_refused_while_inflating():
    async with ws_server(compression="deflate", max_frame_size=1_000_000) as srv:
        conn, _ = await _raw_deflate_client(srv)
        co = zlib.compressobj(wbits=-15)
        bomb = co.compress(b"\0" * 200_000_000) + co.flush(zlib.Z_SYNC_FLUSH)
        assert len(bomb) < 300_000
        await conn.send(build_frame(OP_BINARY, bomb[:-4], mask=True, rsv=4))
        assert await conn.read_close_code() == 1009
        # The server is still healthy.
        conn2, _ = await _raw_deflate_client(srv)
        conn2.close()


async def test_compress_keyword_overrides_default():
    async with ws_server(compression=WSPerMessageDeflate(min_size=0)) as srv:
        conn, _ = await _raw_deflate_client(srv)
        await conn.send(build_frame(OP_BINARY, b"", mask=True))      # reach the listener
        listener = await wf(srv.next_listener())
        await listener.next_frame()
        await conn.read_frame()                                      # its echo
        t = listener.transport
        t.send(WSMsgType.BINARY, b"y" * 1000, compress=False)
        assert (await conn.read_frame()).rsv == 0
        t.send(WSMsgType.BINARY, b"y" * 1000)
        frame = await conn.read_frame()
        assert frame.rsv == 4 and len(frame.payload) < 100
        conn.close()


# -- interop ----------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 100, 70_000, 1024 * 1024])
async def test_websockets_client_to_our_server(size):
    async with ws_server(compression="deflate") as srv:
        async with wsl_connect(srv.url(), compression="deflate", max_size=None) as ws:
            assert ws.protocol.extensions, "websockets did not negotiate deflate"
            data = payload(size, 1)
            await ws.send(data)
            assert await wf(ws.recv()) == data
            await ws.send(data.hex())
            assert await wf(ws.recv()) == data.hex()
            await ws.send([b"part1" * 100, b"part2" * 100])
            assert await wf(ws.recv()) == b"part1" * 100 + b"part2" * 100


@pytest.mark.parametrize("cfg", ["default", "no_takeover_both", "windows_15_10", "window_8"])
async def test_our_client_to_websockets_server(cfg):
    if cfg == "window_8" and WEBSOCKETS_VERSION < (17, 0):
        pytest.skip("websockets < 17 answers an 8-bit window offer with 500")
    async def echo(ws):
        async for message in ws:
            await ws.send(message)
    async with wsl_serve(echo, "127.0.0.1", 0, compression="deflate", max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        listener = RecordingListener()
        transport, _ = await wf(picows.ws_connect(lambda: listener, f"ws://127.0.0.1:{port}/",
                                                  compression=CONFIGS[cfg]))
        if cfg == "window_8":
            # websockets declines 8-bit windows (zlib cannot write them):
            # the connection goes on uncompressed.
            assert transport.compression is None
        else:
            assert transport.compression is not None
        for i, n in enumerate([0, 10, 5000, 300_000]):
            data = payload(n, i)
            transport.send(WSMsgType.BINARY, data)
            assert await listener.next_message() == (WSMsgType.BINARY, data)
        transport.send(WSMsgType.TEXT, b"ab" * 500, fin=False)
        transport.send(WSMsgType.CONTINUATION, b"cd" * 500, fin=True)
        assert await listener.next_message() == (WSMsgType.TEXT, b"ab" * 500 + b"cd" * 500)
        transport.send_close(picows.WSCloseCode.OK)
        await wf(transport.wait_disconnected())


async def test_aiohttp_client_to_our_server():
    async with ws_server(compression="deflate") as srv:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(srv.url(), compress=15) as ws:
                assert ws.compress == 15
                for data in (b"", b"a" * 100, payload(200_000, 3)):
                    await ws.send_bytes(data)
                    msg = await wf(ws.receive())
                    assert msg.data == data


async def test_our_client_to_aiohttp_server():
    from aiohttp import web

    async def handler(request):
        ws = web.WebSocketResponse(compress=True)
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_bytes(msg.data) if msg.type == aiohttp.WSMsgType.BINARY \
                else await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        listener = RecordingListener()
        transport, _ = await wf(picows.ws_connect(lambda: listener, f"ws://127.0.0.1:{port}/",
                                                  compression="deflate"))
        assert transport.compression is not None
        for data in (b"", b"q" * 100, payload(200_000, 4)):
            transport.send(WSMsgType.BINARY, data)
            assert await listener.next_message() == (WSMsgType.BINARY, data)
        transport.disconnect()
        await wf(transport.wait_disconnected())
    finally:
        await runner.cleanup()


# -- subprotocols -------------------------------------------------------------

async def test_subprotocol_server_preference():
    async with ws_server(subprotocols=["v2.feed", "v1.feed"]) as srv:
        transport, _ = await wf(picows.ws_connect(RecordingListener, srv.url(),
                                                  subprotocols=["v1.feed", "v2.feed"]))
        assert transport.subprotocol == "v2.feed"
        assert srv.listeners[0].transport.subprotocol == "v2.feed"
        transport.disconnect()


async def test_subprotocol_none_when_no_overlap():
    async with ws_server(subprotocols=["a"]) as srv:
        transport, _ = await wf(picows.ws_connect(RecordingListener, srv.url(),
                                                  subprotocols=["b"]))
        assert transport.subprotocol is None
        transport.disconnect()
    async with ws_server() as srv:
        transport, _ = await wf(picows.ws_connect(RecordingListener, srv.url()))
        assert transport.subprotocol is None
        transport.disconnect()


async def test_subprotocol_chosen_by_factory():
    def factory(request):
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        choice = "json" if "json" in offered else "bin"
        response = picows.WSUpgradeResponse.create_101_response(
            extra_headers={"Sec-WebSocket-Protocol": choice})
        return picows.WSUpgradeResponseWithListener(response, RecordingListener(echo=True))
    async with ws_server(factory, subprotocols=["bin"]) as srv:
        transport, _ = await wf(picows.ws_connect(RecordingListener, srv.url(),
                                                  subprotocols=["bin", "json"]))
        assert transport.subprotocol == "json"
        transport.disconnect()


async def test_client_rejects_unoffered_subprotocol():
    from helpers import RawServer
    async with RawServer() as raw:
        task = asyncio.ensure_future(picows.ws_connect(RecordingListener, raw.url(),
                                                       subprotocols=["a"]))
        conn = await raw.accept()
        await conn.server_handshake(extra=b"Sec-WebSocket-Protocol: b\r\n")
        with pytest.raises(picows.WSInvalidHeaderError) as info:
            await wf(task)
        assert info.value.name == "Sec-WebSocket-Protocol"


async def test_client_rejects_bad_extension_answer():
    from helpers import RawServer
    async with RawServer() as raw:
        task = asyncio.ensure_future(picows.ws_connect(RecordingListener, raw.url(),
                                                       compression="deflate"))
        conn = await raw.accept()
        await conn.server_handshake(
            extra=b"Sec-WebSocket-Extensions: permessage-deflate; bogus_param\r\n")
        with pytest.raises(picows.WSInvalidHeaderError) as info:
            await wf(task)
        assert info.value.name == "Sec-WebSocket-Extensions"


def test_invalid_arguments():
    async def go(**kw):
        await picows.ws_connect(RecordingListener, "ws://127.0.0.1:9/", **kw)
    with pytest.raises(ValueError):
        asyncio.run(go(compression="gzip"))
    with pytest.raises(TypeError):
        asyncio.run(go(subprotocols="chat"))
