"""picows_like.is_valid_utf8: the C check behind validate_utf8, as a helper
(Autobahn 6.x byte sequences; see test_6_utf8 for the layering)."""

import pytest

import picows_like as picows

from .test_6_utf8 import INVALID, VALID


def _is_valid_utf8():
    return picows.is_valid_utf8


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("payload", VALID)
def test_is_valid_utf8_accepts(payload):
    check = _is_valid_utf8()
    assert check(payload) is True
    assert check(bytearray(payload)) is True
    assert check(memoryview(payload)) is True


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("payload", INVALID)
def test_is_valid_utf8_rejects(payload):
    check = _is_valid_utf8()
    assert check(payload) is False
    assert check(bytearray(payload)) is False


@pytest.mark.stricter_than_picows
def test_is_valid_utf8_matches_python_at_every_alignment():
    # The C check skips ASCII 8 bytes at a time: place each invalid sequence
    # at every offset of a long ASCII run.
    check = _is_valid_utf8()
    for seq in (b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82",
                "ż".encode(), "🎉".encode()):
        for offset in range(20):
            data = b"a" * offset + seq + b"b" * (20 - offset)
            try:
                data.decode("utf-8")
                expected = True
            except UnicodeDecodeError:
                expected = False
            assert check(data) is expected, (data, expected)
