"""The websockets layer's server checks and negotiates an upgrade request
once: the layer validates it and answers the permessage-deflate offer (so
that process_response and connection.response see the whole 101), and the
core, which writes the 101, uses those results instead of doing it again."""
import asyncio
import collections
import http

import pytest

import picows_like.websockets as pws
from picows_like import handshake
from picows_like.extensions.permessage_deflate import WSPerMessageDeflate

from helpers import wf

pytestmark = pytest.mark.asyncio

REQUEST = (b"GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")


@pytest.fixture
def calls(monkeypatch):
    """Counts of the expensive steps: the accept hash (validate_request's
    result) and the extension negotiation."""
    counts = collections.Counter()
    accept_value = handshake.accept_value
    accept_offers = WSPerMessageDeflate.accept_offers

    def counting_accept_value(key):
        counts["validate"] += 1
        return accept_value(key)

    def counting_accept_offers(self, values):
        counts["negotiate"] += 1
        return accept_offers(self, values)

    monkeypatch.setattr(handshake, "accept_value", counting_accept_value)
    monkeypatch.setattr(WSPerMessageDeflate, "accept_offers", counting_accept_offers)
    return counts


async def upgrade(port, request=REQUEST):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        head = await wf(reader.readuntil(b"\r\n\r\n"))
    finally:
        writer.close()
    return head.decode("latin-1")


@pytest.mark.parametrize("hooks", ["no hooks", "process_request", "process_response"])
async def test_server_checks_and_negotiates_once(calls, hooks):
    seen = []

    def process_request(connection, request):
        return None

    def process_response(connection, request, response):
        seen.append(response.headers.get("Sec-WebSocket-Extensions"))

    kwargs = {"process_request": process_request} if hooks == "process_request" else \
        {"process_response": process_response} if hooks == "process_response" else {}
    async with pws.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        head = await upgrade(port)
    assert head.startswith("HTTP/1.1 101 ")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    assert "Sec-WebSocket-Extensions: permessage-deflate" in head
    if hooks == "process_response":
        assert seen and seen[0].startswith("permessage-deflate")
    assert calls == {"validate": 1, "negotiate": 1}


async def test_rejections_are_unchanged_and_not_checked_again(calls):
    async with pws.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        head = await upgrade(port, REQUEST.replace(b"Version: 13", b"Version: 8"))
        assert head.startswith("HTTP/1.1 426 ")
        assert "Sec-WebSocket-Version: 13" in head
        head = await upgrade(port, REQUEST.replace(b"client_max_window_bits",
                                                   b"client_max_window_bits; =x"))
        assert head.startswith("HTTP/1.1 400 ")
    # 426: rejected before the accept hash; 400: the one negotiation failed.
    assert calls == {"validate": 1, "negotiate": 1}


async def test_process_response_replacing_the_101_still_gets_the_extension(calls):
    def process_response(connection, request, response):
        new = connection.respond(http.HTTPStatus.OK, "")
        new.status_code, new.reason_phrase, new.body = 101, "Switching Protocols", b""
        new.headers = pws.Headers([(k, v) for k, v in response.headers.raw_items()
                                   if k.lower() != "sec-websocket-extensions"])
        return new

    async with pws.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0,
                         process_response=process_response) as server:
        port = server.sockets[0].getsockname()[1]
        head = await upgrade(port)
    assert head.startswith("HTTP/1.1 101 ")
    # The core agreed to compression with the first answer: it says so.
    assert "Sec-WebSocket-Extensions: permessage-deflate" in head
    assert calls["negotiate"] == 1


async def test_legacy_server_checks_and_negotiates_once(calls):
    from picows_like.websockets.legacy.server import serve as legacy_serve

    async def handler(ws, path=None):
        await ws.wait_closed()

    async with legacy_serve(handler, "127.0.0.1", 0) as server:
        port = list(server.sockets)[0].getsockname()[1]
        head = await upgrade(port)
    assert head.startswith("HTTP/1.1 101 ")
    assert "Sec-WebSocket-Extensions: permessage-deflate" in head
    assert calls == {"validate": 1, "negotiate": 1}
