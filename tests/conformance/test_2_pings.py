"""Autobahn section 2: PING/PONG.  The library answers every PING with a
PONG carrying the same payload, ignores unsolicited PONGs and refuses
control payloads over 125 bytes."""

import pytest

from helpers import OP_BINARY, OP_PING, OP_PONG, OP_TEXT, make_payload

from .harness import open_peer

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("payload", [
    pytest.param(b"", id="empty"),
    pytest.param(b"Hello, world!", id="text"),
    pytest.param(bytes([0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF]), id="binary"),
    pytest.param(b"*" * 125, id="125_bytes"),
])
async def test_2_1_to_2_4_ping_answered_with_same_payload(role, payload):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_PING, payload))
        await peer.expect_pong(payload)
        await peer.close_normally()


@pytest.mark.stricter_than_picows
async def test_2_5_ping_126_bytes_is_1002(role):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_PING, b"*" * 126))
        await peer.expect_close(1002, error=True)


async def test_2_6_ping_125_bytes_chopped(role):
    async with open_peer(role) as peer:
        await peer.send_chopped(peer.frame(OP_PING, make_payload(125)), 1)
        await peer.expect_pong(make_payload(125))
        await peer.close_normally()


@pytest.mark.parametrize("payload", [b"", b"unsolicited pong payload"], ids=["empty", "payload"])
async def test_2_7_2_8_unsolicited_pong_is_ignored(role, payload):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_PONG, payload), peer.frame(OP_TEXT, b"after pong"))
        # Nothing is sent for the PONG: the next frame is the echo.
        await peer.expect(OP_TEXT, b"after pong")
        await peer.close_normally()


async def test_2_9_unsolicited_pong_then_ping(role):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_PONG, b"unsolicited"), peer.frame(OP_PING, b"solicited"))
        await peer.expect_pong(b"solicited")
        await peer.close_normally()


@pytest.mark.parametrize("chopped", [False, True], ids=["one_write", "chopped"])
async def test_2_10_2_11_ten_pings_answered_in_order(role, chopped):
    pings = [b"payload-%d" % i for i in range(10)]
    async with open_peer(role) as peer:
        data = b"".join(peer.frame(OP_PING, p) for p in pings)
        if chopped:
            await peer.send_chopped(data, 3)
        else:
            await peer.send(data)
        for p in pings:
            await peer.expect_pong(p)
        await peer.close_normally()


async def test_2_x_pings_interleaved_with_data_keep_order(role):
    async with open_peer(role) as peer:
        frames, expected = [], []
        for i in range(20):
            frames.append(peer.frame(OP_BINARY, b"data-%d" % i))
            expected.append((OP_BINARY, b"data-%d" % i))
            frames.append(peer.frame(OP_PING, b"ping-%d" % i))
            expected.append((OP_PONG, b"ping-%d" % i))
        await peer.send(*frames)
        for op, payload in expected:
            await peer.expect(op, payload)
        await peer.close_normally()
