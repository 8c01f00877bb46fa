"""Shared helpers for the picows_like test suite (plain module, no fixtures).

Contents:
* ``wf``: bounded await (every await in the tests goes through a timeout).
* ``build_frame`` / ``RawFrame`` / ``read_frame``: a tiny independent
  RFC 6455 frame codec used by the raw-socket peers.
* ``RawConn`` / ``RawServer``: raw TCP peers built on asyncio streams that
  speak HTTP/WebSocket "by hand" to a picows_like server or client.
* ``RecordingListener``: a WSListener that copies every received frame,
  optionally echoes data frames and answers CLOSE frames.
* ``ws_server``: async context manager running a picows_like server.
"""

import asyncio
import base64
import contextlib
import hashlib
import os
import random
import struct
from dataclasses import dataclass, field
from typing import Optional

import picows_like as picows

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Default bound for a single await in the tests (seconds).
T = 3.0

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


async def wf(aw, timeout: float = T):
    """Await ``aw`` but never longer than ``timeout`` seconds."""
    return await asyncio.wait_for(aw, timeout)


def compute_accept(key) -> str:
    if isinstance(key, str):
        key = key.encode("ascii")
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode("ascii")


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def make_payload(size: int, text: bool = False) -> bytes:
    """Deterministic payload of exactly ``size`` bytes (ASCII if ``text``)."""
    if text:
        alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-"
        reps = size // len(alphabet) + 1
        # Make it not purely periodic with a cheap twist.
        data = (alphabet * reps)[:size]
        return bytes(data)
    return random.Random(size).randbytes(size)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def apply_mask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return b""
    n = len(data)
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


def build_frame(opcode: int, payload: bytes = b"", fin: bool = True, mask=None,
                rsv: int = 0, length_override: Optional[int] = None,
                length_bits: Optional[int] = None) -> bytes:
    """Build one WebSocket frame.

    :param mask: None -> unmasked frame; True -> random 4-byte mask;
        4 bytes -> that mask key.
    :param rsv: the 3 RSV bits as an int 0..7 (4 = RSV1, 2 = RSV2, 1 = RSV3).
    :param length_override: value written to the length field instead of
        ``len(payload)`` (the payload itself is written as given).
    :param length_bits: force the length encoding class: 7, 16 or 64.
        Default is the minimal encoding.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    payload = bytes(payload)
    length = len(payload) if length_override is None else length_override
    if length_bits is None:
        length_bits = 7 if length < 126 else (16 if length < 65536 else 64)

    first = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mask_bit = 0x80 if mask is not None else 0
    if length_bits == 7:
        assert length < 126
        header = bytes([first, mask_bit | length])
    elif length_bits == 16:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    elif length_bits == 64:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    else:
        raise ValueError(length_bits)

    if mask is None:
        return header + payload
    if mask is True:
        mask = os.urandom(4)
    assert len(mask) == 4
    return header + bytes(mask) + apply_mask(payload, bytes(mask))


@dataclass
class RawFrame:
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    mask: Optional[bytes]
    length_code: int          # the 7-bit length field value
    header: bytes             # raw header bytes incl. extended length and mask
    payload: bytes            # unmasked payload

    @property
    def close_code(self) -> Optional[int]:
        assert self.opcode == OP_CLOSE
        if len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    @property
    def close_reason(self) -> bytes:
        assert self.opcode == OP_CLOSE
        return self.payload[2:]


async def read_frame(reader: asyncio.StreamReader, timeout: float = T) -> RawFrame:
    async def _read():
        h = await reader.readexactly(2)
        fin = bool(h[0] & 0x80)
        rsv = (h[0] >> 4) & 7
        opcode = h[0] & 0x0F
        masked = bool(h[1] & 0x80)
        code = h[1] & 0x7F
        header = h
        if code == 126:
            ext = await reader.readexactly(2)
            length = struct.unpack("!H", ext)[0]
            header += ext
        elif code == 127:
            ext = await reader.readexactly(8)
            length = struct.unpack("!Q", ext)[0]
            header += ext
        else:
            length = code
        mask = None
        if masked:
            mask = await reader.readexactly(4)
            header += mask
        payload = await reader.readexactly(length) if length else b""
        if masked:
            payload = apply_mask(payload, mask)
        return RawFrame(fin, rsv, opcode, masked, mask, code, header, payload)
    return await wf(_read(), timeout)


def parse_http_head(head: bytes):
    """Split an HTTP head into (start_line, [(name, value), ...])."""
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    start = lines[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return start, headers


def get_header(headers, name, default=None):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return default


def build_request(path: str = "/", host: str = "127.0.0.1", key: Optional[str] = "auto",
                  version: Optional[str] = "13", connection: Optional[str] = "Upgrade",
                  upgrade: Optional[str] = "websocket", method: str = "GET",
                  http_version: str = "HTTP/1.1", extra=()) -> bytes:
    """Build a client upgrade request; pass None for a header to omit it."""
    if key == "auto":
        key = new_key()
    lines = [f"{method} {path} {http_version}", f"Host: {host}"]
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    for k, v in extra:
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class HttpResponse:
    status: int
    start_line: str
    headers: list
    head: bytes
    body: bytes = b""

    def header(self, name, default=None):
        return get_header(self.headers, name, default)


class RawConn:
    """A raw TCP peer (either side) built on asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> "RawConn":
        reader, writer = await wf(asyncio.open_connection(host, port, limit=4 * 1024 * 1024))
        conn = cls(reader, writer)
        conn.set_nodelay()
        return conn

    def set_nodelay(self):
        import socket
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    # --- raw I/O -----------------------------------------------------------
    def write(self, data: bytes):
        self.writer.write(data)

    async def drain(self):
        await wf(self.writer.drain())

    async def send(self, data: bytes):
        self.writer.write(data)
        await wf(self.writer.drain())

    async def send_trickle(self, data: bytes, chunk: int = 1):
        """Write ``data`` in tiny pieces, letting the loop run between them."""
        for i in range(0, len(data), chunk):
            self.writer.write(data[i:i + chunk])
            await self.writer.drain()
            await asyncio.sleep(0)
            await asyncio.sleep(0)

    async def read_head(self, timeout: float = T) -> bytes:
        return await wf(self.reader.readuntil(b"\r\n\r\n"), timeout)

    async def read_frame(self, timeout: float = T) -> RawFrame:
        return await read_frame(self.reader, timeout)

    async def read_until_close(self, timeout: float = T):
        """Read frames until a CLOSE frame; returns (frames_before, close_frame)."""
        before = []
        while True:
            frame = await self.read_frame(timeout)
            if frame.opcode == OP_CLOSE:
                return before, frame
            before.append(frame)

    async def read_close_code(self, timeout: float = T) -> Optional[int]:
        _, close = await self.read_until_close(timeout)
        return close.close_code

    def shut_write(self):
        """Half-close (FIN), keep reading: what a server does first after the
        closing handshake (RFC 6455 7.1.1)."""
        if getattr(self, "_eof_sent", False):
            return
        self._eof_sent = True
        if not self.writer.is_closing() and self.writer.can_write_eof():
            try:
                self.writer.write_eof()
            except (OSError, RuntimeError):
                pass

    server_side = False      # accepted by RawServer (the peer is a client)

    async def read_to_eof(self, timeout: float = T) -> bytes:
        """Wait for the end of the connection the way a real peer does:
        picows_like keeps reading after its CLOSE until the peer closes (so
        its CLOSE is never lost to an RST), and a client waits for the
        server to close first (RFC 6455 7.1.1).  So as a server, shut down
        our side first; read everything until EOF (a connection reset counts
        as EOF); then close."""
        if self.server_side:
            self.shut_write()
        try:
            return await self._read_to_eof(timeout)
        finally:
            self.close()

    async def _read_to_eof(self, timeout: float = T) -> bytes:
        async def _read():
            chunks = []
            while True:
                try:
                    data = await self.reader.read(65536)
                except (ConnectionResetError, BrokenPipeError):
                    break
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks)
        return await wf(_read(), timeout)

    async def expect_eof(self, timeout: float = T):
        data = await self.read_to_eof(timeout)
        assert data == b"", f"expected EOF, got extra bytes {data[:100]!r}"

    def close(self):
        if not self.writer.is_closing():
            self.writer.close()

    def abort(self):
        try:
            self.writer.transport.abort()
        except AttributeError:
            # asyncio (3.11): abort() after a close() that had to flush first
            # and has since completed finds no loop; it is closed already.
            pass

    # --- HTTP client side ----------------------------------------------------
    async def read_response(self, timeout: float = T) -> HttpResponse:
        head = await self.read_head(timeout)
        start, headers = parse_http_head(head[:-4])
        parts = start.split(" ", 2)
        status = int(parts[1])
        body = b""
        cl = get_header(headers, "Content-Length")
        if cl is not None and int(cl) > 0:
            body = await wf(self.reader.readexactly(int(cl)), timeout)
        return HttpResponse(status, start, headers, head, body)

    async def client_handshake(self, path: str = "/", **kwargs) -> HttpResponse:
        """Send a valid upgrade request and check for a correct 101."""
        key = new_key()
        await self.send(build_request(path=path, key=key, **kwargs))
        resp = await self.read_response()
        assert resp.status == 101, resp.head
        assert resp.header("Sec-WebSocket-Accept") == compute_accept(key)
        return resp

    # --- HTTP server side ----------------------------------------------------
    async def read_request(self, timeout: float = T):
        head = await self.read_head(timeout)
        start, headers = parse_http_head(head[:-4])
        return start, headers

    async def server_handshake(self, extra: bytes = b"", accept: Optional[str] = None,
                               status_line: bytes = b"HTTP/1.1 101 Switching Protocols"):
        """Read a client upgrade request and answer with a valid 101."""
        start, headers = await self.read_request()
        key = get_header(headers, "Sec-WebSocket-Key")
        if accept is None:
            accept = compute_accept(key)
        self.write(status_line + b"\r\n"
                   b"Upgrade: websocket\r\n"
                   b"Connection: Upgrade\r\n"
                   b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n" + extra + b"\r\n")
        await self.drain()
        return start, headers


class RawServer:
    """A raw TCP listening socket; connections are handed out by accept()."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self._conns: "asyncio.Queue[RawConn]" = None
        self._all = []
        self._server = None
        self.port = None

    async def __aenter__(self):
        self._conns = asyncio.Queue()
        self._server = await wf(asyncio.start_server(self._on_conn, self.host, 0,
                                                     limit=4 * 1024 * 1024))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/") -> str:
        return f"ws://{self.host}:{self.port}{path}"

    async def _on_conn(self, reader, writer):
        conn = RawConn(reader, writer)
        conn.server_side = True
        conn.set_nodelay()
        self._all.append(conn)
        self._conns.put_nowait(conn)

    async def accept(self, timeout: float = T) -> RawConn:
        return await wf(self._conns.get(), timeout)

    async def accept_ws_client(self, listener_factory, **kwargs):
        """Connect a picows_like client to this server and answer its
        upgrade: returns (raw connection, client transport, client listener)."""
        task = asyncio.ensure_future(connect(self.url(), listener_factory, **kwargs))
        try:
            conn = await self.accept()
            await conn.server_handshake()
            transport, listener = await wf(task)
        except BaseException:
            task.cancel()
            raise
        return conn, transport, listener

    async def __aexit__(self, *exc):
        for c in self._all:
            c.abort()
        self._server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 1.0)


# -----------------------------------------------------------------------------
# picows_like side helpers
# -----------------------------------------------------------------------------

@dataclass
class RecordedFrame:
    msg_type: object
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    payload: bytes
    close_code: Optional[int] = None
    close_message: Optional[bytes] = None
    # The object returned by frame.get_close_code(), kept as is.
    close_code_obj: object = field(default=None, repr=False)


def _is_data(msg_type) -> bool:
    return msg_type in (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY,
                        picows.WSMsgType.CONTINUATION)


class RecordingListener(picows.WSListener):
    """Listener that records copies of all frames.

    :param echo: echo every data frame back (same type, payload and fin).
    :param reply_close: answer a received CLOSE with a CLOSE of the same code.
    :param disconnect_on_close: disconnect after a received CLOSE.
    """

    def __init__(self, *, echo: bool = False, reply_close: bool = True,
                 disconnect_on_close: bool = True):
        loop = asyncio.get_running_loop()
        self.echo = echo
        self.reply_close = reply_close
        self.disconnect_on_close = disconnect_on_close
        self.transport = None
        self.connected = loop.create_future()
        self.disconnected = loop.create_future()
        self.paused = loop.create_future()
        self.resumed = loop.create_future()
        self.connected_count = 0
        self.disconnected_count = 0
        self.transports_seen = []
        self.frames = []
        self.frame_queue = asyncio.Queue()
        self.messages = asyncio.Queue()
        self._frag_type = None
        self._frag_parts = []

    # --- callbacks -----------------------------------------------------------
    def on_ws_connected(self, transport):
        self.transport = transport
        self.transports_seen.append(transport)
        self.connected_count += 1
        if not self.connected.done():
            self.connected.set_result(transport)

    def on_ws_disconnected(self, transport):
        self.transports_seen.append(transport)
        self.disconnected_count += 1
        if not self.disconnected.done():
            self.disconnected.set_result(transport)

    def pause_writing(self):
        if not self.paused.done():
            self.paused.set_result(True)

    def resume_writing(self):
        if not self.resumed.done():
            self.resumed.set_result(True)

    def on_ws_frame(self, transport, frame):
        msg_type = picows.WSMsgType(frame.msg_type)
        payload = frame.get_payload_as_bytes()
        rec = RecordedFrame(msg_type, bool(frame.fin), bool(frame.rsv1), bool(frame.rsv2),
                            bool(frame.rsv3), payload)
        if msg_type == picows.WSMsgType.CLOSE:
            rec.close_code_obj = frame.get_close_code()
            rec.close_code = int(rec.close_code_obj)
            rec.close_message = frame.get_close_message()
        self.frames.append(rec)
        self.frame_queue.put_nowait(rec)
        self._assemble(rec)
        self.handle_frame(transport, frame, rec)

    def handle_frame(self, transport, frame, rec):
        """Default reaction; subclasses may override."""
        if self.echo and _is_data(rec.msg_type):
            transport.send(rec.msg_type, rec.payload, rec.fin)
        if rec.msg_type == picows.WSMsgType.CLOSE:
            if self.reply_close:
                code = rec.close_code or int(picows.WSCloseCode.OK)
                transport.send_close(code, rec.close_message)
            if self.disconnect_on_close:
                transport.disconnect()

    def _assemble(self, rec):
        if rec.msg_type in (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY):
            if rec.fin:
                self.messages.put_nowait((rec.msg_type, rec.payload))
            else:
                self._frag_type = rec.msg_type
                self._frag_parts = [rec.payload]
        elif rec.msg_type == picows.WSMsgType.CONTINUATION and self._frag_type is not None:
            self._frag_parts.append(rec.payload)
            if rec.fin:
                self.messages.put_nowait((self._frag_type, b"".join(self._frag_parts)))
                self._frag_type = None
                self._frag_parts = []

    # --- awaitables ------------------------------------------------------------
    async def next_frame(self, timeout: float = T) -> RecordedFrame:
        return await wf(self.frame_queue.get(), timeout)

    async def next_message(self, timeout: float = T):
        return await wf(self.messages.get(), timeout)

    async def wait_frame(self, msg_type, timeout: float = T) -> RecordedFrame:
        """Skip frames until one of the given type arrives."""
        async def _wait():
            while True:
                rec = await self.frame_queue.get()
                if rec.msg_type == msg_type:
                    return rec
        return await wf(_wait(), timeout)

    async def wait_connected(self, timeout: float = T):
        return await wf(asyncio.shield(self.connected), timeout)

    async def wait_disconnected(self, timeout: float = T):
        return await wf(asyncio.shield(self.disconnected), timeout)


class ServerCtx:
    def __init__(self):
        self.server = None
        self.port = None
        self.host = None
        self.requests = []
        self.listeners = []
        self._new_listeners = asyncio.Queue()

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{path}"

    async def next_listener(self, timeout: float = T):
        """The next server-side listener, once its connection is established."""
        listener = await wf(self._new_listeners.get(), timeout)
        if isinstance(listener, RecordingListener):
            await listener.wait_connected(timeout)
        return listener


@contextlib.asynccontextmanager
async def ws_server(listener_factory=None, *, host: str = "127.0.0.1", **kwargs):
    """Run a picows_like server on an ephemeral port.

    ``listener_factory(request)`` defaults to an echoing RecordingListener.
    """
    ctx = ServerCtx()
    ctx.host = host
    if listener_factory is None:
        def listener_factory(request):
            return RecordingListener(echo=True)

    def factory(request):
        ctx.requests.append(request)
        result = listener_factory(request)
        listener = result.listener if isinstance(result, picows.WSUpgradeResponseWithListener) \
            else result
        if listener is not None:
            ctx.listeners.append(listener)
            ctx._new_listeners.put_nowait(listener)
        return result

    server = await wf(picows.ws_create_server(factory, host, 0, **kwargs))
    ctx.server = server
    ctx.port = server.sockets[0].getsockname()[1]
    try:
        yield ctx
    finally:
        server.close()
        for listener in ctx.listeners:
            tr = getattr(listener, "transport", None)
            if tr is not None:
                tr.disconnect(False)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1.0)


async def connect(url: str, listener_factory=None, timeout: float = T, **kwargs):
    """ws_connect bounded by a timeout; default listener is RecordingListener."""
    if listener_factory is None:
        listener_factory = RecordingListener
    return await wf(picows.ws_connect(listener_factory, url, **kwargs), timeout)


async def close_client(transport, timeout: float = T):
    """Abort a client connection and wait until it is fully disconnected."""
    transport.disconnect(False)
    with contextlib.suppress(Exception):
        await wf(transport.wait_disconnected(), timeout)
