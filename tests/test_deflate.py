"""permessage-deflate (RFC 7692): the zlib wrapper and the negotiation rules.
End-to-end compressed echo and interop live in test_compression.py."""
import os
import random
import sys
import zlib

import pytest

if os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1":
    pytest.skip("picows has no permessage-deflate", allow_module_level=True)

from picows_like import _deflate  # noqa: E402
from picows_like._deflate import Deflater, Inflater  # noqa: E402
from picows_like.extensions import WSPerMessageDeflate  # noqa: E402
from picows_like.extensions.permessage_deflate import (WSNegotiationError,  # noqa: E402
                                                       parse_extensions, resolve)

# Fixed seed: random bytes from os.urandom sometimes repeat a 3-byte run of the
# previous payload, which a context-taking-over stream may then reference.
PAYLOADS = [b"", b"a", b"hello " * 1000, random.Random(7).randbytes(70_000), b"z" * 1_000_000]


@pytest.mark.parametrize("bits", range(9, 16))
@pytest.mark.parametrize("reset", [False, True], ids=["takeover", "no_takeover"])
def test_roundtrip_and_python_zlib_interop(bits, reset):
    d, i = Deflater(bits, reset), Inflater(15, reset)
    stock = zlib.decompressobj(wbits=-bits)
    for data in PAYLOADS:
        wire = d.compress(data)
        assert not wire.endswith(b"\x00\x00\xff\xff") or data == b""
        assert i.decompress(wire) == data
        # A stock zlib raw stream with the same window reads it; with context
        # takeover it keeps its window across messages, as a peer does.
        if reset:
            stock = zlib.decompressobj(wbits=-bits)
        assert stock.decompress(wire + b"\x00\x00\xff\xff") == data
        co = zlib.compressobj(wbits=-bits)
        theirs = co.compress(data) + co.flush(zlib.Z_SYNC_FLUSH)
        assert Inflater(15).decompress(theirs[:-4]) == data


def test_context_takeover_makes_repeats_smaller():
    d = Deflater(15, False)
    first, second = d.compress(b"market data " * 50), d.compress(b"market data " * 50)
    assert len(second) < len(first)
    d = Deflater(15, True)
    assert len(d.compress(b"market data " * 50)) == len(d.compress(b"market data " * 50))


def test_fragmented_message():
    d, i = Deflater(15), Inflater(15)
    parts = [d.compress(b"abc" * 300, False), d.compress(b"", False), d.compress(b"def" * 300, True)]
    assert parts[0].endswith(b"\x00\x00\xff\xff")     # only the message's end drops the tail
    out = i.decompress(parts[0], False) + i.decompress(parts[1], False) + i.decompress(parts[2], True)
    assert out == b"abc" * 300 + b"def" * 300


def test_bomb_refused_while_inflating():
    bomb = Deflater(15).compress(b"\0" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(ValueError, match="exceeds"):
        Inflater(15).decompress(bomb, max_size=1_000_000)


def test_corrupt_stream():
    with pytest.raises(ValueError):
        Inflater(15).decompress(b"\xff\xfe\xfd garbage")


def test_offer_strings():
    assert WSPerMessageDeflate().offer() == "permessage-deflate; client_max_window_bits"
    assert WSPerMessageDeflate(True, True, 10, 9).offer() == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=9")


@pytest.mark.parametrize("kw", [dict(server_max_window_bits=7), dict(client_max_window_bits=16),
                                dict(level=10), dict(min_size=-1)])
def test_invalid_settings(kw):
    with pytest.raises(ValueError):
        WSPerMessageDeflate(**kw)


def test_resolve():
    assert resolve(None) is None
    assert resolve("deflate") == WSPerMessageDeflate()
    with pytest.raises(ValueError):
        resolve("gzip")


def test_parse_several_offers():
    got = parse_extensions(['permessage-deflate; client_max_window_bits; server_max_window_bits="10",'
                            ' x-other, permessage-deflate'])
    assert got == [("permessage-deflate", [("client_max_window_bits", None),
                                           ("server_max_window_bits", "10")]),
                   ("x-other", []), ("permessage-deflate", [])]


@pytest.mark.parametrize("header", ["permessage-deflate; a b", "per message", "x; p=", "x;=1"])
def test_parse_malformed(header):
    with pytest.raises(WSNegotiationError):
        parse_extensions([header])


SERVER = WSPerMessageDeflate()


@pytest.mark.parametrize("offer,agreed,response", [
    ("permessage-deflate", {}, "permessage-deflate"),
    ("permessage-deflate; client_max_window_bits", {}, "permessage-deflate"),
    ("permessage-deflate; client_max_window_bits=10", {"client_max_window_bits": 10},
     "permessage-deflate; client_max_window_bits=10"),
    ("permessage-deflate; server_max_window_bits=9", {"server_max_window_bits": 9},
     "permessage-deflate; server_max_window_bits=9"),
    ("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
     {"server_no_context_takeover": True, "client_no_context_takeover": True},
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    # the first acceptable offer wins; bad ones are declined, not fatal
    ("permessage-deflate; bogus, permessage-deflate; server_max_window_bits=12",
     {"server_max_window_bits": 12}, "permessage-deflate; server_max_window_bits=12"),
    ("permessage-deflate; server_max_window_bits=16, permessage-deflate",
     {}, "permessage-deflate"),
    ("permessage-deflate; server_max_window_bits", {}, None),           # needs a value
    ("permessage-deflate; client_no_context_takeover=1", {}, None),
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", {}, None),
    ("x-webkit-deflate-frame", {}, None),
])
def test_server_accepts(offer, agreed, response):
    result = SERVER.accept_offers([offer])
    if response is None:
        assert result is None
        return
    settings, header = result
    assert header == response
    for key, value in agreed.items():
        assert getattr(settings, key) == value


def test_server_limits_client_window_only_when_offered():
    server = WSPerMessageDeflate(client_max_window_bits=10)
    assert server.accept_offers(["permessage-deflate"]) is None
    settings, header = server.accept_offers(["permessage-deflate; client_max_window_bits"])
    assert settings.client_max_window_bits == 10 and header.endswith("client_max_window_bits=10")


@pytest.mark.parametrize("response,ok", [
    ("permessage-deflate", True),
    ("permessage-deflate; server_no_context_takeover", True),
    ("permessage-deflate; client_max_window_bits=9", True),
    ("permessage-deflate; server_max_window_bits=8", True),
    ("permessage-deflate; client_max_window_bits", False),      # needs a value in a response
    ("permessage-deflate; unknown", False),
    ("permessage-deflate, permessage-deflate", False),
    ("x-other", False),
    ("permessage-deflate; server_max_window_bits=20", False),
])
def test_client_checks_response(response, ok):
    offer = WSPerMessageDeflate()
    if ok:
        assert isinstance(offer.accept_response([response]), WSPerMessageDeflate)
    else:
        with pytest.raises(WSNegotiationError):
            offer.accept_response([response])


def test_client_requirements_enforced():
    offer = WSPerMessageDeflate(server_no_context_takeover=True, server_max_window_bits=10)
    with pytest.raises(WSNegotiationError):
        offer.accept_response(["permessage-deflate; server_max_window_bits=10"])
    with pytest.raises(WSNegotiationError):
        offer.accept_response(["permessage-deflate; server_no_context_takeover; "
                               "server_max_window_bits=12"])
    got = offer.accept_response(["permessage-deflate; server_no_context_takeover; "
                                 "server_max_window_bits=9"])
    assert got.server_max_window_bits == 9 and got.server_no_context_takeover


def test_repeated_empty_messages():
    # A sync flush with nothing pending emits nothing; the message must still
    # be a valid deflate stream once the receiver appends the tail.
    d, i = Deflater(15), Inflater(15)
    for data in (b"", b"", b"a", b"", b"", b"bb" * 100, b""):
        assert i.decompress(d.compress(data)) == data


# -- zlib's 32-bit counters: input and output handed over in pieces -----------------

@pytest.fixture
def small_zlib_chunk():
    """zlib gets at most 8 bytes of input and of output space per call, so
    every payload below takes many pieces both ways (the real piece is 1 GiB,
    under zlib's 4 GiB uInt limit)."""
    old = _deflate._set_zlib_chunk(8)
    assert old == _deflate.ZLIB_CHUNK == 1 << 30
    yield 8
    _deflate._set_zlib_chunk(old)


@pytest.mark.parametrize("reset", [False, True], ids=["takeover", "no_takeover"])
def test_multi_piece_feed_and_drain_round_trip(small_zlib_chunk, reset):
    d, i = Deflater(15, reset), Inflater(15, reset)
    stock = zlib.decompressobj(wbits=-15)
    for data in PAYLOADS[:4] + [bytes(range(256)) * 40 + os.urandom(3000)]:
        for _ in range(2):       # the second time with the window the first left
            wire = d.compress(data)
            assert len(data) <= small_zlib_chunk or len(wire) > small_zlib_chunk
            assert i.decompress(wire) == data
            # Stock zlib agrees on what was produced.
            assert stock.decompress(wire + b"\x00\x00\xff\xff") == data
        # A stock stream inflated 8 bytes in, 8 bytes out at a time.
        co = zlib.compressobj(wbits=-15)
        theirs = co.compress(data) + co.flush(zlib.Z_SYNC_FLUSH)
        assert Inflater(15, True).decompress(theirs[:-4]) == data


def test_multi_piece_fragments_and_limit(small_zlib_chunk):
    d, i = Deflater(), Inflater()
    text = b"fragmented " * 500
    parts = [d.compress(text[:1000], fin=False), d.compress(text[1000:3000], fin=False),
             d.compress(text[3000:])]
    got = [i.decompress(parts[0], fin=False), i.decompress(parts[1], fin=False),
           i.decompress(parts[2])]
    assert b"".join(got) == text
    # The size limit still holds exactly when output arrives 8 bytes at a time.
    wire = Deflater().compress(b"x" * 1001)
    assert Inflater().decompress(wire, max_size=1001) == b"x" * 1001
    with pytest.raises(ValueError, match="exceeds 1000"):
        Inflater().decompress(wire, max_size=1000)


def test_chunk_hook_refuses_bad_sizes():
    for bad in (0, 7, (1 << 30) + 1):
        with pytest.raises(ValueError):
            _deflate._set_zlib_chunk(bad)
    assert _deflate._set_zlib_chunk(1 << 30) == 1 << 30


def test_unlimited_max_size_does_not_overflow():
    # max_size=sys.maxsize ("no limit") used to make max_size + 1 wrap, and
    # the inflater then spun forever with no output space.
    data = b"abc" * 100_000
    assert Inflater().decompress(Deflater().compress(data), max_size=sys.maxsize) == data
