"""Server listener factories that are coroutines (an addition over picows).

The core awaits the factory with reading paused: frames the client sent
right behind its request wait in the read buffer and are delivered after
the 101.  The handshake timeout still bounds the wait, and a client that
leaves cancels the factory.  ``request.peername`` / ``sockname`` let the
factory decide by address.
"""
import asyncio
import contextlib
from http import HTTPStatus

import pytest

import picows_like as picows
from helpers import (OP_BINARY, OP_TEXT, RawConn, RecordingListener, build_frame, build_request,
                     close_client, connect, wf)

pytestmark = pytest.mark.stricter_than_picows     # picows' factory is synchronous

WSMsgType = picows.WSMsgType


@contextlib.asynccontextmanager
async def serving(factory, **kwargs):
    """A server on an ephemeral port; yields the port."""
    server = await wf(picows.ws_create_server(factory, "127.0.0.1", 0, **kwargs))
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_async_factory_accepts_and_sees_the_peer_address():
    seen = []

    async def factory(request):
        await asyncio.sleep(0.01)
        seen.append((request.peername, request.sockname))
        return RecordingListener(echo=True)

    async with serving(factory) as port:
        client, cl = await connect(f"ws://127.0.0.1:{port}/")
        client.send(WSMsgType.BINARY, b"hello")
        assert await cl.next_message() == (WSMsgType.BINARY, b"hello")
        peer = client.underlying_transport.get_extra_info("sockname")
        assert seen == [(peer, ("127.0.0.1", port))]
        await close_client(client)


@pytest.mark.parametrize("outcome, status", [("none", 404), ("raise", 500), ("403", 403)])
async def test_async_factory_rejections(outcome, status):
    async def factory(request):
        await asyncio.sleep(0)
        if outcome == "raise":
            raise RuntimeError("boom in async factory")
        if outcome == "403":
            return picows.WSUpgradeResponseWithListener(
                picows.WSUpgradeResponse.create_error_response(HTTPStatus.FORBIDDEN, b"no"), None)
        return None

    async with serving(factory) as port:
        with pytest.raises(picows.WSInvalidStatusError) as info:
            await connect(f"ws://127.0.0.1:{port}/")
        assert info.value.response.status == status


async def test_frames_behind_the_request_wait_for_the_factory():
    async def factory(request):
        await asyncio.sleep(0.05)
        return RecordingListener(echo=True)

    async with serving(factory) as port:
        conn = await RawConn.open(port)
        await conn.send(build_request() + build_frame(OP_TEXT, b"early", mask=True))
        response = await conn.read_response()
        assert response.status == 101
        frame = await conn.read_frame()
        assert (frame.opcode, frame.payload) == (OP_TEXT, b"early")
        conn.abort()


async def test_client_leaving_cancels_the_factory():
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def factory(request):
        if request.path == b"/slow":
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return RecordingListener(echo=True)

    async with serving(factory) as port:
        conn = await RawConn.open(port)
        await conn.send(build_request("/slow"))
        await wf(started.wait())
        conn.abort()
        await wf(cancelled.wait())
        client, cl = await connect(f"ws://127.0.0.1:{port}/")      # still serving
        client.send(WSMsgType.TEXT, b"ok")
        assert await cl.next_message() == (WSMsgType.TEXT, b"ok")
        await close_client(client)


async def test_handshake_timeout_bounds_a_slow_factory():
    async def factory(request):
        await asyncio.sleep(30)

    async with serving(factory, websocket_handshake_timeout=0.1) as port:
        conn = await RawConn.open(port)
        await conn.send(build_request())
        data = await conn.read_to_eof(timeout=3)
        assert b" 101 " not in data


async def test_much_input_while_the_factory_runs_is_kept_in_order():
    # More than the 64 KiB the core buffers before it pauses reading.
    async def factory(request):
        await asyncio.sleep(0.1)
        return RecordingListener(echo=True)

    async with serving(factory) as port:
        conn = await RawConn.open(port)
        payloads = [bytes([i]) * 1000 for i in range(200)]
        await conn.send(build_request() + b"".join(
            build_frame(OP_BINARY, p, mask=True) for p in payloads))
        assert (await conn.read_response()).status == 101
        for p in payloads:
            frame = await conn.read_frame()
            assert frame.payload == p
        conn.abort()
