"""Bounded property tests (hypothesis) for the frame parser, the upgrade
request/response parsers and the UTF-8 check.  The long, coverage-guided run
is `make fuzz` (fuzz/, atheris); this one stays within a few seconds.

Properties:
* the frame parser only ever raises WSProtocolError (code 1002/1007/1009),
  whatever the bytes, max_frame_size (up to sys.maxsize) or 64-bit length
  (up to 2**64 - 1), and its result does not depend on how the input is
  split into reads;
* with validate_utf8, the frame at which a TEXT message fails (1007) is the
  first one whose bytes can no longer start valid UTF-8, at any split;
* the inflater returns or refuses (max_size up to sys.maxsize) whatever the
  bytes, also when zlib is fed and drained a few bytes at a time;
* valid frame streams round-trip exactly, at any split;
* corrupting a valid stream never changes the frames before the damage;
* parse_request / validate_request only raise HandshakeRejected; a valid
  request in any header order / case / whitespace is accepted with the right
  Sec-WebSocket-Accept;
* parse_response only raises WSInvalidMessageError;
* is_valid_utf8 agrees with Python's strict UTF-8 decoder.
* end to end: a random valid frame stream through a real server connection,
  written in random pieces, is delivered exactly.

PICOWS_LIKE_FUZZ_EXAMPLES scales the number of examples (default 200).
"""

import asyncio
import base64
import os
import functools
import random
import struct
import sys

import pytest

if os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1":
    pytest.skip("property tests use picows_like internals", allow_module_level=True)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import picows_like as picows  # noqa: E402
from picows_like import WSMsgType, WSProtocolError  # noqa: E402
from picows_like import _deflate  # noqa: E402
from picows_like._parser import FrameParser  # noqa: E402
from picows_like.exceptions import WSInvalidMessageError  # noqa: E402
from picows_like.handshake import (HandshakeRejected, parse_request, parse_response,  # noqa: E402
                                   validate_request)

from helpers import (RecordingListener, build_frame, compute_accept, wf,  # noqa: E402
                     ws_server)

EXAMPLES = int(os.environ.get("PICOWS_LIKE_FUZZ_EXAMPLES", "200"))

fuzz_settings = settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.data_too_large])

ALLOWED_CODES = {1002, 1007, 1009}


# -----------------------------------------------------------------------------
# strategies
# -----------------------------------------------------------------------------

def _bytes_of(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


small_sizes = st.integers(0, 200)
# Mostly small payloads; one draw in four from the length-class boundaries.
payload_sizes = st.one_of(small_sizes, small_sizes, small_sizes,
                          st.sampled_from([125, 126, 127, 65535, 65536, 70000]))


@st.composite
def payloads(draw, max_control=False, small=False):
    if max_control:
        size = draw(st.integers(0, 125))
    else:
        size = draw(small_sizes if small else payload_sizes)
    return _bytes_of(size, draw(st.integers(0, 2 ** 32)))


@st.composite
def frame_sequences(draw, allow_rsv=False, small=False):
    """A valid sequence of (opcode, fin, rsv, payload)."""
    frames = []
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from([WSMsgType.TEXT, WSMsgType.BINARY]))
        n = draw(st.integers(1, 4))
        for i in range(n):
            rsv = draw(st.integers(0, 7)) if allow_rsv else 0
            frames.append((op if i == 0 else WSMsgType.CONTINUATION, i == n - 1, rsv,
                           draw(payloads(small=small))))
            if draw(st.integers(0, 3)) == 0:
                ctl = draw(st.sampled_from([WSMsgType.PING, WSMsgType.PONG]))
                frames.append((ctl, True, 0, draw(payloads(max_control=True))))
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1003, 1011, 3000, 4999]))
        reason = draw(st.text(max_size=30)).encode()[:120]
        frames.append((WSMsgType.CLOSE, True, 0, struct.pack("!H", code) + reason))
    return frames


def encode(frames, masked: bool, mask_seed: int) -> bytes:
    rnd = random.Random(mask_seed)
    out = []
    for op, fin, rsv, payload in frames:
        mask = rnd.randbytes(4) if masked else None
        out.append(build_frame(int(op), payload, fin=fin, mask=mask, rsv=rsv))
    return b"".join(out)


def split(data: bytes, cuts):
    """Split `data` at the given relative cut points (each 0..1)."""
    points = sorted({int(c * len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


cut_lists = st.lists(st.floats(0, 1), max_size=12)


def run_parser(chunks, server_side, **kw):
    """Feed chunks; return (frames, error_code or None).  Anything other
    than WSProtocolError propagates and fails the test."""
    parser = FrameParser(server_side, **kw)
    out = []
    for chunk in chunks:
        try:
            out += parser.feed(chunk)
        except WSProtocolError as exc:
            out += exc.frames_before
            code = int(exc.code)
            assert code in ALLOWED_CODES, code
            assert parser.error_code == code
            return out, code
    return out, None


# -----------------------------------------------------------------------------
# frame parser
# -----------------------------------------------------------------------------

@fuzz_settings
@given(data=st.binary(max_size=400), server_side=st.booleans(), cuts=cut_lists,
       max_frame_size=st.sampled_from([1, 125, 1000, 10 * 1024 * 1024, sys.maxsize]),
       rsv_allowed=st.sampled_from([0, 0x40, 0x70]), validate_utf8=st.booleans())
def test_parser_random_bytes_only_protocol_errors_and_split_invariant(
        data, server_side, cuts, max_frame_size, rsv_allowed, validate_utf8):
    kw = dict(max_frame_size=max_frame_size, rsv_allowed=rsv_allowed,
              validate_utf8=validate_utf8)
    whole = run_parser([data], server_side, **kw)
    pieces = run_parser(split(data, cuts), server_side, **kw)
    one_by_one = run_parser([data[i:i + 1] for i in range(len(data))], server_side, **kw)
    assert whole == pieces == one_by_one


def test_frames_before_an_error_count_whatever_the_reads():
    # An empty non-final TEXT, then a frame over max_frame_size: the first is
    # delivered whether the bytes come in one read or four.
    data = b"\x01\x00\x00\x02"
    expected = ([(picows.WSMsgType.TEXT, 0, 0, 0, 0, b"")], 1009)
    assert run_parser([data], False, max_frame_size=1) == expected
    assert run_parser([data[i:i + 1] for i in range(4)], False, max_frame_size=1) == expected


# 64-bit lengths around every boundary that matters: the top bit, sys.maxsize
# minus a header, the parser's own largest frame (sys.maxsize // 2), 4 GiB.
BIG = sys.maxsize
huge_lengths = st.one_of(
    st.integers(0, 2 ** 64 - 1),
    st.sampled_from([BIG, BIG - 1, BIG - 9, BIG - 10, BIG - 13, BIG - 14, BIG - 15,
                     BIG + 1, 2 ** 64 - 1, BIG // 2, BIG // 2 + 1, BIG // 2 - 1,
                     2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 65536]),
    st.integers(BIG - 64, BIG + 64))
frame_size_limits = st.one_of(st.sampled_from([1, 125, 1000, 2 ** 32, BIG // 2, BIG - 14, BIG]),
                              st.integers(1, BIG))


@fuzz_settings
@given(length=huge_lengths, server_side=st.booleans(), max_frame_size=frame_size_limits,
       opcode=st.sampled_from([0, 1, 2, 8, 9]), tail=st.binary(max_size=40),
       prefix=st.sampled_from([b"", b"\x01\x00"]), validate_utf8=st.booleans(),
       cuts=cut_lists)
def test_parser_any_64bit_length_any_limit(length, server_side, max_frame_size, opcode, tail,
                                           prefix, validate_utf8, cuts):
    # prefix: a non-final TEXT frame first, so a CONTINUATION is legal.
    mbit = 0x80 if server_side else 0
    start = b""
    if prefix:
        start = build_frame(1, b"", fin=False, mask=b"\0\0\0\0" if server_side else None)
    data = (start + bytes([0x80 | opcode, mbit | 127]) + struct.pack("!Q", length)
            + (b"\x11\x22\x33\x44" if server_side else b"") + tail)
    kw = dict(max_frame_size=max_frame_size, validate_utf8=validate_utf8)
    whole = run_parser([data], server_side, **kw)
    pieces = run_parser(split(data, cuts), server_side, **kw)
    # (feed() drops the frames of the call that raises: compare verdicts then)
    assert whole[1] == pieces[1] and (whole[1] is not None or whole[0] == pieces[0])
    frames, code = whole
    if length >> 63:
        assert code == 1002
    elif length > max_frame_size or length > BIG // 2:
        assert code in (1002, 1009)     # 1002 when an earlier header rule fires
    if code is None:
        # Not refused: it just waits for the payload, with an exact need.
        parser = FrameParser(server_side, **kw)
        parser.feed(data)
        assert parser.need in (0, len(data) - len(start) - len(tail) + length)


@functools.lru_cache(maxsize=None)
def _utf8_partial_prefixes():
    """Every proper prefix (1-3 bytes) of a valid UTF-8 encoded code point."""
    out = set()
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        enc = chr(cp).encode()
        for k in range(1, len(enc)):
            out.add(enc[:k])
    return frozenset(out)


def _utf8_state(data: bytes, final: bool) -> bool:
    """True if `data` is valid UTF-8 (final) or can still become so."""
    for k in range(0, 4 if not final else 1):
        head, tail = data[:len(data) - k], data[len(data) - k:]
        if k and tail not in _utf8_partial_prefixes():
            continue
        try:
            head.decode("utf-8")
            return True
        except UnicodeDecodeError:
            pass
    return False


utf8_pieces = st.lists(
    st.one_of(st.text(max_size=6).map(lambda s: s.encode("utf-8", "surrogatepass")),
              st.binary(max_size=3),
              st.sampled_from(["ż", "€", "🎉"]).map(lambda c: c.encode()[:1])),
    min_size=1, max_size=4)


@fuzz_settings
@given(messages=st.lists(st.tuples(st.sampled_from([WSMsgType.TEXT, WSMsgType.BINARY]),
                                   utf8_pieces), min_size=1, max_size=4),
       server_side=st.booleans(), cuts=cut_lists, mask_seed=st.integers(0, 2 ** 32))
def test_parser_utf8_fails_at_the_first_impossible_frame(messages, server_side, cuts,
                                                        mask_seed):
    frames, expected, failed = [], [], False
    for op, pieces in messages:
        text = b""
        for i, piece in enumerate(pieces):
            fin = i == len(pieces) - 1
            f = (op if i == 0 else WSMsgType.CONTINUATION, fin, 0, piece)
            frames.append(f)
            text += piece
            if not failed and op == WSMsgType.TEXT and not _utf8_state(text, fin):
                failed = True
            if not failed:
                expected.append((f[0], fin, False, False, False, piece))
    data = encode(frames, server_side, mask_seed)
    for chunks in ([data], split(data, cuts), [data[i:i + 1] for i in range(len(data))]):
        got, code = run_parser(chunks, server_side, validate_utf8=True)
        assert code == (1007 if failed else None)
        if len(chunks) == len(data):    # one byte per feed(): every frame before is kept
            assert got == expected


@fuzz_settings
@given(data=st.one_of(st.binary(max_size=300),
                      st.binary(max_size=2000).map(lambda b: _deflate.Deflater().compress(b)),
                      st.tuples(st.binary(max_size=2000), st.integers(0, 1999),
                                st.integers(0, 255)).map(
                          lambda t: bytearray(_deflate.Deflater().compress(t[0]))).map(bytes)),
       flip=st.integers(0, 10 ** 6), max_size=frame_size_limits,
       chunk=st.sampled_from([8, 9, 64, 1 << 30]), fin=st.booleans())
def test_inflater_any_input_any_limit(data, flip, max_size, chunk, fin):
    if data:
        pos = flip % (len(data) + 1)
        if pos < len(data) and flip % 3 == 0:
            data = data[:pos] + bytes([data[pos] ^ 0x5A]) + data[pos + 1:]
    old = _deflate._set_zlib_chunk(chunk)
    try:
        try:
            out = _deflate.Inflater().decompress(data, fin, max_size)
        except ValueError:
            return                          # corrupt, or over max_size
        assert len(out) <= max_size
        # The same stream inflated in 1 GiB pieces gives the same bytes.
        _deflate._set_zlib_chunk(1 << 30)
        assert _deflate.Inflater().decompress(data, fin, max_size) == out
    finally:
        _deflate._set_zlib_chunk(old)


@fuzz_settings
@given(frames=frame_sequences(), server_side=st.booleans(), cuts=cut_lists,
       mask_seed=st.integers(0, 2 ** 32))
def test_parser_valid_streams_round_trip(frames, server_side, cuts, mask_seed):
    data = encode(frames, server_side, mask_seed)
    got, err = run_parser(split(data, cuts), server_side)
    assert err is None
    assert got == [(op, fin, False, False, False, p) for op, fin, _, p in frames]


@fuzz_settings
@given(frames=frame_sequences(allow_rsv=True), server_side=st.booleans(), cuts=cut_lists,
       mask_seed=st.integers(0, 2 ** 32))
def test_parser_rsv_bits_reported_when_allowed(frames, server_side, cuts, mask_seed):
    data = encode(frames, server_side, mask_seed)
    got, err = run_parser(split(data, cuts), server_side, rsv_allowed=0x70)
    assert err is None
    assert got == [(op, fin, bool(rsv & 4), bool(rsv & 2), bool(rsv & 1), p)
                   for op, fin, rsv, p in frames]


@fuzz_settings
@given(frames=frame_sequences(small=True), server_side=st.booleans(),
       mask_seed=st.integers(0, 2 ** 32), where=st.floats(0, 1),
       how=st.sampled_from(["flip", "insert", "delete", "truncate"]), byte=st.integers(0, 255))
def test_parser_corruption_never_changes_earlier_frames(frames, server_side, mask_seed, where,
                                                         how, byte):
    data = encode(frames, server_side, mask_seed)
    if not data:
        return
    pos = min(int(where * len(data)), len(data) - 1)
    if how == "flip":
        bad = data[:pos] + bytes([data[pos] ^ (byte or 1)]) + data[pos + 1:]
    elif how == "insert":
        bad = data[:pos] + bytes([byte]) + data[pos:]
    elif how == "delete":
        bad = data[:pos] + data[pos + 1:]
    else:
        bad = data[:pos]
    # One byte per feed(): feed() raises on a violation and drops the frames
    # it decoded earlier in the same call, so give it at most one per call.
    got, _ = run_parser([bad[i:i + 1] for i in range(len(bad))], server_side)
    # Frames that end before the damage are delivered unchanged.
    intact, end = [], 0
    for op, fin, rsv, p in frames:
        end += len(encode([(op, fin, rsv, p)], server_side, 0))
        if end > pos:
            break
        intact.append((op, fin, False, False, False, p))
    assert got[:len(intact)] == intact


# -----------------------------------------------------------------------------
# upgrade request / response
# -----------------------------------------------------------------------------

def parse_and_validate(raw: bytes):
    """Returns the accept value or None when rejected; anything but
    HandshakeRejected propagates and fails the test."""
    try:
        request = parse_request(raw)
        return validate_request(request)
    except HandshakeRejected as exc:
        status = exc.response.status
        assert 400 <= int(status) < 500, status
        return None


token_chars = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
ows = st.sampled_from(["", " ", "  ", "\t", " \t"])


@st.composite
def upgrade_requests(draw):
    """A valid upgrade request head (without the final CRLFCRLF) and its key."""
    key = base64.b64encode(draw(st.binary(min_size=16, max_size=16))).decode()
    headers = [
        ("Host", "example.com:%d" % draw(st.integers(1, 65535))),
        ("Upgrade", draw(st.sampled_from(["websocket", "WebSocket", "WEBSOCKET"]))),
        ("Connection", draw(st.sampled_from(["Upgrade", "upgrade", "UPGRADE",
                                             "keep-alive, Upgrade", "Upgrade,keep-alive"]))),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    for _ in range(draw(st.integers(0, 6))):
        name = "X-" + "".join(draw(st.lists(token_chars, min_size=1, max_size=12)))
        value = draw(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                             max_size=40))
        headers.append((name, value))
    headers = draw(st.permutations(headers))
    lines = []
    for name, value in headers:
        name = draw(st.sampled_from([name, name.lower(), name.upper()]))
        lines.append(f"{name}:{draw(ows)}{value}{draw(ows)}")
    path = "/" + "".join(draw(st.lists(token_chars, max_size=20)))
    head = f"GET {path} HTTP/1.1\r\n" + "\r\n".join(lines)
    return head.encode("latin-1"), key


@fuzz_settings
@given(st.binary(max_size=600))
def test_request_parser_random_bytes(raw):
    parse_and_validate(raw)


@fuzz_settings
@given(req=upgrade_requests())
def test_valid_requests_are_accepted(req):
    raw, key = req
    accept = parse_and_validate(raw)
    assert accept is not None, raw
    assert accept.decode() == compute_accept(key)


@fuzz_settings
@given(req=upgrade_requests(), where=st.floats(0, 1), byte=st.integers(0, 255),
       how=st.sampled_from(["replace", "insert", "delete", "truncate"]))
def test_mutated_requests_only_rejected(req, where, byte, how):
    raw, _ = req
    pos = min(int(where * len(raw)), len(raw) - 1)
    if how == "replace":
        raw = raw[:pos] + bytes([byte]) + raw[pos + 1:]
    elif how == "insert":
        raw = raw[:pos] + bytes([byte]) + raw[pos:]
    elif how == "delete":
        raw = raw[:pos] + raw[pos + 1:]
    else:
        raw = raw[:pos]
    parse_and_validate(raw)


@fuzz_settings
@given(st.one_of(st.binary(max_size=400),
                 st.builds(lambda status, rest: b"HTTP/1.1 " + status + rest,
                           st.binary(min_size=3, max_size=3), st.binary(max_size=200))))
def test_response_parser_only_invalid_message(raw):
    try:
        parse_response(raw)
    except WSInvalidMessageError:
        pass


# -----------------------------------------------------------------------------
# UTF-8
# -----------------------------------------------------------------------------

def _python_says_valid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


utf8ish = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.lists(st.one_of(st.text(max_size=8).map(lambda s: s.encode("utf-8", "surrogatepass")),
                       st.binary(max_size=3)), max_size=8).map(b"".join),
)


@pytest.mark.stricter_than_picows
@fuzz_settings
@given(utf8ish)
def test_is_valid_utf8_matches_python(data):
    assert picows.is_valid_utf8(data) is _python_says_valid(data)


# -----------------------------------------------------------------------------
# end to end
# -----------------------------------------------------------------------------

async def _through_server(frames, n_delivered, cuts, mask_seed):
    async with ws_server(lambda r: RecordingListener(echo=False, reply_close=False)) as srv:
        reader, writer = await wf(asyncio.open_connection("127.0.0.1", srv.port))
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                         f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
            head = await wf(reader.readuntil(b"\r\n\r\n"))
            assert head.startswith(b"HTTP/1.1 101")
            sl = await srv.next_listener()
            for piece in split(encode(frames, True, mask_seed), cuts):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0)
            got = []
            for _ in range(n_delivered):
                rec = await sl.next_frame()
                got.append((rec.msg_type, rec.fin, rec.payload))
            return got
        finally:
            writer.transport.abort()


@settings(max_examples=max(10, EXAMPLES // 8), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frames=frame_sequences(), cuts=cut_lists, mask_seed=st.integers(0, 2 ** 32))
def test_end_to_end_random_streams_delivered_exactly(frames, cuts, mask_seed):
    # PINGs are answered by the library and not delivered (auto-pong).
    expected = [(op, fin, p) for op, fin, _, p in frames if op != WSMsgType.PING]
    got = asyncio.run(_through_server(frames, len(expected), cuts, mask_seed))
    assert got == expected
