"""The sans-I/O frame parser: every split point of a multi-frame stream,
length classes, masking, and each receive rule with its close code."""
import os
import struct
import sys

import pytest

if os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1":
    pytest.skip("internal parser tests need picows_like itself", allow_module_level=True)

from picows_like._parser import FrameParser  # noqa: E402
from picows_like import WSMsgType, WSProtocolError  # noqa: E402


def frame(opcode, payload=b"", fin=True, rsv=0, mask=None, length_bytes=None):
    """Build one frame; length_bytes forces a (possibly non-minimal) length encoding."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n <= 0xFFFF else 8
    if length_bytes == 0:
        head = bytes([b0, mask_bit | n])
    elif length_bytes == 2:
        head = bytes([b0, mask_bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mask_bit | 127]) + struct.pack("!Q", n)
    if mask is not None:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def masked(opcode, payload=b"", **kw):
    return frame(opcode, payload, mask=os.urandom(4), **kw)


STREAM_FRAMES = [
    (WSMsgType.TEXT, True, b"hello"),
    (WSMsgType.BINARY, False, bytes(range(256)) * 3),      # 16-bit length
    (WSMsgType.PING, True, b"p"),                          # control frame inside a message
    (WSMsgType.CONTINUATION, True, b"\x00" * 70000),       # 64-bit length
    (WSMsgType.BINARY, True, b""),
    (WSMsgType.CLOSE, True, struct.pack("!H", 1000) + b"bye"),
]


def build_stream(server_side):
    make = masked if server_side else frame
    return b"".join(make(op, payload, fin=fin) for op, fin, payload in STREAM_FRAMES)


def expected():
    return [(op, fin, False, False, False, payload) for op, fin, payload in STREAM_FRAMES]


@pytest.mark.parametrize("server_side", [True, False], ids=["server", "client"])
def test_every_split_point(server_side):
    stream = build_stream(server_side)
    # Every split of the stream in two reads, sampled densely around headers.
    points = sorted(set(range(0, 40)) | set(range(0, len(stream), 997))
                    | set(range(len(stream) - 40, len(stream) + 1)))
    for cut in points:
        parser = FrameParser(server_side)
        got = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
        assert got == expected(), f"split at {cut}"


@pytest.mark.parametrize("server_side", [True, False], ids=["server", "client"])
def test_one_byte_at_a_time(server_side):
    stream = build_stream(server_side)
    parser = FrameParser(server_side)
    got = []
    for i in range(len(stream)):
        got += parser.feed(stream[i:i + 1])
    assert got == expected()


def test_many_frames_in_one_read():
    stream = b"".join(masked(WSMsgType.BINARY, bytes([i]) * i) for i in range(200))
    got = FrameParser(True).feed(stream)
    assert [p for *_, p in got] == [bytes([i]) * i for i in range(200)]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 100_000])
def test_length_classes_and_unmasking(size):
    payload = os.urandom(size)
    for offset in range(8):         # unmasking at every alignment of the payload
        parser = FrameParser(True)
        lead = masked(WSMsgType.BINARY, b"a" * offset)
        got = parser.feed(lead + masked(WSMsgType.BINARY, payload))
        assert got[1] == (WSMsgType.BINARY, True, False, False, False, payload)


def _error(server_side, data, **kw):
    with pytest.raises(WSProtocolError) as info:
        FrameParser(server_side, **kw).feed(data)
    return info.value.code


@pytest.mark.parametrize("name,server_side,data,code", [
    ("unmasked frame to server", True, frame(2, b"x"), 1002),
    ("masked frame to client", False, masked(2, b"x"), 1002),
    ("control frame without FIN", False, frame(9, b"", fin=False), 1002),
    ("control frame > 125 bytes", False, frame(9, b"x" * 126), 1002),
    ("opcode 3", False, frame(3, b""), 1002),
    ("opcode 7", False, frame(7, b""), 1002),
    ("opcode 0xB", False, frame(0xB, b""), 1002),
    ("opcode 0xF", False, frame(0xF, b""), 1002),
    ("RSV1", False, frame(2, b"", rsv=0x40), 1002),
    ("RSV2", False, frame(2, b"", rsv=0x20), 1002),
    ("RSV3", False, frame(2, b"", rsv=0x10), 1002),
    ("continuation without message", False, frame(0, b"x"), 1002),
    ("new message while fragmented", False, frame(1, b"a", fin=False) + frame(1, b"b"), 1002),
    ("close with 1-byte payload", False, frame(8, b"\x03"), 1002),
    ("close code 1005", False, frame(8, struct.pack("!H", 1005)), 1002),
    ("close code 1006", False, frame(8, struct.pack("!H", 1006)), 1002),
    ("close code 1015", False, frame(8, struct.pack("!H", 1015)), 1002),
    ("close code 999", False, frame(8, struct.pack("!H", 999)), 1002),
    ("close code 5000", False, frame(8, struct.pack("!H", 5000)), 1002),
    ("close reason not UTF-8", False, frame(8, struct.pack("!H", 1000) + b"\xff"), 1007),
    ("non-minimal 16-bit length", False, frame(2, b"x" * 100, length_bytes=2), 1002),
    ("non-minimal 64-bit length", False, frame(2, b"x" * 100, length_bytes=8), 1002),
    ("64-bit length MSB set", False, b"\x82\x7f" + struct.pack("!Q", 1 << 63), 1002),
    ("2^63-1 length", False, b"\x82\x7f" + struct.pack("!Q", (1 << 63) - 1), 1009),
])
def test_rules(name, server_side, data, code):
    assert _error(server_side, data) == code, name


def test_max_frame_size_checked_on_header_alone():
    # Only the header has arrived: the oversized frame is refused without its payload.
    header = frame(2, b"x" * 2000)[:4]
    assert _error(False, header, max_frame_size=1000) == 1009
    assert FrameParser(False, max_frame_size=2000).feed(frame(2, b"x" * 2000))[0][5] == b"x" * 2000


def test_valid_close_codes():
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                 3000, 3999, 4000, 4999):
        got = FrameParser(False).feed(frame(8, struct.pack("!H", code) + "é".encode()))
        assert got[0][5] == struct.pack("!H", code) + "é".encode()


def test_frame_before_bad_one_is_returned_first():
    parser = FrameParser(False)
    assert parser.feed(frame(1, b"good")) == [(WSMsgType.TEXT, True, False, False, False, b"good")]
    with pytest.raises(WSProtocolError):
        parser.feed(frame(3, b""))


def test_rsv_bits_accepted_when_allowed():
    got = FrameParser(False, rsv_allowed=0x70).feed(frame(2, b"z", rsv=0x70))
    assert got == [(WSMsgType.BINARY, True, True, True, True, b"z")]


def test_incomplete_frame_reports_need():
    parser = FrameParser(False)
    data = frame(2, b"x" * 1000)
    assert parser.feed(data[:10]) == []
    assert parser.need == len(data)


# -- lengths that would overflow ---------------------------------------------------

BIG_LENGTHS = [(1 << 63) - 1, (1 << 63) - 7, (1 << 63) - 14, (1 << 63) - 15, (1 << 62) + 1]


@pytest.mark.parametrize("server_side", [True, False], ids=["server", "client"])
@pytest.mark.parametrize("length", BIG_LENGTHS)
def test_huge_length_with_unlimited_max_frame_size_is_1009(server_side, length):
    # max_frame_size=sys.maxsize ("no limit"): header + length would pass
    # PY_SSIZE_T_MAX; the parser refuses the frame instead of adding.
    head = bytes([0x82, (0x80 if server_side else 0) | 127]) + struct.pack("!Q", length)
    head += b"\x01\x02\x03\x04" if server_side else b""
    parser = FrameParser(server_side, max_frame_size=sys.maxsize)
    with pytest.raises(WSProtocolError) as info:
        parser.feed(head + b"x" * 64)
    assert info.value.code == 1009
    assert parser.error_code == 1009 and str(length) in parser.error_message


@pytest.mark.parametrize("server_side", [True, False], ids=["server", "client"])
def test_large_but_representable_length_waits_for_payload(server_side):
    # Up to 2**62 - 1 the frame is just incomplete: `need` is exact.
    length = (1 << 62) - 1
    head = bytes([0x82, (0x80 if server_side else 0) | 127]) + struct.pack("!Q", length)
    head += b"\x01\x02\x03\x04" if server_side else b""
    parser = FrameParser(server_side, max_frame_size=sys.maxsize)
    assert parser.feed(head + b"x" * 100) == []
    assert parser.need == len(head) + length


@pytest.mark.parametrize("length", [1 << 63, (1 << 64) - 1])
def test_64bit_length_with_top_bit_is_1002_even_without_limit(length):
    head = b"\x82\xff" + struct.pack("!Q", length) + b"\0\0\0\0"
    assert _error(True, head, max_frame_size=sys.maxsize) == 1002


def test_max_frame_size_over_sys_maxsize_cannot_be_built():
    with pytest.raises(OverflowError):
        FrameParser(True, max_frame_size=sys.maxsize + 1)
    assert FrameParser(True, max_frame_size=sys.maxsize).max_frame_size == sys.maxsize


# -- UTF-8 checked as a TEXT frame arrives ------------------------------------------

def _partial(opcode, payload, total, fin=True, mask=None):
    """The first bytes of a frame announcing `total` payload bytes."""
    full = frame(opcode, payload + b"a" * (total - len(payload)), fin=fin, mask=mask)
    return full[:len(full) - (total - len(payload))]


@pytest.mark.parametrize("server_side", [True, False], ids=["server", "client"])
@pytest.mark.parametrize("fin", [True, False], ids=["final", "non_final_fragment"])
def test_invalid_utf8_in_partial_text_frame_fails_at_once(server_side, fin):
    mask = os.urandom(4) if server_side else None
    start = _partial(1, b"valid \xce\xba then \xff", 10_000, fin=fin, mask=mask)
    parser = FrameParser(server_side, validate_utf8=True)
    with pytest.raises(WSProtocolError) as info:
        parser.feed(start)
    assert info.value.code == 1007
    # Without the option the same bytes just wait for the rest of the frame.
    assert FrameParser(server_side).feed(start) == []


@pytest.mark.parametrize("server_side", [True, False], ids=["server", "client"])
def test_invalid_utf8_in_partial_continuation_fails_at_once(server_side):
    mask = os.urandom(4) if server_side else None
    parser = FrameParser(server_side, validate_utf8=True)
    assert parser.feed(frame(1, b"ok \xe2\x82", fin=False, mask=mask)) == [
        (WSMsgType.TEXT, False, False, False, False, b"ok \xe2\x82")]
    # The continuation starts with the missing byte of U+20AC, then goes bad
    # at 0xA0 (ED A0 would start a surrogate): that very byte fails.
    good = b"\xac fine \xed"
    start = _partial(0, good + b"\xa0\x80", 5000, fin=False, mask=mask)
    bad_at = len(start) - 2
    for i in range(bad_at):
        assert parser.feed(start[i:i + 1]) == []
    with pytest.raises(WSProtocolError) as info:
        parser.feed(start[bad_at:bad_at + 1])
    assert info.value.code == 1007


@pytest.mark.parametrize("server_side", [True, False], ids=["server", "client"])
def test_valid_utf8_split_at_every_byte_passes(server_side):
    text = "ascii ż € 🎉 κόσμε".encode() * 20
    mask = os.urandom(4) if server_side else None
    data = frame(1, text[:150], fin=False, mask=mask) + frame(0, text[150:], mask=mask)
    parser = FrameParser(server_side, validate_utf8=True)
    got = []
    for i in range(len(data)):
        got += parser.feed(data[i:i + 1])
    assert [p for *_, p in got] == [text[:150], text[150:]]
    # Every split in two reads, too.
    for cut in range(len(data)):
        parser = FrameParser(server_side, validate_utf8=True)
        got = parser.feed(data[:cut]) + parser.feed(data[cut:])
        assert b"".join(p for *_, p in got) == text, cut


def test_truncated_code_point_at_end_of_message_is_1007():
    parser = FrameParser(False, validate_utf8=True)
    data = frame(1, b"abc\xe2\x82")
    assert parser.feed(data[:-1]) == []        # could still be completed
    with pytest.raises(WSProtocolError) as info:
        parser.feed(data[-1:])
    assert info.value.code == 1007


def test_binary_and_compressed_text_are_not_checked_by_the_parser():
    parser = FrameParser(False, validate_utf8=True, rsv_allowed=0x40)
    parser.rsv1_first_only = True               # permessage-deflate negotiated
    assert parser.feed(frame(2, b"\xff\xfe")) == [
        (WSMsgType.BINARY, True, False, False, False, b"\xff\xfe")]
    # RSV1 TEXT is compressed: its bytes are checked after inflating, by the caller.
    assert parser.feed(frame(1, b"\xff", fin=False, rsv=0x40) + frame(0, b"\xfe")) == [
        (WSMsgType.TEXT, False, True, False, False, b"\xff"),
        (WSMsgType.CONTINUATION, True, False, False, False, b"\xfe")]
    # Without deflate, an allowed RSV1 is not compression: the text is checked.
    parser = FrameParser(False, validate_utf8=True, rsv_allowed=0x40)
    with pytest.raises(WSProtocolError):
        parser.feed(frame(1, b"\xff", rsv=0x40))
