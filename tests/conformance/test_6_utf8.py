"""Autobahn section 6: UTF-8 handling of TEXT messages.

Layering: RFC 6455 requires TEXT payloads to be UTF-8, but picows leaves the
check to the application.  picows_like keeps that default (no check, the
bytes reach the listener unchanged) and offers the check as an option,
``validate_utf8=True`` on ws_create_server / ws_connect: an invalid TEXT
message (also when split across fragments) then fails the connection with
1007, while a code point split across a fragment boundary is accepted.  The
same C check is available as ``picows_like.is_valid_utf8(data)``.  CLOSE
reasons are always checked (RFC 6455 7.1.6; see test_7_close).
"""

import pytest

from helpers import OP_BINARY, OP_CONT, OP_TEXT

from .harness import open_peer

pytestmark = pytest.mark.asyncio

VALID = [
    pytest.param("Hello-µ@ßöäüàá-UTF-8!!".encode(), id="6.2_latin"),
    pytest.param("κόσμε".encode(), id="6.5_kosme"),
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00", id="U+0000"),
    pytest.param(b"\x7f", id="U+007F"),
    pytest.param(b"\xc2\x80", id="U+0080"),
    pytest.param(b"\xdf\xbf", id="U+07FF"),
    pytest.param(b"\xe0\xa0\x80", id="U+0800"),
    pytest.param(b"\xed\x9f\xbf", id="U+D7FF"),
    pytest.param(b"\xee\x80\x80", id="U+E000"),
    pytest.param(b"\xef\xbf\xbd", id="U+FFFD"),
    pytest.param(b"\xef\xbf\xbe\xef\xbf\xbf", id="6.22_noncharacters_FFFE_FFFF"),
    pytest.param(b"\xf0\x90\x80\x80", id="U+10000"),
    pytest.param(b"\xf4\x8f\xbf\xbf", id="U+10FFFF"),
    pytest.param("ascii run then ż and 🎉 ".encode() * 50, id="mixed_long"),
]

INVALID = [
    pytest.param("κόσμε".encode() + b"\xed\xa0\x80edited", id="6.3_surrogate_inside"),
    pytest.param(b"\xf4\x90\x80\x80", id="6.8_above_U+10FFFF"),
    pytest.param(b"\xf7\xbf\xbf\xbf", id="6.8_4_byte_max"),
    pytest.param(b"\xf8\x88\x80\x80\x80", id="6.8_5_byte_form"),
    pytest.param(b"\xfc\x84\x80\x80\x80\x80", id="6.8_6_byte_form"),
    pytest.param(b"\x80", id="6.10_lone_continuation_80"),
    pytest.param(b"\xbf", id="6.10_lone_continuation_bf"),
    pytest.param(b"\x80\xbf\x80\xbf", id="6.10_continuations"),
    pytest.param(b"\xc0 ", id="6.11_lonely_start_c0"),
    pytest.param(b"\xe0 ", id="6.11_lonely_start_e0"),
    pytest.param(b"\xf0 ", id="6.11_lonely_start_f0"),
    pytest.param(b"\xdf", id="6.12_2_byte_truncated"),
    pytest.param(b"\xef\xbf", id="6.12_3_byte_truncated"),
    pytest.param(b"\xf4\x8f\xbf", id="6.12_4_byte_truncated"),
    pytest.param(b"\xc0\xe0\x80\xf0\x80\x80", id="6.13_concatenated_truncated"),
    pytest.param(b"\xfe", id="6.14_fe"),
    pytest.param(b"\xff", id="6.14_ff"),
    pytest.param(b"\xfe\xfe\xff\xff", id="6.14_fefeffff"),
    pytest.param(b"\xc0\xaf", id="6.16_overlong_slash_2"),
    pytest.param(b"\xe0\x80\xaf", id="6.16_overlong_slash_3"),
    pytest.param(b"\xf0\x80\x80\xaf", id="6.16_overlong_slash_4"),
    pytest.param(b"\xc1\xbf", id="6.17_max_overlong_2"),
    pytest.param(b"\xe0\x9f\xbf", id="6.17_max_overlong_3"),
    pytest.param(b"\xf0\x8f\xbf\xbf", id="6.17_max_overlong_4"),
    pytest.param(b"\xc0\x80", id="6.17_overlong_nul"),
    pytest.param(b"\xed\xa0\x80", id="6.18_U+D800"),
    pytest.param(b"\xed\xad\xbf", id="6.18_U+DB7F"),
    pytest.param(b"\xed\xb0\x80", id="6.18_U+DC00"),
    pytest.param(b"\xed\xbf\xbf", id="6.18_U+DFFF"),
    pytest.param(b"\xed\xa0\x80\xed\xb0\x80", id="6.19_surrogate_pair"),
    pytest.param(b"valid prefix " * 20 + b"\xff", id="invalid_after_long_ascii"),
]

SPLIT_TEXT = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 🎉".encode()


def _fragments(peer, payload, cuts):
    pieces, prev = [], 0
    for cut in list(cuts) + [len(payload)]:
        pieces.append(payload[prev:cut])
        prev = cut
    return [peer.frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(pieces) - 1)
            for i, p in enumerate(pieces)]


# --- default: no validation (picows behaviour) --------------------------------

async def test_6_default_passes_invalid_text_to_the_application(role):
    async with open_peer(role) as peer:
        await peer.send(peer.frame(OP_TEXT, b"\xff\xfe not utf-8 \xed\xa0\x80"))
        await peer.expect(OP_TEXT, b"\xff\xfe not utf-8 \xed\xa0\x80")
        await peer.close_normally()


# --- validate_utf8=True ---------------------------------------------------------

@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("payload", VALID)
async def test_6_valid_text_is_echoed(role, payload):
    async with open_peer(role, validate_utf8=True) as peer:
        await peer.send(peer.frame(OP_TEXT, payload))
        await peer.expect(OP_TEXT, payload)
        await peer.close_normally()


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("payload", INVALID)
async def test_6_invalid_text_is_1007(role, payload):
    async with open_peer(role, validate_utf8=True) as peer:
        await peer.send(peer.frame(OP_TEXT, b"valid before"), peer.frame(OP_TEXT, payload),
                        peer.frame(OP_TEXT, b"never echoed"))
        await peer.expect(OP_TEXT, b"valid before")
        await peer.expect_close(1007, error=True)


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("payload", INVALID[:6])
async def test_6_invalid_bytes_in_binary_are_fine(role, payload):
    async with open_peer(role, validate_utf8=True) as peer:
        await peer.send(peer.frame(OP_BINARY, payload))
        await peer.expect(OP_BINARY, payload)
        await peer.close_normally()


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("chopped", [False, True], ids=["one_write", "chopped"])
async def test_6_2_3_6_2_4_every_split_point_into_two_fragments(role, chopped):
    # Code points cut at every byte boundary, including inside 2-, 3- and
    # 4-byte sequences: all valid.
    async with open_peer(role, validate_utf8=True) as peer:
        for cut in range(len(SPLIT_TEXT) + 1):
            data = b"".join(_fragments(peer, SPLIT_TEXT, [cut]))
            if chopped:
                await peer.send_chopped(data, 3)
            else:
                await peer.send(data)
            await peer.expect(OP_TEXT, SPLIT_TEXT)
        await peer.close_normally()


@pytest.mark.stricter_than_picows
async def test_6_one_byte_per_fragment(role):
    async with open_peer(role, validate_utf8=True) as peer:
        await peer.send(*_fragments(peer, SPLIT_TEXT, range(1, len(SPLIT_TEXT))))
        await peer.expect(OP_TEXT, SPLIT_TEXT)
        await peer.close_normally()


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("payload,cuts", [
    pytest.param(b"\xed" + b"\xa0\x80", [1], id="surrogate_split_after_lead"),
    pytest.param(b"ab\xf4\x90" + b"\x80\x80", [4], id="above_max_split"),
    pytest.param(b"ok" + b"\xc0\xaf", [3], id="overlong_split"),
    pytest.param(b"ok" + b"" + b"\xff", [2, 2], id="empty_fragment_then_ff"),
    pytest.param("κόσμε".encode() + b"\xce", [4], id="truncated_at_message_end"),
    pytest.param(b"\xe2\x82", [1], id="truncated_across_fragments"),
])
async def test_6_invalid_split_across_fragments_is_1007(role, payload, cuts):
    async with open_peer(role, validate_utf8=True) as peer:
        await peer.send(*_fragments(peer, payload, cuts))
        await peer.expect_close(1007, error=True)


@pytest.mark.stricter_than_picows
@pytest.mark.parametrize("bad", [b"\xff", b"\xed\xa0\x80", b"\xc0\xaf"], ids=["ff", "surrogate",
                                                                             "overlong"])
async def test_6_4_fail_fast_on_invalid_fragment(role, bad):
    # The message never completes: the invalid first fragment alone must
    # fail the connection (RFC 6455 8.1 lets an endpoint fail as soon as the
    # input cannot be valid).
    async with open_peer(role, validate_utf8=True) as peer:
        await peer.send(peer.frame(OP_TEXT, b"Hello " + bad + b" world", fin=False))
        await peer.expect_close(1007, error=True)


@pytest.mark.stricter_than_picows
async def test_6_validation_state_resets_between_messages(role):
    # A truncated code point must not leak into the next message, and a
    # BINARY message in between does not disturb the check.
    async with open_peer(role, validate_utf8=True) as peer:
        await peer.send(peer.frame(OP_TEXT, b"\xe2\x82\xac"), peer.frame(OP_BINARY, b"\xe2"),
                        peer.frame(OP_TEXT, b"plain"))
        await peer.expect(OP_TEXT, b"\xe2\x82\xac")
        await peer.expect(OP_BINARY, b"\xe2")
        await peer.expect(OP_TEXT, b"plain")
        await peer.close_normally()
