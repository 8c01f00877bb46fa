"""What a hostile peer can do to a real connection, and what it gets:

* a 64-bit length near 2**63 with ``max_frame_size=sys.maxsize`` ("no
  limit") is refused with CLOSE 1009 on both sides (it used to overflow
  header + length: SIGSEGV on the server, AttributeError on the client);
* compression with an unlimited size still inflates (the output limit no
  longer wraps);
* with ``validate_utf8=True`` invalid UTF-8 in a TEXT frame fails with 1007
  while the frame is still arriving;
* a WSFrame kept past ``on_ws_frame`` reads as empty;
* the end of the upgrade request is searched for in new bytes only.
"""
import asyncio
import base64
import logging
import os
import socket
import sys

import pytest

import picows_like as picows
from conformance.harness import open_peer
from helpers import OP_BINARY, OP_CONT, OP_TEXT, RecordingListener, connect, wf, ws_server

if os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1":
    pytest.skip("picows_like hardening (not in the reference)", allow_module_level=True)

ROLES = ["server", "client"]


# -- lengths ------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("length", [(1 << 63) - 1, (1 << 62) + 1])
async def test_unlimited_max_frame_size_huge_length_is_1009(role, length):
    async with open_peer(role, max_frame_size=sys.maxsize) as peer:
        await peer.send(peer.frame(OP_BINARY, b"x" * 100, length_bits=64,
                                   length_override=length))
        close = await peer.expect_close(1009, error=True)
        assert close.close_reason          # says why


@pytest.mark.parametrize("role", ROLES)
async def test_length_beyond_memory_is_1009_not_a_fatal_error(role):
    # 2**50 bytes passes the parser's limits but no buffer can be that large:
    # the connection closes with 1009 instead of a MemoryError in the loop.
    async with open_peer(role, max_frame_size=sys.maxsize) as peer:
        await peer.send(peer.frame(OP_BINARY, b"x" * 100, length_bits=64,
                                   length_override=1 << 50))
        close = await peer.expect_close(1009, error=True)
        assert b"no memory" in close.close_reason


@pytest.mark.parametrize("role", ROLES)
async def test_top_bit_length_is_1002_without_limit(role):
    async with open_peer(role, max_frame_size=sys.maxsize) as peer:
        await peer.send(peer.frame(OP_BINARY, b"", length_bits=64, length_override=1 << 63))
        await peer.expect_close(1002, error=True)


async def test_max_frame_size_above_sys_maxsize_is_refused_at_the_call():
    with pytest.raises(ValueError, match="max_frame_size"):
        await picows.ws_create_server(lambda r: RecordingListener(), "127.0.0.1", 0,
                                      max_frame_size=sys.maxsize + 1)
    with pytest.raises(ValueError, match="max_frame_size"):
        await picows.ws_connect(RecordingListener, "ws://127.0.0.1:1/",
                                max_frame_size=sys.maxsize + 1)


@pytest.mark.parametrize("size", [(1 << 30) + 1, sys.maxsize])
async def test_read_buffer_init_size_too_large_is_refused_at_the_call(size):
    with pytest.raises(ValueError, match="read_buffer_init_size"):
        await picows.ws_create_server(lambda r: RecordingListener(), "127.0.0.1", 0,
                                      read_buffer_init_size=size)
    with pytest.raises(ValueError, match="read_buffer_init_size"):
        await picows.ws_connect(RecordingListener, "ws://127.0.0.1:1/",
                                read_buffer_init_size=size)


async def test_compressed_echo_with_unlimited_max_frame_size():
    # The inflater's output limit was max_size + 1, which wrapped at
    # sys.maxsize: the first frame inflating past 16 KiB spun forever.
    async with ws_server(compression="deflate", max_frame_size=sys.maxsize) as srv:
        transport, listener = await connect(srv.url(), compression="deflate",
                                            max_frame_size=sys.maxsize)
        data = b"compressible " * 20_000
        transport.send(picows.WSMsgType.BINARY, data)
        assert await listener.next_message() == (picows.WSMsgType.BINARY, data)
        transport.disconnect()


# -- UTF-8 fails while the frame arrives -----------------------------------------

def _first_bytes(peer, opcode, payload, total, fin=True):
    """A frame header announcing `total` payload bytes, and the first ones."""
    return peer.frame(opcode, payload, fin=fin, length_override=total,
                      length_bits=16 if total < 65536 else 64)


@pytest.mark.parametrize("role", ROLES)
async def test_invalid_utf8_in_partial_text_frame_is_1007_at_once(role):
    async with open_peer(role, validate_utf8=True) as peer:
        await peer.send(_first_bytes(peer, OP_TEXT, "żółw ".encode() + b"\xc0\xaf", 50_000))
        # The other 49 993 bytes never come: the CLOSE is not waiting for them.
        await peer.expect_close(1007, error=True)


@pytest.mark.parametrize("role", ROLES)
async def test_invalid_utf8_in_partial_non_final_fragment_is_1007_at_once(role):
    async with open_peer(role, validate_utf8=True) as peer:
        await peer.send(peer.frame(OP_TEXT, b"first \xf0\x9f", fin=False))
        await peer.send(_first_bytes(peer, OP_CONT, b"\x8e\x89 ok \xed\xbf\xbf", 10_000,
                                     fin=False))
        await peer.expect_close(1007, error=True)


@pytest.mark.parametrize("role", ROLES)
async def test_valid_utf8_split_inside_code_points_across_reads(role):
    text = "ascii ż € 🎉 κόσμε ".encode() * 400
    async with open_peer(role, validate_utf8=True) as peer:
        data = peer.frame(OP_TEXT, text)
        await peer.send_chopped(data, 7)
        await peer.expect(OP_TEXT, text)
        await peer.close_normally()


async def test_compressed_text_is_still_checked_after_inflating():
    # The parser leaves compressed TEXT to the protocol, which checks the
    # inflated bytes: a valid message passes, an invalid one gets 1007.
    async with ws_server(lambda r: RecordingListener(echo=True), compression="deflate",
                         validate_utf8=True) as srv:
        transport, listener = await connect(srv.url(), compression="deflate")
        text = "żółw 🎉 ".encode() * 1000
        transport.send(picows.WSMsgType.TEXT, text[:1001], fin=False)
        transport.send(picows.WSMsgType.CONTINUATION, text[1001:])
        assert await listener.next_message() == (picows.WSMsgType.TEXT, text)
        transport.send(picows.WSMsgType.TEXT, b"abc \xed\xa0\x80 def" * 100)
        close = await listener.wait_frame(picows.WSMsgType.CLOSE)
        assert close.close_code == 1007
        await wf(transport.wait_disconnected())


# -- a WSFrame kept past the callback ------------------------------------------------

class KeepingListener(picows.WSListener):
    def __init__(self):
        self.kept = []
        self.seen = []
        self.got = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport, frame):
        self.kept.append(frame)                 # what the docs say not to do
        self.seen.append((frame.payload_size, frame.get_payload_as_bytes()))
        if len(self.kept) == 2 and not self.got.done():
            self.got.set_result(None)


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_frame_kept_past_on_ws_frame_reads_as_empty(compression):
    listener = KeepingListener()
    async with ws_server(lambda r: RecordingListener(echo=False),
                         compression=compression) as srv:
        transport, _ = await wf(picows.ws_connect(lambda: listener, srv.url(),
                                                  compression=compression))
        server_side = (await srv.next_listener()).transport
        server_side.send(picows.WSMsgType.TEXT, b"first " * 1000)
        server_side.send(picows.WSMsgType.BINARY, b"second")
        await wf(listener.got)
        assert listener.seen == [(6000, b"first " * 1000), (6, b"second")]
        frame = listener.kept[0]
        assert listener.kept[1] is frame        # one reused object per connection
        # Outside the callback: empty, not the old (or freed) payload.
        assert frame.payload_size == 0
        assert frame.get_payload_as_bytes() == b""
        assert frame.get_payload_as_utf8_text() == ""
        assert bytes(frame.get_payload_as_memoryview()) == b""
        transport.disconnect()


# -- the end of the upgrade request --------------------------------------------------

def test_request_head_fed_one_byte_at_a_time_is_scanned_linearly():
    from inprocess import FakeTransport
    from picows_like._protocol import WSProtocol

    key = base64.b64encode(os.urandom(16)).decode()
    pad = "".join(f"X-Pad-{i}: {'p' * 160}\r\n" for i in range(80))
    request = (f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"{pad}Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    assert 12 * 1024 < len(request) < 16 * 1024       # under the 16 KiB head limit
    loop = asyncio.new_event_loop()
    a, b = socket.socketpair()
    try:
        protocol = WSProtocol(False, lambda request: picows.WSListener(),
                              loop, logging.getLogger("test"))
        transport = FakeTransport(a)
        protocol.connection_made(transport)
        for i in range(len(request)):
            buf = protocol.get_buffer(-1)
            memoryview(buf)[:1] = request[i:i + 1]
            protocol.buffer_updated(1)
        assert transport.written.startswith(b"HTTP/1.1 101 ")
        # Each read searches its new byte plus the 3 before it: 1 + 2 + 3 +
        # 4 + 4 + ... bytes in all, not the 170 MB a rescan per read costs.
        assert protocol._head_scan_bytes == 4 * len(request) - 6
    finally:
        loop.close()
        a.close()
        b.close()
