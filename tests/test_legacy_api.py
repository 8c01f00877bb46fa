"""picows_like.websockets.legacy beyond what websockets itself shows: the
import paths old code uses, the connection being the core's listener (the
fast path), and the features that raise NotImplementedError by name."""
import importlib

import pytest

import picows_like.websockets as pws
from picows_like.websockets.asyncio._fastpath import ConnectionBase
from picows_like.websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory)
from picows_like.websockets.legacy import client as legacy_client
from picows_like.websockets.legacy import exceptions as legacy_exceptions
from picows_like.websockets.legacy import server as legacy_server


@pytest.mark.parametrize("module, name, target", [
    ("picows_like.websockets.client", "connect", legacy_client.connect),
    ("picows_like.websockets.client", "unix_connect", legacy_client.unix_connect),
    ("picows_like.websockets.client", "WebSocketClientProtocol",
     legacy_client.WebSocketClientProtocol),
    ("picows_like.websockets.server", "serve", legacy_server.serve),
    ("picows_like.websockets.server", "unix_serve", legacy_server.unix_serve),
    ("picows_like.websockets.server", "WebSocketServerProtocol",
     legacy_server.WebSocketServerProtocol),
    ("picows_like.websockets.server", "WebSocketServer", legacy_server.WebSocketServer),
    ("picows_like.websockets", "WebSocketServerProtocol",
     legacy_server.WebSocketServerProtocol),
    ("picows_like.websockets", "InvalidStatusCode", legacy_exceptions.InvalidStatusCode),
    ("picows_like.websockets", "AbortHandshake", legacy_exceptions.AbortHandshake),
])
def test_deprecated_import_paths_of_websockets(module, name, target):
    """As in websockets 14+: the legacy names under websockets.client /
    websockets.server / websockets are deprecated aliases."""
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning):
        assert getattr(mod, name) is target


def test_new_api_names_stay():
    from picows_like.websockets.client import ClientProtocol  # noqa: F401
    from picows_like.websockets.server import ServerProtocol  # noqa: F401
    assert pws.serve.__module__ == "picows_like.websockets.asyncio.server"
    with pytest.raises(AttributeError):
        pws.no_such_name


async def test_connections_are_the_core_listener():
    """Both legacy protocols are the asyncio layer's compiled listener, so
    frames go from the core's parser to recv() with no legacy code between."""
    seen = []

    async def handler(ws):
        seen.append(ws)
        await ws.send(await ws.recv())

    async with legacy_server.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with legacy_client.connect(f"ws://127.0.0.1:{port}") as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            assert isinstance(ws, ConnectionBase)
    assert isinstance(seen[0], legacy_server.WebSocketServerProtocol)
    assert isinstance(seen[0], ConnectionBase)


async def test_not_implemented_features_name_themselves():
    with pytest.raises(NotImplementedError, match="legacy_recv"):
        legacy_server.serve(lambda ws: None, "127.0.0.1", 0, legacy_recv=True)

    class Other:
        name = "x-custom"
    with pytest.raises(NotImplementedError, match="extension"):
        legacy_server.serve(lambda ws: None, "127.0.0.1", 0, extensions=[Other()])
    with pytest.raises(NotImplementedError, match="extension"):
        legacy_client.connect("ws://127.0.0.1:1/", extensions=[Other()])
    with pytest.raises(NotImplementedError, match="require_client_max_window_bits"):
        ServerPerMessageDeflateFactory(require_client_max_window_bits=True)
    with pytest.raises(ValueError, match="wbits"):
        ClientPerMessageDeflateFactory(compress_settings={"wbits": 10})

    class CustomHandshake(legacy_client.WebSocketClientProtocol):
        async def handshake(self, *args, **kwargs):
            return None

    async with legacy_server.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(NotImplementedError, match="handshake"):
            await legacy_client.connect(f"ws://127.0.0.1:{port}",
                                        create_protocol=CustomHandshake)


async def test_deflate_factories_in_the_sansio_and_asyncio_apis():
    """The factories stand for the engine's deflate settings wherever
    websockets takes extensions=."""
    from picows_like.websockets.client import ClientProtocol
    from picows_like.websockets.server import ServerProtocol
    client = ClientProtocol("ws://example.com/",
                            extensions=[ClientPerMessageDeflateFactory()])
    request = client.connect()
    assert request.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory(
        server_max_window_bits=11)])
    response = server.accept(request)
    assert response.status_code == 101
    assert "server_max_window_bits=11" in response.headers["Sec-WebSocket-Extensions"]
    client.receive_data(response.serialize())
    assert client.state.name == "OPEN"
    assert client.handshake_exc is None


async def test_deflate_factories_in_the_asyncio_api():
    """serve / connect of the new asyncio API take extensions= as websockets does."""
    from picows_like.websockets.asyncio.client import connect
    from picows_like.websockets.asyncio.server import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, compression=None,
                     extensions=[ServerPerMessageDeflateFactory(server_max_window_bits=9)]
                     ) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None,
                           extensions=[ClientPerMessageDeflateFactory()]) as ws:
            assert "server_max_window_bits=9" in \
                ws.response.headers["Sec-WebSocket-Extensions"]
            await ws.send("y" * 50000)
            assert await ws.recv() == "y" * 50000
            assert ws.ws_transport.compression is not None

    class Other:
        name = "x-custom"
    with pytest.raises(NotImplementedError, match="extension"):
        connect("ws://127.0.0.1:1/", extensions=[Other()])
