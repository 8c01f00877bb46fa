"""Reconnecting feeds, both ways, against a local server that restarts.

    python examples/reconnecting_feed.py

1. The awaitable API: ``async for ws in connect(uri)`` reconnects forever;
   after a "going away"-style close (1001, 1012-1014) or a network error it
   backs off (exponential, with jitter) before the next attempt.
2. The callback API: ``picows_like.reconnect.ws_connect_forever`` does the
   same for a WSListener, with on_connected to re-subscribe and stop() to end.

The demo server sends a few ticks per connection, then closes with 1012
(service restart) and is down for a moment, as during a redeploy.
"""
import asyncio
import itertools
import time
from typing import Iterator

import picows_like
import picows_like.websockets as websockets
from picows_like.reconnect import ws_connect_forever

TICKS_PER_CONNECTION = 3


def short_backoff() -> Iterator[float]:
    """A fast backoff for the demo: 0.05 s, 0.1 s, 0.2 s, capped at 0.25 s."""
    return (min(0.25, 0.05 * 2 ** i) for i in itertools.count())


class FlakyFeedServer:
    """Serves ticks; once a client got its ticks the server 'restarts':
    closes everyone with 1012 and stays down for `downtime` seconds."""

    def __init__(self, port: int, downtime: float = 0.3):
        self.port = port
        self.downtime = downtime
        self.generation = 0
        self.served = asyncio.Event()

    async def handler(self, ws: websockets.ServerConnection) -> None:
        try:
            for i in range(TICKS_PER_CONNECTION):
                await ws.send(f"tick {i} (server generation {self.generation})")
                await asyncio.sleep(0.05)
        except websockets.ConnectionClosed:
            return
        self.served.set()
        await ws.wait_closed()

    async def run(self, generations: int) -> None:
        for generation in range(generations):
            self.generation = generation
            self.served.clear()
            async with websockets.serve(self.handler, "127.0.0.1", self.port) as server:
                await self.served.wait()
                server.close(code=1012, reason="restarting")
                await server.wait_closed()
            await asyncio.sleep(self.downtime)


async def awaitable_feed(url: str, wanted: int) -> None:
    got = 0
    t0 = time.perf_counter()
    async for ws in websockets.connect(url, reconnect_delays=short_backoff):
        print(f"  [{time.perf_counter() - t0:5.2f}s] connected")
        try:
            async for tick in ws:
                got += 1
                print(f"  [{time.perf_counter() - t0:5.2f}s] {tick!s:.60}")
        except websockets.ConnectionClosed:
            pass
        print(f"  [{time.perf_counter() - t0:5.2f}s] closed with {ws.close_code} "
              f"{ws.close_reason!r}; reconnecting")
        if got >= wanted:
            break


class TickListener(picows_like.WSListener):
    def __init__(self, sink: "asyncio.Queue[str]", t0: float):
        self.sink = sink
        self.t0 = t0

    def on_ws_connected(self, transport: picows_like.WSTransport) -> None:
        # A fresh listener per connection: (re)subscribe here, e.g.
        # transport.send(picows_like.WSMsgType.TEXT, b'{"subscribe": "ticks"}')
        print(f"  [{time.perf_counter() - self.t0:5.2f}s] connected")

    def on_ws_frame(self, transport: picows_like.WSTransport, frame: picows_like.WSFrame) -> None:
        if frame.msg_type == picows_like.WSMsgType.TEXT:
            self.sink.put_nowait(frame.get_payload_as_utf8_text())


async def callback_feed(url: str, wanted: int) -> None:
    ticks: "asyncio.Queue[str]" = asyncio.Queue()
    t0 = time.perf_counter()

    async with ws_connect_forever(lambda: TickListener(ticks, t0), url,
                                  reconnect_delays=short_backoff):
        for _ in range(wanted):
            tick = await ticks.get()
            print(f"  [{time.perf_counter() - t0:5.2f}s] {tick}")
        print("  got the ticks; stopping")


async def main() -> None:
    port = 8765
    url = f"ws://127.0.0.1:{port}/feed"
    wanted = 2 * TICKS_PER_CONNECTION + 1

    for title, feed in (("1. async for ws in connect(...):", awaitable_feed),
                        ("2. picows_like.reconnect.ws_connect_forever(...):", callback_feed)):
        print(title)
        server = asyncio.create_task(FlakyFeedServer(port).run(generations=3))
        try:
            await asyncio.wait_for(feed(url, wanted), 20)
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
