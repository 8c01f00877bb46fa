"""A peer that floods PINGs and never reads.

Auto-pong must not queue one PONG per PING without bound: while the
transport's write buffer is above its high-water mark only the latest PING
is answered (RFC 6455 5.5.3), once the buffer drains.  A raw client with a
small receive buffer sends 8 MB of 125-byte PINGs and reads nothing; the
server's queued bytes are sampled on every loop iteration and must stay
under 1 MiB, the server keeps serving another client meanwhile, and when the
flooding client finally reads it gets valid PONGs in order, the last one
carrying the latest PING's payload, then a clean closing handshake (also
when it sends its CLOSE before reading: that PONG then precedes our CLOSE).
"""
import asyncio
import socket
import struct

import pytest

from helpers import (OP_CLOSE, OP_PING, OP_PONG, T, build_frame, build_request,
                     close_client, connect, wf, ws_server)

pytestmark = pytest.mark.stricter_than_picows

FLOOD_BYTES = 8 * 1000 * 1000
PAYLOAD = 125
MiB = 1024 * 1024


def ping(seq: int) -> bytes:
    payload = struct.pack("!Q", seq) + b"p" * (PAYLOAD - 8)
    return build_frame(OP_PING, payload, mask=b"\x01\x02\x03\x04")


class FrameReader:
    """Reads server frames (unmasked) from a non-blocking socket."""

    def __init__(self, loop, sock, data=b""):
        self.loop, self.sock, self.buf = loop, sock, bytearray(data)

    async def _more(self):
        chunk = await self.loop.sock_recv(self.sock, 65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    async def frame(self):
        while True:
            if len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                assert not b1 & 0x80, "server frames are not masked"
                n, hlen = b1 & 0x7F, 2
                assert n < 126, "only control frames are expected here"
                if len(self.buf) >= hlen + n:
                    payload = bytes(self.buf[hlen:hlen + n])
                    del self.buf[:hlen + n]
                    return b0, payload
            await self._more()


@pytest.mark.parametrize("close_first", [False, True], ids=["read", "close-then-read"])
async def test_ping_flood_from_a_peer_that_never_reads(close_first):
    # close-then-read: the peer sends CLOSE before it reads anything; the
    # PONG for its last PING still comes, just before the server's CLOSE.
    loop = asyncio.get_running_loop()
    async with ws_server() as srv:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        try:
            await wf(loop.sock_connect(sock, ("127.0.0.1", srv.port)))
            await wf(loop.sock_sendall(sock, build_request()))
            head = b""
            while b"\r\n\r\n" not in head:
                head += await wf(loop.sock_recv(sock, 4096))
            head, rest = head.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 101")
            listener = await srv.next_listener()
            server_tr = listener.transport.underlying_transport
            # A small kernel send buffer too, so what the client does not read
            # piles up in the transport's buffer at once.
            server_tr.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)

            peak = 0
            sampling = True

            def sample():
                nonlocal peak
                peak = max(peak, server_tr.get_write_buffer_size())
                if sampling:
                    loop.call_soon(sample)
            sample()

            count = FLOOD_BYTES // len(ping(0))
            flood = b"".join(ping(i) for i in range(count))
            chunk = 256 * 1024
            try:
                for pos in range(0, len(flood), chunk):
                    await wf(loop.sock_sendall(sock, flood[pos:pos + chunk]))
                # Still serving others while the flooding peer reads nothing.
                transport, other = await connect(srv.url())
                transport.send(1, b"still here")
                assert (await other.next_message())[1] == b"still here"
                await close_client(transport)
                queued = server_tr.get_write_buffer_size()
                if close_first:
                    await wf(loop.sock_sendall(sock, build_frame(OP_CLOSE, b"\x03\xe8",
                                                                 mask=True)))
                # The peer reads now: PONGs in order, the last for the last PING.
                reader = FrameReader(loop, sock, rest)

                async def read_pongs():
                    pongs, last = 0, -1
                    while last != count - 1:
                        b0, payload = await reader.frame()
                        assert b0 == 0x80 | OP_PONG and len(payload) == PAYLOAD
                        seq = struct.unpack("!Q", payload[:8])[0]
                        assert seq > last and payload[8:] == b"p" * (PAYLOAD - 8)
                        last, pongs = seq, pongs + 1
                    return pongs
                pongs = await wf(read_pongs(), 5)
            finally:
                sampling = False
            print(f"flood: {count} PINGs, {pongs} PONGs, peak queued {peak} bytes")
            assert peak < MiB, f"{peak} bytes queued"
            assert 0 < queued < MiB
            assert pongs < count            # later PINGs were answered by one PONG
            # And the connection is still a valid WebSocket: a clean close.
            if not close_first:
                await wf(loop.sock_sendall(sock, build_frame(OP_CLOSE, b"\x03\xe8", mask=True)))
            b0, payload = await wf(reader.frame())
            assert (b0, payload) == (0x80 | OP_CLOSE, b"\x03\xe8")
            with pytest.raises(EOFError):
                await wf(reader.frame(), T)
        finally:
            sock.close()
