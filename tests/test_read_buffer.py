"""The read buffer the event loop reads into (WSProtocol.get_buffer).

Driven in process, the way asyncio drives a BufferedProtocol: get_buffer(),
copy one "read" into it, buffer_updated().  A read that fills all the offered
space means the socket has more: the next offer doubles, up to 256 KiB (and
stays there for a busy stream); after 64 calm reads the buffer is back at its
initial size.  A frame larger than 256 KiB grows the buffer to hold it; that
memory is released once a whole idle-timer period went by without a large
frame (the timer is called by hand here: `idle_period`).
"""
import asyncio
import base64
import logging
import os
import random
import socket
import struct
import zlib

import pytest

import picows_like as picows
from picows_like._protocol import WSProtocol
from inprocess import FakeTransport

INIT = 16 * 1024
LIMIT = 256 * 1024


class Counter(picows.WSListener):
    def __init__(self):
        self.frames = 0
        self.bytes = 0
        self.crcs = None        # a list: also record each payload's CRC32

    def on_ws_frame(self, transport, frame):
        self.frames += 1
        self.bytes += frame.payload_size
        if self.crcs is not None:
            self.crcs.append(zlib.crc32(frame.get_payload_as_bytes()))


def masked_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x82, 0x80 | len(payload)) + mask + body


def feed(protocol, data: bytes) -> int:
    """One read of at most len(get_buffer()) bytes; returns bytes taken."""
    buf = protocol.get_buffer(-1)
    n = min(len(buf), len(data))
    memoryview(buf)[:n] = data[:n]
    protocol.buffer_updated(n)
    return n


@pytest.fixture
def server():
    loop = asyncio.new_event_loop()
    a, b = socket.socketpair()
    listener = Counter()
    protocol = WSProtocol(False, lambda *args: listener, loop, logging.getLogger("test"))
    transport = FakeTransport(a)
    protocol.connection_made(transport)
    key = base64.b64encode(os.urandom(16)).decode()
    request = ("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    assert feed(protocol, request) == len(request)
    assert transport.written.startswith(b"HTTP/1.1 101")
    yield protocol, transport, listener
    loop.close()
    a.close()
    b.close()


def test_full_reads_grow_the_offer_then_calm_reads_shrink_it(server):
    protocol, transport, listener = server
    frame = masked_frame(os.urandom(60))
    stream = frame * (4 * LIMIT // len(frame))
    assert len(protocol.get_buffer(-1)) == INIT

    offers, pos, n = [], 0, 0
    while pos < len(stream):
        offers.append(len(protocol.get_buffer(-1)))
        n = feed(protocol, stream[pos:])
        pos += n
    calm = 0 if n == offers[-1] else 1     # the last read may not have filled the offer
    # Every read filled the offer, so the buffer doubled each time until the
    # limit (the offer is the capacity minus the partial frame kept at its start).
    for offer, capacity in zip(offers, [INIT, 2 * INIT, 4 * INIT, 8 * INIT] + [LIMIT] * 8):
        assert capacity - len(frame) < offer <= capacity
    assert max(offers) <= LIMIT
    assert listener.frames == len(stream) // len(frame)
    assert listener.bytes == 60 * listener.frames

    # Reads that do not fill the buffer: back to the initial size after 64.
    fed = 0
    while calm < 64:
        assert len(protocol.get_buffer(-1)) >= LIMIT - len(frame)
        feed(protocol, frame)
        calm += 1
        fed += 1
    assert len(protocol.get_buffer(-1)) == INIT
    assert listener.frames == len(stream) // len(frame) + fed
    # Nothing but the 101 was written: no protocol error on the way.
    assert transport.written.count(b"\r\n\r\n") == 1 and transport.written.endswith(b"\r\n\r\n")


def test_idle_reads_keep_the_initial_buffer(server):
    protocol, transport, listener = server
    frame = masked_frame(b"x" * 100)
    for _ in range(500):
        feed(protocol, frame)
        assert len(protocol.get_buffer(-1)) == INIT
    assert listener.frames == 500


def big_masked_frame(payload: bytes, mask: bytes = b"\x11\x22\x33\x44") -> bytes:
    n = len(payload)
    head = struct.pack("!BBH", 0x82, 0x80 | 126, n) if n <= 0xFFFF \
        else struct.pack("!BBQ", 0x82, 0x80 | 127, n)
    key = (mask * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + body


def idle_period(protocol):
    """What the idle timer does when a period went by (the fixture's loop
    does not run): the first call ends the period in which the large buffer
    was last used, the second finds a whole idle period and releases."""
    protocol._release_idle_buffers()
    protocol._release_idle_buffers()


def test_a_frame_larger_than_the_limit_is_released_when_idle(server):
    # The buffer grows to hold a 1 MiB frame whole and gives that memory back
    # once the connection is idle: an idle connection must not keep it.
    protocol, transport, listener = server
    frame = big_masked_frame(os.urandom(1024 * 1024))
    pos = 0
    while pos < len(frame):
        pos += feed(protocol, frame[pos:])
        if pos < len(frame):
            assert len(protocol.get_buffer(-1)) >= len(frame) - pos
    assert listener.frames == 1 and listener.bytes == 1024 * 1024
    protocol._release_idle_buffers()        # the period it was used in: kept
    assert len(protocol.get_buffer(-1)) > 1024 * 1024
    protocol._release_idle_buffers()        # a whole idle period: released
    assert len(protocol.get_buffer(-1)) == INIT
    assert protocol._held_buffer_sizes() == (INIT, 0, 0, 1024, 0)


def test_a_large_frame_then_the_start_of_a_small_one(server):
    # The start of the next (small) frame in the same read does not keep the
    # large buffer alive: it moves into a small one.
    protocol, transport, listener = server
    small = masked_frame(b"y" * 100)
    stream = big_masked_frame(os.urandom(512 * 1024)) + small[:30]
    pos = 0
    while pos < len(stream):
        pos += feed(protocol, stream[pos:])
    assert listener.frames == 1
    idle_period(protocol)
    assert len(protocol.get_buffer(-1)) == INIT - 30
    assert feed(protocol, small[30:]) == len(small) - 30
    assert listener.frames == 2 and listener.bytes == 512 * 1024 + 100
    assert protocol._held_buffer_sizes()[0] == INIT


def test_a_large_frame_in_progress_keeps_its_buffer_when_idle(server):
    # A peer that is slow to send a large frame: the room it needs is kept.
    protocol, transport, listener = server
    frame = big_masked_frame(os.urandom(512 * 1024))
    pos = 0
    while pos < 300 * 1024:
        pos += feed(protocol, frame[pos:300 * 1024])
    idle_period(protocol)
    assert len(protocol.get_buffer(-1)) == len(frame) - pos
    while pos < len(frame):
        pos += feed(protocol, frame[pos:])
    assert listener.frames == 1 and listener.bytes == 512 * 1024
    idle_period(protocol)
    assert len(protocol.get_buffer(-1)) == INIT


def test_a_busy_stream_of_large_frames_keeps_its_buffer(server):
    # 300 KB frames back to back: the buffer is used in every period, so it
    # is kept (no free and fresh pages per frame), and released when idle.
    protocol, transport, listener = server
    frame = big_masked_frame(os.urandom(300_000))
    sizes = []
    for _ in range(5):
        stream = frame * 4
        pos = 0
        while pos < len(stream):
            pos += feed(protocol, stream[pos:])
            sizes.append(protocol._held_buffer_sizes()[0])
        protocol._release_idle_buffers()    # a period in which it was used
    assert listener.frames == 20
    assert min(sizes) >= len(frame) and len(set(sizes)) == 1
    protocol._release_idle_buffers()
    assert protocol._held_buffer_sizes()[0] == INIT


def test_a_busy_stream_of_medium_frames_keeps_its_buffer(server):
    # 100 KB frames in full reads: the buffer reaches the 256 KiB limit and
    # then stays there, read after read (no free and re-allocation per read).
    protocol, transport, listener = server
    frame = big_masked_frame(os.urandom(100_000))
    stream = frame * 40
    pos, sizes = 0, []
    while pos < len(stream):
        pos += feed(protocol, stream[pos:])
        sizes.append(protocol._held_buffer_sizes()[0])
    assert listener.frames == 40
    first = sizes.index(LIMIT)
    assert sizes[first:] == [LIMIT] * (len(sizes) - first) and len(sizes) - first > 10


def test_random_splits_with_idle_releases_deliver_every_frame_intact(server):
    # Frames of every size class, split into random reads, with idle
    # periods at random moments (releasing whatever may be): every
    # frame arrives whole and unchanged, and the buffer ends small.
    protocol, transport, listener = server
    listener.crcs = got = []
    rnd = random.Random(7)
    sizes = [rnd.choice([rnd.randrange(0, 126), rnd.randrange(126, 100_000),
                         rnd.randrange(300_000, 1_200_000)]) for _ in range(60)]
    payloads = [rnd.randbytes(n) for n in sizes]
    stream = b"".join(big_masked_frame(p) if len(p) > 125 else masked_frame(p)
                      for p in payloads)
    pos = 0
    while pos < len(stream):
        buf = protocol.get_buffer(-1)
        n = min(len(buf), len(stream) - pos, rnd.randrange(1, 300_000))
        memoryview(buf)[:n] = stream[pos:pos + n]
        protocol.buffer_updated(n)
        pos += n
        if rnd.random() < 0.3:
            idle_period(protocol)       # the peer paused for a while here
    assert got == [zlib.crc32(p) for p in payloads]
    idle_period(protocol)
    assert protocol._held_buffer_sizes()[0] <= LIMIT
    assert transport.written.count(b"\r\n\r\n") == 1 and transport.written.endswith(b"\r\n\r\n")
