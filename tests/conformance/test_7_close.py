"""Autobahn section 7: the closing handshake, close codes and reasons,
frames after CLOSE; plus "nothing lost on a graceful close"."""

import asyncio
import time
import zlib

import pytest

import picows_like as picows
from helpers import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, close_payload, make_payload

from .harness import open_peer

pytestmark = pytest.mark.asyncio

WSMsgType = picows.WSMsgType


async def test_7_1_1_echo_then_close(role):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_TEXT, b"Hello World!"))
        await peer.expect(OP_TEXT, b"Hello World!")
        await peer.close_normally()


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("after", [
    pytest.param(lambda p: p.close_frame(1000), id="7.1.2_second_close"),
    pytest.param(lambda p: p.frame(OP_PING, b"ping after close"), id="7.1.3_ping"),
    pytest.param(lambda p: p.frame(OP_TEXT, b"text after close"), id="7.1.4_text"),
    pytest.param(lambda p: p.frame(OP_CONT, b"cont after close"), id="continuation"),
    pytest.param(lambda p: p.frame(0x5, b"bad opcode after close"), id="bad_opcode"),
    pytest.param(lambda p: b"\xff" * 64, id="garbage"),
])
async def test_7_1_data_after_close_is_ignored(role, after):
    async with open_peer(role) as peer:
        await peer.send(peer.close_frame(1000), after(peer))
        await peer.expect_close(1000, error=False)
        assert [t for t, _ in peer.listener.frame_types] == [WSMsgType.CLOSE]


@pytest.mark.stricter_than_picows
async def test_7_1_5_close_between_fragments(role):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_TEXT, b"fragment1", fin=False), peer.close_frame(1000),
                        peer.frame(OP_CONT, b"fragment2", fin=True))
        await peer.expect_close(1000, error=False)
        assert peer.listener.messages == 0


async def test_7_1_6_large_messages_then_close_then_ping(role):
    payload = make_payload(65536, text=True)
    async with open_peer(role) as peer:
        await peer.send(*[peer.frame(OP_TEXT, payload) for _ in range(10)],
                        peer.close_frame(1000), peer.frame(OP_PING, b"too late"))
        for _ in range(10):
            await peer.expect(OP_TEXT, payload)
        await peer.expect_close(1000, error=False)


async def test_7_close_then_keep_sending(role):
    # The peer sends CLOSE and then keeps writing frames for a while; the
    # testee answers the CLOSE once, ignores the rest and closes cleanly.
    async with open_peer(role) as peer:
        await peer.send(peer.close_frame(1000, b"bye"))
        deadline = time.monotonic() + 0.15
        while time.monotonic() < deadline:
            await peer.send(peer.frame(OP_TEXT, b"x" * 1000), peer.frame(OP_PING, b"p"))
            await asyncio.sleep(0.005)
        await peer.expect_close(1000, error=False)
        assert [t for t, _ in peer.listener.frame_types] == [WSMsgType.CLOSE]


@pytest.mark.stricter_than_picows
async def test_7_3_1_empty_close_answered_with_empty_close(role):
    async with open_peer(role) as peer:
        await peer.send(peer.close_frame())
        await peer.expect_close(None, error=False)


@pytest.mark.stricter_than_picows
async def test_7_3_2_one_byte_close_payload_is_1002(role):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_CLOSE, b"\x03"))
        await peer.expect_close(1002, error=True)


@pytest.mark.parametrize("reason", [b"", b"Hello World!", "żółć 🎉".encode(), b"*" * 123],
                         ids=["7.3.3_code_only", "7.3.4_reason", "utf8_reason",
                              "7.3.5_123_byte_reason"])
async def test_7_3_close_1000_answered_with_1000(role, reason):
    async with open_peer(role) as peer:
        await peer.send(peer.close_frame(1000, reason))
        await peer.expect_close(1000, error=False)


@pytest.mark.stricter_than_picows
async def test_7_3_6_close_payload_126_bytes_is_1002(role):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_CLOSE, close_payload(1000, b"*" * 124)))
        await peer.expect_close(1002, error=True)


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("reason", [b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
                                    b"\x65\x64\x69\x74\x65\x64",
                                    b"\xff", b"ok\xc0\xaf", "ż".encode()[:1]],
                         ids=["7.5.1_surrogate", "ff", "overlong", "truncated"])
async def test_7_5_1_invalid_utf8_close_reason_is_1007(role, reason):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_CLOSE, close_payload(1000, reason)))
        await peer.expect_close(1007, error=True)


VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
               3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES)
async def test_7_7_valid_close_code_is_echoed(role, code):
    async with open_peer(role) as peer:
        await peer.send(peer.close_frame(code, b"reason"))
        await peer.expect_close(code, error=False)


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("code", INVALID_CODES)
async def test_7_9_invalid_close_code_is_1002(role, code):
    async with open_peer(role) as peer:
        await peer.send(peer.close_frame(code))
        await peer.expect_close(1002, error=True)


# --- closes initiated by the testee ---------------------------------------------

async def test_7_testee_initiated_close_completes(role):
    async with open_peer(role) as peer:
        peer.transport.send_close(picows.WSCloseCode.GOING_AWAY, b"going away")
        f = await peer.read_frame()
        assert f.opcode == OP_CLOSE and f.close_code == 1001 and f.close_reason == b"going away"
        await peer.send(peer.close_frame(1001))
        await peer.expect_eof()
        await asyncio.wait_for(peer.transport.wait_disconnected(), 3)
        hs = peer.transport.close_handshake
        assert int(hs.sent.code) == 1001 and int(hs.recv.code) == 1001
        assert not hs.recv_then_sent


@pytest.mark.stricter_than_picows
async def test_7_testee_close_without_answer_times_out(role):
    async with open_peer(role, close_timeout=0.2) as peer:
        t0 = time.monotonic()
        peer.transport.send_close(picows.WSCloseCode.OK)
        f = await peer.read_frame()
        assert f.opcode == OP_CLOSE and f.close_code == 1000
        await peer.read_eof_only()                # the peer never answers nor closes
        assert 0.15 < time.monotonic() - t0 < 2.5
        await asyncio.wait_for(peer.transport.wait_disconnected(), 3)


@pytest.mark.parametrize("then_disconnect", [False, True], ids=["close_handshake",
                                                                 "send_close_then_disconnect"])
async def test_7_nothing_lost_on_graceful_close(role, then_disconnect):
    # Everything the testee sent before send_close arrives before the CLOSE,
    # even when much of it is still queued in the transport (the peer reads
    # nothing until all of it was handed over), and even when disconnect()
    # follows send_close immediately.
    sizes = [(i * 7919) % 70000 for i in range(300)]
    payloads = [make_payload(n) for n in sizes]
    async with open_peer(role) as peer:
        crc_sent = 0
        for p in payloads:
            peer.transport.send(WSMsgType.BINARY, p)
            crc_sent = zlib.crc32(p, crc_sent)
        peer.transport.send_close(picows.WSCloseCode.OK, b"all sent")
        if then_disconnect:
            peer.transport.disconnect()
        assert peer.transport.underlying_transport.get_write_buffer_size() > 0 or \
            sum(sizes) < 4 * 1024 * 1024, "expected part of the data to be queued"
        crc_got, count = 0, 0
        while True:
            f = await peer.read_frame(timeout=5)
            if f.opcode == OP_CLOSE:
                break
            assert f.opcode == OP_BINARY and f.fin
            assert len(f.payload) == sizes[count]
            crc_got = zlib.crc32(f.payload, crc_got)
            count += 1
        assert (count, crc_got) == (len(payloads), crc_sent)
        assert f.close_code == 1000 and f.close_reason == b"all sent"
        if not then_disconnect:
            await peer.send(peer.close_frame(1000))
        await peer.expect_eof(timeout=5)
        await asyncio.wait_for(peer.transport.wait_disconnected(), 3)


async def test_7_close_answered_while_testee_has_queued_data(role):
    # The peer closes while a large echo is still on its way: the echo comes
    # first, then the CLOSE answer.
    payload = make_payload(3 * 1024 * 1024)
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_BINARY, payload), peer.close_frame(1000))
        await peer.expect(OP_BINARY, payload, timeout=5)
        await peer.expect_close(1000, error=False, timeout=5)
