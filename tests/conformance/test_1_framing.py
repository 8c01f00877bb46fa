"""Autobahn section 1: framing of text and binary messages at every payload
length class, in one write and chopped into small writes."""

import pytest

from helpers import OP_BINARY, OP_TEXT, make_payload

from .harness import open_peer

pytestmark = pytest.mark.asyncio

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1024 * 1024]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
async def test_1_x_echo_every_length_class(role, opcode, size):
    payload = make_payload(size, text=opcode == OP_TEXT)
    async with open_peer(role) as peer:
        await peer.send(peer.frame(opcode, payload))
        await peer.expect(opcode, payload)
        await peer.close_normally()


@pytest.mark.parametrize("size,chunk", [(125, 1), (126, 1), (65535, 997), (65536, 4099)])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
async def test_1_x_echo_chopped(role, opcode, size, chunk):
    payload = make_payload(size, text=opcode == OP_TEXT)
    async with open_peer(role) as peer:
        await peer.send_chopped(peer.frame(opcode, payload), chunk)
        await peer.expect(opcode, payload)
        await peer.close_normally()


async def test_1_x_every_length_class_back_to_back(role):
    # All length classes in one write: the testee must find every frame
    # boundary, including 16- and 64-bit lengths right after small frames.
    payloads = [make_payload(n) for n in SIZES]
    async with open_peer(role) as peer:
        await peer.send(*(peer.frame(OP_BINARY, p) for p in payloads))
        for p in payloads:
            await peer.expect(OP_BINARY, p)
        await peer.close_normally()
