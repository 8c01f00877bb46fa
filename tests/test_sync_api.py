"""websockets' threaded API, run unchanged against ``websockets.sync`` (the
reference) and ``picows_like.websockets.sync`` (ours): every test takes an
``impl`` namespace (connect, serve, exceptions) and uses only what websockets
documents.  Interop tests pair our sync side with a websockets asyncio peer
in both directions.  Every wait is bounded; every thread is joined.
"""
import asyncio
import contextlib
import queue
import threading
import types

import pytest

websockets = pytest.importorskip("websockets")
import websockets.asyncio.client  # noqa: E402
import websockets.asyncio.server  # noqa: E402
import websockets.exceptions  # noqa: E402
import websockets.extensions.permessage_deflate  # noqa: E402
import websockets.sync.client  # noqa: E402
import websockets.sync.server  # noqa: E402

import picows_like.websockets.exceptions  # noqa: E402
import picows_like.websockets.extensions.permessage_deflate  # noqa: E402
import picows_like.websockets.sync.client  # noqa: E402
import picows_like.websockets.sync.server  # noqa: E402

T = 5.0     # bound on every wait


def _impl(name, client, server, exceptions):
    return types.SimpleNamespace(name=name, connect=client.connect, serve=server.serve,
                                 unix_connect=client.unix_connect,
                                 unix_serve=server.unix_serve, exc=exceptions)


IMPLS = {
    "websockets": _impl("websockets", websockets.sync.client, websockets.sync.server,
                        websockets.exceptions),
    "picows_like": _impl("picows_like", picows_like.websockets.sync.client,
                         picows_like.websockets.sync.server,
                         picows_like.websockets.exceptions),
}


@pytest.fixture(params=sorted(IMPLS))
def impl(request):
    return IMPLS[request.param]


@contextlib.contextmanager
def running(impl, handler, **kwargs):
    """A server of `impl` serving in a thread; yields (server, uri)."""
    with impl.serve(handler, "127.0.0.1", 0, **kwargs) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            yield server, f"ws://127.0.0.1:{port}/"
        finally:
            server.shutdown()
            thread.join(T)
            assert not thread.is_alive(), "serve_forever did not return"


def echo(ws):
    for message in ws:
        ws.send(message)


# -- messages ----------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 256 * 1024, 2 ** 20])
def test_echo_sizes(impl, size):
    with running(impl, echo) as (_, uri), impl.connect(uri) as ws:
        text = "é" * (size // 2) + "a" * (size % 2)
        ws.send(text)
        assert ws.recv(timeout=T) == text
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        ws.send(data)
        got = ws.recv(timeout=T)
        assert isinstance(got, bytes) and got == data


def test_recv_decode_overrides(impl):
    with running(impl, echo) as (_, uri), impl.connect(uri) as ws:
        ws.send("héllo")
        assert ws.recv(timeout=T, decode=False) == "héllo".encode()
        ws.send("héllo".encode())
        assert ws.recv(timeout=T, decode=True) == "héllo"


def test_fragments(impl):
    got = queue.Queue()

    def handler(ws):
        got.put(list(ws.recv_streaming()))
        got.put(list(ws.recv_streaming()))
        ws.send(["fr", "ag", "ments"])
        ws.send([b"\x00", b"\x01\x02"])
        ws.recv()       # until the client closes

    with running(impl, handler) as (_, uri), impl.connect(uri) as ws:
        ws.send(["a", "bc", "def"])
        ws.send([b"1", b"", b"23"])
        assert got.get(timeout=T) == ["a", "bc", "def", ""]
        assert got.get(timeout=T) == [b"1", b"", b"23", b""]
        assert ws.recv(timeout=T) == "fragments"
        assert ws.recv(timeout=T) == b"\x00\x01\x02"
        with pytest.raises(TypeError):
            ws.send(["a", b"b"])


def test_send_rejects_mappings_and_non_iterables(impl):
    with running(impl, echo) as (_, uri), impl.connect(uri) as ws:
        with pytest.raises(TypeError):
            ws.send({"a": 1})
        with pytest.raises(TypeError):
            ws.send(42)


def test_recv_timeout(impl):
    with running(impl, echo) as (_, uri), impl.connect(uri) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.05)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0)
        ws.send("late")
        assert ws.recv(timeout=T) == "late"


def test_iteration_ends_on_normal_close(impl):
    def handler(ws):
        for i in range(3):
            ws.send(f"m{i}")

    with running(impl, handler) as (_, uri), impl.connect(uri) as ws:
        assert list(ws) == ["m0", "m1", "m2"]
        assert ws.close_code == 1000 and ws.close_reason == ""
        with pytest.raises(impl.exc.ConnectionClosedOK):
            ws.recv(timeout=T)
        with pytest.raises(impl.exc.ConnectionClosedOK):
            ws.send("after close")


def test_close_code_and_reason_reach_the_server(impl):
    seen = queue.Queue()

    def handler(ws):
        try:
            ws.recv()
        except impl.exc.ConnectionClosed as exc:
            seen.put((type(exc).__name__, exc.rcvd.code, exc.rcvd.reason))
        seen.put((ws.close_code, ws.close_reason))

    with running(impl, handler) as (_, uri), impl.connect(uri) as ws:
        ws.close(4000, "bye now")
        # 4000 is not one of the "OK" codes (1000, 1001, 1005).
        assert seen.get(timeout=T) == ("ConnectionClosedError", 4000, "bye now")
        assert seen.get(timeout=T) == (4000, "bye now")
        assert ws.close_code == 4000 and ws.close_reason == "bye now"
        ws.close()      # idempotent
        with pytest.raises(impl.exc.ConnectionClosedError):
            ws.recv(timeout=T)


def test_handler_error_is_connection_closed_error(impl):
    def handler(ws):
        raise RuntimeError("boom")

    with running(impl, handler) as (_, uri), impl.connect(uri) as ws:
        with pytest.raises(impl.exc.ConnectionClosedError) as info:
            ws.recv(timeout=T)
        assert info.value.rcvd.code == 1011
        assert ws.close_code == 1011


def test_ping_event_and_pong(impl):
    with running(impl, echo) as (_, uri), impl.connect(uri) as ws:
        event = ws.ping()
        assert isinstance(event, threading.Event)
        assert event.wait(T)
        assert ws.latency >= 0
        event = ws.ping(b"payload")
        assert event.wait(T)
        with pytest.raises(TypeError):
            ws.ping(42)
        ws.pong(b"unsolicited")
        ws.send("still open")
        assert ws.recv(timeout=T) == "still open"


def test_concurrent_readers(impl):
    with running(impl, echo) as (_, uri), impl.connect(uri) as ws:
        results = queue.Queue()
        reader = threading.Thread(target=lambda: results.put(ws.recv(timeout=T)))
        reader.start()
        try:
            # Wait (bounded) until the other thread is inside recv().
            deadline = threading.Event()
            timer = threading.Timer(T, deadline.set)
            timer.start()
            try:
                while not deadline.is_set():
                    try:
                        ws.recv(timeout=0)
                    except TimeoutError:
                        continue
                    except impl.exc.ConcurrencyError:
                        break
                else:
                    pytest.fail("no ConcurrencyError")
            finally:
                timer.cancel()
            ws.send("for the reader")
            assert results.get(timeout=T) == "for the reader"
        finally:
            reader.join(T)
            assert not reader.is_alive()


def test_state_and_attributes(impl):
    with running(impl, echo, subprotocols=["chat"]) as (_, uri):
        with impl.connect(uri, subprotocols=["chat"], additional_headers={"X-Test": "1"}) as ws:
            assert ws.subprotocol == "chat"
            assert ws.request.headers["X-Test"] == "1"
            assert ws.response.status_code == 101
            assert ws.state.name == "OPEN"
            assert ws.remote_address[1] == int(uri.rsplit(":", 1)[1].strip("/"))
            assert ws.local_address[0] == "127.0.0.1"
            assert ws.close_code is None
        assert ws.state.name == "CLOSED"


# -- server ------------------------------------------------------------------

def test_process_request_rejection(impl):
    def process_request(connection, request):
        if request.path != "/ok":
            return connection.respond(403, "forbidden here\n")
        return None

    with running(impl, echo, process_request=process_request) as (_, uri):
        with pytest.raises(impl.exc.InvalidStatus) as info:
            impl.connect(uri + "nope", open_timeout=T)
        assert info.value.response.status_code == 403
        with impl.connect(uri + "ok") as ws:
            ws.send("in")
            assert ws.recv(timeout=T) == "in"


def test_process_response_adds_header(impl):
    def process_response(connection, request, response):
        response.headers["X-Seen"] = request.path

    with running(impl, echo, process_response=process_response) as (_, uri):
        with impl.connect(uri + "p") as ws:
            assert ws.response.headers["X-Seen"] == "/p"


def test_origins(impl):
    with running(impl, echo, origins=["https://good"]) as (_, uri):
        with pytest.raises(impl.exc.InvalidStatus) as info:
            impl.connect(uri, origin="https://bad")
        assert info.value.response.status_code == 403
        with impl.connect(uri, origin="https://good") as ws:
            ws.send("ok")
            assert ws.recv(timeout=T) == "ok"


def test_shutdown_closes_open_connections_with_1001(impl):
    with impl.serve(echo, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        port = server.socket.getsockname()[1]
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(impl.connect(f"ws://127.0.0.1:{port}/"))
                       for _ in range(3)]
            for ws in clients:
                ws.send("x")
                assert ws.recv(timeout=T) == "x"
            server.shutdown()
            thread.join(T)
            assert not thread.is_alive()
            for ws in clients:
                with pytest.raises(impl.exc.ConnectionClosedOK):
                    ws.recv(timeout=T)
                assert ws.close_code == 1001


def test_unix_socket(impl, tmp_path):
    path = str(tmp_path / "ws.sock")
    with impl.unix_serve(echo, path) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            with impl.unix_connect(path) as ws:
                ws.send("over unix")
                assert ws.recv(timeout=T) == "over unix"
        finally:
            server.shutdown()
            thread.join(T)
    assert not thread.is_alive()


# -- interop -----------------------------------------------------------------

@pytest.mark.parametrize("client_name", sorted(IMPLS))
@pytest.mark.parametrize("server_name", sorted(IMPLS))
def test_cross_sync(client_name, server_name):
    with running(IMPLS[server_name], echo) as (_, uri):
        with IMPLS[client_name].connect(uri) as ws:
            for size in (0, 300, 70000):
                ws.send("t" * size)
                assert ws.recv(timeout=T) == "t" * size
            ws.send(["x", "y"])
            assert ws.recv(timeout=T) == "xy"


def test_our_sync_client_with_websockets_asyncio_server():
    ready = queue.Queue()
    loop = asyncio.new_event_loop()

    async def handler(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        async with websockets.asyncio.server.serve(handler, "127.0.0.1", 0) as server:
            stop = asyncio.Event()
            ready.put((server.sockets[0].getsockname()[1], stop))
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),))
    thread.start()
    try:
        port, stop = ready.get(timeout=T)
        connect = picows_like.websockets.sync.client.connect
        with connect(f"ws://127.0.0.1:{port}/") as ws:
            ws.send("hi")
            assert ws.recv(timeout=T) == "hi"
            ws.send(b"\x00" * 100000)
            assert ws.recv(timeout=T) == b"\x00" * 100000
            assert ws.ping().wait(T)
        assert ws.close_code == 1000
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(T)
        loop.close()
    assert not thread.is_alive()


def test_websockets_asyncio_client_with_our_sync_server():
    with running(IMPLS["picows_like"], echo) as (_, uri):
        async def main():
            async with websockets.asyncio.client.connect(uri) as ws:
                await ws.send("hello")
                assert await asyncio.wait_for(ws.recv(), T) == "hello"
                await ws.send(b"y" * 200000)
                assert await asyncio.wait_for(ws.recv(), T) == b"y" * 200000
                await asyncio.wait_for(await ws.ping(), T)
                await ws.close(4001, "done")
            return ws.close_code

        assert asyncio.run(asyncio.wait_for(main(), 2 * T)) == 4001


# -- the example ---------------------------------------------------------------

def test_example_blocking_feed():
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, os.path.join(root, "examples", "blocking_feed.py"),
                          "--ticks", "300"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "300 ticks in" in out.stdout and "closed with 1000" in out.stdout
    # The demo feed restarts (1012) once: the client reconnects and resumes.
    assert "feed went away after 120 ticks" in out.stdout
    assert "over 2 connection(s)" in out.stdout
    assert "vwap" in out.stdout and out.stdout.rstrip().endswith("done")


# -- flow control, keepalive, TLS ------------------------------------------------

def test_max_queue_flow_control_keeps_every_message(impl):
    done = threading.Event()

    def handler(ws):
        for i in range(200):
            ws.send(f"n{i}")
        done.wait(T)

    with running(impl, handler) as (_, uri), impl.connect(uri, max_queue=4) as ws:
        # The client reads only now: the reader paused and resumed meanwhile.
        assert [ws.recv(timeout=T) for _ in range(200)] == [f"n{i}" for i in range(200)]
        done.set()


def test_keepalive_pings_measure_latency(impl):
    with running(impl, echo) as (_, uri), impl.connect(uri, ping_interval=0.05,
                                                       ping_timeout=T) as ws:
        deadline = threading.Event()
        timer = threading.Timer(T, deadline.set)
        timer.start()
        try:
            while ws.latency == 0 and not deadline.is_set():
                with pytest.raises(TimeoutError):
                    ws.recv(timeout=0.02)
        finally:
            timer.cancel()
        assert ws.latency > 0
        ws.send("alive")
        assert ws.recv(timeout=T) == "alive"


def test_tls(impl):
    import ssl
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    with impl.serve(echo, "127.0.0.1", 0, ssl=server_ctx) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            with impl.connect(f"wss://localhost:{port}/", ssl=client_ctx) as ws:
                ws.send("secret" * 10000)
                assert ws.recv(timeout=T) == "secret" * 10000
        finally:
            server.shutdown()
            thread.join(T)
    assert not thread.is_alive()


def test_recv_timeout_inside_a_fragmented_message(impl):
    go_on = threading.Event()

    def fragments():
        yield "first half, "
        go_on.wait(T)
        yield "second half"

    def handler(ws):
        ws.send(fragments())
        ws.recv()       # until the client closes

    with running(impl, handler) as (_, uri), impl.connect(uri) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.1)        # only the first fragment came
        go_on.set()
        assert ws.recv(timeout=T) == "first half, second half"


def test_no_thread_left_behind():
    """Our connections' reader and keepalive threads end with the connection."""
    impl = IMPLS["picows_like"]
    before = set(threading.enumerate())
    with running(impl, echo, ping_interval=0.05) as (_, uri):
        for _ in range(5):
            with impl.connect(uri, ping_interval=0.05) as ws:
                ws.send("x")
                assert ws.recv(timeout=T) == "x"
    deadline = threading.Event()
    timer = threading.Timer(T, deadline.set)
    timer.start()
    try:
        while set(threading.enumerate()) - before - {timer} and not deadline.is_set():
            deadline.wait(0.01)
    finally:
        timer.cancel()
        timer.join()
    assert not set(threading.enumerate()) - before


def test_open_timeout_on_a_silent_server(impl):
    import socket
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with pytest.raises(TimeoutError):
            impl.connect(f"ws://127.0.0.1:{port}/", open_timeout=0.2)


def test_non_websocket_answer_is_invalid_status(impl):
    import socket
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def answer():
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n")

        thread = threading.Thread(target=answer)
        thread.start()
        try:
            with pytest.raises(impl.exc.InvalidStatus) as info:
                impl.connect(f"ws://127.0.0.1:{port}/", open_timeout=T)
            assert info.value.response.status_code == 404
        finally:
            thread.join(T)
        assert not thread.is_alive()


def test_permessage_deflate_extension_factories(impl):
    """extensions= with websockets' factories, compression off: the
    parameters the factories ask for are what the handshake agrees."""
    root = websockets if impl.name == "websockets" else picows_like.websockets
    pmd = root.extensions.permessage_deflate
    server_ext = [pmd.ServerPerMessageDeflateFactory(server_max_window_bits=11,
                                                     client_no_context_takeover=True)]
    client_ext = [pmd.ClientPerMessageDeflateFactory(server_max_window_bits=11,
                                                     client_no_context_takeover=True)]
    with running(impl, echo, compression=None, extensions=server_ext) as (_, uri), \
            impl.connect(uri, compression=None, extensions=client_ext) as ws:
        agreed = ws.response.headers["Sec-WebSocket-Extensions"]
        assert agreed.startswith("permessage-deflate")
        assert "server_max_window_bits=11" in agreed
        assert "client_no_context_takeover" in agreed
        message = "compressible " * 20000
        ws.send(message)
        assert ws.recv(timeout=T) == message
