"""Conformance harness: one raw-socket peer, two roles.

``open_peer(role, **options)`` yields a :class:`Peer`:

* role "server": a picows_like server whose listener is :class:`EchoListener`,
  driven by a raw client (``RawConn``) that masks what it sends;
* role "client": a picows_like client (ws_connect) with an
  :class:`EchoListener`, driven by a raw server (``RawServer``) that does not
  mask.

The peer writes hand-built frames (``peer.frame(...)``) and reads the raw
answers.  Every frame the testee writes is checked for the right masking
(masked iff the testee is the client) and clear RSV bits.  When the case
body finishes without an error, the harness checks that the testee side is
still usable: the same server accepts and echoes on a new connection (role
"server"), or a new ws_connect to the raw server works (role "client").
"""

import asyncio
import contextlib
import os

import pytest

import picows_like as picows
from helpers import (OP_CLOSE, OP_PONG, OP_TEXT, RawConn, RawServer, T, build_frame,
                     close_payload, wf, ws_server)

_LIMIT = 4 * 1024 * 1024

WSMsgType = picows.WSMsgType


# The reference picows does not answer a CLOSE by itself; when the suite is
# validated against it, the echo application answers (as picows apps do).
APP_REPLIES_CLOSE = os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1"


class EchoListener(picows.WSListener):
    """The testee's application: reassembles fragmented messages and echoes
    each message as one frame with the same opcode.  PING/PONG/CLOSE are left
    to the library (auto-pong, close reply)."""

    def __init__(self):
        loop = asyncio.get_running_loop()
        self.transport = None
        self.connected = loop.create_future()
        self.disconnected = loop.create_future()
        self.frame_types = []        # (msg_type, fin) of every delivered frame
        self.messages = 0
        self._type = None
        self._parts = []

    def on_ws_connected(self, transport):
        self.transport = transport
        if not self.connected.done():
            self.connected.set_result(transport)

    def on_ws_disconnected(self, transport):
        if not self.disconnected.done():
            self.disconnected.set_result(True)

    def on_ws_frame(self, transport, frame):
        op = frame.msg_type
        self.frame_types.append((op, frame.fin))
        if op == WSMsgType.TEXT or op == WSMsgType.BINARY:
            if frame.fin:
                self.messages += 1
                transport.send(op, frame.get_payload_as_memoryview())
            else:
                self._type = op
                self._parts = [frame.get_payload_as_bytes()]
        elif op == WSMsgType.CONTINUATION:
            self._parts.append(frame.get_payload_as_bytes())
            if frame.fin:
                self.messages += 1
                transport.send(self._type, b"".join(self._parts))
                self._type = None
                self._parts = []
        elif op == WSMsgType.CLOSE and APP_REPLIES_CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


class ResetAsEofReader(asyncio.StreamReader):
    """A StreamReader that treats ECONNRESET (EPIPE on uvloop) as EOF and
    records it in `was_reset`.

    A testee that closed its socket with unread input would make the kernel
    answer with RST; on Linux the bytes sent before (the CLOSE frame
    included) stay readable, but a plain StreamReader raises the stored
    error before handing them out.  This one keeps them readable, and tests
    assert `was_reset` is False where the testee must close cleanly (FIN).
    """

    was_reset = False        # the testee closed with RST instead of FIN

    def set_exception(self, exc):
        if isinstance(exc, ConnectionError):     # reset, broken pipe (uvloop), aborted
            self.was_reset = True
            self.feed_eof()
        else:
            super().set_exception(exc)


def _stream_pair(loop):
    reader = ResetAsEofReader(limit=_LIMIT, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    return reader, protocol


async def open_raw_client(port: int, host: str = "127.0.0.1") -> RawConn:
    loop = asyncio.get_running_loop()
    reader, protocol = _stream_pair(loop)
    transport, _ = await wf(loop.create_connection(lambda: protocol, host, port))
    conn = RawConn(reader, asyncio.StreamWriter(transport, protocol, reader, loop))
    conn.set_nodelay()
    return conn


class TolerantRawServer(RawServer):
    """RawServer whose connections use ResetAsEofReader."""

    async def __aenter__(self):
        loop = asyncio.get_running_loop()
        self._conns = asyncio.Queue()

        def factory():
            reader, _ = _stream_pair(loop)
            return asyncio.StreamReaderProtocol(reader, self._on_conn, loop=loop)

        self._server = await wf(loop.create_server(factory, self.host, 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self


class Peer:
    def __init__(self, role, conn, transport, listener):
        self.role = role
        self.conn = conn                  # raw side
        self.transport = transport        # picows_like side
        self.listener = listener
        # The raw peer masks iff it is the client, i.e. the testee is the server.
        self.mask = True if role == "server" else None

    # --- sending -----------------------------------------------------------
    def frame(self, opcode, payload=b"", fin=True, rsv=0, **kwargs) -> bytes:
        return build_frame(opcode, payload, fin=fin, mask=self.mask, rsv=rsv, **kwargs)

    def close_frame(self, code=None, reason=b"") -> bytes:
        return self.frame(OP_CLOSE, b"" if code is None else close_payload(code, reason))

    async def send(self, *frames: bytes):
        """Write the frames in one write; a testee that already closed is fine."""
        if self.conn.writer.is_closing():
            return
        try:
            await self.conn.send(b"".join(frames))
        except (ConnectionError, OSError, RuntimeError):   # RuntimeError: uvloop, closed
            pass

    async def send_each(self, frames, delay: float = 0.0):
        """One write per frame, letting the loop (and the testee) run between."""
        for f in frames:
            await self.send(f)
            await asyncio.sleep(delay)

    async def send_chopped(self, data: bytes, chunk: int = 1):
        try:
            await self.conn.send_trickle(data, chunk)
        except (ConnectionError, OSError, RuntimeError):
            pass

    # --- receiving -----------------------------------------------------------
    async def read_frame(self, timeout: float = T):
        f = await self.conn.read_frame(timeout)
        assert f.masked == (self.role == "client"), \
            f"testee {self.role} sent a frame with masked={f.masked}"
        assert f.rsv == 0, f"testee sent RSV bits {f.rsv}"
        return f

    async def expect(self, opcode, payload, timeout: float = T):
        """The next frame from the testee is a final `opcode` frame with `payload`."""
        f = await self.read_frame(timeout)
        assert (f.opcode, f.fin) == (opcode, True), (f.opcode, f.fin, f.payload[:60])
        assert len(f.payload) == len(payload), (len(f.payload), len(payload))
        assert f.payload == payload
        return f

    async def expect_pong(self, payload=b""):
        return await self.expect(OP_PONG, payload)

    async def expect_close(self, code, *, error: bool, reason=None, timeout: float = T):
        """The next frame is a CLOSE with `code` (None: empty payload); then
        the TCP connection is closed the way real peers do it (see
        expect_eof) and the testee reports the disconnect.  `error`: the
        close is a protocol failure of the testee's peer (wait_disconnected
        raises WSProtocolError with that code)."""
        f = await self.read_frame(timeout)
        assert f.opcode == OP_CLOSE, \
            f"expected CLOSE {code}, got opcode {f.opcode:#x} payload {f.payload[:60]!r}"
        assert f.fin
        if code is None:
            assert f.payload == b"", f.payload
        else:
            assert f.close_code == code, f"expected close code {code}, got {f.close_code}"
        if reason is not None:
            assert f.close_reason == reason
        await self.expect_eof(timeout)
        await wf(asyncio.shield(self.listener.disconnected), timeout)
        if error:
            with pytest.raises(picows.WSProtocolError) as info:
                await wf(self.transport.wait_disconnected(), timeout)
            assert int(info.value.code) == code
        else:
            await wf(self.transport.wait_disconnected(), timeout)
        return f

    async def expect_eof(self, timeout: float = T):
        """Close TCP like a real peer after the closing handshake (RFC 6455
        7.1.1): a server peer (testee is the client) shuts down its side
        first and then reads the client's EOF; a client peer reads the
        server's EOF and then closes.  No bytes may follow the CLOSE."""
        if self.role == "client":
            self.shut_write()
        data = await self.conn.read_to_eof(timeout)
        assert data == b"", f"bytes after CLOSE: {data[:80]!r}"
        self.conn.close()

    async def read_eof_only(self, timeout: float = T):
        """Read to EOF without closing our side (a peer that never closes)."""
        data = await self.conn._read_to_eof(timeout)
        assert data == b"", f"bytes after CLOSE: {data[:80]!r}"

    def shut_write(self):
        """Half-close: FIN to the testee, keep reading."""
        self.conn.shut_write()

    async def close_normally(self):
        """Peer-initiated clean close: CLOSE 1000 answered with CLOSE 1000."""
        await self.send(self.close_frame(1000, b"done"))
        await self.expect_close(1000, error=False)


async def _server_side_peer(srv) -> Peer:
    conn = await open_raw_client(srv.port)
    try:
        await conn.client_handshake()
        listener = await srv.next_listener()
        transport = await wf(asyncio.shield(listener.connected))
    except BaseException:
        conn.abort()
        raise
    return Peer("server", conn, transport, listener)


async def _client_side_peer(raw, options) -> Peer:
    conn, transport, listener = await raw.accept_ws_client(EchoListener, **options)
    return Peer("client", conn, transport, listener)


async def _still_works(make_peer):
    peer = await make_peer()
    try:
        await peer.send(peer.frame(OP_TEXT, b"still alive?"))
        await peer.expect(OP_TEXT, b"still alive?")
        await peer.close_normally()
    finally:
        peer.conn.abort()
        peer.transport.disconnect(False)


@contextlib.asynccontextmanager
async def open_peer(role: str, check_after: bool = True, **options):
    """Yield a connected Peer for `role`; `options` go to ws_create_server /
    ws_connect.  On a clean exit, check the testee side still works."""
    if role == "server":
        async with ws_server(lambda request: EchoListener(), **options) as srv:
            peer = await _server_side_peer(srv)
            try:
                yield peer
                if check_after:
                    await _still_works(lambda: _server_side_peer(srv))
            finally:
                peer.conn.abort()
    elif role == "client":
        async with TolerantRawServer() as raw:
            peer = await _client_side_peer(raw, options)
            try:
                yield peer
                if check_after:
                    await _still_works(lambda: _client_side_peer(raw, options))
            finally:
                peer.conn.abort()
                peer.transport.disconnect(False)
                with contextlib.suppress(Exception):
                    await wf(peer.transport.wait_disconnected(), 1)
    else:  # pragma: no cover
        raise ValueError(role)
