"""Persistent echo client process for benchmarks/echo.py (not meant to be run by hand).

Started once per (server, transport, loop) group for one contender. It imports
what it needs, prints one JSON line {"ready": ...}, then obeys JSON commands,
one per stdin line, answering each with one JSON line on stdout:

  {"cmd": "connect", "url": ..., "size": N, "warmup": s}
        open a fresh connection (a cell starts), warm up for s seconds
  {"cmd": "reconnect", "url": ..., "size": N, "warmup": s}
        close the connection and open a fresh one (latencies so far are kept),
        warm up for s seconds: a new round gets a new connection, so that luck
        tied to one connection (buffer autotuning, say) does not bias a cell
  {"cmd": "run", "settle": s, "seconds": s}
        one measuring window: strict request/response echo for settle + seconds;
        answer count, first-sent -> last-received span, cpu wait, span
  {"cmd": "finish", "lat_file": path}
        write every measured round-trip time of the cell (int64 ns) to the file,
        close the connection
  EOF on stdin: exit.

Between windows the connection is idle and the process sleeps in its event loop.
`--probe` instead prints library versions and where picows_like / picows live.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import traceback
from array import array
from importlib import metadata
from time import perf_counter_ns

from _bench_common import (CHECK_EVERY, HOST, MAX_MESSAGE, EchoMismatch, RoundTrips,
                           client_ssl_context, import_picows_like, loop_factory, make_payload,
                           pin_to_cpu, runqueue_wait_ns)

CONTENDERS = ("picows_like", "picows_like_cy", "picows_like_afn", "picows", "picows_cy",
              "picows_afn", "picows_aa", "websockets", "aiohttp", "raw", "srv_like")


class PythonClient:
    """Common part of the clients whose bookkeeping is a Python RoundTrips."""

    rt: RoundTrips

    @property
    def latency_count(self) -> int:
        return len(self.rt.latencies_ns)

    def window_span(self) -> tuple[int, int]:
        return self.rt.first_sent, self.rt.last_received

    def latencies(self) -> array:
        return self.rt.latencies_ns

    @property
    def content_checks(self) -> int:
        return self.rt.content_checks


# --- picows and picows_like: a Python WSListener driving the round trips -----------------

class PicowsApiClient(PythonClient):
    def __init__(self, ws, use_aiofastnet: bool):
        self.ws = ws
        self.use_aiofastnet = use_aiofastnet
        self.transport = None
        self.done = None          # future of the current window

    async def connect(self, url: str, ssl_ctx, size: int) -> None:
        self.rt = rt = RoundTrips(size)
        ws, client = self.ws, self
        binary = ws.WSMsgType.BINARY
        payload = rt.payload

        def fail(exc: BaseException) -> None:
            done, client.done = client.done, None
            if done is not None and not done.done():
                done.set_exception(exc)

        class EchoClient(ws.WSListener):
            def on_ws_frame(self, transport, frame):
                if client.done is None:
                    return
                try:
                    more = rt.received(frame.msg_type == binary and frame.fin, frame.payload_size)
                    if rt.content_due:
                        rt.check_content(frame.get_payload_as_bytes())
                except EchoMismatch as exc:
                    fail(exc)
                    return
                if more:
                    rt.sent()
                    transport.send(binary, payload)
                else:
                    done, client.done = client.done, None
                    done.set_result(None)

            def on_ws_disconnected(self, transport):
                fail(ConnectionError("disconnected during a measuring window"))

        self.transport, _ = await ws.ws_connect(EchoClient, url, ssl_context=ssl_ctx,
                                                max_frame_size=MAX_MESSAGE,
                                                use_aiofastnet=self.use_aiofastnet)

    async def window(self, settle: float, duration: float) -> None:
        self.done = asyncio.get_running_loop().create_future()
        self.rt.begin(settle, duration)
        self.rt.sent()
        self.transport.send(self.ws.WSMsgType.BINARY, self.rt.payload)
        await self.done

    async def close(self) -> None:
        if self.transport is not None:
            await close_picows_api(self.ws, self.transport)


async def close_picows_api(ws, transport) -> None:
    transport.send_close(ws.WSCloseCode.OK)
    transport.disconnect()
    try:
        await asyncio.wait_for(transport.wait_disconnected(), 5)
    except Exception:
        pass


# --- picows_cy and picows_like_cy: the cdef class listener of benchmarks/cython ---------

class CythonClient:
    """The listener, its timing and its checks are compiled (echo_listener.pxi)."""

    def __init__(self, ws, module):
        self.ws = ws
        self.module = module
        self.transport = self.listener = None

    async def connect(self, url: str, ssl_ctx, size: int) -> None:
        payload = make_payload(size)
        self.transport, self.listener = await self.ws.ws_connect(
            lambda: self.module.EchoClient(payload), url, ssl_context=ssl_ctx,
            max_frame_size=MAX_MESSAGE, use_aiofastnet=False)

    async def window(self, settle: float, duration: float) -> None:
        done = asyncio.get_running_loop().create_future()
        self.listener.begin(settle, duration, done)
        await done

    @property
    def latency_count(self) -> int:
        return self.listener.latency_count

    def window_span(self) -> tuple[int, int]:
        return self.listener.first_sent, self.listener.last_received

    def latencies(self) -> array:
        out = array("q")
        out.frombytes(self.listener.latencies_bytes(0))
        return out

    @property
    def content_checks(self) -> int:
        return self.listener.content_checks

    async def close(self) -> None:
        if self.transport is not None:
            await close_picows_api(self.ws, self.transport)


# --- websockets (asyncio API) ------------------------------------------------------------

class WebsocketsClient(PythonClient):
    conn = None

    async def connect(self, url: str, ssl_ctx, size: int) -> None:
        from websockets.asyncio.client import connect
        self.rt = RoundTrips(size)
        kwargs = {"ssl": ssl_ctx} if ssl_ctx is not None else {}
        self.conn = await connect(url, compression=None, max_size=MAX_MESSAGE, ping_interval=None,
                                  open_timeout=10, close_timeout=5, **kwargs)

    async def window(self, settle: float, duration: float) -> None:
        rt, conn = self.rt, self.conn
        payload = rt.payload
        rt.begin(settle, duration)
        more = True
        while more:
            rt.sent()
            await conn.send(payload)
            data = await conn.recv()
            more = rt.received(isinstance(data, bytes), len(data))
            if rt.content_due:
                rt.check_content(data)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


# --- aiohttp client -----------------------------------------------------------------------

class AiohttpClient(PythonClient):
    session = conn = None

    async def connect(self, url: str, ssl_ctx, size: int) -> None:
        import aiohttp
        self.rt = RoundTrips(size)
        self.binary = aiohttp.WSMsgType.BINARY
        self.session = aiohttp.ClientSession()
        self.conn = await self.session.ws_connect(url, ssl=ssl_ctx if ssl_ctx is not None else True,
                                                  max_msg_size=MAX_MESSAGE, compress=0)

    async def window(self, settle: float, duration: float) -> None:
        rt, conn, binary = self.rt, self.conn, self.binary
        payload = rt.payload
        rt.begin(settle, duration)
        more = True
        while more:
            rt.sent()
            await conn.send_bytes(payload)
            msg = await conn.receive()
            is_binary = msg.type == binary
            more = rt.received(is_binary, len(msg.data) if is_binary else -1)
            if rt.content_due:
                rt.check_content(msg.data)

    async def close(self) -> None:
        try:
            if self.conn is not None:
                await self.conn.close()
        finally:
            if self.session is not None:
                await self.session.close()


# --- raw TCP floor: pre-framed bytes, count echoed bytes, no parsing ----------------------

def masked_client_frame(payload: bytes) -> bytes:
    """A single final BINARY frame, masked as RFC 6455 requires from a client."""
    mask = os.urandom(4)
    n = len(payload)
    masked = (int.from_bytes(payload, "big")
              ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
    return frame_header(n, masked=True) + mask + masked


def frame_header(n: int, masked: bool) -> bytes:
    mask_bit = 0x80 if masked else 0
    if n < 126:
        return bytes((0x82, mask_bit | n))
    if n < 1 << 16:
        return bytes((0x82, mask_bit | 126)) + n.to_bytes(2, "big")
    return bytes((0x82, mask_bit | 127)) + n.to_bytes(8, "big")


class RawEchoProtocol(asyncio.BufferedProtocol):
    """Upgrade handshake by hand, then send a pre-built frame and count echoed bytes."""

    CLOSE_FRAME = bytes((0x88, 0x80)) + os.urandom(4)   # masked, empty payload

    def __init__(self, rt: RoundTrips, host: str, port: int, ready: asyncio.Future):
        self.rt = rt
        self.ready = ready
        self.done: asyncio.Future | None = None
        self.request = (f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
                        ).encode()
        self.frame = masked_client_frame(rt.payload)
        self.echo_header = frame_header(rt.size, masked=False)
        self.echo_len = len(self.echo_header) + rt.size
        self.buffer = memoryview(bytearray(256 * 1024))
        self.handshake: bytearray | None = bytearray()
        self.got = 0
        self.capture: bytearray | None = None   # echoed bytes, kept only for content checks
        self.transport = None
        self.error: BaseException | None = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def get_buffer(self, sizehint):
        return self.buffer

    def buffer_updated(self, nbytes):
        try:
            if self.handshake is not None:
                self._handshake_data(nbytes)
            else:
                self._echo_data(nbytes)
        except Exception as exc:
            self._fail(exc)

    def _handshake_data(self, nbytes):
        self.handshake += self.buffer[:nbytes]
        end = self.handshake.find(b"\r\n\r\n")
        if end < 0:
            return
        status_line = bytes(self.handshake[:self.handshake.find(b"\r\n")])
        if b" 101 " not in status_line or end + 4 != len(self.handshake):
            raise ConnectionError(f"unexpected handshake response: {status_line!r}")
        self.handshake = None
        self.ready.set_result(None)

    def begin(self, done: asyncio.Future) -> None:
        if self.error is not None:
            raise self.error
        self.done = done
        self._send()

    def _send(self):
        self.got = 0
        self.capture = bytearray() if self.rt.echoes % CHECK_EVERY == 0 else None
        self.rt.sent()
        self.transport.write(self.frame)

    def _echo_data(self, nbytes):
        if self.done is None:
            raise EchoMismatch("data received outside a measuring window")
        if self.got == 0 and self.buffer[0] != 0x82:    # the one byte we look at: FIN + BINARY
            raise EchoMismatch(f"echo #{self.rt.echoes + 1}: not a final binary frame")
        self.got += nbytes
        if self.capture is not None:
            self.capture += self.buffer[:nbytes]
        if self.got < self.echo_len:
            return
        more = self.rt.received(True, self.got - len(self.echo_header))
        if self.rt.content_due:
            if self.capture[:len(self.echo_header)] != self.echo_header:
                raise EchoMismatch("echoed frame header differs")
            self.rt.check_content(self.capture[len(self.echo_header):])
        if more:
            self._send()
        else:
            done, self.done = self.done, None
            done.set_result(None)

    def _fail(self, exc):
        self.error = self.error or exc
        for fut in (self.ready, self.done):
            if fut is not None and not fut.done():
                fut.set_exception(exc)
        self.done = None
        self.transport.close()

    def connection_lost(self, exc):
        self._fail(exc or ConnectionError("connection closed"))


class RawClient(PythonClient):
    transport = protocol = None

    async def connect(self, url: str, ssl_ctx, size: int) -> None:
        loop = asyncio.get_running_loop()
        self.rt = RoundTrips(size)
        port = int(url.rsplit(":", 1)[1].rstrip("/"))
        ready = loop.create_future()
        kwargs = {"ssl": ssl_ctx, "server_hostname": HOST} if ssl_ctx is not None else {}
        self.transport, self.protocol = await loop.create_connection(
            lambda: RawEchoProtocol(self.rt, HOST, port, ready), HOST, port, **kwargs)
        await ready

    async def window(self, settle: float, duration: float) -> None:
        done = asyncio.get_running_loop().create_future()
        self.rt.begin(settle, duration)
        self.protocol.begin(done)
        await done

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RawEchoProtocol.CLOSE_FRAME)
            self.transport.close()


# --- entry points -------------------------------------------------------------------------

def make_client(name: str, cy_dir: str | None):
    """A fresh client object (not connected) for contender `name`."""
    if name in ("picows_like", "picows_like_cy", "picows_like_afn"):
        ws = import_picows_like()
    elif name in ("picows", "picows_aa", "picows_afn", "picows_cy", "srv_like"):
        import picows as ws
    if name.endswith("_cy"):
        if not cy_dir:
            raise RuntimeError(f"{name}: no --cy-dir (module not built)")
        sys.path.insert(0, cy_dir)
        import importlib
        return lambda: CythonClient(ws, importlib.import_module(name))
    # A/A: the very same client, twice; srv_like: the same again, against our server.
    if name in ("picows_like", "picows", "picows_aa", "srv_like"):
        return lambda: PicowsApiClient(ws, False)
    if name in ("picows_afn", "picows_like_afn"):
        return lambda: PicowsApiClient(ws, True)
    if name == "websockets":
        import websockets.asyncio.client  # noqa: F401  (import cost outside the windows)
        return WebsocketsClient
    if name == "aiohttp":
        import aiohttp  # noqa: F401
        return AiohttpClient
    if name == "raw":
        return RawClient
    raise ValueError(f"unknown contender {name!r}")


class CommandPipe:
    """JSON commands, one per line, from stdin, read through the running event loop."""

    def __init__(self):
        self.buf = b""

    async def next(self) -> dict | None:
        loop = asyncio.get_running_loop()
        while b"\n" not in self.buf:
            readable = loop.create_future()
            loop.add_reader(0, lambda: readable.done() or readable.set_result(None))
            try:
                await readable
            finally:
                loop.remove_reader(0)     # not watched while measuring
            chunk = os.read(0, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def reply(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def measure_window(client, settle: float, seconds: float) -> dict:
    wait0, t0, start = runqueue_wait_ns(), perf_counter_ns(), client.latency_count
    async with asyncio.timeout(settle + seconds + 10):
        await client.window(settle, seconds)
    t1, wait1 = perf_counter_ns(), runqueue_wait_ns()
    count = client.latency_count - start
    if count == 0:
        raise RuntimeError("no round trip completed inside the measuring window")
    first, last = client.window_span()
    return {"ok": True, "count": count, "elapsed": (last - first) / 1e9,
            "rps": count / ((last - first) / 1e9) if last > first else None,
            "cpu_wait_s": None if None in (wait0, wait1) else (wait1 - wait0) / 1e9,
            "span_s": (t1 - t0) / 1e9}


async def serve_commands(factory, ssl_ctx) -> None:
    commands, client = CommandPipe(), None
    kept = array("q")           # latencies of this cell's earlier connections
    kept_checks = 0
    while True:
        cmd = await commands.next()
        if cmd is None:
            break
        try:
            if cmd["cmd"] == "connect":
                client = factory()
                async with asyncio.timeout(20):
                    await client.connect(cmd["url"], ssl_ctx, cmd["size"])
                async with asyncio.timeout(cmd["warmup"] + 10):
                    await client.window(cmd["warmup"], 0.0)     # warm-up: nothing is recorded
                out = {"ok": True}
            elif cmd["cmd"] == "reconnect":
                if client is not None:
                    kept.extend(client.latencies())
                    kept_checks += client.content_checks
                    async with asyncio.timeout(5):
                        await client.close()
                client = factory()
                async with asyncio.timeout(20):
                    await client.connect(cmd["url"], ssl_ctx, cmd["size"])
                async with asyncio.timeout(cmd["warmup"] + 10):
                    await client.window(cmd["warmup"], 0.0)
                out = {"ok": True}
            elif cmd["cmd"] == "run":
                out = await measure_window(client, cmd["settle"], cmd["seconds"])
            elif cmd["cmd"] == "finish":
                lat = kept + client.latencies()
                checks = kept_checks + client.content_checks
                kept, kept_checks = array("q"), 0
                with open(cmd["lat_file"], "wb") as f:
                    lat.tofile(f)
                out = {"ok": True, "content_checks": checks, "latencies": len(lat)}
            else:
                raise ValueError(f"unknown command {cmd!r}")
        except Exception as exc:
            if not isinstance(exc, (EchoMismatch, TimeoutError)):
                traceback.print_exc()
            out = {"ok": False, "error": f"{type(exc).__name__}: {exc}" if str(exc)
                   else f"{type(exc).__name__} (no progress within the time limit?)"}
        if client is not None and (cmd["cmd"] == "finish" or not out["ok"]):
            try:
                async with asyncio.timeout(5):
                    await client.close()
            except Exception:
                pass
            client = None
        reply(out)


def probe() -> dict:
    """Versions of everything involved, and where picows_like and picows are imported from."""
    versions, dirs = {}, {}
    for dist in ("picows", "aiofastnet", "websockets", "aiohttp", "uvloop", "Cython"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    picows_like_error = None
    try:
        module = import_picows_like()
        dirs["picows_like"] = os.path.dirname(os.path.abspath(module.__file__))
        try:
            versions["picows_like"] = metadata.version("picows_like")
        except metadata.PackageNotFoundError:
            versions["picows_like"] = getattr(module, "__version__", "unknown (not installed)")
    except Exception as exc:
        versions["picows_like"] = None
        picows_like_error = f"{type(exc).__name__}: {exc}"
    try:
        import picows
        dirs["picows"] = os.path.dirname(os.path.abspath(picows.__file__))
    except ImportError:
        pass
    return {"python": sys.version.split()[0], "executable": sys.executable,
            "versions": versions, "picows_like_error": picows_like_error, "package_dirs": dirs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--contender", choices=CONTENDERS)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--cafile", help="CA to trust: the server speaks TLS")
    parser.add_argument("--cy-dir", help="directory holding the built Cython client module")
    parser.add_argument("--max-lifetime", type=float, default=3600.0)
    args = parser.parse_args()

    if args.probe:
        print(json.dumps(probe()))
        return

    pin_to_cpu(args.cpu)
    try:
        factory = make_client(args.contender, args.cy_dir)
        ssl_ctx = client_ssl_context(args.cafile)
    except Exception as exc:
        reply({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    reply({"ready": True})

    async def bounded():
        async with asyncio.timeout(args.max_lifetime):
            await serve_commands(factory, ssl_ctx)

    try:
        with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
            runner.run(bounded())
    except TimeoutError:
        print("echo client: max lifetime reached, exiting", file=sys.stderr)


if __name__ == "__main__":
    main()
