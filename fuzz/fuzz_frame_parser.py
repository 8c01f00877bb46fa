#!/usr/bin/env python3
"""atheris target: the sans-I/O frame parser.

    FrameParser(expect_masked, max_frame_size, rsv_allowed, validate_utf8).feed(bytes)

may return frames or raise WSProtocolError (close code 1002, 1007 or 1009);
anything else raised, a crash, or a result that depends on how the input was
split into reads is a bug.  max_frame_size goes up to sys.maxsize ("no
limit") and the generated 64-bit lengths up to 2**64 - 1 (2**63 - 1, the
values just below sys.maxsize minus a header, sys.maxsize // 2, 4 GiB): no
length may make the parser's arithmetic overflow (the ASan/UBSan pass).
The RSV1 frames it returns go through the permessage-deflate inflater
(max_size = max_frame_size, zlib fed and drained in pieces of 8 bytes to
1 GiB), which may only return or refuse (ValueError).

Half of the inputs are used as raw bytes; the other half drive a small
generator of mostly-valid frame streams (fragmented messages, interleaved
control frames, CLOSE codes, every length class) that are then damaged at
one point, so the fuzzer reaches deep parser states even when the C code is
not coverage-instrumented (see README.md).

Run:  python fuzz/fuzz_frame_parser.py [libFuzzer flags] [corpus dir]
"""
import struct
import sys

import atheris

with atheris.instrument_imports():
    from picows_like import WSProtocolError
    from picows_like import _deflate
    from picows_like._parser import FrameParser

ALLOWED_CODES = (1002, 1007, 1009)
BIG = sys.maxsize
SIZES = [1, 125, 126, 1000, 65535, 65536, 1 << 20, 10 << 20, 1 << 32, BIG // 2, BIG - 14, BIG]
HUGE_LENGTHS = [BIG, BIG - 1, BIG - 9, BIG - 10, BIG - 13, BIG - 14, BIG - 15, BIG + 1,
                (1 << 64) - 1, BIG // 2, BIG // 2 + 1, BIG // 2 - 1, (1 << 32) - 1, 1 << 32,
                (1 << 32) + 1]
CHUNKS = [8, 9, 13, 64, 4096, 1 << 30]


# Prefixes of the parser's error messages.  The C parser is not
# coverage-instrumented (gcc build, see README.md), so feedback() turns each
# outcome into its own Python branch: libFuzzer then keeps inputs that reach
# a new rule or a new kind of frame.
RULES = ["non-minimal 16-bit", "64-bit payload length has", "non-minimal 64-bit",
         "client sent an unmasked", "server sent a masked", "reserved bits",
         "unknown control opcode", "fragmented control", "control frame payload",
         "CONTINUATION frame without", "new data frame while", "unknown data opcode",
         "frame of", "CLOSE frame with a 1-byte", "CLOSE frame with an invalid code",
         "CLOSE frame reason", "invalid UTF-8"]


@atheris.instrument_func
def feedback(frames, parser):
    msg = parser.error_message or ""
    for i, prefix in enumerate(RULES):
        if msg.startswith(prefix):
            break
    for op, fin, rsv1, rsv2, rsv3, payload in frames:
        n = len(payload)
        size = 0 if n == 0 else 1 if n < 126 else 2 if n < 65536 else 3
        if op == 0:
            if fin:
                pass
            elif size == 3:
                pass
        elif op == 1:
            if not fin:
                pass
        elif op == 2:
            if not fin:
                pass
        elif op == 8:
            if n == 0:
                pass
            elif n > 2:
                pass
        elif op == 9:
            if size == 0:
                pass
        elif op == 10:
            pass
        if rsv1 or rsv2 or rsv3:
            pass
        if parser.fragmented_opcode:
            pass


@atheris.instrument_func
def run(chunks, expect_masked, max_frame_size, rsv_allowed, validate_utf8, deflate):
    parser = FrameParser(expect_masked, max_frame_size, rsv_allowed, validate_utf8)
    parser.rsv1_first_only = deflate
    frames = []
    for chunk in chunks:
        try:
            frames.extend(parser.feed(chunk))
        except WSProtocolError as exc:
            code = int(exc.code)
            if code not in ALLOWED_CODES or parser.error_code != code:
                raise AssertionError(f"unexpected close code {code} ({parser.error_code})")
            feedback(frames, parser)
            return frames, code, True
    feedback(frames, parser)
    return frames, None, False


def split(data, cuts):
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


@atheris.instrument_func
def _frame(fdp, opcode, fin, payload, masked, rsv=0):
    n = len(payload)
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if masked else 0
    # Mostly the minimal length encoding; sometimes a longer (non-minimal)
    # one, sometimes a 64-bit length far beyond the payload that follows.
    cls = fdp.ConsumeIntInRange(0, 11)
    bits = 7 if n < 126 else 16 if n < 65536 else 64
    if cls == 8 and bits == 7:
        bits = 16
    elif cls == 9:
        bits = 64
    elif cls == 10:
        bits, n = 64, fdp.PickValueInList(HUGE_LENGTHS)
    elif cls == 11:
        bits, n = 64, fdp.ConsumeIntInRange(0, (1 << 64) - 1)
    if bits == 7:
        head = bytes([b0, mbit | n])
    elif bits == 16:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if masked:
        key = fdp.ConsumeBytes(4).ljust(4, b"\0")
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


@atheris.instrument_func
def structured_stream(fdp, expect_masked):
    out = []
    deflater = _deflate.Deflater()
    for _ in range(fdp.ConsumeIntInRange(0, 12)):
        kind = fdp.ConsumeIntInRange(0, 7)
        masked = expect_masked if fdp.ConsumeIntInRange(0, 30) else not expect_masked
        if kind <= 3:        # a message in 1..4 fragments
            opcode = fdp.PickValueInList([1, 2])
            parts = fdp.ConsumeIntInRange(1, 4)
            compressed = fdp.ConsumeIntInRange(0, 3) == 0
            for i in range(parts):
                size = fdp.PickValueInList([0, 1, 5, 125, 126, 127, 300, 65535, 65536])
                payload = (fdp.ConsumeBytes(min(size, 64)) * (1 + size // 64))[:size]
                rsv = fdp.ConsumeIntInRange(0, 7) if not fdp.ConsumeIntInRange(0, 10) else 0
                if compressed:       # permessage-deflate: RSV1 on the first frame only
                    payload = deflater.compress(payload, i == parts - 1)
                    rsv = 4 if i == 0 else 0
                out.append(_frame(fdp, opcode if i == 0 else 0, i == parts - 1,
                                  payload, masked, rsv))
        elif kind <= 5:      # ping / pong
            out.append(_frame(fdp, fdp.PickValueInList([9, 10]), True,
                              fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 126)), masked))
        elif kind == 6:      # close with some code and reason
            code = fdp.PickValueInList([1000, 1001, 1005, 1006, 1015, 999, 3000, 4999, 5000,
                                        fdp.ConsumeIntInRange(0, 65535)])
            reason = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 124))
            payload = b"" if fdp.ConsumeIntInRange(0, 8) == 0 else struct.pack("!H", code) + reason
            out.append(_frame(fdp, 8, True, payload, masked))
        else:                # reserved opcode
            out.append(_frame(fdp, fdp.PickValueInList([3, 7, 11, 15]), True,
                              fdp.ConsumeBytes(4), masked))
    data = bytearray(b"".join(out))
    # Damage it at one point (or not).
    how = fdp.ConsumeIntInRange(0, 4)
    if data and how:
        pos = fdp.ConsumeIntInRange(0, len(data) - 1)
        byte = fdp.ConsumeIntInRange(0, 255)
        if how == 1:
            data[pos] ^= byte or 1
        elif how == 2:
            data.insert(pos, byte)
        elif how == 3:
            del data[pos]
        else:
            del data[pos:]
    return bytes(data)


@atheris.instrument_func
def inflate_all(frames, max_frame_size, chunk):
    """RSV1 data frames through the inflater, as the protocol would."""
    _deflate._set_zlib_chunk(chunk)
    inflater = _deflate.Inflater()
    try:
        for op, fin, rsv1, rsv2, rsv3, payload in frames:
            if rsv1 and op <= 2:
                try:
                    out = inflater.decompress(payload, fin, max_frame_size)
                except ValueError:
                    return
                if len(out) > max_frame_size:
                    raise AssertionError("inflated past max_size")
    finally:
        _deflate._set_zlib_chunk(1 << 30)


@atheris.instrument_func
def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    expect_masked = fdp.ConsumeBool()
    max_frame_size = fdp.PickValueInList(SIZES)
    rsv_allowed = fdp.PickValueInList([0, 0x40, 0x70])
    validate_utf8 = fdp.ConsumeBool()
    deflate = bool(rsv_allowed & 0x40) and fdp.ConsumeBool()
    chunk = fdp.PickValueInList(CHUNKS)
    structured = fdp.ConsumeBool()
    cuts = [fdp.ConsumeIntInRange(0, 1 << 17) for _ in range(fdp.ConsumeIntInRange(0, 6))]
    if structured:
        stream = structured_stream(fdp, expect_masked)
    else:
        stream = fdp.ConsumeBytes(fdp.remaining_bytes())
    args = (expect_masked, max_frame_size, rsv_allowed, validate_utf8, deflate)
    whole = run([stream], *args)
    pieces = run(split(stream, cuts), *args)
    # feed() drops the frames decoded in the call that raises, so on an error
    # compare only the verdict; without one the frames must match exactly.
    if whole[1:] != pieces[1:] or (whole[1] is None and whole[0] != pieces[0]):
        raise AssertionError(f"result depends on the split: {whole[1:]} vs {pieces[1:]}")
    if len(stream) <= 512:
        bytewise = run([stream[i:i + 1] for i in range(len(stream))], *args)
        if bytewise[1:] != whole[1:] or (whole[1] is None and bytewise[0] != whole[0]):
            raise AssertionError("byte-by-byte feeding disagrees")
    if deflate:
        inflate_all(whole[0], max_frame_size, chunk)


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
