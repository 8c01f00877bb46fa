"""The sans-I/O frame parser: every split point of a multi-frame stream,
length classes, masking, and each receive rule with its close code."""
import os
import struct

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
