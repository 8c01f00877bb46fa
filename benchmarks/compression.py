"""Compressed echo: round trips per second and bytes on the wire with
permessage-deflate, picows_like vs websockets vs aiohttp.

Each library talks to its own echo server (compression on both ends), server
pinned to CPU 0 in a child process, client on CPU 1; contenders interleave
round by round and the table shows medians.  Bytes on the wire are counted
in a separate short pass through a byte-counting TCP relay (so the count
does not disturb the timing): both directions, per round trip, headers
included.  The payload is JSON-like market data (compressible, with varying
numbers), like an exchange feed.

    python benchmarks/compression.py [--quick]
"""
import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time

SIZES = [256, 8192, 102400]
LIBS = ["picows_like", "websockets", "aiohttp"]


def market_data(size: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    out = bytearray(b"[")
    while len(out) < size:
        out += (b'{"s":"BTC-USD","p":%d.%02d,"q":%d.%03d,"t":%d},'
                % (60000 + rnd.randrange(500), rnd.randrange(100), rnd.randrange(5),
                   rnd.randrange(1000), 1700000000000 + rnd.randrange(10 ** 6)))
    return bytes(out[:size - 1]) + b"]"


# -- servers (child process) ------------------------------------------------

async def serve(lib: str) -> None:
    if lib == "picows_like":
        import picows_like as pl

        class Echo(pl.WSListener):
            def on_ws_frame(self, t, f):
                if f.msg_type in (pl.WSMsgType.TEXT, pl.WSMsgType.BINARY):
                    t.send(f.msg_type, f.get_payload_as_bytes())
        server = await pl.ws_create_server(lambda r: Echo(), "127.0.0.1", 0,
                                           compression="deflate", max_frame_size=1 << 24)
        port = server.sockets[0].getsockname()[1]
    elif lib == "websockets":
        from websockets.asyncio.server import serve as ws_serve

        async def echo(ws):
            async for m in ws:
                await ws.send(m)
        server = await ws_serve(echo, "127.0.0.1", 0, compression="deflate", max_size=None)
        port = server.sockets[0].getsockname()[1]
    else:
        from aiohttp import web, WSMsgType

        async def handler(request):
            ws = web.WebSocketResponse(compress=True, max_msg_size=0)
            await ws.prepare(request)
            async for m in ws:
                if m.type == WSMsgType.BINARY:
                    await ws.send_bytes(m.data)
            return ws
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# -- clients ----------------------------------------------------------------

async def client_rps(lib: str, port: int, size: int, seconds: float) -> float:
    msgs = [market_data(size, i) for i in range(16)]
    url = f"ws://127.0.0.1:{port}/"
    n = 0
    if lib == "picows_like":
        import picows_like as pl
        loop = asyncio.get_running_loop()

        class Client(pl.WSListener):
            def on_ws_frame(self, t, f):
                self.fut.set_result(f.payload_size)
        t, c = await pl.ws_connect(Client, url, compression="deflate", max_frame_size=1 << 24)
        assert t.compression is not None
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            c.fut = loop.create_future()
            t.send(pl.WSMsgType.BINARY, msgs[n & 15])
            assert await c.fut == size
            n += 1
        t.disconnect()
    elif lib == "websockets":
        from websockets.asyncio.client import connect
        async with connect(url, compression="deflate", max_size=None) as ws:
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                await ws.send(msgs[n & 15])
                assert len(await ws.recv()) == size
                n += 1
    else:
        import aiohttp
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, compress=15, max_msg_size=0) as ws:
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    await ws.send_bytes(msgs[n & 15])
                    assert len((await ws.receive()).data) == size
                    n += 1
    return n / seconds


async def wire_bytes(lib: str, port: int, size: int, count: int = 200) -> float:
    """Bytes both ways per round trip, counted by a relay in front of the server."""
    total = [0]

    async def pipe(reader, writer):
        while data := await reader.read(1 << 16):
            total[0] += len(data)
            writer.write(data)
            await writer.drain()
        writer.close()

    async def relay(reader, writer):
        up_r, up_w = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer), return_exceptions=True)

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    relay_port = server.sockets[0].getsockname()[1]
    start = 0
    rps_count = 0
    # A fixed number of round trips through the relay; handshake bytes excluded
    # by measuring the difference between `count` and 1 round trips.
    for trips in (1, count):
        total[0] = 0
        await client_n(lib, relay_port, size, trips)
        if trips == 1:
            start = total[0]
        else:
            rps_count = total[0]
    server.close()
    return (rps_count - start) / (count - 1)


async def client_n(lib: str, port: int, size: int, trips: int) -> None:
    msgs = [market_data(size, i) for i in range(16)]
    url = f"ws://127.0.0.1:{port}/"
    if lib == "picows_like":
        import picows_like as pl
        loop = asyncio.get_running_loop()

        class Client(pl.WSListener):
            def on_ws_frame(self, t, f):
                if f.msg_type == pl.WSMsgType.BINARY:
                    self.fut.set_result(None)
        t, c = await pl.ws_connect(Client, url, compression="deflate", max_frame_size=1 << 24)
        for i in range(trips):
            c.fut = loop.create_future()
            t.send(pl.WSMsgType.BINARY, msgs[i & 15])
            await c.fut
        t.disconnect()
        await t.wait_disconnected()
    elif lib == "websockets":
        from websockets.asyncio.client import connect
        async with connect(url, compression="deflate", max_size=None, close_timeout=0.1) as ws:
            for i in range(trips):
                await ws.send(msgs[i & 15])
                await ws.recv()
            ws.transport.abort()
    else:
        import aiohttp
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, compress=15, max_msg_size=0) as ws:
                for i in range(trips):
                    await ws.send_bytes(msgs[i & 15])
                    await ws.receive()
                ws._response.connection.transport.abort()
    await asyncio.sleep(0.05)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        os.sched_setaffinity(0, {0})
        asyncio.run(serve(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    seconds = 0.5 if args.quick else 1.0
    servers = {}
    try:
        for lib in LIBS:
            p = subprocess.Popen([sys.executable, __file__, "--serve", lib], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
            servers[lib] = (p, int(p.stdout.readline()))
        os.sched_setaffinity(0, {1})
        results = {}
        print(f"compressed echo, {rounds} rounds x {seconds}s, medians; bytes = both directions "
              f"per round trip")
        print(f"{'size':>7} {'lib':12} {'rps':>9} {'vs picows_like':>15} {'wire B/rt':>10} "
              f"{'ratio':>6}")
        for size in SIZES:
            runs = {lib: [] for lib in LIBS}
            for r in range(rounds):
                order = LIBS[r % len(LIBS):] + LIBS[:r % len(LIBS)]
                for lib in order:
                    runs[lib].append(asyncio.run(client_rps(lib, servers[lib][1], size, seconds)))
            base = statistics.median(runs["picows_like"])
            for lib in LIBS:
                rps = statistics.median(runs[lib])
                wire = asyncio.run(wire_bytes(lib, servers[lib][1], size))
                results[f"{size}/{lib}"] = {"rps": rps, "wire_bytes": wire}
                print(f"{size:>7} {lib:12} {rps:>9,.0f} {rps / base:>15.3f} {wire:>10,.0f} "
                      f"{wire / (2 * size):>6.3f}", flush=True)
        out = os.path.join(os.path.dirname(__file__), "results", "compression.json")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            json.dump(results, f, indent=1)
    finally:
        for p, _ in servers.values():
            p.kill()


if __name__ == "__main__":
    main()
