"""Behaviour picows users rely on (its own test suite checks it, see tests/compat/):
WSFrame's text form and field types, WSMsgType order, picows' error texts,
on_ws_disconnected errors, close_handshake bookkeeping, the loop-thread check,
the HTTP head limit and the accept_rsv_bits opt-in."""

import asyncio
import concurrent.futures

import pytest

import picows_like as picows
from picows_like._frame import make_test_frame
from helpers import (OP_BINARY, OP_CLOSE, RawConn, RawServer, RecordingListener,
                     build_frame, close_payload, connect, wf, ws_server)

WSMsgType = picows.WSMsgType


# ----------------------------------------------------------------------------- values

def test_frame_str_is_picows_format():
    frame = make_test_frame(WSMsgType.BINARY, b"abc", fin=False, rsv1=True)
    assert str(frame) == ("WSFrame(BINARY, fin=False, rsv1=True, rsv2=False, rsv3=False, "
                          "last_in_buffer=True, payload_sz=3, tail_sz=0)")
    assert repr(frame) == str(frame)


def test_frame_flags_are_ints_as_in_picows():
    frame = make_test_frame(WSMsgType.TEXT, b"x", fin=True, rsv1=False)
    for value, expected in ((frame.fin, 1), (frame.rsv1, 0), (frame.rsv2, 0),
                            (frame.rsv3, 0), (frame.last_in_buffer, 1)):
        assert type(value) is int and value == expected


def test_msg_type_order_is_picows_order():
    assert [m.name for m in WSMsgType] == ["CONTINUATION", "TEXT", "BINARY", "PING", "PONG",
                                           "CLOSE"]


# ----------------------------------------------------------------------------- client side

async def _client_error(response: bytes, **kwargs):
    """Connect to a raw server that answers the upgrade with `response`."""
    async with RawServer() as srv:
        task = asyncio.ensure_future(connect(srv.url(), **kwargs))
        conn = await srv.accept()
        await conn.read_request()
        await conn.send(response)
        with pytest.raises(picows.WSError) as info:
            await wf(task)
        return info.value


async def test_non_101_answer_says_status_101():
    exc = await _client_error(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(exc, picows.WSInvalidStatusError)
    assert "status 101" in str(exc) and "404" in str(exc)


async def test_bad_upgrade_header_text():
    exc = await _client_error(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
                              b"Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n")
    assert isinstance(exc, picows.WSInvalidUpgradeError)
    assert "invalid upgrade header" in str(exc)


@pytest.mark.parametrize("complete", [False, True])
async def test_oversized_upgrade_response_says_max_size(complete):
    response = b"HTTP/1.1 101 Switching Protocols\r\nX-Big: " + b"a" * (16 * 1024)
    exc = await _client_error(response + (b"\r\n\r\n" if complete else b""),
                              read_buffer_init_size=64 * 1024)
    assert isinstance(exc, picows.WSInvalidMessageError)
    assert "max_size" in str(exc)


async def test_exception_in_on_ws_disconnected_comes_out_of_wait_disconnected():
    class Boom(Exception):
        pass

    class Listener(RecordingListener):
        def on_ws_disconnected(self, transport):
            super().on_ws_disconnected(transport)
            raise Boom("from on_ws_disconnected")

    async with ws_server() as srv:
        transport, _ = await connect(srv.url(), Listener)
        transport.disconnect()
        with pytest.raises(Boom):
            await wf(transport.wait_disconnected())


async def test_methods_from_another_thread_raise_runtime_error():
    loop = asyncio.get_running_loop()
    async with ws_server() as srv:
        transport, _ = await connect(srv.url())
        try:
            calls = [("send", (WSMsgType.BINARY, b"x")), ("send_ping", ()), ("send_pong", ()),
                     ("send_close", ()), ("disconnect", ()),
                     ("send_reuse_external_bytearray", (WSMsgType.BINARY, bytearray(20), 14))]
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                for name, args in calls:
                    with pytest.raises(RuntimeError,
                                       match=f"WSTransport.{name} called from a wrong thread"):
                        await wf(loop.run_in_executor(pool, getattr(transport, name), *args))
            assert not transport.is_disconnected and not transport.is_close_frame_sent
        finally:
            transport.disconnect(False)
            await wf(transport.wait_disconnected())


# ----------------------------------------------------------------------------- server side

async def _server_listener(srv, conn):
    await conn.client_handshake()
    return await srv.next_listener()


@pytest.mark.parametrize("frame, reason", [
    (build_frame(0x4, mask=b"abcd"), b"Received frame with invalid opcode"),
    (build_frame(OP_BINARY), b"Received un-masked frame from client"),
    (build_frame(OP_BINARY, b"x" * 200, mask=b"abcd", length_bits=64),
     b"Received frame with invalid 64-bit payload length"),
    (build_frame(OP_BINARY, b"x", mask=b"abcd", length_bits=16),
     b"Received frame with invalid 16-bit payload len"),
    (build_frame(OP_CLOSE, close_payload(1000, b"\xff"), mask=b"abcd"),
     b"Received CLOSE with invalid UTF-8 reason"),
], ids=["opcode", "unmasked", "64_bit_length", "16_bit_length", "close_reason_utf8"])
async def test_close_reasons_use_picows_wording(frame, reason):
    async with ws_server() as srv:
        conn = await RawConn.open(srv.port)
        try:
            await _server_listener(srv, conn)
            await conn.send(frame)
            close = await conn.read_frame()
            assert close.opcode == OP_CLOSE
            assert reason in close.close_reason
        finally:
            conn.abort()


async def test_close_received_first_counts_as_recv_then_sent_without_a_reply():
    class Listener(RecordingListener):
        def on_ws_frame(self, transport, frame):
            if frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect(False)     # no CLOSE in reply

    async with ws_server(lambda _: Listener()) as srv:
        conn = await RawConn.open(srv.port)
        try:
            server_listener = await _server_listener(srv, conn)
            await conn.send(build_frame(OP_CLOSE, close_payload(1000, b"bye"), mask=b"abcd"))
            await server_listener.wait_disconnected()
            handshake = server_listener.transport.close_handshake
            assert handshake.sent is None
            assert handshake.recv.code == 1000 and handshake.recv.reason == "bye"
            assert handshake.recv_then_sent is True
        finally:
            conn.abort()


async def test_custom_101_for_a_plain_http_request_gets_400():
    connected = []

    class Listener(picows.WSListener):
        def on_ws_connected(self, transport):
            connected.append(transport)

    def factory(request):
        return picows.WSUpgradeResponseWithListener(
            picows.WSUpgradeResponse.create_101_response(), Listener())

    async with ws_server(factory) as srv:
        conn = await RawConn.open(srv.port)
        try:
            await conn.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            response = await conn.read_response()
            assert response.status == 400
            assert response.header("Sec-WebSocket-Accept") is None
        finally:
            conn.abort()
    assert not connected


async def test_request_head_over_16_kib_is_closed_without_an_answer():
    # picows' limit and answer (its own suite checks both).
    called = []
    async with ws_server(lambda r: called.append(r)) as srv:
        conn = await RawConn.open(srv.port)
        try:
            await conn.send(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (16 * 1024) + b"\r\n\r\n")
            assert await conn.read_to_eof() == b""
        finally:
            conn.abort()
    assert not called


async def test_accept_rsv_bits_also_lets_an_extension_interleave_fragments():
    # The application's own extension may set RSV bits and interleave data frames
    # (RFC 6455 5.2 and 5.4); without the opt-in both fail the connection.
    async with ws_server(accept_rsv_bits=True) as srv:
        conn = await RawConn.open(srv.port)
        try:
            server_listener = await _server_listener(srv, conn)
            await conn.send(build_frame(OP_BINARY, b"a", fin=False, mask=b"abcd", rsv=0x2))
            await conn.send(build_frame(OP_BINARY, b"b", mask=b"abcd"))
            first = await server_listener.next_frame()
            second = await server_listener.next_frame()
            assert (first.payload, first.fin, first.rsv2) == (b"a", False, True)
            assert (second.payload, second.fin) == (b"b", True)
        finally:
            conn.abort()
    async with ws_server() as srv:
        conn = await RawConn.open(srv.port)
        try:
            await _server_listener(srv, conn)
            await conn.send(build_frame(OP_BINARY, b"a", fin=False, mask=b"abcd"))
            await conn.send(build_frame(OP_BINARY, b"b", mask=b"abcd"))
            assert await conn.read_close_code() == 1002
        finally:
            conn.abort()
