"""Large frames that go through transport.write() (TLS, aiofastnet, a busy
socket) are written from one reused bytearray instead of a new bytes object
per frame: fresh multi-megabyte buffers mean fresh pages from the kernel
(page faults, zeroing), which cost more than the copy.  The buffer may be
reused only while no transport holds a reference to it; a transport that
keeps what it was given (uvloop, Python 3.12+, TLS while renegotiating) must
see its frames unchanged.  Driven in process with fake transports.
"""
import asyncio
import logging
import struct
import tracemalloc

import pytest

import picows_like as picows
from picows_like._transport import WSTransport

pytestmark = pytest.mark.asyncio

SIZE = 200 * 1024          # past the 16 KiB threshold and malloc's mmap threshold


class CopyingTransport(asyncio.Transport):
    """Consumes everything at write() time, like asyncio's TLS transport,
    into a preallocated area so that it allocates nothing itself."""

    def __init__(self, capacity):
        super().__init__()
        self.wire = bytearray(capacity)
        self.ends = []

    def get_extra_info(self, name, default=None):
        return default

    def write(self, data):
        start = self.ends[-1] if self.ends else 0
        memoryview(self.wire)[start:start + len(data)] = data
        self.ends.append(start + len(data))

    def get_write_buffer_size(self):
        return 0

    @property
    def frames(self):
        return [self.wire[a:b] for a, b in zip([0] + self.ends, self.ends)]


class KeepingTransport(CopyingTransport):
    """Keeps the objects it is given, like uvloop's queue."""

    def __init__(self):
        super().__init__(0)
        self.kept = []

    def write(self, data):
        self.kept.append(data)

    def get_write_buffer_size(self):
        return sum(len(f) for f in self.kept)

    @property
    def frames(self):
        return self.kept


def decode(frame) -> tuple:
    """(opcode, payload) of one whole frame, unmasked."""
    frame = bytes(frame)
    b0, b1 = frame[0], frame[1]
    n, pos = b1 & 0x7F, 2
    if n == 126:
        n, pos = struct.unpack_from("!H", frame, 2)[0], 4
    elif n == 127:
        n, pos = struct.unpack_from("!Q", frame, 2)[0], 10
    payload = frame[pos:]
    if b1 & 0x80:
        key, body = frame[pos:pos + 4], frame[pos + 4:]
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(body))
    assert len(payload) == n
    return b0 & 0x0F, payload


def make_transport(underlying, client: bool) -> WSTransport:
    loop = asyncio.get_running_loop()
    return WSTransport(client, underlying, logging.getLogger("test"), loop)


def payloads(count):
    return [bytes([65 + i]) * SIZE for i in range(count)]


@pytest.mark.parametrize("client", [True, False], ids=["client", "server"])
async def test_copying_transport_frames_reuse_one_buffer(client):
    under = CopyingTransport(8 * SIZE)
    tr = make_transport(under, client)
    scratch = bytearray(SIZE)
    sent = payloads(4)
    scratch[:] = sent[0]
    tr.send(picows.WSMsgType.BINARY, scratch)           # allocates the lent buffer
    peaks = []
    for p in sent[1:]:
        scratch[:] = p
        tracemalloc.start()
        try:
            tr.send(picows.WSMsgType.BINARY, memoryview(scratch))  # mutable: copied
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert max(peaks) < SIZE // 4, f"bytes allocated per {SIZE}-byte frame: {peaks}"
    assert [decode(f) for f in under.frames] == [(2, p) for p in sent]


@pytest.mark.parametrize("client", [True, False], ids=["client", "server"])
async def test_keeping_transport_frames_are_never_overwritten(client):
    under = KeepingTransport()
    tr = make_transport(under, client)
    scratch = bytearray(SIZE)
    for p in payloads(4):
        scratch[:] = p
        tr.send(picows.WSMsgType.BINARY, scratch)
        scratch[:] = b"\xee" * SIZE
    # Every kept view still holds its own frame: the buffer was given up.
    assert [decode(f) for f in under.frames] == [(2, p) for p in payloads(4)]
    assert len({id(f.obj) for f in under.kept}) == 4


async def test_small_and_growing_frames():
    under = CopyingTransport(8 * SIZE)
    tr = make_transport(under, True)
    sent = [b"x" * 1000, b"a" * SIZE, b"b" * (4 * SIZE), b"c" * SIZE]
    for p in sent:
        tr.send(picows.WSMsgType.BINARY, bytearray(p))
    assert [decode(f) for f in under.frames] == [(2, p) for p in sent]


class TLSLikeTransport(CopyingTransport):
    """Says it is TLS (the loop's own): large writes must arrive in pieces."""

    def __init__(self, capacity):
        super().__init__(capacity)
        self.writes = []

    def get_extra_info(self, name, default=None):
        return object() if name == "sslcontext" else default

    def write(self, data):
        self.writes.append(len(data))
        super().write(data)


@pytest.mark.parametrize("kind", [bytes, bytearray])
@pytest.mark.parametrize("client", [True, False], ids=["client", "server"])
async def test_large_tls_writes_go_in_64k_pieces(client, kind):
    under = TLSLikeTransport(4 * SIZE)
    tr = make_transport(under, client)
    assert tr.is_secure
    sent = payloads(2)
    for p in sent:
        tr.send(picows.WSMsgType.BINARY, kind(p))
    assert max(under.writes) <= 64 * 1024
    assert len(under.writes) > 2 * (SIZE // (64 * 1024))
    wire = bytes(under.wire[:under.ends[-1]])
    hlen = len(wire) // 2 - SIZE
    frames = [wire[:hlen + SIZE], wire[hlen + SIZE:]]
    assert [decode(f) for f in frames] == [(2, p) for p in sent]

