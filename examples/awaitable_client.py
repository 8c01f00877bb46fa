"""The awaitable API on picows_like's core: websockets-style code, C-speed frames.

    python examples/awaitable_client.py                  # against a local echo server
    python examples/awaitable_client.py wss://host/path  # against your own echo server

The only change from a websockets application is the import line.
"""
import asyncio
import sys
import time

import picows_like.websockets as websockets      # instead of: import websockets


async def echo(ws: websockets.ServerConnection) -> None:
    """A websockets-style server handler: echo every message."""
    async for message in ws:
        await ws.send(message)


async def client(url: str) -> None:
    # permessage-deflate is offered by default, as in websockets.
    async with websockets.connect(url, ping_interval=5, subprotocols=["echo.v1"]) as ws:
        print(f"connected to {url}: HTTP {ws.response.status_code}, "
              f"server {ws.response.headers.get('Server', '?')!r}")
        print(f"subprotocol {ws.subprotocol!r}, extensions "
              f"{ws.response.headers.get('Sec-WebSocket-Extensions')!r}")

        await ws.send("hello, world")                   # TEXT
        print("text   ->", await ws.recv())
        await ws.send(b"\x00\x01\x02")                  # BINARY
        print("binary ->", await ws.recv())
        await ws.send(["frag", "ment", "ed"])           # one message, three frames
        print("frags  ->", await ws.recv())

        latency = await (await ws.ping())               # resolves when the PONG arrives
        print(f"ping   -> {latency * 1e6:.0f} us")

        try:                                            # recv() with a timeout: cancelling
            await asyncio.wait_for(ws.recv(), 0.05)     # it never loses a message
        except asyncio.TimeoutError:
            print("recv   -> nothing within 50 ms")

        # A small request/response loop.
        n, start = 2000, time.perf_counter()
        for i in range(n):
            await ws.send(b"x" * 256)
            await ws.recv()
        elapsed = time.perf_counter() - start
        print(f"{n} round trips of 256 B in {elapsed * 1e3:.0f} ms "
              f"({n / elapsed:.0f}/s)")
    print(f"closed: code {ws.close_code}, state {ws.state.name}")


async def main() -> None:
    if len(sys.argv) > 1:
        await client(sys.argv[1])
        return
    async with websockets.serve(echo, "127.0.0.1", 0, subprotocols=["echo.v1"]) as server:
        port = server.sockets[0].getsockname()[1]
        await client(f"ws://127.0.0.1:{port}/demo")


if __name__ == "__main__":
    asyncio.run(main())
