"""Byte-level checks with a raw-socket peer on the other end.

"server" side tests: raw client  -> picows_like server.
"client" side tests: raw server  -> picows_like client.
"""

import asyncio
import contextlib

import pytest

import picows_like as picows
from helpers import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawConn,
                     RawServer, RecordingListener, build_frame, build_request, close_payload,
                     compute_accept, connect, get_header, make_payload, new_key, wf, ws_server)

pytestmark = pytest.mark.asyncio

WSMsgType = picows.WSMsgType
WSCloseCode = picows.WSCloseCode

SIDES = ["server", "client"]


@contextlib.asynccontextmanager
async def raw_client_to_server(listener_factory=None, **server_kwargs):
    """picows_like server + handshaked raw client. Yields (conn, server_listener)."""
    if listener_factory is None:
        def listener_factory(request):
            return RecordingListener()
    async with ws_server(listener_factory, **server_kwargs) as srv:
        conn = await RawConn.open(srv.port)
        try:
            await conn.client_handshake()
            sl = await srv.next_listener()
            yield conn, sl
        finally:
            conn.abort()


@contextlib.asynccontextmanager
async def raw_server_to_client(listener_factory=RecordingListener, **client_kwargs):
    """Raw server + connected picows_like client. Yields (conn, client, listener)."""
    async with RawServer() as raw:
        task = asyncio.ensure_future(connect(raw.url(), listener_factory, **client_kwargs))
        try:
            conn = await raw.accept()
            await conn.server_handshake()
            client, cl = await wf(task)
        except BaseException:
            task.cancel()
            raise
        try:
            yield conn, client, cl
        finally:
            client.disconnect(False)
            with contextlib.suppress(Exception):
                await wf(client.wait_disconnected(), 1)


def expected_length_class(size):
    if size < 126:
        return size, 2
    if size < 65536:
        return 126, 4
    return 127, 10


# -----------------------------------------------------------------------------
# Framing on the wire
# -----------------------------------------------------------------------------

WIRE_SIZES = [0, 1, 125, 126, 127, 65535, 65536, 100000]


async def test_client_frames_are_masked_with_fresh_keys_and_minimal_lengths():
    async with raw_server_to_client() as (conn, client, cl):
        payloads = [make_payload(n) for n in WIRE_SIZES]
        for p in payloads:
            client.send(WSMsgType.BINARY, p)
        client.send_ping(b"ping!")
        masks = []
        for p in payloads:
            f = await conn.read_frame()
            code, header_len = expected_length_class(len(p))
            assert f.opcode == OP_BINARY and f.fin and f.rsv == 0
            assert f.masked, "client frames must be masked"
            assert f.length_code == code
            assert len(f.header) == header_len + 4
            assert f.payload == p
            masks.append(f.mask)
        ping = await conn.read_frame()
        assert ping.opcode == OP_PING and ping.masked and ping.payload == b"ping!"
        masks.append(ping.mask)
        assert len(set(masks)) == len(masks), f"mask keys repeat: {masks}"


async def test_client_masking_changes_payload_bytes():
    async with raw_server_to_client() as (conn, client, cl):
        plain = b"A" * 64
        client.send(WSMsgType.TEXT, plain)
        raw_header = await wf(conn.reader.readexactly(6))
        assert raw_header[1] == 0x80 | 64
        raw_payload = await wf(conn.reader.readexactly(64))
        mask = raw_header[2:6]
        if mask != b"\x00\x00\x00\x00":
            assert raw_payload != plain
        assert bytes(b ^ mask[i % 4] for i, b in enumerate(raw_payload)) == plain


async def test_client_text_fin_rsv_bits_on_wire():
    async with raw_server_to_client() as (conn, client, cl):
        client.send(WSMsgType.TEXT, b"part1", fin=False)
        client.send(WSMsgType.CONTINUATION, b"part2", fin=True)
        client.send(WSMsgType.BINARY, b"r", rsv1=True)
        f1, f2, f3 = [await conn.read_frame() for _ in range(3)]
        assert (f1.opcode, f1.fin, f1.payload) == (OP_TEXT, False, b"part1")
        assert (f2.opcode, f2.fin, f2.payload) == (OP_CONT, True, b"part2")
        assert (f3.opcode, f3.rsv, f3.payload) == (OP_BINARY, 4, b"r")


async def test_server_frames_are_unmasked_with_minimal_lengths():
    def factory(request):
        return RecordingListener(echo=True)

    async with raw_client_to_server(factory) as (conn, sl):
        payloads = [make_payload(n) for n in WIRE_SIZES]
        for p in payloads:
            await conn.send(build_frame(OP_BINARY, p, mask=True))
        for p in payloads:
            f = await conn.read_frame()
            code, header_len = expected_length_class(len(p))
            assert f.opcode == OP_BINARY and f.fin and f.rsv == 0
            assert not f.masked, "server frames must not be masked"
            assert f.length_code == code
            assert len(f.header) == header_len
            assert f.payload == p
        sl.transport.send_ping(b"srv-ping")
        ping = await conn.read_frame()
        assert (ping.opcode, ping.masked, ping.payload) == (OP_PING, False, b"srv-ping")


async def test_server_auto_pong_on_wire():
    async with raw_client_to_server() as (conn, sl):
        await conn.send(build_frame(OP_PING, b"x" * 125, mask=True))
        f = await conn.read_frame()
        assert (f.opcode, f.fin, f.masked, f.payload) == (OP_PONG, True, False, b"x" * 125)


@pytest.mark.stricter_than_picows
async def test_send_close_without_code_sends_empty_payload():
    # Code 0 / 1005 must never appear on the wire: a CLOSE without a code has
    # an empty payload.
    async with raw_server_to_client() as (conn, client, cl):
        client.send_close()
        _, close = await conn.read_until_close()
        assert close.payload == b""


async def test_send_close_with_code_and_reason_on_wire():
    async with raw_server_to_client() as (conn, client, cl):
        client.send_close(WSCloseCode.GOING_AWAY, "żegnaj".encode())
        before, close = await conn.read_until_close()
        assert before == []
        assert close.masked and close.fin
        assert close.close_code == 1001
        assert close.close_reason == "żegnaj".encode()


# -----------------------------------------------------------------------------
# Protocol violations
# -----------------------------------------------------------------------------

def _case(name, build, code=1002, stricter=False, **kwargs):
    marks = [pytest.mark.stricter_than_picows] if stricter else []
    return pytest.param(build, code, kwargs, id=name, marks=marks)


VIOLATIONS = [
    _case("ping_without_fin", lambda m: build_frame(OP_PING, b"x", fin=False, mask=m)),
    _case("pong_without_fin", lambda m: build_frame(OP_PONG, b"x", fin=False, mask=m)),
    _case("close_without_fin",
          lambda m: build_frame(OP_CLOSE, close_payload(1000), fin=False, mask=m)),
    _case("ping_126_bytes", lambda m: build_frame(OP_PING, b"p" * 126, mask=m)),
    _case("pong_200_bytes", lambda m: build_frame(OP_PONG, b"p" * 200, mask=m)),
    _case("close_126_bytes",
          lambda m: build_frame(OP_CLOSE, close_payload(1000, b"r" * 124), mask=m)),
] + [
    _case(f"opcode_{op:#x}", (lambda op: lambda m: build_frame(op, b"abc", mask=m))(op))
    for op in (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF)
] + [
    _case("rsv1_text", lambda m: build_frame(OP_TEXT, b"abc", rsv=4, mask=m), stricter=True),
    _case("rsv2_binary", lambda m: build_frame(OP_BINARY, b"abc", rsv=2, mask=m),
          stricter=True),
    _case("rsv3_binary", lambda m: build_frame(OP_BINARY, b"abc", rsv=1, mask=m),
          stricter=True),
    _case("rsv1_ping", lambda m: build_frame(OP_PING, b"abc", rsv=4, mask=m), stricter=True),
    _case("continuation_without_start",
          lambda m: build_frame(OP_CONT, b"abc", mask=m), stricter=True),
    _case("text_while_fragmented",
          lambda m: build_frame(OP_TEXT, b"a", fin=False, mask=m)
          + build_frame(OP_TEXT, b"b", mask=m), stricter=True),
    _case("binary_while_fragmented",
          lambda m: build_frame(OP_BINARY, b"a", fin=False, mask=m)
          + build_frame(OP_CONT, b"b", fin=False, mask=m)
          + build_frame(OP_BINARY, b"c", mask=m), stricter=True),
    _case("close_1_byte_payload", lambda m: build_frame(OP_CLOSE, b"\x03", mask=m)),
    _case("close_code_0", lambda m: build_frame(OP_CLOSE, close_payload(0), mask=m),
          stricter=True),
    _case("close_code_999", lambda m: build_frame(OP_CLOSE, close_payload(999), mask=m)),
    _case("close_code_1004", lambda m: build_frame(OP_CLOSE, close_payload(1004), mask=m)),
    _case("close_code_1005", lambda m: build_frame(OP_CLOSE, close_payload(1005), mask=m)),
    _case("close_code_1006", lambda m: build_frame(OP_CLOSE, close_payload(1006), mask=m),
          stricter=True),
    _case("close_code_1015", lambda m: build_frame(OP_CLOSE, close_payload(1015), mask=m)),
    _case("close_code_1016", lambda m: build_frame(OP_CLOSE, close_payload(1016), mask=m)),
    _case("close_code_2999", lambda m: build_frame(OP_CLOSE, close_payload(2999), mask=m)),
    _case("close_code_5000", lambda m: build_frame(OP_CLOSE, close_payload(5000), mask=m),
          stricter=True),
    _case("close_code_65535", lambda m: build_frame(OP_CLOSE, close_payload(65535), mask=m),
          stricter=True),
    _case("close_reason_invalid_utf8",
          lambda m: build_frame(OP_CLOSE, close_payload(1000, b"ok\xff\xfe"), mask=m),
          code=1007),
    _case("close_reason_truncated_utf8",
          lambda m: build_frame(OP_CLOSE, close_payload(1000, "ż".encode()[:1]), mask=m),
          code=1007),
    _case("frame_bigger_than_max_frame_size",
          lambda m: build_frame(OP_BINARY, b"z" * 1001, mask=m), code=1009,
          max_frame_size=1000),
    _case("huge_64bit_length",
          lambda m: build_frame(OP_BINARY, b"", length_bits=64, length_override=1 << 40, mask=m),
          code=1009),
    _case("non_minimal_16bit_length",
          lambda m: build_frame(OP_BINARY, b"x" * 100, length_bits=16, mask=m)),
    _case("non_minimal_64bit_length",
          lambda m: build_frame(OP_BINARY, b"x" * 200, length_bits=64, mask=m)),
    _case("non_minimal_64bit_length_tiny",
          lambda m: build_frame(OP_BINARY, b"x" * 5, length_bits=64, mask=m)),
    _case("64bit_length_msb_set",
          lambda m: build_frame(OP_BINARY, b"", length_bits=64, length_override=1 << 63,
                                mask=m)),
]


async def _check_violation_against_server(data, code, server_kwargs, before_frames=()):
    async with raw_client_to_server(**server_kwargs) as (conn, sl):
        await conn.send(data)
        before, close = await conn.read_until_close()
        assert before == []
        assert not close.masked, "server CLOSE must not be masked"
        assert close.close_code == code, f"expected close code {code}, got {close.close_code}"
        await conn.read_to_eof()  # the server closes the connection
        await sl.wait_disconnected()
        return sl


async def _check_violation_against_client(data, code, client_kwargs):
    async with raw_server_to_client(**client_kwargs) as (conn, client, cl):
        await conn.send(data)
        before, close = await conn.read_until_close()
        assert before == []
        assert close.masked, "client CLOSE must be masked"
        assert close.close_code == code, f"expected close code {code}, got {close.close_code}"
        conn.shut_write()         # the server closes first; the client waits for it
        with pytest.raises(picows.WSProtocolError) as ei:
            await wf(client.wait_disconnected())
        assert int(ei.value.code) == code
        await conn.read_to_eof()  # the client closes the connection
        return cl


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("build, code, kwargs", VIOLATIONS)
async def test_protocol_violation(side, build, code, kwargs):
    if side == "server":
        await _check_violation_against_server(build(True), code, kwargs)
    else:
        await _check_violation_against_client(build(None), code, kwargs)


async def test_server_rejects_unmasked_frame():
    sl = await _check_violation_against_server(build_frame(OP_TEXT, b"plain"), 1002, {})
    assert all(f.msg_type != WSMsgType.TEXT for f in sl.frames)


async def test_server_rejects_unmasked_control_frame():
    await _check_violation_against_server(build_frame(OP_PING, b"plain"), 1002, {})


async def test_client_rejects_masked_frame():
    cl = await _check_violation_against_client(
        build_frame(OP_TEXT, b"masked", mask=True), 1002, {})
    assert all(f.msg_type != WSMsgType.TEXT for f in cl.frames)


async def test_max_frame_size_boundary_is_inclusive():
    async with raw_client_to_server(lambda r: RecordingListener(echo=True),
                                    max_frame_size=1000) as (conn, sl):
        await conn.send(build_frame(OP_BINARY, b"q" * 1000, mask=True))
        f = await conn.read_frame()
        assert f.opcode == OP_BINARY and f.payload == b"q" * 1000


@pytest.mark.parametrize("side", SIDES)
async def test_valid_frame_before_bad_frame_is_delivered(side):
    m = True if side == "server" else None
    data = build_frame(OP_TEXT, b"good one", mask=m) + build_frame(0x5, b"bad", mask=m)
    if side == "server":
        listener = await _check_violation_against_server(data, 1002, {})
    else:
        listener = await _check_violation_against_client(data, 1002, {})
    assert listener.frames, "the valid frame was not delivered"
    first = listener.frames[0]
    assert (first.msg_type, first.fin, first.payload) == (WSMsgType.TEXT, True, b"good one")


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                  1012, 1013, 1014, 3000, 4999])
async def test_valid_close_codes_accepted(side, code):
    if side == "server":
        async with raw_client_to_server() as (conn, sl):
            await conn.send(build_frame(OP_CLOSE, close_payload(code, b"why"), mask=True))
            rec = await sl.wait_frame(WSMsgType.CLOSE)
            assert rec.close_code == code and rec.close_message == b"why"
            _, close = await conn.read_until_close()
            assert close.close_code == code  # listener echoed it
    else:
        async with raw_server_to_client() as (conn, client, cl):
            await conn.send(build_frame(OP_CLOSE, close_payload(code, b"why")))
            rec = await cl.wait_frame(WSMsgType.CLOSE)
            assert rec.close_code == code and rec.close_message == b"why"
            _, close = await conn.read_until_close()
            assert close.close_code == code
            conn.close()
            # A peer-initiated close never makes wait_disconnected raise.
            await wf(client.wait_disconnected())


@pytest.mark.parametrize("side", SIDES)
async def test_empty_close_payload_is_valid(side):
    if side == "server":
        async with raw_client_to_server() as (conn, sl):
            await conn.send(build_frame(OP_CLOSE, b"", mask=True))
            rec = await sl.wait_frame(WSMsgType.CLOSE)
    else:
        async with raw_server_to_client() as (conn, client, cl):
            await conn.send(build_frame(OP_CLOSE, b""))
            rec = await cl.wait_frame(WSMsgType.CLOSE)
            conn.close()
            await wf(client.wait_disconnected())
    assert rec.payload == b""
    assert rec.close_code == 0  # WSCloseCode.NO_INFO
    assert rec.close_message is None


@pytest.mark.parametrize("side", SIDES)
async def test_frames_after_close_are_not_a_crash(side):
    # Peer sends CLOSE then garbage; the connection must still end cleanly.
    m = True if side == "server" else None
    data = build_frame(OP_CLOSE, close_payload(1000), mask=m) + b"\x00" * 3
    if side == "server":
        async with raw_client_to_server() as (conn, sl):
            await conn.send(data)
            rec = await sl.wait_frame(WSMsgType.CLOSE)
            assert rec.close_code == 1000
            await conn.read_to_eof()
            await sl.wait_disconnected()
    else:
        async with raw_server_to_client() as (conn, client, cl):
            await conn.send(data)
            rec = await cl.wait_frame(WSMsgType.CLOSE)
            assert rec.close_code == 1000
            await conn.read_to_eof()


# -----------------------------------------------------------------------------
# Partial reads
# -----------------------------------------------------------------------------

def _small_stream(mask):
    frames = [
        (OP_TEXT, True, b"hello"),
        (OP_BINARY, True, make_payload(300)),
        (OP_PING, True, b"p"),
        (OP_TEXT, False, b"frag"),
        (OP_CONT, False, b"men"),
        (OP_CONT, True, b"ted"),
        (OP_BINARY, True, b""),
        (OP_TEXT, True, make_payload(125, text=True)),
        (OP_PONG, True, b"q"),
        (OP_BINARY, True, make_payload(126)),
    ]
    data = b"".join(build_frame(op, p, fin=fin, mask=mask) for op, fin, p in frames)
    expected = [(WSMsgType(op), fin, p) for op, fin, p in frames]
    return data, expected


async def test_server_receives_stream_one_byte_at_a_time():
    data, expected = _small_stream(mask=True)
    async with raw_client_to_server(enable_auto_pong=False) as (conn, sl):
        await wf(conn.send_trickle(data, 1), 10)
        got = [await sl.next_frame() for _ in expected]
        assert [(f.msg_type, f.fin, f.payload) for f in got] == expected
        assert await sl.next_message() == (WSMsgType.TEXT, b"hello")


async def test_client_receives_stream_one_byte_at_a_time():
    data, expected = _small_stream(mask=None)
    async with raw_server_to_client(enable_auto_pong=False) as (conn, client, cl):
        await wf(conn.send_trickle(data, 1), 10)
        got = [await cl.next_frame() for _ in expected]
        assert [(f.msg_type, f.fin, f.payload) for f in got] == expected


async def test_client_receives_large_frame_in_many_tiny_writes():
    big = make_payload(70000)
    medium = make_payload(300)
    async with raw_server_to_client() as (conn, client, cl):
        frame1 = build_frame(OP_BINARY, medium)
        await wf(conn.send_trickle(frame1, 3), 10)
        frame2 = build_frame(OP_BINARY, big)
        await wf(conn.send_trickle(frame2[:10], 1), 10)   # 64-bit header byte by byte
        await wf(conn.send_trickle(frame2[10:], 997), 10)
        r1 = await cl.next_frame()
        r2 = await cl.next_frame()
        assert (r1.msg_type, r1.fin, r1.payload) == (WSMsgType.BINARY, True, medium)
        assert (r2.msg_type, r2.fin, r2.payload) == (WSMsgType.BINARY, True, big)


async def test_handshake_and_first_frame_in_one_segment():
    # The 101 response and the first frame arrive in the same write.
    async with RawServer() as raw:
        task = asyncio.ensure_future(connect(raw.url()))
        conn = await raw.accept()
        _, headers = await conn.read_request()
        accept = compute_accept(get_header(headers, "Sec-WebSocket-Key"))
        await conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode()
                        + b"\r\n\r\n" + build_frame(OP_TEXT, b"right after 101"))
        client, cl = await wf(task)
        rec = await cl.next_frame()
        assert (rec.msg_type, rec.payload) == (WSMsgType.TEXT, b"right after 101")
        client.disconnect(False)
        await wf(client.wait_disconnected())


async def test_server_receives_request_and_frame_in_one_segment():
    async with ws_server(lambda r: RecordingListener(echo=True)) as srv:
        conn = await RawConn.open(srv.port)
        key = new_key()
        await conn.send(build_request(key=key) + build_frame(OP_TEXT, b"eager", mask=True))
        resp = await conn.read_response()
        assert resp.status == 101
        assert resp.header("Sec-WebSocket-Accept") == compute_accept(key)
        f = await conn.read_frame()
        assert (f.opcode, f.payload) == (OP_TEXT, b"eager")
        conn.abort()


# -----------------------------------------------------------------------------
# Queued sends: what the peer gets is what was passed at send() time
# -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "reuse_external"])
@pytest.mark.parametrize("role", ["server", "client"])
async def test_queued_large_sends_are_snapshots(role, kind):
    # The peer reads nothing until everything was sent, so most frames are
    # queued in the transport; the sender overwrites its buffer right after
    # each send.  Large bytes payloads are queued by reference (immutable),
    # everything else must have been copied: each frame arrives as it was.
    from conformance.harness import open_peer
    size = 200 * 1024
    n = 40
    async with open_peer(role) as peer:
        tr = peer.transport
        buf = bytearray(14 + size)
        expected = []
        for i in range(n):
            fill = bytes([65 + i % 26]) * size
            if kind == "bytes":
                tr.send(WSMsgType.BINARY, fill)
            elif kind == "bytearray":
                buf[14:] = fill
                tr.send(WSMsgType.BINARY, buf)
                fill = bytes(buf)
                buf[:] = b"\0" * len(buf)           # reuse the buffer at once
            elif kind == "memoryview":
                buf[14:] = fill
                tr.send(WSMsgType.BINARY, memoryview(buf)[14:])
                buf[14:] = b"\xff" * size
            else:
                buf[14:] = fill
                tr.send_reuse_external_bytearray(WSMsgType.BINARY, buf, 14)
                buf[14:] = b"\xee" * size
            expected.append(fill)
        assert tr.underlying_transport.get_write_buffer_size() > 0, "nothing was queued"
        for i, fill in enumerate(expected):
            f = await peer.read_frame(timeout=10)
            assert f.opcode == OP_BINARY and len(f.payload) == len(fill), i
            assert f.payload == fill, f"frame {i} changed after send()"
        await peer.close_normally()
