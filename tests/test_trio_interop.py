"""picows_like.trio against trio-websocket 0.12.2 and websockets: a matrix.

Each pair (our client with the peer's server, the peer's client with our
server) runs over TCP and TLS: messages of 0 B to 4 MiB echoed (text and
binary, the 7/16/64-bit length boundaries), then one of the close paths
(the client closes, the server closes, each with a code and a reason checked
on the other side).  With websockets also: fragmented messages both ways
and permessage-deflate (websockets has it; trio-websocket has none, so with
it our ``compression="deflate"`` must fall back to no extension).
Rejections and a peer's abort are separate tests.  Every test is bounded by
trio.fail_after (TEST_TIMEOUT).
"""
import asyncio
import functools
import inspect
import os
import threading

import pytest

trio = pytest.importorskip("trio")
tw = pytest.importorskip("trio_websocket")
pytest.importorskip("websockets.asyncio.server")

from websockets.asyncio.server import serve as ws_serve  # noqa: E402
from websockets.exceptions import ConnectionClosed as WsClosed  # noqa: E402
from websockets.exceptions import InvalidStatus  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402

from picows_like import trio as ours  # noqa: E402

TEST_TIMEOUT = 30
BIG = 4 * 2 ** 20
LIMIT = 2 * BIG
SMALL = [b"", "", "é", b"\x00" * 125, "x" * 126, b"\x01" * 65535, "y" * 65536]
LARGE = [os.urandom(2 ** 20), b"\x03" * BIG]
FRAGMENTS = ["frag", "men", "ted é"]


def trio_test(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        async def main():
            with trio.fail_after(TEST_TIMEOUT):
                await fn(*args, **kwargs)
        trio.run(main)
    del wrapper.__wrapped__
    wrapper.__signature__ = inspect.signature(fn)
    return wrapper


@pytest.fixture(scope="module")
def tls():
    trustme = pytest.importorskip("trustme")
    import ssl
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


# -- servers: each records the close it saw and answers the same commands -------------
#    "close-me": close with (4002, "server bye"); "frag-me": send FRAGMENTS as one
#    fragmented message (websockets only); anything else: echoed.

async def _trio_handler(lib, record, request):
    ws = await request.accept()
    try:
        while True:
            msg = await ws.get_message()
            if msg == "close-me":
                await ws.aclose(4002, "server bye")
                record["close"] = (ws.closed.code, ws.closed.reason)
                return
            await ws.send_message(msg)
    except lib.ConnectionClosed as exc:
        record["close"] = (exc.reason.code, exc.reason.reason)
    finally:
        record["compression"] = getattr(ws, "compression", None)
        record["done"].set()


async def start_trio_server(lib, nursery, ssl_ctx, record, **kw):
    record["done"] = trio.Event()
    server = await nursery.start(functools.partial(
        lib.serve_websocket, functools.partial(_trio_handler, lib, record), "127.0.0.1", 0,
        ssl_ctx, max_message_size=LIMIT, **kw))
    return server.port


class WebsocketsServer:
    """websockets' asyncio server in a thread of its own."""

    def __init__(self, ssl_ctx, compression, record, reject=None, abort=False):
        self.ssl_ctx, self.compression, self.record = ssl_ctx, compression, record
        self.reject, self.abort = reject, abort
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self):
        record = self.record

        async def handler(ws):
            record["compression"] = [type(e).__name__ for e in ws.protocol.extensions]
            try:
                if self.abort:
                    await ws.send("then nothing")
                    ws.transport.abort()
                    return
                async for msg in ws:
                    if msg == "close-me":
                        await ws.close(4002, "server bye")
                    elif msg == "frag-me":
                        await ws.send(iter(FRAGMENTS))
                    else:
                        await ws.send(msg)
            except WsClosed:
                pass
            record["close"] = (ws.close_code, ws.close_reason)
            record["done_thread"].set()

        def process_request(connection, request):
            if self.reject is not None:
                return connection.respond(self.reject, "go away\n")
            return None

        record["done_thread"] = threading.Event()
        loop = asyncio.get_running_loop()
        self.stop = loop.create_future()
        async with ws_serve(handler, "127.0.0.1", 0, ssl=self.ssl_ctx, max_size=None,
                            compression=self.compression,
                            process_request=process_request) as srv:
            self.port = srv.sockets[0].getsockname()[1]
            self.loop = loop
            self.ready.set()
            await self.stop

    async def __aenter__(self):
        self.thread.start()
        assert await trio.to_thread.run_sync(self.ready.wait, 10)
        return self

    async def __aexit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set_result, None)
        await trio.to_thread.run_sync(self.thread.join, 10)

    async def wait_done(self):
        # websockets' close_timeout is 10 s: a client that did not close the
        # TCP connection after the closing handshake fails here.
        assert await trio.to_thread.run_sync(self.record["done_thread"].wait, 5)


# -- clients ---------------------------------------------------------------------------

async def trio_client(lib, port, ssl_ctx, close, messages, **kw):
    """Echo `messages`, then close as `close` says; returns what the client saw."""
    seen = {}
    async with lib.open_websocket("127.0.0.1", port, "/m", use_ssl=ssl_ctx or False,
                                  max_message_size=LIMIT, **kw) as ws:
        seen["compression"] = getattr(ws, "compression", None)
        for msg in messages:
            await ws.send_message(msg)
            got = await ws.get_message()
            assert type(got) is type(msg) and got == msg, (len(msg), len(got))
        if close == "client":
            await ws.aclose(4001, "client bye")
        else:
            await ws.send_message("close-me")
            with pytest.raises(lib.ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == 4002
        seen["close"] = (ws.closed.code, ws.closed.reason)
    return seen


def websockets_client(port, ssl_ctx, close, messages, compression=None, fragments=False):
    scheme = "wss" if ssl_ctx else "ws"
    seen = {}
    with ws_connect(f"{scheme}://127.0.0.1:{port}/m", ssl=ssl_ctx, max_size=None,
                    compression=compression, open_timeout=10, close_timeout=10) as ws:
        seen["compression"] = [type(e).__name__ for e in ws.protocol.extensions]
        for msg in messages:
            ws.send(msg)
            got = ws.recv()
            assert type(got) is type(msg) and got == msg, (len(msg), len(got))
        if fragments:
            ws.send(iter([b"a" * 10, b"b" * 70000, b"c"]))
            assert ws.recv() == b"a" * 10 + b"b" * 70000 + b"c"
        if close == "client":
            ws.close(4001, "client bye")
        else:
            ws.send("close-me")
            with pytest.raises(WsClosed):
                ws.recv()
        seen["close"] = (ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason) \
            if close == "server" else (ws.close_code, ws.close_reason)
    return seen


EXPECTED = {"client": (4001, "client bye"), "server": (4002, "server bye")}
MATRIX = [(t, c) for t in (False, True) for c in ("client", "server")]
IDS = [f"{'tls' if t else 'tcp'}-{c}-closes" for t, c in MATRIX]


def messages_for(close):
    # The large messages once per transport (with the client closing).
    return SMALL + LARGE if close == "client" else SMALL


# -- trio-websocket --------------------------------------------------------------------

@pytest.mark.parametrize("use_tls,close", MATRIX, ids=IDS)
def test_our_client_trio_websocket_server(tls, use_tls, close):
    server_ctx, client_ctx = tls if use_tls else (None, None)

    @trio_test
    async def run():
        record = {}
        async with trio.open_nursery() as nursery:
            port = await start_trio_server(tw, nursery, server_ctx, record)
            seen = await trio_client(ours, port, client_ctx, close, messages_for(close),
                                     compression="deflate")
            await record["done"].wait()
            nursery.cancel_scope.cancel()
        assert seen["close"] == EXPECTED[close]
        assert record["close"] == EXPECTED[close]
        assert seen["compression"] is None      # offered, not accepted
    run()


@pytest.mark.parametrize("use_tls,close", MATRIX, ids=IDS)
def test_trio_websocket_client_our_server(tls, use_tls, close):
    server_ctx, client_ctx = tls if use_tls else (None, None)

    @trio_test
    async def run():
        record = {}
        async with trio.open_nursery() as nursery:
            port = await start_trio_server(ours, nursery, server_ctx, record,
                                           compression="deflate")
            seen = await trio_client(tw, port, client_ctx, close, messages_for(close))
            await record["done"].wait()
            nursery.cancel_scope.cancel()
        assert seen["close"] == EXPECTED[close]
        assert record["close"] == EXPECTED[close]
        assert record["compression"] is None    # not offered
    run()


# -- websockets ------------------------------------------------------------------------

WS_MATRIX = [(t, c, d) for t, c in MATRIX for d in (False, True)]
WS_IDS = [f"{i}-{'deflate' if d else 'plain'}" for i in IDS for d in (False, True)]


@pytest.mark.parametrize("use_tls,close,deflate", WS_MATRIX, ids=WS_IDS)
def test_our_client_websockets_server(tls, use_tls, close, deflate):
    server_ctx, client_ctx = tls if use_tls else (None, None)
    compression = "deflate" if deflate else None

    @trio_test
    async def run():
        record = {}
        async with WebsocketsServer(server_ctx, compression, record) as server:
            seen = {}
            async with ours.open_websocket("127.0.0.1", server.port, "/m",
                                           use_ssl=client_ctx or False,
                                           max_message_size=LIMIT,
                                           compression=compression) as ws:
                assert (ws.compression is not None) == deflate
                for msg in messages_for(close):
                    await ws.send_message(msg)
                    assert await ws.get_message() == msg
                await ws.send_message("frag-me")       # fragmented, from websockets
                assert await ws.get_message() == "".join(FRAGMENTS)
                await ws.ping(b"p")
                if close == "client":
                    await ws.aclose(4001, "client bye")
                else:
                    await ws.send_message("close-me")
                    with pytest.raises(ours.ConnectionClosed):
                        await ws.get_message()
                seen["close"] = (ws.closed.code, ws.closed.reason)
            await server.wait_done()
        assert seen["close"] == EXPECTED[close]
        assert record["close"] == EXPECTED[close]
        assert record["compression"] == (["PerMessageDeflate"] if deflate else [])
    run()


@pytest.mark.parametrize("use_tls,close,deflate", WS_MATRIX, ids=WS_IDS)
def test_websockets_client_our_server(tls, use_tls, close, deflate):
    server_ctx, client_ctx = tls if use_tls else (None, None)
    compression = "deflate" if deflate else None

    @trio_test
    async def run():
        record = {}
        async with trio.open_nursery() as nursery:
            port = await start_trio_server(ours, nursery, server_ctx, record,
                                           compression=compression)
            seen = await trio.to_thread.run_sync(functools.partial(
                websockets_client, port, client_ctx, close, messages_for(close),
                compression=compression, fragments=True))
            await record["done"].wait()
            nursery.cancel_scope.cancel()
        assert seen["close"] == EXPECTED[close]
        assert record["close"] == EXPECTED[close]
        assert seen["compression"] == (["PerMessageDeflate"] if deflate else [])
        assert (record["compression"] is not None) == deflate
    run()


# -- rejections and aborts ---------------------------------------------------------------

async def _reject_handler(request):
    await request.reject(403, extra_headers=[(b"X-Why", b"test")], body=b"forbidden\n")


@trio_test
async def test_our_server_rejects_trio_websocket_and_websockets_clients():
    async with trio.open_nursery() as nursery:
        server = await nursery.start(ours.serve_websocket, _reject_handler, "127.0.0.1", 0,
                                     None)
        with pytest.raises(tw.ConnectionRejected) as info:
            async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pytest.fail("connected")
        assert (info.value.status_code, info.value.body) == (403, b"forbidden\n")
        assert (b"x-why", b"test") in info.value.headers

        def ws_client():
            with pytest.raises(InvalidStatus) as exc:
                ws_connect(f"ws://127.0.0.1:{server.port}/", open_timeout=10)
            return exc.value.response.status_code, exc.value.response.body
        assert await trio.to_thread.run_sync(ws_client) == (403, b"forbidden\n")
        nursery.cancel_scope.cancel()


@trio_test
async def test_websockets_server_rejects_our_client():
    async with WebsocketsServer(None, None, {}, reject=401) as server:
        with pytest.raises(ours.ConnectionRejected) as info:
            async with ours.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pytest.fail("connected")
    assert (info.value.status_code, info.value.body) == (401, b"go away\n")


@trio_test
async def test_websockets_server_abort_is_1006_for_our_client():
    async with WebsocketsServer(None, None, {}, abort=True) as server:
        async with ours.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            assert await ws.get_message() == "then nothing"
            with pytest.raises(ours.ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == 1006
            with pytest.raises(ours.ConnectionClosed):
                await ws.send_message("x")
