"""In-process receive path for benchmarks/parser.py: frame streams, a fake
transport, and upgraded protocol objects of picows_like and picows.

Both libraries are driven the way the event loop drives them: their
WSProtocol gets connection_made(fake transport), the upgrade is completed by
feeding real handshake bytes through get_buffer()/buffer_updated(), and from
then on every read is a copy into the buffer that get_buffer() returns.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
import socket

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_BINARY = 0x2
LOGGER = logging.getLogger("parser-bench")
LOGGER.setLevel(logging.WARNING)     # picows logs every connection at INFO


# --- frame streams ----------------------------------------------------------------------------

def _xor(data: bytes, key: bytes) -> bytes:
    """data XOR the 4-byte key repeated (big-integer trick: fast enough to build streams)."""
    n = len(data)
    keystream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keystream, "big")).to_bytes(n, "big")


def frame_bytes(payload: bytes, masked: bool) -> bytes:
    """One FIN BINARY frame; masked frames get a random key (as a client sends)."""
    n = len(payload)
    head = bytearray([0x80 | OP_BINARY])
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head.append(mask_bit | n)
    elif n < 1 << 16:
        head.append(mask_bit | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(mask_bit | 127)
        head += n.to_bytes(8, "big")
    if not masked:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + _xor(payload, key)


def build_stream(payload_size: int, masked: bool,
                 target_bytes: int) -> tuple[bytes, int, list[bytes]]:
    """About target_bytes of back-to-back frames (at least 8); returns (stream,
    frame count, the 8 distinct payloads the stream cycles through).

    A few distinct frames (different payloads and mask keys) repeated, so
    building a large stream stays cheap."""
    payloads = [os.urandom(payload_size) for _ in range(8)]
    distinct = [frame_bytes(p, masked) for p in payloads]
    count = max(8, target_bytes // len(distinct[0]))
    count -= count % 8
    return b"".join(distinct) * (count // 8), count, payloads


# --- a transport that is not connected to anything ------------------------------------------

class FakeTransport(asyncio.Transport):
    """Records writes; hands out a real (idle) TCP socket because picows sets
    socket options on it in connection_made."""

    def __init__(self, sock: socket.socket):
        super().__init__()
        self._sock = sock
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name, default=None):
        if name == "socket":
            return self._sock
        if name in ("peername", "sockname"):
            return self._sock.getsockname()
        return default

    def write(self, data) -> None:
        self.written += data

    def writelines(self, chunks) -> None:
        for chunk in chunks:
            self.written += chunk

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def tcp_socket_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected loopback TCP sockets (nothing is ever sent over them)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
    return client, accepted


# --- feeding ----------------------------------------------------------------------------------

def feed(protocol, data, read_size: int) -> tuple[int, int]:
    """Deliver `data` like a socket that always has more to read: each read
    copies min(read_size, len(get_buffer())) bytes into the buffer the
    protocol returned, then calls buffer_updated. Returns (reads, bytes)."""
    src = memoryview(data)
    get_buffer, buffer_updated = protocol.get_buffer, protocol.buffer_updated
    pos, total, reads = 0, len(src), 0
    while pos < total:
        buf = memoryview(get_buffer(-1))
        n = min(read_size, len(buf), total - pos)
        if n <= 0:
            raise RuntimeError("get_buffer() returned an empty buffer")
        buf[:n] = src[pos:pos + n]
        buffer_updated(n)
        pos += n
        reads += 1
    return reads, pos


def _accept_for(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def _key_in(request: bytes) -> bytes:
    match = re.search(rb"(?i)\r\nsec-websocket-key:\s*([A-Za-z0-9+/=]+)", request)
    if match is None:
        raise RuntimeError(f"no Sec-WebSocket-Key in the upgrade request: {request[:300]!r}")
    return match.group(1)


def upgrade_request(key: bytes) -> bytes:
    return (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
            b"\r\nSec-WebSocket-Version: 13\r\n\r\n")


def upgrade_response(key: bytes) -> bytes:
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + _accept_for(key) + b"\r\n\r\n")


# --- listeners --------------------------------------------------------------------------------

def make_counting_listener(ws):
    """The same minimal Python listener for both libraries: counts frames and payload bytes."""
    class CountingListener(ws.WSListener):
        def __init__(self):
            super().__init__()
            self.frames = 0
            self.payload_bytes = 0
            self.connected = False
            self.record = None      # a list while verifying payload contents

        def on_ws_connected(self, transport):
            self.connected = True

        def on_ws_frame(self, transport, frame):
            self.frames += 1
            self.payload_bytes += frame.payload_size
            if self.record is not None:
                self.record.append(frame.get_payload_as_bytes())

    return CountingListener


# --- upgraded protocols -----------------------------------------------------------------------

class Receiver:
    """An upgraded protocol of one library plus what is needed to check it."""

    def __init__(self, impl: str, ws, protocol, transport: FakeTransport, listener, socks):
        self.impl = impl
        self.ws = ws
        self.protocol = protocol
        self.transport = transport
        self.listener = listener
        self._socks = socks
        self.handshake_written = len(transport.written)

    def check_quiet(self) -> None:
        """Nothing may have been written since the handshake (an error would send CLOSE)."""
        extra = bytes(self.transport.written[self.handshake_written:])
        if extra or self.transport.closed:
            raise RuntimeError(f"{self.impl}: protocol wrote {extra[:40]!r} / closed="
                               f"{self.transport.closed} while parsing: a parse error?")

    def close(self) -> None:
        for s in self._socks:
            s.close()


def _new_protocol(impl: str, ws, is_client: bool, listener_factory, loop):
    if impl == "picows":
        from picows.picows import WSProtocol
        # The positional arguments picows' own ws_connect / ws_create_server pass.
        return WSProtocol("127.0.0.1:9" if is_client else None, "/" if is_client else None,
                          is_client, listener_factory, LOGGER, True, 5.0, False, 10.0, 10.0,
                          ws.WSAutoPingStrategy.PING_WHEN_IDLE, True, 10 * 1024 * 1024, None,
                          16 * 1024)
    if impl == "picows_like":
        from picows_like._protocol import WSProtocol
        from picows_like.handshake import build_request, make_key
        from picows_like.url import parse_url
        if not is_client:
            return WSProtocol(False, listener_factory, loop, LOGGER)
        key = make_key()
        request, wire = build_request(parse_url("ws://127.0.0.1:9/"), key, None)
        return WSProtocol(True, listener_factory, loop, LOGGER, request=request,
                          request_bytes=wire, ws_key=key, upgrade_future=loop.create_future())
    raise ValueError(impl)


def make_receiver(impl: str, ws, is_client: bool, listener_class=None) -> Receiver:
    """An upgraded client (parses unmasked frames) or server (parses masked
    frames) protocol of `impl`, on a fake transport, with a counting listener
    (the Python one unless listener_class is given). Needs a running loop."""
    loop = asyncio.get_running_loop()
    listener = (listener_class or make_counting_listener(ws))()
    factory = (lambda *args: listener)
    protocol = _new_protocol(impl, ws, is_client, factory, loop)
    client_sock, server_sock = tcp_socket_pair()
    transport = FakeTransport(client_sock if is_client else server_sock)
    protocol.connection_made(transport)
    if is_client:
        # The request went out in connection_made; answer it.
        feed(protocol, upgrade_response(_key_in(bytes(transport.written))), 1 << 20)
    else:
        key = base64.b64encode(os.urandom(16))
        feed(protocol, upgrade_request(key), 1 << 20)
        if _accept_for(key) not in transport.written:
            raise RuntimeError(f"{impl} server did not accept the upgrade: "
                               f"{bytes(transport.written)[:200]!r}")
    if not listener.connected:
        raise RuntimeError(f"{impl}: on_ws_connected was not called after the handshake")
    return Receiver(impl, ws, protocol, transport, listener, (client_sock, server_sock))
