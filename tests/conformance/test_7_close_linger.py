"""Closing without losing our CLOSE.

When picows_like fails a connection (or closes) while the peer's data is
still unread, closing the socket at once makes the kernel send RST, and a
peer whose stack drops buffered data on RST loses our CLOSE.  picows_like
instead lingers: the server shuts down its write side (FIN), a client waits
for the server to close first, and both read and discard input until the
peer's EOF, bounded by close_timeout and CLOSE_DRAIN_MAX_BYTES.  On Linux the
peer keeps buffered data after an RST, so these tests check the cause
directly: the peer must see a clean EOF, never a reset.
"""

import asyncio
import logging
import time

import pytest

import picows_like as picows
from picows_like import _protocol
from helpers import OP_BINARY, OP_CLOSE, OP_PONG

from .harness import open_peer

pytestmark = pytest.mark.asyncio

MiB = 1024 * 1024


def bad_frame(peer):
    return peer.frame(0x5, b"reserved opcode")          # fails the connection: 1002


def junk(peer, total):
    """`total` bytes of unsolicited PONG frames (not echoed by the testee)."""
    one = peer.frame(OP_PONG, b"j" * 125)
    return one * (total // len(one))


async def test_close_arrives_after_unread_flood(role):
    # (a) The peer writes a bad frame followed by 8 MiB it will not read
    # for a while, then reads: it gets the CLOSE 1002 and a clean EOF.
    async with open_peer(role) as peer:
        peer.conn.writer.write(bad_frame(peer) + junk(peer, 8 * MiB))
        await asyncio.sleep(0.2)                         # the testee fails meanwhile
        await peer.expect_close(1002, error=True, timeout=10)
        assert not peer.conn.reader.was_reset, "the testee closed with RST"
        assert peer.transport.close_handshake.sent.code == 1002


async def test_nothing_lost_when_peer_floods_before_send_close(role):
    # Same for a close we initiate: data + CLOSE arrive, then a clean EOF.
    async with open_peer(role, close_timeout=10) as peer:
        peer.conn.writer.write(junk(peer, 4 * MiB))
        await asyncio.sleep(0.05)
        payload = b"x" * 100000
        peer.transport.send(picows.WSMsgType.BINARY, payload)
        peer.transport.send_close(picows.WSCloseCode.GOING_AWAY)
        peer.transport.disconnect()
        await peer.expect(OP_BINARY, payload, timeout=10)
        await peer.expect_close(1001, error=False, timeout=10)
        assert not peer.conn.reader.was_reset, "the testee closed with RST"


async def test_silent_peer_is_disconnected_after_close_timeout(role):
    # (b) The peer reads our CLOSE but never closes its side.
    async with open_peer(role, close_timeout=0.3) as peer:
        await peer.send(bad_frame(peer))
        f = await peer.read_frame()
        assert f.opcode == OP_CLOSE and f.close_code == 1002
        t0 = time.monotonic()
        with pytest.raises(picows.WSProtocolError) as info:
            await asyncio.wait_for(peer.transport.wait_disconnected(), 3)
        assert int(info.value.code) == 1002
        elapsed = time.monotonic() - t0
        assert 0.2 < elapsed < 2.5, elapsed
        await peer.read_eof_only()


async def test_peer_flooding_after_close_is_cut_off_by_bytes(role, caplog):
    # (c) The peer keeps sending after our CLOSE: the drain stops at
    # CLOSE_DRAIN_MAX_BYTES long before the (large) close_timeout.
    caplog.set_level(logging.INFO)
    async with open_peer(role, close_timeout=60) as peer:
        await peer.send(bad_frame(peer))
        chunk = junk(peer, 256 * 1024)
        t0 = time.monotonic()

        async def flood():
            while not peer.listener.disconnected.done() and time.monotonic() - t0 < 20:
                await peer.send(chunk)

        task = asyncio.ensure_future(flood())
        await asyncio.wait_for(asyncio.shield(peer.listener.disconnected), 20)
        assert time.monotonic() - t0 < 20
        await asyncio.wait_for(task, 5)
        with pytest.raises(picows.WSProtocolError):
            await peer.transport.wait_disconnected()
        f = await peer.read_frame()
        assert f.opcode == OP_CLOSE and f.close_code == 1002
        assert any("while the connection was closing" in r.getMessage()
                   for r in caplog.records), [r.getMessage() for r in caplog.records]


async def test_peer_flooding_after_close_is_cut_off_by_time(role):
    # (c) A slow, endless trickle after our CLOSE stays under the byte
    # bound: close_timeout ends it.
    async with open_peer(role, close_timeout=0.3) as peer:
        await peer.send(bad_frame(peer))
        f = await peer.read_frame()
        assert f.opcode == OP_CLOSE and f.close_code == 1002
        t0 = time.monotonic()
        while not peer.listener.disconnected.done():
            assert time.monotonic() - t0 < 3, "still connected"
            await peer.send(peer.frame(OP_PONG, b"t" * 100))
            await asyncio.sleep(0.01)
        assert time.monotonic() - t0 > 0.2


async def test_drain_bound_is_documented_value():
    assert _protocol.CLOSE_DRAIN_MAX_BYTES == 16 * MiB
