"""Hostile input against the opening handshake and the engine's deadlines.

The asyncio driver (WSProtocol, driven in process with a fake transport as
asyncio drives a BufferedProtocol) and the websockets facade share the
engine's head scanner; these tests attack both:

* any bytes, in any split, ends a server's CONNECTING phase in exactly one
  of: 101 + OPEN, one HTTP error answer + close, a close without an answer
  (head too long), or still waiting with bounded buffered input; never an
  exception out of buffer_updated, a second answer, or a frame before
  on_ws_connected.  The same for a client reading any response;
* the outcome of a valid request with pipelined frames does not depend on
  how the bytes are split;
* hostile shapes (bare LF, obs-fold, conflicting/huge/signed lengths, NUL,
  names with spaces, 10k headers, a head at the 16 KiB limit, slowloris,
  absolute-form/`*`/CONNECT) get a clear refusal or a documented
  acceptance, also through the facade, compared with websockets;
* the engine's deadline API keeps its invariants under random sequences
  of time, input, early and late timers, PONGs and closing.

PICOWS_LIKE_FUZZ_EXAMPLES scales the number of examples (default 200).
"""
import asyncio
import base64
import logging
import os
import re
import socket

import pytest

if os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1":
    pytest.skip("attacks use picows_like internals", allow_module_level=True)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import picows_like as picows  # noqa: E402
from picows_like import _engine  # noqa: E402
from picows_like._protocol import WSProtocol  # noqa: E402
from picows_like.handshake import (MAX_BODY_BYTES, MAX_HEADER_BYTES, accept_value,  # noqa: E402
                                   build_request)
from picows_like.url import parse_url  # noqa: E402

from inprocess import FakeTransport, masked, unmasked  # noqa: E402

E = _engine.ERRORS
EXAMPLES = int(os.environ.get("PICOWS_LIKE_FUZZ_EXAMPLES", "200"))
fuzz_settings = settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.data_too_large,
                                                HealthCheck.function_scoped_fixture])


# -- a WSProtocol driven in process --------------------------------------------

class Recording(picows.WSListener):
    def __init__(self):
        self.events = []

    def on_ws_connected(self, transport):
        self.events.append("connected")

    def on_ws_frame(self, transport, frame):
        self.events.append((int(frame.msg_type), frame.get_payload_as_bytes(), frame.fin))


_RESOURCES = []
_SOCK = None
_FUTURES = []       # upgrade futures, their exceptions retrieved at teardown


def _socket():
    global _SOCK
    if _SOCK is None:
        _SOCK = socket.socketpair()
    return _SOCK[0]


def _loop():
    if not _RESOURCES:
        _RESOURCES.append(asyncio.new_event_loop())
    return _RESOURCES[0]


def teardown_module(module):
    for future in _FUTURES:
        if future.done() and not future.cancelled():
            future.exception()
    for loop in _RESOURCES:
        loop.close()
    if _SOCK is not None:
        for s in _SOCK:
            s.close()


def _policy_factory(policy, listener):
    def factory(request):
        if policy == "none":
            return None
        if policy == "raise":
            raise RuntimeError("factory bug")
        if policy == "redirect":
            return picows.WSUpgradeResponseWithListener(
                picows.WSUpgradeResponse.create_redirect_response(302, "ws://y/"), None)
        if policy == "not_a_listener":
            return object()
        return listener
    return factory


def make_server(listener=None, policy="accept"):
    listener = listener if listener is not None else Recording()
    protocol = WSProtocol(False, _policy_factory(policy, listener), _loop(),
                          logging.getLogger("test"), websocket_handshake_timeout=None)
    transport = FakeTransport(_socket())
    protocol.connection_made(transport)
    return protocol, transport, listener


def make_client(listener=None):
    listener = listener if listener is not None else Recording()
    key = base64.b64encode(os.urandom(16))
    request, wire = build_request(parse_url("ws://x/"), key, None)
    loop = _loop()
    future = loop.create_future()
    _FUTURES.append(future)
    protocol = WSProtocol(True, lambda request, response: listener, loop,
                          logging.getLogger("test"), request=request, request_bytes=wire,
                          ws_key=key, upgrade_future=future)
    transport = FakeTransport(_socket())
    protocol.connection_made(transport)
    transport.request = bytes(transport.written)
    del transport.written[:]
    transport.writes.clear()
    return protocol, transport, listener, future


def feed_cuts(protocol, data, cuts=(), step=None):
    """Read `data` as the event loop would: cut at `cuts`, or `step` bytes
    per read; return the largest read."""
    pieces, last = [], 0
    if step:
        pieces = [data[i:i + step] for i in range(0, len(data), step)]
    else:
        for cut in sorted(set(c for c in cuts if 0 < c < len(data))):
            pieces.append(data[last:cut])
            last = cut
        pieces.append(data[last:])
    largest = 0
    for piece in pieces:
        while piece:
            buf = protocol.get_buffer(-1)
            n = min(len(buf), len(piece))
            memoryview(buf)[:n] = piece[:n]
            protocol.buffer_updated(n)
            largest = max(largest, n)
            piece = piece[n:]
    return largest


def upgrade_request(key=b"dGhlIHNhbXBsZSBub25jZQ==", extra=b"", line=b"GET / HTTP/1.1"):
    return (line + b"\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n" + extra
            + b"\r\n")


def response_101(request_wire, extra=b""):
    key = [line.split(b": ", 1)[1] for line in request_wire.split(b"\r\n")
           if line.startswith(b"Sec-WebSocket-Key: ")][0]
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_value(key) + b"\r\n" + extra + b"\r\n")


def buffered(protocol):
    """An upper bound of the bytes the read buffer holds (its write position)."""
    return protocol._held_buffer_sizes()[0] - len(protocol.get_buffer(-1))


def server_outcome(protocol, transport, listener, largest):
    """Classify a server's state; assert it is one of the four allowed."""
    engine = protocol.engine
    written = bytes(transport.written)
    answers = written.count(b"HTTP/1.1 ")
    if listener.events:
        assert listener.events[0] == "connected"
        assert "connected" not in listener.events[1:]
    if engine.state != _engine.CONNECTING:
        assert written.startswith(b"HTTP/1.1 101 ") and transport.writes[0].count(b"HTTP/") == 1
        assert listener.events[:1] == ["connected"]
        return ("open", 101)
    assert listener.events == []
    if written:
        assert answers == 1 and written.startswith(b"HTTP/1.1 ")
        status = int(written[9:12])
        assert 400 <= status < 600 or status == 302
        assert b"\r\nConnection: close\r\n" in written
        assert engine.discarding and engine.error_kind == E["HANDSHAKE"]
        assert transport.eof_written
        return ("refused", status)
    if engine.discarding:
        assert engine.error_kind == E["HANDSHAKE"] and transport.eof_written
        assert isinstance(engine.handshake_exc, picows.WSInvalidMessageError)
        return ("closed", None)
    assert not transport.eof_written and not transport.aborted
    assert buffered(protocol) < MAX_HEADER_BYTES + 4 + max(largest, 1)
    return ("waiting", None)


# -- 1. any bytes, any split: one of four outcomes -----------------------------

def _mutate(data, edits):
    data = bytearray(data)
    for pos, byte, how in edits:
        if not data:
            break
        pos %= len(data)
        if how == 0:
            data[pos] = byte
        elif how == 1:
            del data[pos]
        else:
            data.insert(pos, byte)
    return bytes(data)


HOSTILE_PIECES = [b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"\n\n", b" ", b"\t", b":", b"\x00",
                  b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n",
                  b"Host: y\r\n", b"Upgrade: h2c\r\n", b"Sec-WebSocket-Version: 8\r\n",
                  b"Sec-WebSocket-Extensions: permessage-deflate; x\r\n", b" folded\r\n",
                  b"HTTP/1.0", b"\xff\xfe", b"GET", b"CONNECT", b"*", b"http://x/"]


@st.composite
def hostile_requests(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=200))
    base = upgrade_request() + draw(st.sampled_from([
        b"", masked(0x1, b"hello"), masked(0x2, b"x" * 20) + masked(0x9, b"p"),
        masked(0x8, b"\x03\xe8")]))
    if kind == 1:
        return base + draw(st.binary(max_size=50))
    if kind == 2:
        edits = draw(st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255),
                                        st.integers(0, 2)), min_size=1, max_size=4))
        return _mutate(base, edits)
    pos = draw(st.integers(0, len(base)))
    return base[:pos] + draw(st.sampled_from(HOSTILE_PIECES)) + base[pos:]


cut_lists = st.lists(st.integers(1, 400), max_size=8)


POLICIES = ["accept", "none", "raise", "redirect", "not_a_listener"]
POLICY_STATUS = {"none": 404, "raise": 500, "redirect": 302, "not_a_listener": 500}


@fuzz_settings
@given(hostile_requests(), cut_lists, st.booleans(), st.sampled_from(POLICIES))
def test_server_any_bytes_any_split_one_outcome(data, cuts, byte_by_byte, policy):
    protocol, transport, listener = make_server(policy=policy)
    largest = feed_cuts(protocol, data, cuts, 1 if byte_by_byte else None)
    outcome = server_outcome(protocol, transport, listener, largest)
    if policy != "accept":
        assert outcome[0] != "open"
        if outcome[0] == "refused" and outcome[1] not in (400, 405, 426):
            assert outcome[1] == POLICY_STATUS[policy]
    protocol.connection_lost(None)


@fuzz_settings
@given(st.lists(st.tuples(st.sampled_from([0x1, 0x2, 0x9, 0xA]), st.binary(max_size=40)),
                max_size=6), cut_lists)
def test_client_frames_behind_the_101_independent_of_split(frames, cuts):
    results = []
    for how in ((), cuts, 1):
        protocol, transport, listener, future = make_client()
        wire = response_101(transport.request) + b"".join(
            unmasked(op, payload.hex().encode() if op == 0x1 else payload)
            for op, payload in frames)
        feed_cuts(protocol, wire, how if how != 1 else (), 1 if how == 1 else None)
        assert future.result() is listener and protocol.engine.state == _engine.OPEN
        results.append(listener.events)
        protocol.connection_lost(None)
    expected = ["connected"] + [(op, payload.hex().encode() if op == 0x1 else payload, True)
                                for op, payload in frames if op in (0x1, 0x2, 0xA)]
    assert results[0] == results[1] == results[2] == [e for e in expected if e == "connected"
                                                     or e[0] != 0x9]


@fuzz_settings
@given(st.binary(min_size=1, max_size=64), st.integers(1, 4))
def test_server_waiting_input_stays_bounded(pad, reads_per_kib):
    # A head that never ends: buffered input stays under the limit plus one
    # read, then the connection is closed without an answer.
    protocol, transport, listener = make_server()
    filler = (b"X-" + pad.replace(b"\r", b"r").replace(b"\n", b"n") + b": v\r\n")
    data = b"GET / HTTP/1.1\r\n" + filler * (2 * MAX_HEADER_BYTES // len(filler) + 1)
    step = 1024 // reads_per_kib
    for i in range(0, len(data), step):
        feed_cuts(protocol, data[i:i + step])
        outcome = server_outcome(protocol, transport, listener, step)
        if outcome[0] != "waiting":
            break
    assert outcome == ("closed", None)
    assert transport.written == b""
    protocol.connection_lost(None)


@st.composite
def hostile_responses(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=200)), None
    if kind == 1:
        status = draw(st.sampled_from([b"200", b"301", b"400", b"403", b"404", b"500", b"101",
                                       b"204", b"100", b"999", b"20", b"2x0"]))
        headers = draw(st.lists(st.sampled_from([
            b"Content-Length: 3", b"Content-Length: 0", b"Content-Length: -1",
            b"Content-Length: 0x10", b"Content-Length: +3", b"Content-Length: 3, 3",
            b"Content-Length: \xb3", b"Content-Length: 9999999999999999999999",
            b"Content-Length: " + b"9" * 5000, b"Transfer-Encoding: chunked",
            b"Content-Length : 3", b"X: \x00", b" folded", b"Location: ws://y/",
            b"Connection: close"]), max_size=4))
        body = draw(st.binary(max_size=40))
        return b"HTTP/1.1 " + status + b" Reason\r\n" + b"".join(h + b"\r\n" for h in headers) \
            + b"\r\n" + body, None
    return None, (kind, draw(st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255),
                                                st.integers(0, 2)), max_size=3)))


def client_outcome(protocol, transport, listener, future, largest):
    engine = protocol.engine
    if engine.state != _engine.CONNECTING:
        assert future.done() and future.result() is listener
        assert listener.events[:1] == ["connected"]
        return "open"
    assert listener.events == []
    if future.done():
        exc = future.exception()
        assert isinstance(exc, (picows.WSHandshakeError, picows.WSInvalidMessageError)), exc
        assert engine.discarding and engine.error_kind == E["HANDSHAKE"]
        assert transport.aborted or transport.closed
        return "failed"
    assert not engine.discarding
    assert buffered(protocol) < MAX_HEADER_BYTES + MAX_BODY_BYTES + 4 + largest
    return "waiting"


@fuzz_settings
@given(hostile_responses(), cut_lists, st.booleans())
def test_client_any_response_any_split_one_outcome(drawn, cuts, byte_by_byte):
    protocol, transport, listener, future = make_client()
    data, mutation = drawn
    if data is None:
        kind, edits = mutation
        data = response_101(transport.request) + unmasked(0x1, b"hi") + unmasked(0x2, b"yo")
        data = _mutate(data, edits)
    largest = feed_cuts(protocol, data, cuts, 1 if byte_by_byte else None)
    outcome = client_outcome(protocol, transport, listener, future, largest)
    if outcome == "open" and data.startswith(response_101(transport.request)):
        rest = data[len(response_101(transport.request)):]
        if rest == unmasked(0x1, b"hi") + unmasked(0x2, b"yo"):
            assert listener.events == ["connected", (1, b"hi", True), (2, b"yo", True)]
    protocol.connection_lost(None)


# -- 2. split independence ------------------------------------------------------

@st.composite
def valid_sessions(draw):
    extra = draw(st.sampled_from([b"", b"Sec-WebSocket-Extensions: permessage-deflate\r\n",
                                  b"X-Pad: " + b"p" * 300 + b"\r\n"]))
    frames = draw(st.lists(st.tuples(st.sampled_from([0x1, 0x2, 0x9]),
                                     st.binary(max_size=60)), max_size=5))
    wire = upgrade_request(extra=extra) + b"".join(
        masked(op, payload if op != 0x1 else payload.hex().encode()) for op, payload in frames)
    return wire


def _server_run(wire, cuts=(), step=None):
    protocol, transport, listener = make_server()
    feed_cuts(protocol, wire, cuts, step)
    result = (protocol.engine.state, bytes(transport.written).split(b"\r\nDate: ")[0],
              bytes(transport.written).split(b"\r\n\r\n", 1)[-1], list(listener.events))
    protocol.connection_lost(None)
    return result


@fuzz_settings
@given(valid_sessions(), cut_lists)
def test_valid_request_and_frames_independent_of_split(wire, cuts):
    whole = _server_run(wire)
    assert whole[0] == _engine.OPEN
    assert _server_run(wire, cuts) == whole
    assert _server_run(wire, step=1) == whole


# -- 3. hostile shapes ------------------------------------------------------------

def _server_feed(data, step=None):
    protocol, transport, listener = make_server()
    largest = feed_cuts(protocol, data, step=step)
    outcome = server_outcome(protocol, transport, listener, largest)
    return outcome, protocol, transport


REFUSED_REQUESTS = {
    # name: (bytes, status, words in the reason)
    "obs_fold": (upgrade_request(extra=b"X-A: 1\r\n  folded\r\n"), 400, b"obs-fold"),
    "nul_in_value": (upgrade_request(extra=b"X-A: a\x00b\r\n"), 400, b"invalid value"),
    "space_in_name": (upgrade_request(extra=b"X A: 1\r\n"), 400, b"malformed"),
    "space_before_colon": (upgrade_request(extra=b"Host : y\r\n"), 400, b"malformed"),
    "two_thousand_headers": (b"GET / HTTP/1.1\r\n" + b"a:b\r\n" * 2000 + b"\r\n", 400,
                             b"more than 128 headers"),
    "transfer_encoding": (upgrade_request(extra=b"Transfer-Encoding: chunked\r\n"), 400,
                          b"Transfer-Encoding"),
    "content_length": (upgrade_request(extra=b"Content-Length: 5\r\n"), 400, b"body"),
    "content_length_signed": (upgrade_request(extra=b"Content-Length: +0\r\n"), 400, b"body"),
    "content_length_hex": (upgrade_request(extra=b"Content-Length: 0x0\r\n"), 400, b"body"),
    "content_length_huge": (upgrade_request(extra=b"Content-Length: " + b"1" * 5000 + b"\r\n"),
                            400, b"body"),
    "two_hosts": (upgrade_request(extra=b"Host: y\r\n"), 400, b"exactly one Host"),
    "http_1_0": (upgrade_request(line=b"GET / HTTP/1.0"), 400, b"HTTP version"),
    "connect": (upgrade_request(line=b"CONNECT x:80 HTTP/1.1"), 405, b"GET method"),
    "nul_in_target": (upgrade_request(line=b"GET /\x00 HTTP/1.1"), 400, b"request target"),
    "lowercase_method": (upgrade_request(line=b"get / HTTP/1.1"), 400,
                         b"expected an HTTP upgrade request"),
    "tls_hello": (b"\x16\x03\x01\x02\x00\x01", 400, b"expected an HTTP upgrade request"),
    "two_keys": (upgrade_request(extra=b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
                 400, b"repeated Sec-WebSocket-Key"),
    "short_key": (upgrade_request(key=b"c2hvcnQ="), 400, b"Sec-WebSocket-Key"),
    "double_space": (upgrade_request(line=b"GET  / HTTP/1.1"), 400, b"request line"),
    "empty_line_first": (b"\r\n" + upgrade_request(), 400, b"expected an HTTP upgrade request"),
    "http2_preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, b"HTTP version"),
    "version_8": (upgrade_request().replace(b"Version: 13", b"Version: 8"), 426,
                  b"Sec-WebSocket-Version"),
    "upgrade_h2c": (upgrade_request().replace(b"Upgrade: websocket", b"Upgrade: h2c"), 400,
                    b"Upgrade header"),
    "post": (upgrade_request(line=b"POST / HTTP/1.1"), 405, b"GET method"),
    "crlf_then_bare_lf_line": (upgrade_request(extra=b"X-A: 1\nX-B: 2\r\n"), 400,
                               b"invalid value"),
}


@pytest.mark.parametrize("step", [None, 1], ids=["whole", "byte_by_byte"])
@pytest.mark.parametrize("name", sorted(REFUSED_REQUESTS))
def test_hostile_request_refused_with_status_and_reason(name, step):
    data, status, words = REFUSED_REQUESTS[name]
    outcome, protocol, transport = _server_feed(data + masked(0x1, b"never"), step)
    assert outcome == ("refused", status)
    assert words in transport.written.split(b"\r\n\r\n", 1)[1]
    protocol.connection_lost(None)


@pytest.mark.parametrize("target", [b"http://x/", b"*", b"/a?b=%00"])
def test_absolute_form_and_star_targets_are_accepted(target):
    # Documented acceptance: the target is printable ASCII and handed to the
    # listener factory as it is (routing is the application's).
    seen = []
    listener = Recording()

    def factory(request):
        seen.append(request.path)
        return listener

    protocol = WSProtocol(False, factory, _loop(), logging.getLogger("test"),
                          websocket_handshake_timeout=None)
    transport = FakeTransport(_socket())
    protocol.connection_made(transport)
    feed_cuts(protocol, upgrade_request(line=b"GET " + target + b" HTTP/1.1"))
    assert transport.written.startswith(b"HTTP/1.1 101 ") and seen == [target]
    protocol.connection_lost(None)


def test_bare_lf_head_waits_then_closes_at_the_limit():
    # Documented acceptance: only CRLFCRLF ends a head, so a head with bare
    # LF line ends waits (the handshake deadline bounds the wait) and is
    # closed without an answer once it passes 16 KiB.
    head = b"GET / HTTP/1.1\nHost: x\nUpgrade: websocket\n\n"
    outcome, protocol, transport = _server_feed(head)
    assert outcome == ("waiting", None)
    feed_cuts(protocol, b"\n" * MAX_HEADER_BYTES, step=4096)
    assert server_outcome(protocol, transport, protocol.listener or Recording(), 4096) == \
        ("closed", None)
    protocol.connection_lost(None)


@pytest.mark.parametrize("delta", [-1, 0, 1])
@pytest.mark.parametrize("split", [1, 2, 3])
def test_head_at_the_limit_with_crlfcrlf_straddling_reads(delta, split):
    # A head (without its CRLFCRLF) of MAX_HEADER_BYTES + delta bytes, the
    # terminator cut after `split` of its 4 bytes: up to the limit it is
    # parsed (here refused for having no upgrade headers: 400), one byte
    # more is closed without an answer.
    base = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "
    head = base + b"p" * (MAX_HEADER_BYTES + delta - len(base))
    assert len(head) == MAX_HEADER_BYTES + delta
    protocol, transport, listener = make_server()
    feed_cuts(protocol, head + b"\r\n\r\n"[:split], step=4096)
    feed_cuts(protocol, b"\r\n\r\n"[split:])
    outcome = server_outcome(protocol, transport, listener, 4096)
    if delta <= 0:
        assert outcome == ("refused", 400)
        assert b"Upgrade" in transport.written
    else:
        assert outcome == ("closed", None)
    protocol.connection_lost(None)


def test_ten_thousand_tiny_headers_close_without_an_answer():
    # 10k headers are 50 KB: over the head limit, closed without an answer
    # (a head of 129..3000 tiny headers is answered 400, see above).
    data = b"GET / HTTP/1.1\r\n" + b"a:b\r\n" * 10000 + b"\r\n"
    for step in (None, 1):
        outcome, protocol, transport = _server_feed(data, step)
        assert outcome == ("closed", None)
        assert protocol.engine.head_scan_bytes <= 4 * (MAX_HEADER_BYTES + 8)
        protocol.connection_lost(None)
    theirs = _sansio(w_server.ServerProtocol(), data, None)
    ours = _sansio(o_server.ServerProtocol(), data, None)
    assert theirs == ("TooManyHeaders", "CLOSED") and ours == ("InvalidMessage", "CLOSED")


def test_facade_slowloris_scan_cost_stays_linear():
    proto = o_server.ServerProtocol()
    request = upgrade_request(extra=b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 200)
                                             for i in range(60)))
    for i in range(len(request)):
        proto.receive_data(request[i:i + 1])
    assert len(proto.events_received()) == 1
    assert proto._engine.head_scan_bytes <= 4 * len(request)


def test_slowloris_scan_cost_stays_linear():
    protocol, transport, listener = make_server()
    request = upgrade_request(extra=b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 200)
                                             for i in range(60)))
    feed_cuts(protocol, request, step=1)
    assert protocol.engine.state == _engine.OPEN
    assert protocol.engine.head_scan_bytes <= 4 * len(request)
    protocol.connection_lost(None)
    # A head that never ends, 1 byte per read up to the limit.
    protocol, transport, listener = make_server()
    feed_cuts(protocol, b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEADER_BYTES + 8), step=1)
    assert server_outcome(protocol, transport, listener, 1) == ("closed", None)
    assert protocol.engine.head_scan_bytes <= 4 * (MAX_HEADER_BYTES + 30)
    protocol.connection_lost(None)


CLIENT_REFUSALS = {
    # response after the request: expected upgrade-future exception type
    "negative_length": (b"HTTP/1.1 403 F\r\nContent-Length: -3\r\n\r\nabc",
                        picows.WSInvalidMessageError),
    "hex_length": (b"HTTP/1.1 403 F\r\nContent-Length: 0x3\r\n\r\nabc",
                   picows.WSInvalidMessageError),
    "plus_length": (b"HTTP/1.1 403 F\r\nContent-Length: +3\r\n\r\nabc",
                    picows.WSInvalidMessageError),
    "list_length": (b"HTTP/1.1 403 F\r\nContent-Length: 3, 3\r\n\r\nabc",
                    picows.WSInvalidMessageError),
    "unicode_digit_length": (b"HTTP/1.1 403 F\r\nContent-Length: \xb3\r\n\r\nabc",
                             picows.WSInvalidMessageError),
    "arabic_digit_length": ("HTTP/1.1 403 F\r\nContent-Length: \u0663\r\n\r\nabc"
                            .encode("utf-8"), picows.WSInvalidMessageError),
    "space_before_colon": (b"HTTP/1.1 403 F\r\nContent-Length : 3\r\n\r\nabc",
                           picows.WSInvalidMessageError),
    "nul_in_value": (b"HTTP/1.1 403 F\r\nX: a\x00\r\n\r\n", picows.WSInvalidMessageError),
    "obs_fold": (b"HTTP/1.1 403 F\r\nX: a\r\n b\r\n\r\n", picows.WSInvalidMessageError),
    "bad_status": (b"HTTP/1.1 1010 F\r\n\r\n", picows.WSInvalidMessageError),
    "no_upgrade_101": (b"HTTP/1.1 101 S\r\n\r\n", picows.WSInvalidUpgradeError),
}


@pytest.mark.parametrize("step", [None, 1], ids=["whole", "byte_by_byte"])
@pytest.mark.parametrize("name", sorted(CLIENT_REFUSALS))
def test_hostile_response_fails_the_upgrade_with_a_typed_error(name, step):
    data, exc_type = CLIENT_REFUSALS[name]
    protocol, transport, listener, future = make_client()
    feed_cuts(protocol, data + unmasked(0x1, b"never"), step=step)
    assert client_outcome(protocol, transport, listener, future, 1 if step else len(data)) \
        == "failed"
    assert type(future.exception()) is exc_type
    protocol.connection_lost(None)


def test_conflicting_content_lengths_first_wins_on_the_driver():
    # Documented acceptance (as picows reads an error body): the first
    # Content-Length counts; the connection is closed after the answer anyway.
    protocol, transport, listener, future = make_client()
    feed_cuts(protocol, b"HTTP/1.1 403 F\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\n"
              b"abcde")
    exc = future.exception()
    assert isinstance(exc, picows.WSInvalidStatusError) and exc.raw_body == b"abc"
    protocol.connection_lost(None)


def test_huge_content_length_body_is_bounded():
    # More than 4300 digits (Python's int() limit) and more than the body
    # limit: the body read stops at MAX_BODY_BYTES.
    protocol, transport, listener, future = make_client()
    feed_cuts(protocol, b"HTTP/1.1 403 F\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n")
    chunk = b"b" * 65536
    for _ in range(MAX_BODY_BYTES // len(chunk) - 1):
        feed_cuts(protocol, chunk)
        assert not future.done()
    feed_cuts(protocol, chunk + b"more")
    exc = future.exception()
    assert isinstance(exc, picows.WSInvalidStatusError) and len(exc.raw_body) == MAX_BODY_BYTES
    assert buffered(protocol) == 0
    protocol.connection_lost(None)


# -- the facade against websockets ---------------------------------------------

websockets = pytest.importorskip("websockets")
from websockets import client as w_client, server as w_server  # noqa: E402
from websockets.uri import parse_uri as w_parse_uri  # noqa: E402

from picows_like.websockets import client as o_client, server as o_server  # noqa: E402
from picows_like.websockets.uri import parse_uri as o_parse_uri  # noqa: E402


def _sansio(proto, data, step):
    if step:
        for i in range(len(data)):
            proto.receive_data(data[i:i + 1])
    else:
        proto.receive_data(data)
    proto.receive_eof()
    exc = proto.handshake_exc
    return type(exc).__name__, proto.state.name


FACADE_REQUESTS = {name: value[0] for name, value in REFUSED_REQUESTS.items()
                   if name not in ("http_1_0", "connect", "lowercase_method", "tls_hello",
                                   "content_length_signed", "content_length_hex",
                                   # refused by accept(), not by parsing:
                                   "post", "short_key", "two_keys", "upgrade_h2c",
                                   "version_8")}
STRICTER_THAN_WEBSOCKETS = {"nul_in_target", "two_hosts"}
FACADE_REQUESTS["bare_lf"] = b"GET / HTTP/1.1\nHost: x\n\n"
FACADE_REQUESTS["truncated"] = upgrade_request()[:-2]
FACADE_REQUESTS["head_too_long"] = b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEADER_BYTES + 8)


@pytest.mark.parametrize("step", [None, 1], ids=["whole", "byte_by_byte"])
@pytest.mark.parametrize("name", sorted(FACADE_REQUESTS))
def test_facade_server_refuses_hostile_requests_as_websockets(name, step):
    data = FACADE_REQUESTS[name]
    if step and len(data) > 4096:
        step = None
    theirs = _sansio(w_server.ServerProtocol(), data, step)
    ours = _sansio(o_server.ServerProtocol(), data, step)
    if name in STRICTER_THAN_WEBSOCKETS:
        # websockets accepts these; a proxy in front could read them
        # differently, so the shared request parser refuses them.
        assert theirs == ("NoneType", "CLOSED") and ours == ("InvalidMessage", "CLOSED")
    elif issubclass(getattr(websockets.exceptions, theirs[0]), websockets.exceptions.SecurityError):
        # websockets names the limit (HeaderLineTooLong, TooManyHeaders);
        # the facade refuses with InvalidMessage (see its module docstring).
        assert ours == ("InvalidMessage", theirs[1])
    else:
        assert theirs[0] != "NoneType" and ours == theirs


FACADE_RESPONSES = {name: value[0] for name, value in CLIENT_REFUSALS.items()
                    if name not in ("no_upgrade_101",)}
FACADE_RESPONSES["conflicting_lengths"] = \
    b"HTTP/1.1 403 F\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"
FACADE_RESPONSES["huge_length"] = \
    b"HTTP/1.1 403 F\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\nabc"
FACADE_RESPONSES["over_the_body_limit"] = \
    b"HTTP/1.1 403 F\r\nContent-Length: %d\r\n\r\nabc" % (MAX_BODY_BYTES + 1)
FACADE_RESPONSES["body_to_eof_too_long"] = \
    b"HTTP/1.1 403 F\r\n\r\n" + b"b" * (MAX_BODY_BYTES + 1)
FACADE_RESPONSES["bare_lf"] = b"HTTP/1.1 101 S\nUpgrade: websocket\n\n"


@pytest.mark.parametrize("step", [None, 1], ids=["whole", "byte_by_byte"])
@pytest.mark.parametrize("name", sorted(FACADE_RESPONSES))
def test_facade_client_refuses_hostile_responses_as_websockets(name, step):
    data = FACADE_RESPONSES[name]
    if step and len(data) > 4096:
        step = None
    theirs = _sansio(w_client.ClientProtocol(w_parse_uri("ws://x/")), data, step)
    ours = _sansio(o_client.ClientProtocol(o_parse_uri("ws://x/")), data, step)
    assert theirs[0] == "InvalidMessage"
    assert ours == theirs


# -- 4. the engine's deadlines ---------------------------------------------------

ACTIONS = st.lists(st.tuples(st.sampled_from(["advance", "input", "fire", "fire_early",
                                              "pong", "close", "close_deadline", "hold"]),
                             st.floats(0.0, 30.0, allow_nan=False)),
                   max_size=40)


@fuzz_settings
@given(st.booleans(), st.sampled_from([0.0, 1.0, 5.0]), st.sampled_from([0.0, 0.5, 3.0]),
       st.booleans(), st.sampled_from([0.0, 4.0]), ACTIONS)
def test_engine_deadline_invariants(open_start, interval, timeout, periodic, handshake_limit,
                                    actions):
    engine = _engine.WSEngine(_engine.SERVER,
                              _engine.OPEN if open_start else _engine.CONNECTING)
    now = 100.0
    engine.ping_interval = interval
    engine.ping_timeout = timeout
    engine.ping_periodically = periodic
    engine.last_read = engine.ping_sent_at = now
    if not open_start and handshake_limit:
        engine.handshake_deadline = now + handshake_limit
    ping_outstanding = False
    ping_at = None
    failed = False
    for action, amount in actions:
        before = (engine.state, engine.pong_wait, engine.discarding, engine.error_kind,
                  engine.ping_sent_at, engine.close_deadline)
        if action == "advance":
            now += amount
        elif action == "input":
            engine.last_read = now
        elif action == "pong":
            if engine.notify_pong():
                ping_outstanding = False
        elif action == "close":
            if engine.state == _engine.OPEN:
                engine.send_close(1000)
        elif action == "close_deadline":
            engine.close_deadline = now + amount
        elif action == "hold":
            engine.pings_held = not engine.pings_held
        elif action == "fire_early":
            due = engine.deadline()
            if due is not None and due - amount * 0.01 - 1e-3 < due:
                early = due - amount * 0.01 - 1e-3
                assert engine.check_deadline(early) is None
                after = (engine.state, engine.pong_wait, engine.discarding, engine.error_kind,
                         engine.ping_sent_at, engine.close_deadline)
                assert after == before
        else:       # fire at the deadline (the driver's timer)
            due = engine.deadline()
            if due is None:
                assert engine.check_deadline(now) is None
                continue
            now = max(now, due)
            result = engine.check_deadline(now)
            if result == "ping":
                assert not ping_outstanding, "a second PING without a PONG or a failure"
                assert engine.state == _engine.OPEN and not engine.pings_held
                ping_outstanding = True
                ping_at = now
            elif result == "failed":
                assert not failed
                failed = True
                if before[0] == _engine.CONNECTING:
                    assert engine.error_kind == E["HANDSHAKE_TIMEOUT"]
                    assert now >= engine.handshake_deadline > 0
                else:
                    assert ping_outstanding and engine.error_kind == E["PING_TIMEOUT"]
                    assert now - ping_at >= timeout > 0
                assert engine.discarding
            elif result == "close_timeout":
                assert before[5] > 0 and engine.close_deadline == 0
        if engine.state >= _engine.CLOSING or engine.discarding:
            if engine.close_deadline == 0:
                assert engine.deadline() is None
            else:
                assert engine.deadline() == engine.close_deadline


@pytest.mark.parametrize("with_length", [False, True])
def test_facade_client_error_body_at_the_limit_is_kept(with_length):
    # The boundary of the cases above: a body of exactly the limit is the
    # error answer's body, for websockets and for the facade.
    body = b"b" * MAX_BODY_BYTES
    data = b"HTTP/1.1 403 F\r\n" + (b"Content-Length: %d\r\n" % len(body) if with_length
                                     else b"") + b"\r\n" + body
    results = []
    for proto in (w_client.ClientProtocol(w_parse_uri("ws://x/")),
                  o_client.ClientProtocol(o_parse_uri("ws://x/"))):
        results.append(_sansio(proto, data, None))
        assert proto.handshake_exc.response.body == body
    assert results[0] == results[1] == ("InvalidStatus", "CLOSED")


def test_client_error_body_is_read_in_few_reads():
    # A server's error body of up to MAX_BODY_BYTES, all available at once:
    # the read buffer offers room that grows geometrically, so the event
    # loop reads it in a few calls, not one byte per read once the buffer
    # passed its usual growth limit (256 KiB).
    protocol, transport, listener, future = make_client()
    body = b"b" * (MAX_BODY_BYTES - 10)
    data = b"HTTP/1.1 403 F\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    reads = 0
    while data:
        buf = protocol.get_buffer(-1)
        n = min(len(buf), len(data))       # as asyncio: as much as offered
        memoryview(buf)[:n] = data[:n]
        protocol.buffer_updated(n)
        data = data[n:]
        reads += 1
        assert reads < 64
    assert future.exception().raw_body == body
    assert protocol._held_buffer_sizes()[0] <= 4 * MAX_BODY_BYTES
    protocol.connection_lost(None)


def test_async_factory_bounds_pipelined_input_and_pauses_reading():
    # While an async listener factory decides, the peer's frames wait in the
    # read buffer: reading pauses once more than a head's worth is held;
    # once the factory answers, the frames held are delivered in order.
    listener = Recording()
    loop = _loop()
    gate = loop.create_future()

    async def factory(request):
        await gate
        return listener

    protocol = WSProtocol(False, factory, loop, logging.getLogger("test"),
                          websocket_handshake_timeout=None)
    paused = []

    class Pausing(FakeTransport):
        def pause_reading(self):
            paused.append(True)

        def resume_reading(self):
            paused.append(False)

    transport = Pausing(_socket())
    protocol.connection_made(transport)
    frames = [masked(0x2, b"%06d" % i) for i in range(20000)]
    data = upgrade_request() + b"".join(frames)
    pos = 0
    while pos < len(data) and not paused:
        feed_cuts(protocol, data[pos:pos + 1000])
        pos += 1000
        assert buffered(protocol) < MAX_HEADER_BYTES + 2000
    assert paused == [True] and transport.written == b"" and listener.events == []
    gate.set_result(None)
    loop.run_until_complete(asyncio.sleep(0))
    loop.run_until_complete(asyncio.sleep(0))
    assert paused == [True, False]
    assert transport.written.startswith(b"HTTP/1.1 101 ")
    delivered = [payload for _, payload, _ in listener.events[1:]]
    assert listener.events[0] == "connected"
    assert delivered == [b"%06d" % i for i in range(len(delivered))]
    feed_cuts(protocol, data[pos:])
    assert len(listener.events) == 1 + len(frames)
    protocol.connection_lost(None)


def _facade_run(proto, data, cuts):
    last = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))) + [len(data)]:
        proto.receive_data(data[last:cut])
        last = cut
    events = proto.events_received()
    out = b"".join(proto.data_to_send())
    out = re.sub(rb"\r\nDate: [^\r]*", b"", out)
    out = re.sub(rb"Sec-WebSocket-Accept: [^\r]*", b"", out)
    exc = proto.handshake_exc
    return (type(exc).__name__, type(exc.__cause__).__name__ if exc is not None else None,
            proto.state, len(events), out)


@fuzz_settings
@given(hostile_requests(), cut_lists)
def test_facade_server_any_bytes_split_independent(data, cuts):
    whole = _facade_run(o_server.ServerProtocol(), data, ())
    assert _facade_run(o_server.ServerProtocol(), data, cuts) == whole
    if whole[0] != "NoneType":
        assert whole[0] == "InvalidMessage" and whole[3] == 0


@fuzz_settings
@given(hostile_responses(), cut_lists)
def test_facade_client_any_bytes_split_independent(drawn, cuts):
    data, mutation = drawn
    if data is None:
        data = _mutate(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n"
                       + unmasked(0x1, b"hi"), mutation[1])
    whole = _facade_run(o_client.ClientProtocol(o_parse_uri("ws://x/")), data, ())
    split = _facade_run(o_client.ClientProtocol(o_parse_uri("ws://x/")), data, cuts)
    assert split[:4] == whole[:4]


def test_check_deadline_refuses_nan_and_changes_nothing():
    # NaN compares false with everything: taken as "due", it failed the
    # handshake or sent a PING and left ping_sent_at NaN (every later timer
    # then failed the connection at once).
    nan = float("nan")
    engine = _engine.WSEngine(_engine.SERVER, _engine.CONNECTING)
    engine.handshake_deadline = 100.0
    with pytest.raises(ValueError):
        engine.check_deadline(nan)
    assert engine.state == _engine.CONNECTING and not engine.discarding
    assert engine.error_kind == 0 and engine.deadline() == 100.0
    engine = _engine.WSEngine(_engine.SERVER)
    engine.ping_interval, engine.ping_timeout = 5.0, 1.0
    engine.last_read = engine.ping_sent_at = 100.0
    with pytest.raises(ValueError):
        engine.check_deadline(nan)
    assert engine.ping_sent_at == 100.0 and engine.pong_wait == 0
    assert engine.check_deadline(104.0) is None and engine.check_deadline(105.0) == "ping"


@pytest.mark.parametrize("name", ["websocket_handshake_timeout", "auto_ping_idle_timeout",
                                  "auto_ping_reply_timeout", "close_timeout"])
def test_nan_timeouts_are_refused_up_front(name):
    # A NaN timeout passed the "<= 0" checks and became a NaN deadline.
    from picows_like._options import CLIENT_DEFAULTS, OPTION_NAMES, protocol_options

    options = {n: getattr(CLIENT_DEFAULTS, n) for n in OPTION_NAMES}
    options.update(enable_auto_ping=True, logger=None)
    options = {k: v for k, v in options.items()
               if k in __import__("inspect").signature(protocol_options).parameters}
    protocol_options(**options)                  # the defaults pass
    options[name] = float("nan")
    with pytest.raises(ValueError, match=name):
        protocol_options(**options)


def test_a_refused_peer_that_keeps_sending_is_cut_off():
    # After the answer (or without one) input is discarded, but not without
    # bound: past 16 MiB the connection is aborted.
    for first in (b"\x16\x03\x01", upgrade_request(extra=b"X A: 1\r\n"),
                  b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEADER_BYTES + 8)):
        protocol, transport, listener = make_server()
        feed_cuts(protocol, first)
        assert transport.eof_written and not transport.aborted
        junk = b"j" * 65536
        for _ in range(17 * 16):
            feed_cuts(protocol, junk)
            if transport.aborted:
                break
        assert transport.aborted and protocol.engine.error_kind == E["HANDSHAKE"]
        protocol.connection_lost(None)


SUBPROTOCOL_VALUES = [b"", b",", b" , ", b"a,", b",a", b"a b", b'"a"', b"\xb3", b"a,,b", b"c",
                      b"a;x", b"a, b", b"b"]


@pytest.mark.parametrize("value", SUBPROTOCOL_VALUES)
def test_facade_subprotocol_header_parsed_as_websockets(value):
    # An empty Sec-WebSocket-Protocol in a 101 raised IndexError out of the
    # facade client's receive_data; a malformed one was a NegotiationError
    # where websockets says InvalidHeaderFormat (both sides).
    results = []
    for make, uri in ((w_client.ClientProtocol, w_parse_uri), (o_client.ClientProtocol,
                                                                o_parse_uri)):
        proto = make(uri("ws://x/"), subprotocols=["a", "b"])
        proto.send_request(proto.connect())
        request = b"".join(proto.data_to_send())
        proto.receive_data(response_101(request, b"Sec-WebSocket-Protocol: " + value + b"\r\n"))
        results.append((type(proto.handshake_exc).__name__, proto.state.name,
                        proto.subprotocol))
    assert results[1] == results[0]
    results = []
    for make in (w_server.ServerProtocol, o_server.ServerProtocol):
        proto = make(subprotocols=["a", "b"])
        proto.receive_data(upgrade_request(extra=b"Sec-WebSocket-Protocol: " + value + b"\r\n"))
        response = proto.accept(proto.events_received()[0])
        results.append((type(proto.handshake_exc).__name__, response.status_code,
                        response.headers.get("Sec-WebSocket-Protocol")))
    assert results[1] == results[0]


EXTENSION_VALUES = [b"", b"=a", b" ;x\"", b"websocket\xb3", b"permessage-deflate",
                    b"permessage-deflate; client_max_window_bits",
                    b"permessage-deflate; client_max_window_bits=\"10\"",
                    b"permessage-deflate; client_max_window_bits=\"1 0\"",
                    b"permessage-deflate; client_max_window_bits=\"\\1\\0\"",
                    b"permessage-deflate;", b"permessage-deflate, ,x", b"x; y=\"z", b"x;=y",
                    b"permessage-deflate; server_no_context_takeover, permessage-deflate",
                    b"a b", b",", b"x-foo"]


@pytest.mark.parametrize("value", EXTENSION_VALUES)
def test_facade_extension_header_parsed_as_websockets(value):
    # A malformed Sec-WebSocket-Extensions is InvalidHeaderFormat (400), as
    # websockets; the facade said NegotiationError, or accepted some.
    from websockets.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory as WClientDeflate,
        ServerPerMessageDeflateFactory as WServerDeflate)
    from picows_like.websockets.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory as OClientDeflate,
        ServerPerMessageDeflateFactory as OServerDeflate)

    results = []
    for make in ((lambda: w_server.ServerProtocol(extensions=[WServerDeflate()])),
                 (lambda: o_server.ServerProtocol(extensions=[OServerDeflate()]))):
        proto = make()
        proto.receive_data(upgrade_request(extra=b"Sec-WebSocket-Extensions: " + value + b"\r\n"))
        response = proto.accept(proto.events_received()[0])
        results.append((type(proto.handshake_exc).__name__, response.status_code))
    assert results[1] == results[0]
    results = []
    for make in ((lambda: w_client.ClientProtocol(w_parse_uri("ws://x/"),
                                                  extensions=[WClientDeflate()])),
                 (lambda: o_client.ClientProtocol(o_parse_uri("ws://x/"),
                                                  extensions=[OClientDeflate()]))):
        proto = make()
        proto.send_request(proto.connect())
        request = b"".join(proto.data_to_send())
        proto.receive_data(response_101(request, b"Sec-WebSocket-Extensions: " + value + b"\r\n"))
        results.append((type(proto.handshake_exc).__name__, proto.state.name))
    assert results[1] == results[0]


HEADER_NAMES = [b"Connection", b"Upgrade", b"Sec-WebSocket-Key", b"Sec-WebSocket-Version",
                b"Sec-WebSocket-Extensions", b"Sec-WebSocket-Protocol", b"Origin"]
HEADER_PIECES = [b"Upgrade", b"websocket", b"keep-alive", b",", b" ", b"\t", b"13", b"8",
                 b"dGhlIHNhbXBsZSBub25jZQ==", b"=", b"permessage-deflate", b";",
                 b"client_max_window_bits", b"server_no_context_takeover", b"a", b"b", b'"',
                 b"\\", b"\xb3", b"/", b"http://o", b"x", b"12", b"websocket/13"]
header_edits = st.lists(st.tuples(st.sampled_from(HEADER_NAMES), st.booleans(),
                                  st.lists(st.sampled_from(HEADER_PIECES), max_size=5)),
                        min_size=1, max_size=3)


@fuzz_settings
@given(header_edits)
def test_facade_server_handshake_headers_judged_as_websockets(edits):
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory as WF
    from picows_like.websockets.extensions.permessage_deflate import (
        ServerPerMessageDeflateFactory as OF)

    lines = upgrade_request().split(b"\r\n")[:-2]
    for name, replace, pieces in edits:
        if replace:
            lines = [line for line in lines if not line.lower().startswith(name.lower() + b":")]
        lines.append(name + b": " + b"".join(pieces))
    data = b"\r\n".join(lines) + b"\r\n\r\n"
    results = []
    for proto in (w_server.ServerProtocol(subprotocols=["a", "b"], extensions=[WF()]),
                  o_server.ServerProtocol(subprotocols=["a", "b"], extensions=[OF()])):
        proto.receive_data(data)
        events = proto.events_received()
        response = proto.accept(events[0]) if events else None
        results.append((type(proto.handshake_exc).__name__,
                        response.status_code if response else None,
                        response.headers.get("Sec-WebSocket-Protocol") if response else None,
                        response.headers.get("Sec-WebSocket-Extensions") if response else None))
    assert results[1] == results[0]


@fuzz_settings
@given(header_edits)
def test_facade_client_handshake_headers_judged_as_websockets(edits):
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory as WF
    from picows_like.websockets.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory as OF)

    results = []
    for proto in (w_client.ClientProtocol(w_parse_uri("ws://x/"), subprotocols=["a", "b"],
                                          extensions=[WF()]),
                  o_client.ClientProtocol(o_parse_uri("ws://x/"), subprotocols=["a", "b"],
                                          extensions=[OF()])):
        proto.send_request(proto.connect())
        lines = response_101(b"".join(proto.data_to_send())).split(b"\r\n")[:-2]
        for name, replace, pieces in edits:
            if name == b"Sec-WebSocket-Key":
                name = b"Sec-WebSocket-Accept"
            if replace:
                lines = [line for line in lines
                         if not line.lower().startswith(name.lower() + b":")]
            lines.append(name + b": " + b"".join(pieces))
        proto.receive_data(b"\r\n".join(lines) + b"\r\n\r\n")
        results.append((type(proto.handshake_exc).__name__, proto.state.name,
                        proto.subprotocol))
    assert results[1] == results[0]


def test_transfer_encoding_on_an_error_answer():
    # Documented acceptance: the driver (as picows) reads an error body by
    # its Content-Length only, so Transfer-Encoding is not decoded; the
    # facade reads it to EOF where websockets decodes chunks.  Either way
    # the upgrade fails with the status, and the connection is closed.
    chunked = b"3\r\nabc\r\n0\r\n\r\n"
    protocol, transport, listener, future = make_client()
    feed_cuts(protocol, b"HTTP/1.1 403 F\r\nTransfer-Encoding: chunked\r\n"
              b"Content-Length: 3\r\n\r\n" + chunked)
    exc = future.exception()
    assert type(exc) is picows.WSInvalidStatusError and exc.raw_body == b"3\r\n"
    assert transport.aborted
    protocol.connection_lost(None)
    protocol, transport, listener, future = make_client()
    feed_cuts(protocol, b"HTTP/1.1 403 F\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
    assert type(future.exception()) is picows.WSInvalidStatusError
    assert future.exception().raw_body == b""
    protocol.connection_lost(None)
    data = b"HTTP/1.1 403 F\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
    theirs = w_client.ClientProtocol(w_parse_uri("ws://x/"))
    ours = o_client.ClientProtocol(o_parse_uri("ws://x/"))
    assert _sansio(theirs, data, None) == _sansio(ours, data, None) == \
        ("InvalidStatus", "CLOSED")
    assert theirs.handshake_exc.response.body == b"abc"
    assert ours.handshake_exc.response.body == chunked
