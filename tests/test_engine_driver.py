"""The asyncio driver on the sans-I/O engine.

WSProtocol runs every connection's rules on its _engine.WSEngine: the
engine's state is the connection's state, and every way a connection ends
early (a protocol error, a callback that raised, a refused or late
handshake, a PING left unanswered) goes through the engine's one fail
path, which records why (engine.error_kind) and hands the closing to the
driver.  Driven in process like asyncio drives a BufferedProtocol.
"""
import asyncio
import base64
import gc
import logging
import os
import socket
import sys
import time

import pytest

import picows_like as picows
from picows_like import _engine
from picows_like._protocol import WSProtocol
from inprocess import FakeTransport, feed, masked

E = _engine.ERRORS


class Quiet(picows.WSListener):
    def on_ws_frame(self, transport, frame):
        pass


class Raising(picows.WSListener):
    def on_ws_frame(self, transport, frame):
        raise RuntimeError("listener bug")


def upgrade_request() -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return ("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


@pytest.fixture
def make_server():
    made = []

    def make(listener=None, upgrade=True, **options):
        loop = asyncio.new_event_loop()
        a, b = socket.socketpair()
        listener = listener or Quiet()
        protocol = WSProtocol(False, lambda *args: listener, loop, logging.getLogger("test"),
                              **options)
        transport = FakeTransport(a)
        protocol.connection_made(transport)
        made.append((loop, a, b))
        if upgrade:
            feed(protocol, upgrade_request())
            assert transport.written.startswith(b"HTTP/1.1 101")
            del transport.written[:]
        return protocol, transport

    yield make
    for loop, a, b in made:
        loop.close()
        a.close()
        b.close()


def close_frame_written(transport) -> int:
    """The code of the CLOSE frame the driver wrote (unmasked: a server)."""
    data = bytes(transport.written)
    assert data[0] == 0x88, data
    return int.from_bytes(data[2:4], "big")


def test_the_engine_state_is_the_connection_state(make_server):
    protocol, transport = make_server(upgrade=False)
    engine = protocol.engine
    assert engine.state == _engine.CONNECTING
    feed(protocol, upgrade_request())
    assert engine.state == _engine.OPEN
    protocol.transport.send_close(picows.WSCloseCode.OK)
    assert engine.state == _engine.CLOSING
    protocol.connection_lost(None)
    assert engine.state == _engine.CLOSED


def test_a_protocol_error_fails_through_the_engine(make_server):
    protocol, transport = make_server()
    # A client frame without a mask (RFC 6455 5.1): 1002, with the parser's rule.
    feed(protocol, b"\x82\x03abc" + masked(0x2, b"never delivered"))
    assert protocol.engine.error_kind == E["BAD_MASK"]
    assert protocol.engine.discarding
    assert close_frame_written(transport) == 1002
    assert transport.eof_written           # the server closes its side first


def test_invalid_compressed_utf8_is_the_engines_check(make_server):
    # Uncompressed TEXT is checked by the parser as it arrives; the engine
    # checks what the parser cannot see (here: a TEXT message whose bytes
    # end in the middle of a character).
    protocol, transport = make_server(validate_utf8=True)
    feed(protocol, masked(0x1, b"ok \xc3", fin=False) + masked(0x0, b"", fin=True))
    assert protocol.engine.error_kind == E["TEXT_UTF8"]
    assert close_frame_written(transport) == 1007


def test_a_callback_error_fails_through_the_engine(make_server):
    protocol, transport = make_server(listener=Raising())
    feed(protocol, masked(0x2, b"boom") + masked(0x2, b"not delivered"))
    assert protocol.engine.error_kind == E["CALLBACK"]
    assert close_frame_written(transport) == 1011


def test_a_refused_handshake_fails_through_the_engine(make_server):
    protocol, transport = make_server(upgrade=False)
    feed(protocol, b"\x16\x03\x01 not an HTTP request")
    assert protocol.engine.error_kind == E["HANDSHAKE"]
    assert transport.written.startswith(b"HTTP/1.1 400")
    assert protocol.engine.state == _engine.CONNECTING    # never upgraded


def test_a_late_handshake_fails_through_the_engine(make_server):
    protocol, transport = make_server(upgrade=False, websocket_handshake_timeout=5)
    due = protocol.engine.deadline()       # the driver's one timer waits for it
    assert due == pytest.approx(time.monotonic() + 5, abs=1)
    protocol._on_timer()                   # the loop runs the timer at the deadline
    assert protocol.engine.error_kind == E["HANDSHAKE_TIMEOUT"]
    assert transport.aborted and transport.written == b""
    assert protocol.engine.deadline() is None


def test_an_unanswered_ping_fails_through_the_engine(make_server):
    protocol, transport = make_server(enable_auto_ping=True, auto_ping_idle_timeout=7,
                                      auto_ping_reply_timeout=3, auto_ping_strategy=
                                      picows.WSAutoPingStrategy.PING_PERIODICALLY)
    ping_due = protocol.engine.deadline()
    assert ping_due == pytest.approx(time.monotonic() + 7, abs=1)
    protocol._on_timer()                   # the period is over: PING
    assert bytes(transport.written[:1]) == b"\x89"
    assert protocol.engine.deadline() == pytest.approx(ping_due + 3)    # its reply deadline
    del transport.written[:]
    protocol._on_timer()
    assert protocol.engine.error_kind == E["PING_TIMEOUT"]
    assert close_frame_written(transport) == 1001
    assert transport.aborted


def test_input_moves_an_idle_ping_and_a_pong_ends_the_wait(make_server):
    protocol, transport = make_server(enable_auto_ping=True, auto_ping_idle_timeout=7,
                                      auto_ping_reply_timeout=3)
    engine = protocol.engine
    first = engine.deadline()
    time.sleep(0.02)
    feed(protocol, masked(0x2, b"data"))   # input: the connection is not idle
    assert engine.deadline() > first
    protocol._on_timer()                   # fired at the old deadline: nothing due
    assert transport.written == b""
    engine.last_read -= 7                  # as if 7 s went by without input
    protocol._on_timer()
    assert bytes(transport.written[:1]) == b"\x89"
    reply_due = engine.deadline()
    feed(protocol, masked(0xA, b""))       # the PONG
    assert engine.error_kind == 0
    assert engine.deadline() == pytest.approx(time.monotonic() + 7, abs=1) != reply_due


def test_frames_make_no_python_object(make_server):
    protocol, transport = make_server()
    frame = masked(0x2, b"x" * 100)
    feed(protocol, frame * 100)            # warm up (buffers, caches)
    gc.collect()
    gc.disable()
    try:
        before = sys.getallocatedblocks()
        for _ in range(20):
            feed(protocol, frame * 100)
        grown = sys.getallocatedblocks() - before
    finally:
        gc.enable()
    assert protocol.engine.error_kind == 0
    assert grown < 50, f"{grown} blocks for 2000 frames"


def test_our_close_is_the_engines_close_and_arms_its_deadline(make_server):
    protocol, transport = make_server(close_timeout=3)
    protocol.transport.send_close(picows.WSCloseCode.OK, "bye")
    engine = protocol.engine
    assert engine.state == _engine.CLOSING
    assert engine.close_sent == (1000, b"bye")
    assert protocol.transport.is_close_frame_sent          # picows' C field, mirrored
    assert engine.deadline() == pytest.approx(time.monotonic() + 3, abs=1)
    protocol._on_timer()                   # no CLOSE from the peer in time
    assert transport.aborted


def test_a_close_answered_records_both_sides(make_server):
    protocol, transport = make_server()
    feed(protocol, masked(0x8, b"\x03\xe8done"))
    engine = protocol.engine
    assert engine.close_rcvd == (1000, b"done")
    assert engine.close_sent == (1000, b"")                # echoed code (RFC 6455 5.5.1)
    assert engine.close_rcvd_then_sent == 1
    assert close_frame_written(transport) == 1000
