"""Autobahn section 4: reserved opcodes (data 3-7, control B-F) fail the
connection with 1002, with or without payload, after valid frames were
processed and before later ones are."""

import pytest

from helpers import OP_PING, OP_TEXT

from .harness import open_peer

# The reference picows does not enforce these rules.
pytestmark = [pytest.mark.asyncio, pytest.mark.stricter_than_picows]

RESERVED = [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF]


@pytest.mark.parametrize("payload", [b"", b"reserved payload"], ids=["empty", "payload"])
@pytest.mark.parametrize("opcode", RESERVED, ids=[f"op_{op:X}" for op in RESERVED])
async def test_4_reserved_opcode_is_1002(role, opcode, payload):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_TEXT, b"before"),
                        peer.frame(opcode, payload),
                        peer.frame(OP_PING, b"after"))
        await peer.expect(OP_TEXT, b"before")
        await peer.expect_close(1002, error=True)


@pytest.mark.parametrize("opcode", [0x3, 0xB])
async def test_4_reserved_opcode_alone_is_1002(role, opcode):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(opcode))
        await peer.expect_close(1002, error=True)
