"""Echo client process for benchmarks/echo.py (not meant to be run by hand).

One run = connect one WebSocket, warm up, then do strict request/response echo
round trips for a fixed duration. Prints one JSON line with the result and
writes the measured round-trip latencies (int64 ns) to --lat-file.
`--probe` instead prints library versions and whether picows_like imports.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import traceback
from importlib import metadata

from _bench_common import (CHECK_EVERY, HOST, MAX_MESSAGE, EchoMismatch, RoundTrips,
                           import_picows_like, loop_factory, pin_to_cpu)

CONTENDERS = ("picows_like", "picows", "picows_afn", "picows_aa", "websockets", "aiohttp", "raw")


# --- picows and picows_like: a Python WSListener driving the round trips -----------------

async def run_picows_api(ws, use_aiofastnet: bool, url: str, rt: RoundTrips) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    binary = ws.WSMsgType.BINARY
    payload = rt.payload

    def fail(exc: BaseException) -> None:
        if not done.done():
            done.set_exception(exc)

    class EchoClient(ws.WSListener):
        def on_ws_connected(self, transport):
            rt.start()
            rt.sent()
            transport.send(binary, payload)

        def on_ws_frame(self, transport, frame):
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
            elif not done.done():
                done.set_result(None)

        def on_ws_disconnected(self, transport):
            fail(ConnectionError("disconnected before the run finished"))

    transport, _ = await ws.ws_connect(EchoClient, url, max_frame_size=MAX_MESSAGE,
                                       use_aiofastnet=use_aiofastnet)
    try:
        await done
    finally:
        transport.send_close(ws.WSCloseCode.OK)
        transport.disconnect()
        try:
            await asyncio.wait_for(transport.wait_disconnected(), 5)
        except Exception:
            pass


# --- websockets (asyncio API) ------------------------------------------------------------

async def run_websockets(url: str, rt: RoundTrips) -> None:
    from websockets.asyncio.client import connect

    payload = rt.payload
    async with connect(url, compression=None, max_size=MAX_MESSAGE, ping_interval=None,
                       open_timeout=10, close_timeout=5) as conn:
        rt.start()
        more = True
        while more:
            rt.sent()
            await conn.send(payload)
            data = await conn.recv()
            more = rt.received(isinstance(data, bytes), len(data))
            if rt.content_due:
                rt.check_content(data)


# --- aiohttp client -----------------------------------------------------------------------

async def run_aiohttp(url: str, rt: RoundTrips) -> None:
    import aiohttp

    payload = rt.payload
    binary = aiohttp.WSMsgType.BINARY
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, max_msg_size=MAX_MESSAGE, compress=0) as conn:
            rt.start()
            more = True
            while more:
                rt.sent()
                await conn.send_bytes(payload)
                msg = await conn.receive()
                is_binary = msg.type == binary
                more = rt.received(is_binary, len(msg.data) if is_binary else -1)
                if rt.content_due:
                    rt.check_content(msg.data)


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

    def __init__(self, rt: RoundTrips, host: str, port: int, done: asyncio.Future):
        self.rt = rt
        self.done = done
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
        self.rt.start()
        self._send()

    def _send(self):
        self.got = 0
        self.capture = bytearray() if self.rt.echoes % CHECK_EVERY == 0 else None
        self.rt.sent()
        self.transport.write(self.frame)

    def _echo_data(self, nbytes):
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
        elif not self.done.done():
            self.done.set_result(None)

    def _fail(self, exc):
        if not self.done.done():
            self.done.set_exception(exc)
        self.transport.close()

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("connection closed before the run finished"))


async def run_raw(host: str, port: int, rt: RoundTrips) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    transport, protocol = await loop.create_connection(
        lambda: RawEchoProtocol(rt, host, port, done), host, port)
    try:
        await done
    finally:
        if not transport.is_closing():
            transport.write(RawEchoProtocol.CLOSE_FRAME)
        transport.close()


# --- entry points -------------------------------------------------------------------------

async def run_contender(name: str, port: int, rt: RoundTrips) -> None:
    url = f"ws://{HOST}:{port}/"
    if name == "picows_like":
        await run_picows_api(import_picows_like(), False, url, rt)
    elif name in ("picows", "picows_aa"):          # A/A: the very same client, twice
        import picows
        await run_picows_api(picows, False, url, rt)
    elif name == "picows_afn":
        import picows
        await run_picows_api(picows, True, url, rt)
    elif name == "websockets":
        await run_websockets(url, rt)
    elif name == "aiohttp":
        await run_aiohttp(url, rt)
    elif name == "raw":
        await run_raw(HOST, port, rt)
    else:
        raise ValueError(f"unknown contender {name!r}")


def probe() -> dict:
    """Versions of everything involved, and whether picows_like can be imported."""
    versions = {}
    for dist in ("picows", "aiofastnet", "websockets", "aiohttp", "uvloop"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    picows_like_error = None
    try:
        module = import_picows_like()
        try:
            versions["picows_like"] = metadata.version("picows_like")
        except metadata.PackageNotFoundError:
            versions["picows_like"] = getattr(module, "__version__", "unknown (not installed)")
    except Exception as exc:
        versions["picows_like"] = None
        picows_like_error = f"{type(exc).__name__}: {exc}"
    return {"python": sys.version.split()[0], "executable": sys.executable,
            "versions": versions, "picows_like_error": picows_like_error}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--contender", choices=CONTENDERS)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--port", type=int)
    parser.add_argument("--size", type=int)
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--lat-file")
    args = parser.parse_args()

    if args.probe:
        print(json.dumps(probe()))
        return

    pin_to_cpu(args.cpu)
    rt = RoundTrips(args.size, args.warmup, args.duration)
    deadline = 15 + 3 * (args.warmup + args.duration)   # handshake + run + close, generously

    async def bounded():
        async with asyncio.timeout(deadline):
            await run_contender(args.contender, args.port, rt)

    try:
        with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
            runner.run(bounded())
        result = {"ok": True, **rt.result()}
        if args.lat_file:
            with open(args.lat_file, "wb") as f:
                rt.latencies_ns.tofile(f)
    except TimeoutError:
        result = {"ok": False, "error": f"no progress within {deadline:.0f} s (stalled or short echo?)"}
    except Exception as exc:
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
