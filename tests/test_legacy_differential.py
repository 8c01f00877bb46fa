"""websockets' legacy API, one test body for two implementations.

Every test is written against websockets' legacy API (``websockets.legacy``)
and runs unchanged on four pairings of server and client: websockets.legacy
on both ends (the reference behaviour), picows_like.websockets.legacy on both
ends, and each library's client against the other's server (interop, both
directions).  A test that passes on all four shows our legacy API behaves as
websockets' does, on the wire and in its Python API.
"""
import asyncio
import http
import os
import sys
import tempfile
import types
import warnings

import pytest

# websockets.legacy warns on import; old code meets that warning, the tests
# need not.
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import websockets.exceptions
    import websockets.extensions.permessage_deflate
    import websockets.legacy.auth
    import websockets.legacy.client
    import websockets.legacy.exceptions
    import websockets.legacy.protocol
    import websockets.legacy.server

import picows_like.websockets.exceptions
import picows_like.websockets.extensions.permessage_deflate
import picows_like.websockets.legacy.auth
import picows_like.websockets.legacy.client
import picows_like.websockets.legacy.exceptions
import picows_like.websockets.legacy.protocol
import picows_like.websockets.legacy.server


def _impl(root):
    """The legacy API names of one library, as old code imports them."""
    legacy = getattr(root, "legacy")
    return types.SimpleNamespace(
        serve=legacy.server.serve, unix_serve=legacy.server.unix_serve,
        WebSocketServerProtocol=legacy.server.WebSocketServerProtocol,
        broadcast=legacy.protocol.broadcast,
        basic_auth_protocol_factory=legacy.auth.basic_auth_protocol_factory,
        connect=legacy.client.connect, unix_connect=legacy.client.unix_connect,
        InvalidStatusCode=legacy.exceptions.InvalidStatusCode,
        ConnectionClosed=root.exceptions.ConnectionClosed,
        ConnectionClosedOK=root.exceptions.ConnectionClosedOK,
        ConnectionClosedError=root.exceptions.ConnectionClosedError,
        ServerDeflate=root.extensions.permessage_deflate.ServerPerMessageDeflateFactory,
        ClientDeflate=root.extensions.permessage_deflate.ClientPerMessageDeflateFactory,
    )


IMPLS = {"websockets": _impl(websockets), "picows_like": _impl(picows_like.websockets)}


class Pair(types.SimpleNamespace):
    """Server-side names from one library, client-side from the other."""


@pytest.fixture(params=[("websockets", "websockets"), ("picows_like", "picows_like"),
                        ("websockets", "picows_like"), ("picows_like", "websockets")],
                ids=lambda p: f"server={p[0]},client={p[1]}")
def L(request):
    server_side, client_side = IMPLS[request.param[0]], IMPLS[request.param[1]]
    return Pair(
        serve=server_side.serve, unix_serve=server_side.unix_serve,
        WebSocketServerProtocol=server_side.WebSocketServerProtocol,
        broadcast=server_side.broadcast,
        basic_auth_protocol_factory=server_side.basic_auth_protocol_factory,
        ServerDeflate=server_side.ServerDeflate,
        SConnectionClosed=server_side.ConnectionClosed,
        SConnectionClosedOK=server_side.ConnectionClosedOK,
        connect=client_side.connect, unix_connect=client_side.unix_connect,
        InvalidStatusCode=client_side.InvalidStatusCode,
        ConnectionClosed=client_side.ConnectionClosed,
        ConnectionClosedOK=client_side.ConnectionClosedOK,
        ConnectionClosedError=client_side.ConnectionClosedError,
        ClientDeflate=client_side.ClientDeflate,
        names=request.param)


def uri_of(server, path="/"):
    return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}{path}"


async def echo(websocket, path):
    async for message in websocket:
        await websocket.send(message)


async def test_two_argument_handler_echo_and_attributes(L):
    seen = {}

    async def handler(websocket, path):
        seen["path"] = path
        seen["ws_path"] = websocket.path
        seen["header"] = websocket.request_headers["X-Client"]
        seen["open"] = websocket.open
        seen["remote"] = websocket.remote_address
        seen["local"] = websocket.local_address
        async for message in websocket:
            await websocket.send(message)

    async with L.serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with L.connect(uri_of(server, "/chat?room=1"), compression=None,
                             extra_headers={"X-Client": "legacy"}) as ws:
            assert ws.open and not ws.closed
            assert ws.path == "/chat?room=1"
            assert ws.request_headers["X-Client"] == "legacy"
            assert ws.response_headers["Upgrade"].lower() == "websocket"
            assert ws.subprotocol is None
            assert ws.close_code is None and ws.close_reason is None
            for message in ("hello", b"\x00\xffbin", "é" * 1000, b"x" * 70000):
                await ws.send(message)
                assert await ws.recv() == message
            assert ws.remote_address[1] == port
            assert ws.local_address[0] == "127.0.0.1"
        assert ws.closed and not ws.open
        assert ws.close_code == 1000 and ws.close_reason == ""
    assert seen["path"] == seen["ws_path"] == "/chat?room=1"
    assert seen["header"] == "legacy"
    assert seen["open"] is True
    assert seen["remote"][0] == "127.0.0.1"
    assert seen["local"][1] == port


async def test_one_argument_handler_and_close_code_reason(L):
    got = asyncio.get_running_loop().create_future()

    async def handler(websocket):
        try:
            await websocket.recv()
        except L.SConnectionClosed:
            got.set_result((websocket.close_code, websocket.close_reason))

    async with L.serve(handler, "127.0.0.1", 0) as server:
        ws = await L.connect(uri_of(server))
        await ws.close(4000, "bye")
        await ws.wait_closed()
        assert ws.close_code == 4000 and ws.close_reason == "bye"
    assert await got == (4000, "bye")


@pytest.mark.parametrize("kind", ["mapping", "pairs", "callable"])
async def test_server_extra_headers(L, kind):
    if kind == "mapping":
        extra = {"X-Server": "one"}
    elif kind == "pairs":
        extra = [("X-Server", "one")]
    else:
        def extra(path, request_headers):
            return {"X-Server": "one" if path == "/p" else "wrong"}
    async with L.serve(echo, "127.0.0.1", 0, extra_headers=extra) as server:
        async with L.connect(uri_of(server, "/p")) as ws:
            assert ws.response_headers["X-Server"] == "one"


async def test_process_request_answers_http(L):
    async def process_request(path, request_headers):
        if path == "/health":
            return http.HTTPStatus.OK, [("X-Health", "fine")], b"OK\n"
        if "X-Token" not in request_headers:
            return http.HTTPStatus.FORBIDDEN, {"X-Why": "token"}, b"no token\n"
        return None

    async with L.serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
        with pytest.raises(L.InvalidStatusCode) as info:
            await L.connect(uri_of(server, "/health"))
        assert info.value.status_code == 200
        assert info.value.headers["X-Health"] == "fine"
        with pytest.raises(L.InvalidStatusCode) as info:
            await L.connect(uri_of(server, "/ws"))
        assert info.value.status_code == 403
        assert info.value.headers["X-Why"] == "token"
        async with L.connect(uri_of(server, "/ws"), extra_headers=[("X-Token", "t")]) as ws:
            await ws.send("through")
            assert await ws.recv() == "through"


async def test_subclass_overrides_process_request_select_subprotocol_handshake(L):
    calls = []
    Base = L.WebSocketServerProtocol

    class Protocol(Base):
        async def process_request(self, path, request_headers):
            calls.append(("process_request", path))
            if path == "/denied":
                return http.HTTPStatus.UNAUTHORIZED, [], b"denied\n"
            return await super().process_request(path, request_headers)

        def select_subprotocol(self, client_subprotocols, server_subprotocols):
            calls.append(("select", list(client_subprotocols), list(server_subprotocols)))
            return "chat.v2" if "chat.v2" in client_subprotocols else None

        async def handshake(self, *args, **kwargs):
            path = await super().handshake(*args, **kwargs)
            calls.append(("handshake", path))
            return path

    async def handler(websocket):
        await websocket.send(websocket.subprotocol or "none")

    async with L.serve(handler, "127.0.0.1", 0, create_protocol=Protocol,
                       subprotocols=["chat.v1", "chat.v2"]) as server:
        async with L.connect(uri_of(server, "/x"), subprotocols=["chat.v1", "chat.v2"]) as ws:
            assert ws.subprotocol == "chat.v2"
            assert await ws.recv() == "chat.v2"
        with pytest.raises(L.InvalidStatusCode) as info:
            await L.connect(uri_of(server, "/denied"))
        assert info.value.status_code == 401
    assert calls[:3] == [("process_request", "/x"),
                         ("select", ["chat.v1", "chat.v2"], ["chat.v1", "chat.v2"]),
                         ("handshake", "/x")]
    assert calls[3] == ("process_request", "/denied")


async def test_default_subprotocol_choice_and_select_subprotocol_argument(L):
    async def handler(websocket):
        await websocket.send(str(websocket.subprotocol))

    async with L.serve(handler, "127.0.0.1", 0, subprotocols=["b", "a"]) as server:
        # Only one subprotocol in common: the rank rule has nothing to break.
        async with L.connect(uri_of(server), subprotocols=["c", "a"]) as ws:
            assert ws.subprotocol == "a"
            assert await ws.recv() == "a"
        async with L.connect(uri_of(server), subprotocols=["c"]) as ws:
            assert ws.subprotocol is None
            assert await ws.recv() == "None"

    def pick_last(client, server):
        return client[-1]

    async with L.serve(handler, "127.0.0.1", 0, subprotocols=["a", "b"],
                       select_subprotocol=pick_last) as server:
        async with L.connect(uri_of(server), subprotocols=["a", "b"]) as ws:
            assert ws.subprotocol == "b"


async def test_origins(L):
    async with L.serve(echo, "127.0.0.1", 0, origins=["https://good.example", None]) as server:
        async with L.connect(uri_of(server), origin="https://good.example") as ws:
            await ws.send("ok")
            assert await ws.recv() == "ok"
        async with L.connect(uri_of(server)) as ws:
            await ws.send("no origin")
            assert await ws.recv() == "no origin"
        with pytest.raises(L.InvalidStatusCode) as info:
            await L.connect(uri_of(server), origin="https://evil.example")
        assert info.value.status_code == 403


async def test_send_fragments_iterable_and_async_iterable(L):
    async def handler(websocket):
        await websocket.send(["frag", "ment", "ed"])

        async def chunks():
            for part in (b"a", b"b", b"c"):
                yield part
        await websocket.send(chunks())
        async for message in websocket:
            await websocket.send(message)

    async with L.serve(handler, "127.0.0.1", 0) as server:
        async with L.connect(uri_of(server)) as ws:
            assert await ws.recv() == "fragmented"
            assert await ws.recv() == b"abc"
            await ws.send([b"1", b"2"])
            assert await ws.recv() == b"12"
            with pytest.raises(TypeError):
                await ws.send({"not": "data"})


async def test_ping_returns_waiter_and_latency(L):
    async with L.serve(echo, "127.0.0.1", 0) as server:
        async with L.connect(uri_of(server)) as ws:
            waiter = await ws.ping()
            latency = await asyncio.wait_for(waiter, 5)
            assert isinstance(latency, float) and latency >= 0
            assert ws.latency > 0
            waiter = await ws.ping(b"custom")
            await asyncio.wait_for(waiter, 5)
            await ws.pong(b"unsolicited")
            await ws.send("still open")
            assert await ws.recv() == "still open"


async def test_async_for_ends_on_normal_close_and_raises_on_error(L):
    async def handler(websocket):
        await websocket.send("one")
        await websocket.send("two")
        if websocket.path == "/error":
            await websocket.close(4001, "bad")
        # returning closes with 1000

    async with L.serve(handler, "127.0.0.1", 0) as server:
        async with L.connect(uri_of(server)) as ws:
            assert [m async for m in ws] == ["one", "two"]
            assert ws.close_code == 1000
        ws = await L.connect(uri_of(server, "/error"))
        got = []
        with pytest.raises(L.ConnectionClosedError):
            async for message in ws:
                got.append(message)
        assert got == ["one", "two"]
        assert ws.close_code == 4001 and ws.close_reason == "bad"


async def test_handler_exception_closes_with_1011(L):
    async def handler(websocket):
        raise RuntimeError("boom (expected by the test)")

    async with L.serve(handler, "127.0.0.1", 0) as server:
        ws = await L.connect(uri_of(server))
        with pytest.raises(L.ConnectionClosedError):
            await ws.recv()
        assert ws.close_code == 1011


async def test_max_size_closes_with_1009(L):
    async with L.serve(echo, "127.0.0.1", 0, max_size=1000) as server:
        async with L.connect(uri_of(server)) as ws:
            await ws.send(b"x" * 1000)
            assert await ws.recv() == b"x" * 1000
            await ws.send(b"x" * 1001)
            with pytest.raises(L.ConnectionClosedError):
                await ws.recv()
            assert ws.close_code == 1009


async def test_server_close_closes_connections_with_1001(L):
    server = await L.serve(echo, "127.0.0.1", 0)
    ws = await L.connect(uri_of(server))
    server.close()
    await server.wait_closed()
    with pytest.raises(L.ConnectionClosedOK):
        await ws.recv()
    assert ws.close_code == 1001


async def test_basic_auth_protocol_factory(L):
    seen = []

    async def handler(websocket):
        seen.append(websocket.username)
        await websocket.send("welcome")

    factory = L.basic_auth_protocol_factory(realm="test", credentials=("alice", "s3cret"))
    async with L.serve(handler, "127.0.0.1", 0, create_protocol=factory) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(L.InvalidStatusCode) as info:
            await L.connect(f"ws://127.0.0.1:{port}/")
        assert info.value.status_code == 401
        assert "Basic" in info.value.headers["WWW-Authenticate"]
        with pytest.raises(L.InvalidStatusCode) as info:
            await L.connect(f"ws://alice:wrong@127.0.0.1:{port}/")
        assert info.value.status_code == 401
        async with L.connect(f"ws://alice:s3cret@127.0.0.1:{port}/") as ws:
            assert await ws.recv() == "welcome"
    assert seen == ["alice"]


async def test_broadcast(L):
    connected = []
    both = asyncio.Event()

    async def handler(websocket):
        connected.append(websocket)
        if len(connected) == 2:
            both.set()
        await websocket.wait_closed()

    async with L.serve(handler, "127.0.0.1", 0) as server:
        async with L.connect(uri_of(server)) as a, L.connect(uri_of(server)) as b:
            await asyncio.wait_for(both.wait(), 5)
            L.broadcast(connected, "news")
            L.broadcast(connected, b"bytes")
            assert [await a.recv(), await a.recv()] == ["news", b"bytes"]
            assert [await b.recv(), await b.recv()] == ["news", b"bytes"]


async def test_explicit_permessage_deflate_factories(L):
    server_ext = [L.ServerDeflate(server_max_window_bits=10, client_max_window_bits=10,
                                  compress_settings={"memLevel": 4})]
    client_ext = [L.ClientDeflate(client_max_window_bits=True)]
    async with L.serve(echo, "127.0.0.1", 0, compression=None,
                       extensions=server_ext) as server:
        async with L.connect(uri_of(server), compression=None, extensions=client_ext) as ws:
            value = ws.response_headers["Sec-WebSocket-Extensions"]
            assert value.startswith("permessage-deflate")
            assert "server_max_window_bits=10" in value
            message = "compressible " * 5000
            await ws.send(message)
            assert await ws.recv() == message


async def test_default_compression_negotiates_deflate(L):
    async with L.serve(echo, "127.0.0.1", 0) as server:
        async with L.connect(uri_of(server)) as ws:
            assert "permessage-deflate" in ws.response_headers["Sec-WebSocket-Extensions"]
            await ws.send("z" * 100000)
            assert await ws.recv() == "z" * 100000
        async with L.connect(uri_of(server), compression=None) as ws:
            assert "Sec-WebSocket-Extensions" not in ws.response_headers


async def test_async_for_reconnects(L):
    accepted = []

    async def handler(websocket):
        accepted.append(websocket.path)
        await websocket.send(f"hello {len(accepted)}")
        # the server ends the connection: the client reconnects

    async with L.serve(handler, "127.0.0.1", 0) as server:
        greetings = []
        async for ws in L.connect(uri_of(server)):
            try:
                greetings.append(await ws.recv())
                await ws.recv()
            except L.ConnectionClosed:
                if len(greetings) == 3:
                    break
                continue
    assert greetings == ["hello 1", "hello 2", "hello 3"]


@pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")
async def test_unix_serve_and_unix_connect(L):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ws.sock")
        async with L.unix_serve(echo, path):
            async with L.unix_connect(path) as ws:
                await ws.send("over unix")
                assert await ws.recv() == "over unix"
                assert ws.path == "/"


@pytest.mark.parametrize("impl", ["websockets", "picows_like"])
def test_run_until_complete_outside_a_running_loop(impl):
    """The pattern of the legacy documentation: build serve() outside any
    loop, run it with run_until_complete, then talk to it."""
    lib = IMPLS[impl]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        start_server = lib.serve(echo, "127.0.0.1", 0)
        server = asyncio.get_event_loop().run_until_complete(start_server)

        async def talk():
            async with lib.connect(uri_of(server)) as ws:
                await ws.send("sync era")
                return await ws.recv()
        assert loop.run_until_complete(asyncio.wait_for(talk(), 10)) == "sync era"
        server.close()
        loop.run_until_complete(asyncio.wait_for(server.wait_closed(), 10))
    finally:
        asyncio.set_event_loop(None)
        loop.close()


async def test_tls(L):
    from proxy_servers import tls_pair
    server_ctx, client_ctx = tls_pair()
    async with L.serve(echo, "127.0.0.1", 0, ssl=server_ctx) as server:
        port = server.sockets[0].getsockname()[1]
        async with L.connect(f"wss://127.0.0.1:{port}/tls", ssl=client_ctx) as ws:
            assert ws.secure is True
            await ws.send("secret")
            assert await ws.recv() == "secret"


async def test_handshake_override_changes_arguments(L):
    class Protocol(L.WebSocketServerProtocol):
        async def handshake(self, origins=None, available_extensions=None,
                            available_subprotocols=None, extra_headers=None):
            path = await super().handshake(
                origins=origins, available_extensions=available_extensions,
                available_subprotocols=["only"], extra_headers={"X-Handshake": "override"})
            self.seen_path = path
            return path

    async def handler(websocket):
        await websocket.send(f"{websocket.seen_path} {websocket.subprotocol}")

    async with L.serve(handler, "127.0.0.1", 0, create_protocol=Protocol) as server:
        async with L.connect(uri_of(server, "/h"), subprotocols=["x", "only"]) as ws:
            assert ws.response_headers["X-Handshake"] == "override"
            assert ws.subprotocol == "only"
            assert await ws.recv() == "/h only"


async def test_async_for_retries_failed_attempts(L, monkeypatch):
    """The legacy reconnect loop retries errors (here two 503 answers) with
    backoff; the class attributes set the delays, as in websockets."""
    monkeypatch.setattr(L.connect, "BACKOFF_MIN", 0.5)
    monkeypatch.setattr(L.connect, "BACKOFF_MAX", 0.5)
    monkeypatch.setattr(L.connect, "BACKOFF_INITIAL", 0.05)
    attempts = []

    async def process_request(path, request_headers):
        attempts.append(path)
        if len(attempts) <= 2:
            return http.HTTPStatus.SERVICE_UNAVAILABLE, [], b"not yet\n"
        return None

    async def handler(websocket):
        await websocket.send("finally")

    async with L.serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        async for ws in L.connect(uri_of(server)):
            assert await ws.recv() == "finally"
            break
    assert len(attempts) == 3


async def test_concurrent_recv_and_operations_after_close(L):
    async with L.serve(echo, "127.0.0.1", 0) as server:
        ws = await L.connect(uri_of(server))
        pending = asyncio.ensure_future(ws.recv())
        for _ in range(3):          # let the first recv() start waiting
            await asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            await ws.recv()
        await ws.close()
        with pytest.raises(L.ConnectionClosedOK):
            await pending
        with pytest.raises(L.ConnectionClosedOK):
            await ws.send("late")
        with pytest.raises(L.ConnectionClosedOK):
            await ws.ping()
        await ws.close()            # idempotent
        await ws.wait_closed()


async def test_deprecated_keywords_warn_and_still_work(L):
    """Old code passes klass=, timeout= and loop=: each works and warns."""
    class Server(L.WebSocketServerProtocol):
        pass

    served_by = []

    async def handler(websocket, path):
        served_by.append(type(websocket))
        await echo(websocket, path)

    with pytest.warns(DeprecationWarning) as server_warnings:
        server = await L.serve(handler, "127.0.0.1", 0, klass=Server, timeout=3,
                               loop=asyncio.get_running_loop())
    try:
        with pytest.warns(DeprecationWarning) as client_warnings:
            ws = await L.connect(uri_of(server), timeout=3)
        await ws.send("kept")
        assert await ws.recv() == "kept"
        assert ws.close_timeout == 3
        await ws.close()
        assert served_by == [Server]
    finally:
        server.close()
        await server.wait_closed()
    texts = {str(w.message) for w in server_warnings}
    assert {"rename klass to create_protocol", "rename timeout to close_timeout",
            "remove loop argument"} <= texts
    assert "rename timeout to close_timeout" in {str(w.message) for w in client_warnings}


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_negotiated_extensions_on_both_sides(L, compression):
    server_side = []

    async def handler(websocket, path):
        server_side.append(repr(websocket.extensions))
        await echo(websocket, path)

    async with L.serve(handler, "127.0.0.1", 0, compression=compression) as server:
        async with L.connect(uri_of(server), compression=compression) as ws:
            await ws.send("x" * 200)
            assert await ws.recv() == "x" * 200
            client_side = repr(ws.extensions)
            names = [extension.name for extension in ws.extensions]
    agreed = ("[PerMessageDeflate(remote_no_context_takeover=False, "
              "local_no_context_takeover=False, remote_max_window_bits=12, "
              "local_max_window_bits=12)]")
    expected = agreed if compression else "[]"
    assert client_side == expected
    assert server_side == [expected]
    assert names == (["permessage-deflate"] if compression else [])
