"""Autobahn section 5: fragmentation.  The echo testee reassembles a
fragmented message and echoes it as one frame; control frames between
fragments are answered at once; broken fragment sequences are 1002."""

import pytest

from helpers import OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT, make_payload

from .harness import open_peer

pytestmark = pytest.mark.asyncio


def fragments(peer, opcode, payload, n):
    """`payload` split in `n` frames (first `opcode`, then CONTINUATION)."""
    step = max(1, -(-len(payload) // n))
    pieces = [payload[i:i + step] for i in range(0, len(payload), step)] or [b""]
    while len(pieces) < n:
        pieces.append(b"")
    out = []
    for i, piece in enumerate(pieces):
        out.append(peer.frame(opcode if i == 0 else OP_CONT, piece, fin=i == len(pieces) - 1))
    return out


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("opcode", [OP_PING, 0xA], ids=["5.1_ping", "5.2_pong"])
async def test_5_1_5_2_fragmented_control_frame_is_1002(role, opcode):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(opcode, b"frag", fin=False),
                        peer.frame(OP_CONT, b"ment", fin=True))
        await peer.expect_close(1002, error=True)


@pytest.mark.parametrize("how", ["one_write", "chopped", "frame_per_write"])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
async def test_5_3_to_5_5_two_fragments_reassembled(role, opcode, how):
    payload = make_payload(20, text=True)
    async with open_peer(role) as peer:
        frames = fragments(peer, opcode, payload, 2)
        if how == "one_write":
            await peer.send(*frames)
        elif how == "chopped":
            await peer.send_chopped(b"".join(frames), 1)
        else:
            await peer.send_each(frames, delay=0.01)
        await peer.expect(opcode, payload)
        await peer.close_normally()


@pytest.mark.parametrize("how", ["one_write", "chopped", "frame_per_write"])
async def test_5_6_to_5_8_ping_between_fragments_answered_first(role, how):
    async with open_peer(role) as peer:
        frames = [peer.frame(OP_TEXT, b"fragment1", fin=False),
                  peer.frame(OP_PING, b"between"),
                  peer.frame(OP_CONT, b"fragment2", fin=True)]
        if how == "one_write":
            await peer.send(*frames)
        elif how == "chopped":
            await peer.send_chopped(b"".join(frames), 1)
        else:
            await peer.send_each(frames, delay=0.01)
        await peer.expect_pong(b"between")
        await peer.expect(OP_TEXT, b"fragment1fragment2")
        await peer.close_normally()


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("fin", [True, False], ids=["fin", "no_fin"])
@pytest.mark.parametrize("how", ["one_write", "chopped"])
async def test_5_9_to_5_14_continuation_without_start_is_1002(role, fin, how):
    async with open_peer(role) as peer:
        data = (peer.frame(OP_CONT, b"fragment without start", fin=fin)
                + peer.frame(OP_TEXT, b"never echoed"))
        if how == "one_write":
            await peer.send(data)
        else:
            await peer.send_chopped(data, 1)
        await peer.expect_close(1002, error=True)


@pytest.mark.stricter_than_picows
async def test_5_15_complete_message_then_continuation_of_nothing(role):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_TEXT, b"fragment1", fin=False),
                        peer.frame(OP_CONT, b"fragment2", fin=True),
                        peer.frame(OP_CONT, b"fragment3", fin=False),
                        peer.frame(OP_TEXT, b"fragment4", fin=True))
        await peer.expect(OP_TEXT, b"fragment1fragment2")
        await peer.expect_close(1002, error=True)


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("second", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("second_fin", [True, False], ids=["fin", "no_fin"])
async def test_5_x_new_message_while_fragmented_is_1002(role, second, second_fin):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_TEXT, b"first", fin=False),
                        peer.frame(OP_CONT, b"still first", fin=False),
                        peer.frame(second, b"second", fin=second_fin))
        await peer.expect_close(1002, error=True)


@pytest.mark.parametrize("n", [3, 100, 1000])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
async def test_5_x_message_in_n_fragments(role, opcode, n):
    payload = make_payload(20000, text=opcode == OP_TEXT)
    async with open_peer(role) as peer:
        await peer.send(*fragments(peer, opcode, payload, n))
        await peer.expect(opcode, payload)
        await peer.close_normally()


async def test_5_x_empty_fragments(role):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_TEXT, b"", fin=False),
                        peer.frame(OP_CONT, b"", fin=False),
                        peer.frame(OP_CONT, b"", fin=True),
                        peer.frame(OP_BINARY, b"", fin=False),
                        peer.frame(OP_CONT, b"x", fin=True))
        await peer.expect(OP_TEXT, b"")
        await peer.expect(OP_BINARY, b"x")
        await peer.close_normally()


@pytest.mark.parametrize("delay", [0.0, 0.005], ids=["burst", "paced"])
async def test_5_19_5_20_pings_interleaved_with_many_fragments(role, delay):
    async with open_peer(role) as peer:
        frames, pings = [], []
        for i in range(5):
            op = OP_TEXT if i == 0 else OP_CONT
            frames.append(peer.frame(op, b"fragment%d" % (i + 1), fin=i == 4))
            if i < 4:
                frames.append(peer.frame(OP_PING, b"pongme %d!" % (i + 1)))
                pings.append(b"pongme %d!" % (i + 1))
        await peer.send_each(frames, delay)
        for p in pings:
            await peer.expect(OP_PONG, p)
        await peer.expect(OP_TEXT, b"fragment1fragment2fragment3fragment4fragment5")
        await peer.close_normally()


async def test_5_x_close_between_fragments_closes_cleanly(role):
    # A CLOSE is a control frame: allowed between fragments; the half message
    # is dropped, the close handshake completes.
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_TEXT, b"half", fin=False), peer.close_frame(1000))
        await peer.expect_close(1000, error=False)
        assert peer.listener.messages == 0
