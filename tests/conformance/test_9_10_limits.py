"""Autobahn sections 9 and 10 at sizes that fit a 2-core machine: big
messages, many messages, and the max_frame_size limit (1009)."""

import pytest

from helpers import OP_BINARY, OP_CONT, OP_TEXT, make_payload

from .harness import open_peer

pytestmark = pytest.mark.asyncio

MiB = 1024 * 1024


@pytest.mark.parametrize("size", [256 * 1024, 4 * MiB])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
async def test_9_1_9_2_big_single_frame(role, opcode, size):
    payload = make_payload(size, text=opcode == OP_TEXT)
    async with open_peer(role) as peer:
        await peer.send(peer.frame(opcode, payload))
        await peer.expect(opcode, payload, timeout=5)
        await peer.close_normally()


@pytest.mark.parametrize("fragment", [1024, 64 * 1024])
async def test_9_3_9_4_big_message_in_fragments(role, fragment):
    payload = make_payload(4 * MiB)
    async with open_peer(role) as peer:
        frames = [peer.frame(OP_BINARY if i == 0 else OP_CONT, payload[i:i + fragment],
                             fin=i + fragment >= len(payload))
                  for i in range(0, len(payload), fragment)]
        await peer.send(*frames)
        await peer.expect(OP_BINARY, payload, timeout=5)
        await peer.close_normally()


@pytest.mark.parametrize("size", [0, 16, 1024])
async def test_9_7_9_8_many_small_messages_in_one_write(role, size):
    n = 1000
    async with open_peer(role) as peer:
        payloads = [(b"%06d" % i + make_payload(size))[:max(size, 6)] for i in range(n)]
        await peer.send(*(peer.frame(OP_TEXT if i % 2 else OP_BINARY, p)
                          for i, p in enumerate(payloads)))
        for i, p in enumerate(payloads):
            await peer.expect(OP_TEXT if i % 2 else OP_BINARY, p)
        await peer.close_normally()


@pytest.mark.parametrize("limit", [1000, 65536, MiB])
async def test_max_frame_size_exactly_passes(role, limit):
    async with open_peer(role, max_frame_size=limit) as peer:
        payload = make_payload(limit)
        await peer.send(peer.frame(OP_BINARY, payload))
        await peer.expect(OP_BINARY, payload)
        await peer.close_normally()


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("limit", [1000, 65536, MiB])
async def test_max_frame_size_plus_one_is_1009(role, limit):
    async with open_peer(role, max_frame_size=limit) as peer:
        await peer.send(peer.frame(OP_TEXT, b"before"), peer.frame(OP_BINARY, b"z" * (limit + 1)))
        await peer.expect(OP_TEXT, b"before")
        await peer.expect_close(1009, error=True)


@pytest.mark.stricter_than_picows
async def test_max_frame_size_refused_on_header_alone(role):
    # Only the header of the oversized frame is sent: the testee must refuse
    # it without waiting for (or buffering) the payload.
    async with open_peer(role, max_frame_size=65536) as peer:
        data = peer.frame(OP_BINARY, b"z" * (MiB))
        await peer.send(data[:14])
        await peer.expect_close(1009, error=True)


async def test_max_frame_size_is_per_frame(role):
    # A message bigger than max_frame_size in frames that each fit is fine
    # (the limit applies to a frame, as in picows).
    limit = 4096
    payload = make_payload(10 * limit)
    async with open_peer(role, max_frame_size=limit) as peer:
        frames = [peer.frame(OP_BINARY if i == 0 else OP_CONT, payload[i:i + limit],
                             fin=i + limit >= len(payload))
                  for i in range(0, len(payload), limit)]
        await peer.send(*frames)
        # The echo itself is one 40 KiB frame: the raw peer has no limit.
        await peer.expect(OP_BINARY, payload)
        await peer.close_normally()
