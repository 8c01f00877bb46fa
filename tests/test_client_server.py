"""picows_like client <-> picows_like server behaviour over loopback."""

import asyncio
import socket
from http import HTTPStatus

import pytest

import picows_like as picows
from helpers import (T, RawServer, RecordingListener, close_client,
                     compute_accept, connect, make_payload, wf, ws_server)

pytestmark = pytest.mark.asyncio

WSMsgType = picows.WSMsgType
WSCloseCode = picows.WSCloseCode

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1024 * 1024]


# -----------------------------------------------------------------------------
# Sanity: the parametrized event loop is really in use
# -----------------------------------------------------------------------------

async def test_running_loop_matches_policy(event_loop_policy):
    loop = asyncio.get_running_loop()
    if type(event_loop_policy).__module__.startswith("uvloop"):
        assert type(loop).__module__.startswith("uvloop"), type(loop)
    else:
        assert not type(loop).__module__.startswith("uvloop"), type(loop)
        assert isinstance(loop, asyncio.BaseEventLoop)


# -----------------------------------------------------------------------------
# Data transfer
# -----------------------------------------------------------------------------

@pytest.mark.parametrize("msg_type", [WSMsgType.TEXT, WSMsgType.BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("size", SIZES)
async def test_echo_roundtrip(size, msg_type):
    payload = make_payload(size, text=msg_type == WSMsgType.TEXT)
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        client.send(msg_type, payload)
        got_type, got = await cl.next_message()
        assert got_type == msg_type
        assert len(got) == size
        assert got == payload
        # The server saw exactly one unfragmented frame with the same content.
        server_listener = srv.listeners[0]
        rec = server_listener.frames[0]
        assert rec.msg_type == msg_type and rec.fin and rec.payload == payload
        await close_client(client)


async def test_several_messages_keep_order():
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        sent = [make_payload(n) for n in (3, 200, 70000, 0, 5)]
        for p in sent:
            client.send(WSMsgType.BINARY, p)
        got = [(await cl.next_message())[1] for _ in sent]
        assert got == sent
        await close_client(client)


async def test_connected_and_disconnected_callbacks():
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        assert cl.connected.done()
        assert cl.connected.result() is client
        sl = await srv.next_listener()
        assert sl.connected_count == 1
        assert not sl.transport.is_disconnected
        assert not client.is_disconnected

        client.disconnect()
        await wf(client.wait_disconnected())
        await sl.wait_disconnected()
        assert cl.disconnected_count == 1 and sl.disconnected_count == 1
        assert client.is_disconnected and sl.transport.is_disconnected
        # The same transport object is passed to every callback.
        assert all(t is client for t in cl.transports_seen)
        assert all(t is sl.transport for t in sl.transports_seen)


async def test_fragmented_message_frames():
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        client.send(WSMsgType.TEXT, b"hel", fin=False)
        client.send(WSMsgType.CONTINUATION, b"lo ", fin=False)
        client.send(WSMsgType.CONTINUATION, b"world", fin=True)
        sl = await srv.next_listener()
        got = [await sl.next_frame() for _ in range(3)]
        assert [(f.msg_type, f.fin, f.payload) for f in got] == [
            (WSMsgType.TEXT, False, b"hel"),
            (WSMsgType.CONTINUATION, False, b"lo "),
            (WSMsgType.CONTINUATION, True, b"world"),
        ]
        # Echoed back frame by frame, the client sees the same structure.
        back = [await cl.next_frame() for _ in range(3)]
        assert [(f.msg_type, f.fin, f.payload) for f in back] == \
            [(f.msg_type, f.fin, f.payload) for f in got]
        assert await cl.next_message() == (WSMsgType.TEXT, b"hello world")
        await close_client(client)


async def test_fragmented_message_with_interleaved_ping():
    async with ws_server(enable_auto_pong=False) as srv:
        client, cl = await connect(srv.url())
        client.send(WSMsgType.BINARY, b"\x01\x02", fin=False)
        client.send_ping(b"in-between")
        client.send(WSMsgType.CONTINUATION, b"\x03", fin=True)
        sl = await srv.next_listener()
        got = [await sl.next_frame() for _ in range(3)]
        assert [(f.msg_type, f.fin, f.payload) for f in got] == [
            (WSMsgType.BINARY, False, b"\x01\x02"),
            (WSMsgType.PING, True, b"in-between"),
            (WSMsgType.CONTINUATION, True, b"\x03"),
        ]
        await close_client(client)


@pytest.mark.parametrize("offset", [14, 15, 64])
@pytest.mark.parametrize("size", [0, 10, 126, 70000])
async def test_send_reuse_external_bytearray(offset, size):
    payload = make_payload(size)
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        buf = bytearray(b"\xee" * offset) + bytearray(payload)
        client.send_reuse_external_bytearray(WSMsgType.BINARY, buf, offset)
        rec = await cl.next_frame()
        assert (rec.msg_type, rec.fin, rec.payload) == (WSMsgType.BINARY, True, payload)

        # And the server side (unmasked path) as well.
        sl = await srv.next_listener()
        sbuf = bytearray(b"\x00" * offset) + bytearray(payload)
        sl.transport.send_reuse_external_bytearray(WSMsgType.TEXT, sbuf, offset)
        rec = await cl.next_frame()
        assert (rec.msg_type, rec.fin, rec.payload) == (WSMsgType.TEXT, True, payload)
        await close_client(client)


@pytest.mark.parametrize("offset", [0, 1, 13])
async def test_send_reuse_external_bytearray_small_offset_raises(offset):
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        buf = bytearray(32)
        with pytest.raises(ValueError):
            client.send_reuse_external_bytearray(WSMsgType.BINARY, buf, offset)
        # Nothing was sent; the connection is still usable.
        client.send(WSMsgType.BINARY, b"still-ok")
        assert await cl.next_message() == (WSMsgType.BINARY, b"still-ok")
        await close_client(client)


async def test_send_str_is_utf8_encoded():
    text = "héllo wörld ✓ 漢字"
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        client.send(WSMsgType.TEXT, text)
        sl = await srv.next_listener()
        rec = await sl.next_frame()
        assert rec.msg_type == WSMsgType.TEXT
        assert rec.payload == text.encode("utf-8")
        assert await cl.next_message() == (WSMsgType.TEXT, text.encode("utf-8"))
        await close_client(client)


async def test_send_accepts_bytes_like_objects():
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        client.send(WSMsgType.BINARY, bytearray(b"ba"))
        client.send(WSMsgType.BINARY, memoryview(b"xxmvxx")[2:4])
        client.send(WSMsgType.BINARY, None)
        assert await cl.next_message() == (WSMsgType.BINARY, b"ba")
        assert await cl.next_message() == (WSMsgType.BINARY, b"mv")
        assert await cl.next_message() == (WSMsgType.BINARY, b"")
        await close_client(client)


# -----------------------------------------------------------------------------
# Ping / pong
# -----------------------------------------------------------------------------

async def test_ping_pong_delivered_when_auto_pong_disabled():
    async with ws_server(enable_auto_pong=False) as srv:
        client, cl = await connect(srv.url(), enable_auto_pong=False)
        sl = await srv.next_listener()
        client.send_ping(b"ping-payload")
        client.send_ping()
        client.send_pong(b"pong-payload")
        got = [await sl.next_frame() for _ in range(3)]
        assert [(f.msg_type, f.payload) for f in got] == [
            (WSMsgType.PING, b"ping-payload"),
            (WSMsgType.PING, b""),
            (WSMsgType.PONG, b"pong-payload"),
        ]
        # Nobody answered the ping automatically: the client got nothing.
        sl.transport.send(WSMsgType.TEXT, b"marker")
        rec = await cl.next_frame()
        assert (rec.msg_type, rec.payload) == (WSMsgType.TEXT, b"marker")
        # Server -> client ping is delivered to the client's listener too.
        sl.transport.send_ping(b"from-server")
        rec = await cl.next_frame()
        assert (rec.msg_type, rec.payload) == (WSMsgType.PING, b"from-server")
        await close_client(client)


async def test_auto_pong_replies_with_same_payload():
    async with ws_server() as srv:  # enable_auto_pong=True is the default
        client, cl = await connect(srv.url())
        sl = await srv.next_listener()
        client.send_ping(b"are you there?")
        rec = await cl.next_frame()
        assert (rec.msg_type, rec.fin, rec.payload) == (WSMsgType.PONG, True, b"are you there?")
        client.send(WSMsgType.TEXT, b"marker")
        first = await sl.next_frame()
        # The PING was consumed by the library; the first frame the server
        # listener saw is the marker sent after it.
        assert (first.msg_type, first.payload) == (WSMsgType.TEXT, b"marker")
        assert all(f.msg_type != WSMsgType.PING for f in sl.frames)

        # Same in the other direction (client auto-pong).
        sl.transport.send_ping(b"srv")
        rec = await sl.wait_frame(WSMsgType.PONG)
        assert rec.payload == b"srv"
        assert all(f.msg_type != WSMsgType.PING for f in cl.frames)
        await close_client(client)


async def test_measure_roundtrip_time():
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        rtts = await wf(client.measure_roundtrip_time(3))
        assert len(rtts) == 3
        assert all(isinstance(x, float) and 0 <= x < T for x in rtts)
        await close_client(client)


# -----------------------------------------------------------------------------
# Close handshake
# -----------------------------------------------------------------------------

async def test_send_close_then_sends_are_noops():
    async with RawServer() as raw:
        task = asyncio.ensure_future(connect(raw.url()))
        conn = await raw.accept()
        await conn.server_handshake()
        client, cl = await task

        assert not client.is_close_frame_sent
        client.send_close(WSCloseCode.OK, b"bye")
        assert client.is_close_frame_sent
        client.send(WSMsgType.TEXT, b"after close")
        client.send(WSMsgType.BINARY, b"after close")
        client.send_ping(b"p")
        client.send_pong(b"p")
        client.send_reuse_external_bytearray(WSMsgType.BINARY, bytearray(20), 14)
        client.send_close(WSCloseCode.GOING_AWAY, b"second")
        assert client.is_close_frame_sent
        client.disconnect()

        data_frames, close = await conn.read_until_close()
        assert data_frames == []
        assert close.close_code == 1000 and close.close_reason == b"bye"
        await conn.expect_eof()
        await wf(client.wait_disconnected())
        assert client.close_handshake.sent.code == WSCloseCode.OK


async def test_peer_close_delivered_to_listener_and_echoed_by_listener():
    async with ws_server() as srv:  # echo listener replies itself
        client, cl = await connect(srv.url())
        client.send_close(WSCloseCode.GOING_AWAY, b"leaving")
        sl = await srv.next_listener()
        rec = await sl.next_frame()
        assert rec.msg_type == WSMsgType.CLOSE
        assert rec.close_code == 1001 and rec.close_message == b"leaving"
        back = await cl.wait_frame(WSMsgType.CLOSE)
        assert back.close_code == 1001
        await wf(client.wait_disconnected())
        # Only one CLOSE was received by the client.
        assert [f.msg_type for f in cl.frames].count(WSMsgType.CLOSE) == 1


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("code", [1000, 1001, 3000, 4321])
async def test_library_replies_to_close_if_listener_did_not(code):
    def factory(request):
        return RecordingListener(reply_close=False, disconnect_on_close=False)

    async with ws_server(factory) as srv:
        client, cl = await connect(srv.url())
        sl = await srv.next_listener()
        client.send_close(code, b"r")
        rec = await sl.next_frame()
        # Delivered to the listener first ...
        assert rec.msg_type == WSMsgType.CLOSE and rec.close_code == code
        # ... then answered by the library with the same code.
        back = await cl.wait_frame(WSMsgType.CLOSE)
        assert back.close_code == code
        assert sl.transport.is_close_frame_sent
        assert int(sl.transport.close_handshake.sent.code) == code
        await close_client(client)


async def test_library_close_reply_not_duplicated_when_listener_replied():
    class Replier(RecordingListener):
        def handle_frame(self, transport, frame, rec):
            if rec.msg_type == WSMsgType.CLOSE:
                transport.send_close(4005, b"mine")

    async with RawServer() as raw:
        task = asyncio.ensure_future(connect(raw.url(), Replier))
        conn = await raw.accept()
        await conn.server_handshake()
        client, cl = await task
        conn.write(bytes([0x88, 4]) + (3001).to_bytes(2, "big") + b"zz")
        _, close = await conn.read_until_close()
        assert close.close_code == 4005 and close.close_reason == b"mine"
        conn.close()
        # After the single CLOSE only EOF follows (no second CLOSE).
        await conn.expect_eof()
        await wf(client.wait_disconnected())


@pytest.mark.parametrize("code", [3000, 3999, 4000, 4999])
async def test_custom_close_code_is_int(code):
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        client.send_close(code, b"custom")
        sl = await srv.next_listener()
        rec = await sl.next_frame()
        assert rec.msg_type == WSMsgType.CLOSE
        assert isinstance(rec.close_code_obj, int)
        assert rec.close_code_obj == code
        assert int(rec.close_code_obj) == code
        back = await cl.wait_frame(WSMsgType.CLOSE)
        assert isinstance(back.close_code_obj, int) and back.close_code_obj == code
        await wf(client.wait_disconnected())


async def test_close_frame_accessors():
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        client.send_close(WSCloseCode.POLICY_VIOLATION, "réason".encode())
        sl = await srv.next_listener()
        rec = await sl.next_frame()
        assert rec.close_code_obj == WSCloseCode.POLICY_VIOLATION
        assert rec.close_message == "réason".encode()
        await wf(client.wait_disconnected())


async def test_close_handshake_attribute():
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        sl = await srv.next_listener()
        assert client.close_handshake is None
        assert sl.transport.close_handshake is None

        client.send_close(WSCloseCode.OK, b"done")
        hs = client.close_handshake
        assert hs is not None
        assert hs.sent.code == WSCloseCode.OK and hs.sent.reason == "done"
        assert hs.recv is None
        assert hs.recv_then_sent is False

        await wf(client.wait_disconnected())
        await sl.wait_disconnected()
        hs = client.close_handshake
        assert hs.recv is not None and hs.recv.code == WSCloseCode.OK
        assert hs.recv.reason == "done"
        assert hs.recv_then_sent is False

        shs = sl.transport.close_handshake
        assert shs.recv.code == WSCloseCode.OK and shs.recv.reason == "done"
        assert shs.sent.code == WSCloseCode.OK
        assert shs.recv_then_sent is True


async def test_wait_disconnected_after_server_disconnects():
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        sl = await srv.next_listener()
        wait_task = asyncio.ensure_future(client.wait_disconnected())
        await asyncio.sleep(0)
        assert not wait_task.done()
        sl.transport.disconnect()
        await wf(wait_task)
        # on_ws_disconnected has already run when wait_disconnected returns.
        assert cl.disconnected.done()
        assert client.is_disconnected
        # Awaiting again returns immediately.
        await wf(client.wait_disconnected(), 0.5)


async def test_wait_disconnected_cancel_does_not_break_it():
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        waiter = asyncio.ensure_future(client.wait_disconnected())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        client.disconnect()
        await wf(client.wait_disconnected())
        assert cl.disconnected_count == 1


@pytest.mark.parametrize("graceful", [True, False])
async def test_disconnect_is_idempotent(graceful):
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        sl = await srv.next_listener()
        client.disconnect(graceful)
        client.disconnect(graceful)
        client.disconnect(not graceful)
        await wf(client.wait_disconnected())
        client.disconnect(graceful)  # after disconnection: still a no-op
        client.disconnect()
        await sl.wait_disconnected()
        assert cl.disconnected_count == 1
        assert sl.disconnected_count == 1
        # Sends after disconnection are silently ignored.
        client.send(WSMsgType.TEXT, b"ignored")
        client.send_close(WSCloseCode.OK)


# -----------------------------------------------------------------------------
# Listener factories, headers and upgrade responses
# -----------------------------------------------------------------------------

async def test_two_argument_client_factory():
    seen = {}

    def factory(request, response):
        seen["request"] = request
        seen["response"] = response
        return RecordingListener()

    async with ws_server() as srv:
        client, cl = await connect(srv.url("/two?x=1"), factory)
        assert isinstance(cl, RecordingListener)
        assert seen["request"].method == b"GET"
        assert seen["request"].path == b"/two?x=1"
        assert seen["response"].status == HTTPStatus.SWITCHING_PROTOCOLS
        assert client.request is seen["request"] or client.request.path == b"/two?x=1"
        assert client.response.status == 101
        client.send(WSMsgType.TEXT, b"works")
        assert await cl.next_message() == (WSMsgType.TEXT, b"works")
        await close_client(client)


async def test_zero_argument_client_factory_class():
    async with ws_server() as srv:
        client, cl = await connect(srv.url(), RecordingListener)
        assert type(cl) is RecordingListener
        await close_client(client)


@pytest.mark.parametrize("form", ["dict", "list"])
async def test_extra_headers_reach_server(form):
    if form == "dict":
        extra = {"X-Custom": "value-1", "X-Other": "two words"}
    else:
        extra = [("X-Custom", "value-1"), ("X-Other", "two words"), ("X-Multi", "a"),
                 ("X-Multi", "b")]
    async with ws_server() as srv:
        client, cl = await connect(srv.url(), extra_headers=extra)
        request = srv.requests[0]
        assert request.headers["x-custom"] == "value-1"
        assert request.headers["X-OTHER"] == "two words"
        if form == "list":
            assert request.headers.getall("X-Multi") == ["a", "b"]
        # Extra headers are also visible in the client's own request object.
        assert client.request.headers["X-Custom"] == "value-1"
        await close_client(client)


async def test_server_factory_returning_none_gives_404():
    async with ws_server(lambda request: None) as srv:
        with pytest.raises(picows.WSInvalidStatusError) as ei:
            await connect(srv.url("/nowhere"))
        err = ei.value
        assert isinstance(err, picows.WSHandshakeError)
        assert err.response is not None
        assert err.response.status == HTTPStatus.NOT_FOUND
        assert srv.requests[0].path == b"/nowhere"


async def test_custom_101_response_with_extra_header():
    def factory(request):
        response = picows.WSUpgradeResponse.create_101_response(
            extra_headers={"X-Server": "yes", "X-Path": request.path.decode()})
        return picows.WSUpgradeResponseWithListener(response, RecordingListener(echo=True))

    async with ws_server(factory) as srv:
        client, cl = await connect(srv.url("/custom"))
        assert client.response.status == 101
        assert client.response.headers["X-Server"] == "yes"
        assert client.response.headers["x-path"] == "/custom"
        client.send(WSMsgType.BINARY, b"echo")
        assert await cl.next_message() == (WSMsgType.BINARY, b"echo")
        await close_client(client)


async def test_custom_error_response_with_body():
    body = b"forbidden: go away"

    def factory(request):
        response = picows.WSUpgradeResponse.create_error_response(
            HTTPStatus.FORBIDDEN, body, extra_headers=[("X-Reason", "test")])
        return picows.WSUpgradeResponseWithListener(response, None)

    async with ws_server(factory) as srv:
        with pytest.raises(picows.WSInvalidStatusError) as ei:
            await connect(srv.url())
        err = ei.value
        assert err.response.status == 403
        assert err.response.headers["X-Reason"] == "test"
        assert err.raw_body == body
        assert err.raw_header is not None and b"403" in err.raw_header


async def test_server_factory_exception_gives_error_response():
    def factory(request):
        raise RuntimeError("boom in factory")

    async with ws_server(factory) as srv:
        with pytest.raises(picows.WSInvalidStatusError) as ei:
            await connect(srv.url())
        assert ei.value.response.status >= 500


# -----------------------------------------------------------------------------
# Exceptions in callbacks
# -----------------------------------------------------------------------------

class Boom(Exception):
    pass


async def test_exception_in_client_on_ws_frame_sends_1011_and_reraises():
    class Raising(RecordingListener):
        def handle_frame(self, transport, frame, rec):
            raise Boom("client callback failed")

    async with ws_server() as srv:
        client, cl = await connect(srv.url(), Raising)
        sl = await srv.next_listener()
        client.send(WSMsgType.TEXT, b"trigger")  # echoed back -> raises
        rec = await sl.wait_frame(WSMsgType.CLOSE)
        assert rec.close_code == 1011
        with pytest.raises(Boom, match="client callback failed"):
            await wf(client.wait_disconnected())
        assert client.is_close_frame_sent


async def test_exception_in_server_on_ws_frame_sends_1011():
    class Raising(RecordingListener):
        def handle_frame(self, transport, frame, rec):
            if rec.msg_type == WSMsgType.TEXT:
                raise Boom("server callback failed")
            super().handle_frame(transport, frame, rec)

    async with ws_server(lambda r: Raising()) as srv:
        client, cl = await connect(srv.url())
        client.send(WSMsgType.TEXT, b"trigger")
        rec = await cl.wait_frame(WSMsgType.CLOSE)
        assert rec.close_code == 1011
        sl = srv.listeners[0]
        await sl.wait_disconnected()
        # A remote failure is not re-raised on the client side.
        await wf(client.wait_disconnected())


async def test_no_disconnect_on_exception_when_disabled():
    class Raising(RecordingListener):
        def handle_frame(self, transport, frame, rec):
            if rec.payload == b"raise":
                raise Boom("ignored")
            super().handle_frame(transport, frame, rec)

    async with ws_server(lambda r: Raising(echo=True), disconnect_on_exception=False) as srv:
        client, cl = await connect(srv.url())
        client.send(WSMsgType.TEXT, b"raise")
        client.send(WSMsgType.TEXT, b"still alive")
        assert await cl.next_message() == (WSMsgType.TEXT, b"still alive")
        assert not client.is_disconnected
        assert all(f.msg_type != WSMsgType.CLOSE for f in cl.frames)
        await close_client(client)


@pytest.mark.parametrize("code", [WSCloseCode.POLICY_VIOLATION, WSCloseCode.UNSUPPORTED_DATA])
async def test_protocol_error_from_callback_chooses_close_code(code):
    class Raising(RecordingListener):
        def handle_frame(self, transport, frame, rec):
            raise picows.WSProtocolError(code, "custom reason")

    async with ws_server() as srv:
        client, cl = await connect(srv.url(), Raising)
        sl = await srv.next_listener()
        client.send(WSMsgType.BINARY, b"x")
        rec = await sl.wait_frame(WSMsgType.CLOSE)
        assert rec.close_code == int(code)
        assert rec.close_message == b"custom reason"
        with pytest.raises(picows.WSProtocolError) as ei:
            await wf(client.wait_disconnected())
        assert int(ei.value.code) == int(code)


async def test_exception_in_client_on_ws_connected_is_reraised():
    class Raising(RecordingListener):
        def on_ws_connected(self, transport):
            super().on_ws_connected(transport)
            raise Boom("connected failed")

    async with ws_server() as srv:
        client, cl = await connect(srv.url(), Raising)
        sl = await srv.next_listener()
        rec = await sl.wait_frame(WSMsgType.CLOSE)
        assert rec.close_code == 1011
        with pytest.raises(Boom):
            await wf(client.wait_disconnected())


# -----------------------------------------------------------------------------
# Flow control
# -----------------------------------------------------------------------------

async def test_pause_and_resume_writing_reach_listener():
    class SlowReader(RecordingListener):
        def on_ws_connected(self, transport):
            super().on_ws_connected(transport)
            transport.underlying_transport.pause_reading()
            self.received = 0
            self.target = None
            self.all_received = asyncio.Event()

        def on_ws_frame(self, transport, frame):
            self.received += 1
            if self.target is not None and self.received >= self.target:
                self.all_received.set()

    async with ws_server(lambda r: SlowReader()) as srv:
        client, cl = await connect(srv.url())
        sl = await srv.next_listener()
        client.underlying_transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        chunk = make_payload(1024 * 1024)
        sent = 0
        for _ in range(200):  # at most 200 MiB, in practice a few MiB
            client.send(WSMsgType.BINARY, chunk)
            sent += 1
            if cl.paused.done():
                break
            await asyncio.sleep(0)
        assert cl.paused.done(), "pause_writing was never called"
        assert not cl.resumed.done()

        sl.target = sent
        sl.transport.underlying_transport.resume_reading()
        await wf(asyncio.shield(cl.resumed))
        await wf(sl.all_received.wait())
        assert sl.received == sent
        await close_client(client)


# -----------------------------------------------------------------------------
# Transport / frame attributes
# -----------------------------------------------------------------------------

async def test_is_client_side_and_is_secure():
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        sl = await srv.next_listener()
        assert client.is_client_side is True
        assert sl.transport.is_client_side is False
        assert client.is_secure is False
        assert sl.transport.is_secure is False
        assert isinstance(client.underlying_transport, asyncio.Transport) or \
            hasattr(client.underlying_transport, "get_extra_info")
        assert client.underlying_transport.get_extra_info("peername")[1] == srv.port
        await close_client(client)


async def test_request_and_response_attributes():
    async with ws_server() as srv:
        client, cl = await connect(srv.url("/path/x?q=1&r=2"))
        sl = await srv.next_listener()

        req = client.request
        assert req.method == b"GET"
        assert req.path == b"/path/x?q=1&r=2"
        assert req.version == b"HTTP/1.1"
        assert req.headers["Upgrade"].lower() == "websocket"
        assert "upgrade" in req.headers["Connection"].lower()
        assert req.headers["Sec-WebSocket-Version"] == "13"
        key = req.headers["Sec-WebSocket-Key"]

        resp = client.response
        assert resp.version == b"HTTP/1.1"
        assert resp.status == HTTPStatus.SWITCHING_PROTOCOLS
        assert resp.headers["Sec-WebSocket-Accept"] == compute_accept(key)
        assert resp.headers["upgrade"].lower() == "websocket"

        sreq = sl.transport.request
        assert sreq.method == b"GET"
        assert sreq.path == b"/path/x?q=1&r=2"
        assert sreq.version == b"HTTP/1.1"
        assert sreq.headers["sec-websocket-key"] == key
        assert sreq.headers["Host"] == f"127.0.0.1:{srv.port}"
        assert sl.transport.response.status == HTTPStatus.SWITCHING_PROTOCOLS
        await close_client(client)


async def test_frame_str_and_payload_accessors():
    results = {}

    class Inspecting(RecordingListener):
        def handle_frame(self, transport, frame, rec):
            key = rec.payload[:1]
            mv = frame.get_payload_as_memoryview()
            entry = {
                "str": str(frame),
                "mv_type": type(mv),
                "mv_bytes": bytes(mv),
                "bytes": frame.get_payload_as_bytes(),
                "size": frame.payload_size if hasattr(frame, "payload_size") else None,
            }
            try:
                entry["utf8"] = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                entry["utf8"] = UnicodeDecodeError
            try:
                entry["ascii"] = frame.get_payload_as_ascii_text()
            except UnicodeDecodeError:
                entry["ascii"] = UnicodeDecodeError
            results[key] = entry

    async with ws_server(lambda r: Inspecting()) as srv:
        client, cl = await connect(srv.url())
        sl = await srv.next_listener()
        client.send(WSMsgType.TEXT, b"ascii text")
        client.send(WSMsgType.TEXT, "ünïcode".encode())
        client.send(WSMsgType.BINARY, b"\xff\xfe\x00bin")
        for _ in range(3):
            await sl.next_frame()

    a = results[b"a"]
    assert "TEXT" in a["str"] and "fin" in a["str"]
    assert a["mv_type"] is memoryview
    assert a["mv_bytes"] == a["bytes"] == b"ascii text"
    assert a["utf8"] == "ascii text" and a["ascii"] == "ascii text"
    assert a["size"] in (None, 10)

    u = results["ü".encode()[:1]]
    assert u["utf8"] == "ünïcode"
    assert u["ascii"] is UnicodeDecodeError

    b = results[b"\xff"]
    assert "BINARY" in b["str"]
    assert b["bytes"] == b"\xff\xfe\x00bin"
    assert b["utf8"] is UnicodeDecodeError
    assert b["ascii"] is UnicodeDecodeError


def _ipv6_available():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_available(), reason="IPv6 loopback is not available")
async def test_ipv6_loopback():
    async with ws_server(host="::1") as srv:
        client, cl = await connect(srv.url("/v6"))
        assert srv.url().startswith("ws://[::1]:")
        client.send(WSMsgType.TEXT, b"over v6")
        assert await cl.next_message() == (WSMsgType.TEXT, b"over v6")
        assert client.underlying_transport.get_extra_info("peername")[0] == "::1"
        await close_client(client)


async def test_many_concurrent_clients():
    async with ws_server() as srv:
        conns = await wf(asyncio.gather(*[connect(srv.url(f"/{i}")) for i in range(20)]))
        for i, (client, cl) in enumerate(conns):
            client.send(WSMsgType.TEXT, f"client {i}".encode())
        for i, (client, cl) in enumerate(conns):
            assert await cl.next_message() == (WSMsgType.TEXT, f"client {i}".encode())
        assert sorted(r.path for r in srv.requests) == sorted(f"/{i}".encode() for i in range(20))
        for client, cl in conns:
            await close_client(client)


# -----------------------------------------------------------------------------
# Closing: prompt on TCP and TLS, whichever side closes or fails
# -----------------------------------------------------------------------------

@pytest.mark.parametrize("secure", [False, True], ids=["tcp", "tls"])
@pytest.mark.parametrize("who", ["server_closes", "client_closes", "server_fails",
                                 "client_fails"])
async def test_close_completes_without_waiting_for_timeouts(who, secure):
    # Both ends are picows_like: the server half-closes (TLS: close_notify)
    # and the client waits for it, so with close_timeout=10 both report the
    # disconnect well before any timeout could have fired.
    import time
    from proxy_servers import tls_pair

    def quiet(*_):
        return RecordingListener(reply_close=False, disconnect_on_close=False)

    skw, ckw, scheme = {}, {}, "ws"
    if secure:
        pytest.importorskip("trustme")
        server_ctx, client_ctx = tls_pair()
        skw, ckw, scheme = {"ssl": server_ctx}, {"ssl_context": client_ctx}, "wss"
    async with ws_server(quiet, close_timeout=10, **skw) as srv:
        client, cl = await connect(f"{scheme}://127.0.0.1:{srv.port}/", quiet,
                                   close_timeout=10, **ckw)
        sl = await srv.next_listener()
        t0 = time.monotonic()
        if who == "server_closes":
            sl.transport.send_close(picows.WSCloseCode.GOING_AWAY, b"bye")
        elif who == "client_closes":
            client.send_close(picows.WSCloseCode.GOING_AWAY, b"bye")
        elif who == "server_fails":
            client.send(WSMsgType.BINARY, b"x", rsv2=True)     # the server fails: 1002
        else:
            sl.transport.send(WSMsgType.BINARY, b"x", rsv2=True)
        await wf(asyncio.shield(cl.disconnected), 5)
        await wf(asyncio.shield(sl.disconnected), 5)
        assert time.monotonic() - t0 < 3, "a close timeout was needed"
        failing = {"server_fails": sl.transport, "client_fails": client}.get(who)
        for tr in (client, sl.transport):
            if tr is failing:
                with pytest.raises(picows.WSProtocolError) as info:
                    await wf(tr.wait_disconnected())
                assert int(info.value.code) == 1002
            else:
                await wf(tr.wait_disconnected())
            hs = tr.close_handshake
            expected = 1002 if failing is not None else 1001
            assert int(hs.sent.code) == expected, hs
            if tr is not failing:       # a failed side no longer reads the answer
                assert int(hs.recv.code) == expected, hs
