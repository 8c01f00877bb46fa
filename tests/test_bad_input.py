"""Hostile and broken peers.  Every case ends in a clear HTTP error or a
CLOSE frame (or, where the peer never finishes, a timed-out close), the
picows_like side cleans up (on_ws_disconnected, no leaked fds) and the server
still accepts new connections afterwards.

Complements test_handshake.py (status matrix) and test_wire.py (per-rule
close codes): here the focus is on what an attacker or a broken network does.
"""

import asyncio
import contextlib
import gc
import os
import socket
import struct
import time
import tracemalloc
import zlib

import pytest

import picows_like as picows
from conformance.harness import EchoListener, open_peer, open_raw_client
from helpers import (OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, T, RecordingListener, apply_mask,
                     build_frame, build_request, close_payload, compute_accept, connect,
                     make_payload, new_key, parse_http_head, wf, ws_server)

pytestmark = pytest.mark.asyncio

WSMsgType = picows.WSMsgType
MiB = 1024 * 1024


# -----------------------------------------------------------------------------
# helpers
# -----------------------------------------------------------------------------

def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


async def settle_fds(expected: int, timeout: float = 2.0) -> int:
    """Wait until the process has `expected` open fds (closes are async)."""
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        n = fd_count()
        if n <= expected or time.monotonic() > deadline:
            return n
        await asyncio.sleep(0.01)


async def assert_server_works(port: int):
    """A fresh, well-behaved client still gets served."""
    conn = await open_raw_client(port)
    try:
        await conn.client_handshake()
        await conn.send(build_frame(OP_TEXT, b"alive?", mask=True))
        f = await conn.read_frame()
        assert (f.opcode, f.payload) == (OP_TEXT, b"alive?")
        await conn.send(build_frame(OP_CLOSE, close_payload(1000), mask=True))
        f = await conn.read_frame()
        assert f.opcode == OP_CLOSE and f.close_code == 1000
        await conn.expect_eof()
    finally:
        conn.abort()


async def send_ignoring_errors(conn, data: bytes):
    try:
        conn.write(data)
        await conn.drain()
    except (ConnectionError, OSError, RuntimeError):
        pass


async def read_http_error(conn, timeout: float = T):
    """Read an HTTP error response, then EOF.  Returns (status, headers)."""
    data = await conn.read_to_eof(timeout)
    assert data.startswith(b"HTTP/1.1 "), f"expected an HTTP response, got {data[:80]!r}"
    head, sep, _ = data.partition(b"\r\n\r\n")
    assert sep, data[:200]
    start, headers = parse_http_head(head)
    status = int(start.split(" ")[1])
    assert 400 <= status < 500, start
    return status, dict((k.lower(), v) for k, v in headers)


@contextlib.asynccontextmanager
async def echo_server(**kwargs):
    async with ws_server(lambda r: RecordingListener(echo=True), **kwargs) as srv:
        yield srv
        await assert_server_works(srv.port)


# -----------------------------------------------------------------------------
# Garbage and malformed upgrade requests
# -----------------------------------------------------------------------------

GARBAGE_WITH_END = [
    pytest.param(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", id="http2_preface"),
    pytest.param(build_frame(OP_TEXT, b"frame instead of request", mask=True) + b"\r\n\r\n",
                 id="ws_frame"),
    pytest.param(bytes(range(256)) + b"\r\n\r\n", id="all_byte_values"),
    pytest.param(b"\r\n\r\n", id="empty_head"),
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", id="request_line_only"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n folded: value\r\n\r\n", id="obs_fold"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n", id="nul_in_value"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-\xc3\xa9: v\r\n\r\n", id="non_ascii_name"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n: no name\r\n\r\n", id="empty_name"),
    pytest.param(b"GET / HTTP/1.1\nHost: x\nUpgrade: websocket\n\r\n\r\n", id="bare_lf"),
    pytest.param(b"GET\x00/ HTTP/1.1\r\nHost: x\r\n\r\n", id="nul_in_request_line"),
    pytest.param(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", id="http_9_9"),
]


@pytest.mark.parametrize("data", GARBAGE_WITH_END)
async def test_garbage_request_gets_http_error(data):
    async with echo_server() as srv:
        conn = await open_raw_client(srv.port)
        await send_ignoring_errors(conn, data)
        status, headers = await read_http_error(conn)
        assert headers.get("connection", "").lower() == "close"
        conn.abort()
        assert not any(sl.connected.done() for sl in srv.listeners)


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("data", [
    pytest.param(bytes.fromhex("160301020001") + os.urandom(200), id="tls_client_hello"),
    pytest.param(b"\x00" * 1000, id="zeros"),
])
async def test_non_http_bytes_rejected_at_once(data):
    # Not even an HTTP method: answered with 400 right away, not at the timeout.
    async with echo_server(websocket_handshake_timeout=5) as srv:
        conn = await open_raw_client(srv.port)
        t0 = time.monotonic()
        await send_ignoring_errors(conn, data)
        rest = await conn.read_to_eof(timeout=3)
        assert rest.startswith(b"HTTP/1.1 400")
        assert time.monotonic() - t0 < 1.0
        conn.abort()


@pytest.mark.parametrize("data", [
    pytest.param(b"GET / HTTP/1.1\r\n", id="request_line_no_end"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: 1\r\n" * 50, id="slow_headers"),
])
async def test_garbage_without_end_of_head_times_out(data):
    async with echo_server(websocket_handshake_timeout=0.3) as srv:
        conn = await open_raw_client(srv.port)
        t0 = time.monotonic()
        await send_ignoring_errors(conn, data)
        rest = await conn.read_to_eof(timeout=3)
        assert b"101" not in rest
        assert 0.2 < time.monotonic() - t0 < 2.5
        conn.abort()


@pytest.mark.parametrize("extra,key", [
    pytest.param([("Sec-WebSocket-Key", new_key())], "auto", id="two_keys",
                 marks=pytest.mark.stricter_than_picows),
    pytest.param((), "dGhlIHNhbXBs ZSBub25jZQ==", id="space_inside"),
    pytest.param((), "dGhlIHNhbXBsZSBub25jZQ==x", id="trailing_garbage"),
    pytest.param((), "-_-_-_-_-_-_-_-_-_-_-w==", id="urlsafe_alphabet"),
    pytest.param((), "A" * 10000, id="10k_key"),
    pytest.param((), "AAAAAAAAAAAAAAAAAAAAAA=", id="bad_padding"),
    pytest.param((), "\u00e9t\u00e9AAAAAAAAAAAAAAAAAAA==", id="latin1_chars"),
])
async def test_malformed_websocket_key_gets_400(extra, key):
    async with echo_server() as srv:
        conn = await open_raw_client(srv.port)
        await send_ignoring_errors(conn, build_request(key=key, extra=extra))
        status, _ = await read_http_error(conn)
        assert status == 400
        conn.abort()


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("version,extra", [
    pytest.param("8", (), id="v8"),
    pytest.param("0", (), id="v0"),
    pytest.param("", (), id="empty"),
    pytest.param("13, 8", (), id="list"),
    pytest.param("99999999999999999999", (), id="huge"),
    pytest.param("13", [("Sec-WebSocket-Version", "8")], id="13_and_8"),
])
async def test_wrong_version_gets_426_with_supported_version(version, extra):
    async with echo_server() as srv:
        conn = await open_raw_client(srv.port)
        await send_ignoring_errors(conn, build_request(version=version, extra=extra))
        status, headers = await read_http_error(conn)
        assert status == 426
        assert headers.get("sec-websocket-version") == "13"
        conn.abort()


# -----------------------------------------------------------------------------
# Oversized heads
# -----------------------------------------------------------------------------

HEAD_LIMIT = 64 * 1024


@pytest.mark.parametrize("shape", ["many_lines", "one_long_line"])
async def test_1mib_of_headers_is_refused_early_and_memory_stays_bounded(shape):
    if shape == "many_lines":
        body = b"".join(b"X-Pad-%06d: %s\r\n" % (i, b"a" * 90) for i in range(11000))
    else:
        body = b"X-Long: " + b"b" * (1100 * 1024)
    data = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + body       # never ends with CRLFCRLF
    assert len(data) > MiB
    chunk = 16 * 1024
    async with echo_server() as srv:
        conn = await open_raw_client(srv.port)
        # asyncio's plain transport reads into a fresh 256 KiB bytes object;
        # now that the server's 431 arrives intact (no RST), that read would
        # count as "server memory" here.  Keep the peer's reads small.
        if hasattr(conn.writer.transport, "max_size"):
            conn.writer.transport.max_size = 4096
        answered = asyncio.ensure_future(conn.read_to_eof(timeout=5))
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            sent = 0
            view = memoryview(data)
            while sent < len(data) and not answered.done():
                try:
                    conn.write(view[sent:sent + chunk])
                    await conn.drain()
                except (ConnectionError, OSError, RuntimeError):
                    break
                sent += chunk
                for _ in range(3):
                    await asyncio.sleep(0)
            reply = await wf(answered, 5)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        # The server stopped reading a little past its 64 KiB limit ...
        assert sent < 8 * HEAD_LIMIT, f"server still reading after {sent} bytes"
        # ... did not keep what it read ...
        assert peak < 6 * HEAD_LIMIT, f"memory grew by {peak} bytes"
        # ... and said so: 431 (or a plain close).
        if reply:
            assert reply.startswith(b"HTTP/1.1 431"), reply[:80]
        conn.abort()


async def test_too_many_header_lines_within_size_limit_gets_4xx():
    async with echo_server() as srv:
        conn = await open_raw_client(srv.port)
        extra = [("X-H%d" % i, "v") for i in range(1000)]
        await send_ignoring_errors(conn, build_request(extra=extra))
        await read_http_error(conn)
        conn.abort()


# -----------------------------------------------------------------------------
# Slowloris
# -----------------------------------------------------------------------------

async def test_slowloris_trickle_is_cut_at_handshake_timeout():
    # The request keeps making progress (a byte every 20 ms) but never
    # completes: the handshake timeout is absolute, not an idle timeout.
    timeout = 0.4
    async with echo_server(websocket_handshake_timeout=timeout) as srv:
        conn = await open_raw_client(srv.port)
        request = build_request(extra=[("X-Slow", "z" * 4000)])
        t0 = time.monotonic()
        closed_at = None
        for i in range(len(request) - 4):           # never send the final CRLFCRLF
            try:
                conn.write(request[i:i + 1])
                await conn.drain()
            except (ConnectionError, OSError, RuntimeError):
                break
            if conn.writer.transport.is_closing() or conn.reader.at_eof():
                break
            await asyncio.sleep(0.02)
            if conn.reader.at_eof() or time.monotonic() - t0 > 3:
                break
        rest = await conn.read_to_eof(timeout=3)
        closed_at = time.monotonic() - t0
        assert b"101" not in rest
        assert timeout * 0.8 < closed_at < timeout + 1.5, closed_at
        conn.abort()


@pytest.mark.stricter_than_picows
async def test_many_slowloris_connections_do_not_block_real_clients():
    timeout = 0.5
    async with echo_server(websocket_handshake_timeout=timeout) as srv:
        base_fds = fd_count()
        attackers = [await open_raw_client(srv.port) for _ in range(30)]
        for a in attackers:
            await send_ignoring_errors(a, b"GET / HTTP/1.1\r\nHost: x\r\n")
        # A well-behaved client is served while the attack is on.
        await assert_server_works(srv.port)
        t0 = time.monotonic()
        results = await asyncio.gather(*(a.read_to_eof(timeout=3) for a in attackers))
        assert all(b"101" not in r for r in results)
        assert time.monotonic() - t0 < timeout + 1.5
        for a in attackers:
            a.abort()
        assert await settle_fds(base_fds) <= base_fds


# -----------------------------------------------------------------------------
# Frame-level attacks (both roles, through the conformance harness)
# -----------------------------------------------------------------------------

@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize("length", [(1 << 63) - 1, 1 << 32, 10 * MiB + 1])
async def test_huge_length_field_is_1009_without_buffering(role, length):
    async with open_peer(role) as peer:
        header = peer.frame(OP_BINARY, b"", length_bits=64, length_override=length)
        t0 = time.monotonic()
        await peer.send(header)                       # header only, no payload ever
        await peer.expect_close(1009, error=True)
        assert time.monotonic() - t0 < 1.0


@pytest.mark.parametrize("role", ["server", "client"])
async def test_frame_header_split_across_reads_forever(role):
    # A header dribbles in over ~1 s (longer than the handshake timeout): the
    # connection stays healthy in the other direction and the frame completes.
    payload = make_payload(70000)
    async with open_peer(role, websocket_handshake_timeout=0.2) as peer:
        frame = peer.frame(OP_BINARY, payload)
        header_len = 14 if role == "server" else 10
        await peer.send(frame[:1])
        for i in range(1, header_len):
            await asyncio.sleep(0.07)
            # The testee can still send to us while its parser waits.
            peer.transport.send(WSMsgType.TEXT, b"tick %d" % i)
            await peer.expect(OP_TEXT, b"tick %d" % i)
            await peer.send(frame[i:i + 1])
        assert peer.listener.messages == 0
        await peer.send(frame[header_len:header_len + 1000])
        await asyncio.sleep(0.1)
        await peer.send(frame[header_len + 1000:])
        await peer.expect(OP_BINARY, payload)
        await peer.close_normally()


@pytest.mark.stricter_than_picows
async def test_peer_vanishes_mid_frame_server(vanish):
    async with echo_server() as srv:
        base = fd_count()
        for _ in range(3):
            conn = await open_raw_client(srv.port)
            await conn.client_handshake()
            sl = await srv.next_listener()
            frame = build_frame(OP_BINARY, make_payload(100000), mask=True)
            await send_ignoring_errors(conn, frame[:50000])
            vanish(conn)
            await sl.wait_disconnected()
            await wf(sl.transport.wait_disconnected())          # no local error
            assert sl.disconnected_count == 1
            assert not any(f.msg_type == WSMsgType.BINARY for f in sl.frames)
        assert await settle_fds(base) <= base


async def test_peer_vanishes_mid_frame_client(vanish):
    async with open_peer("client", check_after=False) as peer:
        frame = build_frame(OP_BINARY, make_payload(100000))
        await peer.send(frame[:50000])
        vanish(peer.conn)
        await wf(asyncio.shield(peer.listener.disconnected))
        await wf(peer.transport.wait_disconnected())
        assert peer.listener.messages == 0


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("partial", [b"", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpg"])
async def test_peer_vanishes_mid_handshake_server(vanish, partial):
    async with echo_server() as srv:
        base = fd_count()
        for _ in range(3):
            conn = await open_raw_client(srv.port)
            await send_ignoring_errors(conn, partial)
            await asyncio.sleep(0.01)
            vanish(conn)
        assert await settle_fds(base) <= base
        assert srv.listeners == []


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("partial", [b"", b"HTTP/1.1 101 Switching Protocols\r\nUpgr"])
async def test_peer_vanishes_mid_handshake_client(vanish, partial):
    from conformance.harness import TolerantRawServer
    async with TolerantRawServer() as raw:
        base = fd_count()
        task = asyncio.ensure_future(connect(raw.url(), EchoListener))
        conn = await raw.accept()
        await conn.read_request()
        await send_ignoring_errors(conn, partial)
        await asyncio.sleep(0.01)
        vanish(conn)
        with pytest.raises((picows.WSError, ConnectionError)):
            await wf(task)
        await settle_fds(base)


@pytest.fixture(params=["reset", "fin"])
def vanish(request):
    """How the peer disappears: RST (abort) or FIN (close)."""
    if request.param == "reset":
        def go(conn):
            sock = conn.writer.get_extra_info("socket")
            if sock is not None:        # RST on close, even with nothing unread
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.abort()
    else:
        def go(conn):
            conn.close()
    return go


# -----------------------------------------------------------------------------
# A peer that never reads
# -----------------------------------------------------------------------------

class Producer(picows.WSListener):
    """Sends `total` bytes of BINARY messages as fast as flow control allows:
    stops on pause_writing, continues on resume_writing (the user's choice
    that keeps memory bounded)."""

    def __init__(self, total: int, msg_size: int = 64 * 1024, high: int = 256 * 1024):
        self.total = total
        self.msg_size = msg_size
        self.high = high
        self.sent = 0
        self.crc = 0
        self.paused = False
        self.pauses = 0
        self.resumes = 0
        self.max_buffered = 0
        self.transport = None
        self.done = asyncio.get_running_loop().create_future()
        self.payload = make_payload(msg_size)

    def on_ws_connected(self, transport):
        self.transport = transport
        transport.underlying_transport.set_write_buffer_limits(high=self.high,
                                                              low=self.high // 4)
        self._produce()

    def _produce(self):
        tr = self.transport
        while not self.paused and self.sent < self.total:
            tr.send(WSMsgType.BINARY, self.payload)
            self.sent += len(self.payload)
            self.crc = zlib.crc32(self.payload, self.crc)
            self.max_buffered = max(self.max_buffered,
                                    tr.underlying_transport.get_write_buffer_size())
        if self.sent >= self.total and not self.done.done():
            tr.send_close(picows.WSCloseCode.OK, b"done")
            self.done.set_result(None)

    def pause_writing(self):
        self.paused = True
        self.pauses += 1

    def resume_writing(self):
        self.paused = False
        self.resumes += 1
        self._produce()


async def _nonreading_socket_pair(role, listener_factory):
    """A raw non-blocking socket that has finished the handshake and will not
    read until told to, with a small receive buffer.  Returns (sock, cleanup)."""
    loop = asyncio.get_running_loop()
    if role == "server":
        server = await picows.ws_create_server(lambda r: listener_factory(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.setblocking(False)
        await wf(loop.sock_connect(sock, ("127.0.0.1", port)))
        key = new_key()
        await wf(loop.sock_sendall(sock, build_request(key=key)))
        head = b""
        while b"\r\n\r\n" not in head:
            head += await wf(loop.sock_recv(sock, 1))       # never read past the head
        assert head.startswith(b"HTTP/1.1 101") and compute_accept(key).encode() in head

        async def cleanup():
            server.close()
            await server.wait_closed()
        return sock, cleanup
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)   # inherited
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.setblocking(False)
    port = lsock.getsockname()[1]
    task = asyncio.ensure_future(picows.ws_connect(listener_factory, f"ws://127.0.0.1:{port}/"))
    sock, _ = await wf(loop.sock_accept(lsock))
    sock.setblocking(False)
    head = b""
    while b"\r\n\r\n" not in head:
        head += await wf(loop.sock_recv(sock, 1))
    _, headers = parse_http_head(head[:-4])
    key = dict((k.lower(), v) for k, v in headers)["sec-websocket-key"]
    await wf(loop.sock_sendall(sock, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                               + compute_accept(key).encode() + b"\r\n\r\n"))
    transport, _ = await wf(task)

    async def cleanup():
        transport.disconnect(False)
        lsock.close()
    return sock, cleanup


@pytest.mark.parametrize("role", ["server", "client"])
async def test_peer_that_never_reads(role):
    total = 24 * MiB
    holder = {}

    def factory():
        holder["l"] = Producer(total)
        return holder["l"]

    loop = asyncio.get_running_loop()
    sock, cleanup = await _nonreading_socket_pair(role, factory)
    try:
        prod = holder["l"]
        # Let the producer run into the wall.
        for _ in range(50):
            await asyncio.sleep(0.01)
            if prod.paused:
                break
        assert prod.paused and prod.pauses == 1, "pause_writing never fired"
        sent_at_pause = prod.sent
        await asyncio.sleep(0.2)
        assert prod.sent == sent_at_pause, "kept producing while paused"
        assert prod.sent < total
        # Bounded by the user's choice: high watermark + one message (+ header).
        assert prod.max_buffered <= prod.high + prod.msg_size + 14
        # Now read everything: resume_writing fires, nothing is lost.
        crc, count = 0, 0
        reader = RawFrameReader(masked=role == "client")
        while True:
            chunk = await wf(loop.sock_recv(sock, 256 * 1024), 5)
            assert chunk, "EOF before the CLOSE"
            frames = reader.feed(chunk)
            closed = False
            for op, payload in frames:
                if op == OP_CLOSE:
                    closed = True
                    break
                assert op == OP_BINARY and len(payload) == prod.msg_size
                crc = zlib.crc32(payload, crc)
                count += 1
            if closed:
                break
        assert prod.resumes >= 1
        assert count * prod.msg_size == total and crc == prod.crc
        assert prod.max_buffered <= prod.high + prod.msg_size + 14
    finally:
        sock.close()
        await cleanup()


class RawFrameReader:
    """Incremental reader of the testee's frames (independent of the library)."""

    def __init__(self, masked: bool):
        self.masked = masked
        self.buf = bytearray()

    def feed(self, data: bytes):
        buf = self.buf
        buf += data
        out = []
        while len(buf) >= 2:
            n, pos = buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, pos = struct.unpack_from("!H", buf, 2)[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, pos = struct.unpack_from("!Q", buf, 2)[0], 10
            assert bool(buf[1] & 0x80) == self.masked
            key = None
            if self.masked:
                if len(buf) < pos + 4:
                    break
                key, pos = bytes(buf[pos:pos + 4]), pos + 4
            if len(buf) < pos + n:
                break
            payload = bytes(buf[pos:pos + n])
            if key is not None:
                payload = apply_mask(payload, key)
            out.append((buf[0] & 0x0F, payload))
            del buf[:pos + n]
        return out


# -----------------------------------------------------------------------------
# CLOSE, then more
# -----------------------------------------------------------------------------

async def test_close_then_flood_server_stays_healthy():
    async with echo_server() as srv:
        conn = await open_raw_client(srv.port)
        await conn.client_handshake()
        sl = await srv.next_listener()
        await send_ignoring_errors(conn, build_frame(OP_CLOSE, close_payload(1000), mask=True))
        junk = (build_frame(OP_BINARY, make_payload(60000), mask=True)
                + build_frame(0x5, b"bad", mask=True) + b"\xff" * 1000
                + build_frame(OP_PING, b"p", mask=True))
        for _ in range(20):
            await send_ignoring_errors(conn, junk)
            await asyncio.sleep(0)
        frames = []
        with contextlib.suppress(asyncio.IncompleteReadError):
            while True:
                frames.append(await conn.read_frame())
        conn.close()            # EOF seen: close our side too, like a real peer
        assert [(f.opcode, f.close_code) for f in frames] == [(OP_CLOSE, 1000)]
        await sl.wait_disconnected()
        assert [f.msg_type for f in sl.frames] == [WSMsgType.CLOSE]
        conn.abort()
