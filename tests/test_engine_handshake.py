"""The asyncio driver's opening handshake runs through the engine.

WSProtocol hands the bytes it reads while CONNECTING to the engine
(WSEngine.handshake_feed on the driver's own read buffer): the engine finds
the head, keeps the handshake's state and failure (state, handshake_exc,
error_kind), sends the request or answer through the driver's sink, and
parses the frames that came right behind the head.  The driver keeps
picows' policy (listener factory, 404/500, logging, the upgrade future).
Driven in process as asyncio drives a BufferedProtocol.
"""
import asyncio
import base64
import logging
import os
import socket

import pytest

import picows_like as picows
from picows_like import _engine
from picows_like._protocol import WSProtocol
from picows_like.handshake import (MAX_BODY_BYTES, HandshakeRejected, accept_value,
                                   build_request, content_length)
from picows_like.url import parse_url
from inprocess import FakeTransport, feed, masked, unmasked

E = _engine.ERRORS


class Recording(picows.WSListener):
    def __init__(self):
        self.events = []

    def on_ws_connected(self, transport):
        self.events.append("connected")

    def on_ws_frame(self, transport, frame):
        self.events.append((frame.msg_type, frame.get_payload_as_bytes()))


def upgrade_request(key=None, extra=""):
    key = key or base64.b64encode(os.urandom(16)).decode()
    return ("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


@pytest.fixture
def driver():
    made = []

    def make(is_client, factory, **options):
        loop = asyncio.new_event_loop()
        a, b = socket.socketpair()
        made.append((loop, a, b))
        if is_client:
            key = base64.b64encode(os.urandom(16))
            request, wire = build_request(parse_url("ws://x/"), key, None)
            future = loop.create_future()
            protocol = WSProtocol(True, factory, loop, logging.getLogger("test"),
                                  request=request, request_bytes=wire, ws_key=key,
                                  upgrade_future=future, **options)
        else:
            protocol = WSProtocol(False, factory, loop, logging.getLogger("test"), **options)
        transport = FakeTransport(a)
        transport.upgraded = future if is_client else None      # ws_connect's future
        protocol.connection_made(transport)
        return protocol, transport

    yield make
    for loop, a, b in made:
        loop.close()
        a.close()
        b.close()


def response_101(request_wire, extra=b""):
    key = [line.split(b": ", 1)[1] for line in request_wire.split(b"\r\n")
           if line.startswith(b"Sec-WebSocket-Key: ")][0]
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_value(key) + b"\r\n" + extra + b"\r\n")


# -- server ------------------------------------------------------------------

def test_a_refused_request_is_the_engines_failure(driver):
    # No Sec-WebSocket-Key: the engine's step answers 400 and fails the
    # handshake; the reason stays on the engine, typed.
    protocol, transport = driver(False, lambda request: Recording())
    request = upgrade_request().replace(b"Sec-WebSocket-Key", b"X-Not-The-Key")
    feed(protocol, request + masked(0x1, b"never delivered"))
    engine = protocol.engine
    assert engine.state == _engine.CONNECTING and engine.discarding
    assert engine.error_kind == E["HANDSHAKE"]
    assert isinstance(engine.handshake_exc, HandshakeRejected)
    assert engine.handshake_exc.response.status == 400
    assert transport.written.startswith(b"HTTP/1.1 400 ")
    assert b"\r\nConnection: close\r\n" in transport.written
    assert transport.eof_written and not transport.aborted   # the server closes gracefully
    assert protocol.listener is None


@pytest.mark.parametrize("step", [None, 1], ids=["one_read", "byte_by_byte"])
def test_frames_right_behind_the_request_reach_the_listener(driver, step):
    listener = Recording()
    protocol, transport = driver(False, lambda request: listener)
    data = upgrade_request() + masked(0x1, b"first") + masked(0x2, b"second")
    feed(protocol, data, step)
    assert protocol.engine.state == _engine.OPEN
    assert transport.written.startswith(b"HTTP/1.1 101 ")
    assert transport.written.count(b"HTTP/1.1") == 1
    assert listener.events == ["connected", (picows.WSMsgType.TEXT, b"first"),
                               (picows.WSMsgType.BINARY, b"second")]


class ClosingAtOnce(Recording):
    def on_ws_connected(self, transport):
        super().on_ws_connected(transport)
        transport.send_close(picows.WSCloseCode.GOING_AWAY)


def test_frames_behind_the_request_arrive_when_the_listener_closes_at_once(driver):
    # Our CLOSE does not stop the frames the peer sent before it: they are
    # delivered in the same read, not left for a read that may never come.
    listener = ClosingAtOnce()
    protocol, transport = driver(False, lambda request: listener)
    feed(protocol, upgrade_request() + masked(0x1, b"before our close"))
    assert protocol.engine.state == _engine.CLOSING
    assert listener.events == ["connected", (picows.WSMsgType.TEXT, b"before our close")]


def test_a_head_read_byte_by_byte_is_scanned_once(driver):
    protocol, transport = driver(False, lambda request: Recording())
    request = upgrade_request(extra="".join(f"X-Pad-{i}: {'p' * 100}\r\n" for i in range(40)))
    feed(protocol, request, 1)
    assert protocol.engine.state == _engine.OPEN
    # The new byte and the 3 before it per read: linear, kept on the engine.
    assert protocol.engine.head_scan_bytes == 4 * len(request) - 6
    assert protocol._head_scan_bytes == protocol.engine.head_scan_bytes


def test_a_request_head_too_long_is_closed_without_an_answer(driver):
    protocol, transport = driver(False, lambda request: Recording())
    feed(protocol, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (16 * 1024), 4096)
    engine = protocol.engine
    assert engine.error_kind == E["HANDSHAKE"] and engine.discarding
    assert isinstance(engine.handshake_exc, picows.WSInvalidMessageError)
    assert "max_size" in str(engine.handshake_exc)
    assert transport.written == b"" and transport.eof_written


def test_not_http_is_answered_at_once(driver):
    protocol, transport = driver(False, lambda request: Recording())
    feed(protocol, b"\x16\x03\x01")              # a TLS ClientHello's first bytes
    assert transport.written.startswith(b"HTTP/1.1 400 ")
    assert b"expected an HTTP upgrade request" in transport.written
    assert isinstance(protocol.engine.handshake_exc, HandshakeRejected)


def test_the_listener_factory_decides_the_answer(driver):
    # None -> 404; a response of the factory's own (a redirect) as it is.
    protocol, transport = driver(False, lambda request: None)
    feed(protocol, upgrade_request())
    assert transport.written.startswith(b"HTTP/1.1 404 ")
    assert protocol.engine.error_kind == E["HANDSHAKE"]
    redirect = picows.WSUpgradeResponse.create_redirect_response(302, "ws://elsewhere/")
    protocol, transport = driver(
        False, lambda request: picows.WSUpgradeResponseWithListener(redirect, None))
    feed(protocol, upgrade_request())
    assert transport.written.startswith(b"HTTP/1.1 302 ")
    assert b"Location: ws://elsewhere/" in transport.written
    assert protocol.engine.state == _engine.CONNECTING and protocol.engine.discarding


def test_negotiated_compression_is_the_engines(driver):
    from picows_like.extensions.permessage_deflate import WSPerMessageDeflate

    protocol, transport = driver(False, lambda request: Recording(),
                                 compression=WSPerMessageDeflate())
    feed(protocol, upgrade_request(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"))
    assert b"Sec-WebSocket-Extensions: permessage-deflate" in transport.written
    assert protocol.engine.compression is not None
    assert protocol.transport.compression is protocol.engine.compression


# -- client ------------------------------------------------------------------

@pytest.mark.parametrize("step", [None, 1], ids=["one_read", "byte_by_byte"])
def test_client_request_and_answer_go_through_the_engine(driver, step):
    from picows_like.extensions.permessage_deflate import WSPerMessageDeflate

    listener = Recording()
    protocol, transport = driver(True, lambda request, response: listener,
                                 compression=WSPerMessageDeflate())
    wire = bytes(transport.written)
    assert wire.startswith(b"GET / HTTP/1.1\r\n")          # sent by the engine at connect
    feed(protocol, response_101(wire, b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
         + unmasked(0x1, b"hello"), step)
    assert protocol.engine.state == _engine.OPEN
    # Negotiated by the engine's step: it reads with its Inflater, the
    # transport sends with its own Deflater.
    assert protocol.engine.compression is protocol.transport.compression is not None
    assert protocol._held_buffer_sizes()[1] > 0 and protocol._held_buffer_sizes()[2] > 0
    assert transport.upgraded.result() is listener
    assert listener.events == ["connected", (picows.WSMsgType.TEXT, b"hello")]
    assert protocol.transport.response.status == 101
    assert protocol.transport.response.body is None


def test_client_error_body_is_collected_by_content_length(driver):
    protocol, transport = driver(True, lambda request, response: Recording())
    feed(protocol, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nnot ", 7)
    assert not transport.upgraded.done()             # 4 of 9 body bytes so far
    feed(protocol, b"you!")
    assert not transport.upgraded.done()
    feed(protocol, b"\n" + b"ignored")
    exc = transport.upgraded.exception()
    assert isinstance(exc, picows.WSInvalidStatusError) and exc.raw_body == b"not you!\n"
    engine = protocol.engine
    assert engine.handshake_exc is exc and engine.error_kind == E["HANDSHAKE"]
    assert engine.state == _engine.CONNECTING and transport.aborted


def test_client_error_without_content_length_fails_at_once(driver):
    # As picows: no Content-Length, no body (websockets' sans-I/O protocol
    # reads the body to EOF; the engine does both, by its body_until_eof).
    protocol, transport = driver(True, lambda request, response: Recording())
    feed(protocol, b"HTTP/1.1 404 Not Found\r\n\r\npartial")
    exc = transport.upgraded.exception()
    assert isinstance(exc, picows.WSInvalidStatusError) and exc.raw_body == b""
    assert not protocol.engine.body_until_eof


def test_client_response_head_too_long(driver):
    protocol, transport = driver(True, lambda request, response: Recording())
    feed(protocol, b"HTTP/1.1 101 Switching Protocols\r\nX-Big: " + b"a" * (16 * 1024), 1000)
    exc = transport.upgraded.exception()
    assert isinstance(exc, picows.WSInvalidMessageError)
    assert "upgrade response headers exceed max_size threshold" in str(exc)
    assert protocol.engine.handshake_exc is exc and transport.aborted


def test_client_listener_factory_error_fails_the_handshake(driver):
    def factory(request, response):
        raise RuntimeError("no listener today")

    protocol, transport = driver(True, factory)
    feed(protocol, response_101(bytes(transport.written)) + unmasked(0x1, b"dropped"))
    assert isinstance(transport.upgraded.exception(), RuntimeError)
    assert protocol.engine.error_kind == E["HANDSHAKE"] and transport.aborted
    assert protocol.listener is None


# -- found on the way -------------------------------------------------------

def test_a_content_length_of_thousands_of_digits_is_bounded():
    # int() refuses more than 4300 digits (ValueError): the value is bounded
    # before it is converted, in the driver's and the facade's paths.
    from multidict import CIMultiDict
    from picows_like.websockets.client import ClientProtocol
    from picows_like.websockets.uri import parse_uri

    assert content_length(CIMultiDict({"Content-Length": "9" * 5000})) == MAX_BODY_BYTES
    proto = ClientProtocol(parse_uri("ws://x/"))
    proto.receive_data(b"HTTP/1.1 404 Not Found\r\nContent-Length: " + b"9" * 5000
                       + b"\r\n\r\nbody")
    assert proto.events_received() == []          # waiting for the (bounded) body
    proto.receive_eof()
    assert type(proto.handshake_exc).__name__ == "InvalidMessage"


def test_the_facade_server_refuses_non_http_at_once():
    # The engine's rule for every API: a first byte that cannot start an
    # HTTP method ends the handshake without waiting for a line.
    from picows_like.websockets.server import ServerProtocol

    proto = ServerProtocol()
    proto.receive_data(b"\x16\x03\x01")
    assert type(proto.handshake_exc).__name__ == "InvalidMessage"
    assert proto.data_to_send() == [b""]
