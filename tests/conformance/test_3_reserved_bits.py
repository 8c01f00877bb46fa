"""Autobahn section 3: RSV bits without a negotiated extension fail the
connection with 1002; frames before the bad one are processed, frames after
it are not."""

import pytest

from helpers import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, close_payload

from .harness import open_peer

# The reference picows does not enforce these rules.
pytestmark = [pytest.mark.asyncio, pytest.mark.stricter_than_picows]


@pytest.mark.parametrize("opcode,rsv", [
    pytest.param(OP_TEXT, 4, id="3.1_text_rsv1"),
    pytest.param(OP_TEXT, 2, id="3.2_text_rsv2"),
    pytest.param(OP_TEXT, 6, id="3.3_text_rsv3_rsv2"),
    pytest.param(OP_TEXT, 1, id="3.4_text_rsv3"),
    pytest.param(OP_BINARY, 5, id="3.5_binary_rsv1_rsv3"),
    pytest.param(OP_PING, 6, id="3.6_ping_rsv1_rsv2"),
    pytest.param(OP_CLOSE, 7, id="3.7_close_all_rsv"),
])
async def test_3_reserved_bits_are_1002(role, opcode, rsv):
    payload = close_payload(1000) if opcode == OP_CLOSE else b"Hello"
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_TEXT, b"before"),
                        peer.frame(opcode, payload, rsv=rsv),
                        peer.frame(OP_PING, b"after"))
        await peer.expect(OP_TEXT, b"before")
        await peer.expect_close(1002, error=True)     # no PONG for "after"


async def test_3_x_reserved_bits_chopped(role):
    async with open_peer(role) as peer:
        await peer.send_chopped(peer.frame(OP_TEXT, b"before")
                                + peer.frame(OP_TEXT, b"bad", rsv=4)
                                + peer.frame(OP_PING, b"after"), 1)
        await peer.expect(OP_TEXT, b"before")
        await peer.expect_close(1002, error=True)
