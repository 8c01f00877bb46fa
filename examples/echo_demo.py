"""Demo: a local market-data feed server and a client, on loopback.

The server streams JSON ticks to every client and echoes anything the client
sends; the client subscribes, counts ticks, measures echo round trips, then
closes cleanly.  Run with `make demo` (or `python examples/echo_demo.py`).
"""
import asyncio
import json
import time
from typing import List, Optional

import picows_like as picows
from picows_like import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

TICKS = 20_000


class FeedServer(WSListener):
    """Echoes every data frame; on "subscribe" streams TICKS price ticks."""

    def on_ws_connected(self, transport: WSTransport) -> None:
        print(f"server: client connected, path={transport.request.path.decode()}")

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            print(f"server: client closed with {frame.get_close_code()!r}")
            return
        text = frame.get_payload_as_ascii_text()
        if text == "subscribe":
            for seq in range(TICKS):
                transport.send(WSMsgType.TEXT,
                               b'{"seq":%d,"sym":"BTC-USD","px":%d.5}' % (seq, 60000 + seq % 100))
            transport.send(WSMsgType.TEXT, b'{"done":true}')
        else:
            transport.send(frame.msg_type, frame.get_payload_as_bytes())


class FeedClient(WSListener):
    def __init__(self) -> None:
        self.ticks = 0
        self.last_seq = -1
        self.done: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        self.echo: "Optional[asyncio.Future[bytes]]" = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            return
        if self.echo is not None:
            self.echo.set_result(frame.get_payload_as_bytes())
            self.echo = None
            return
        msg = json.loads(frame.get_payload_as_bytes())
        if "done" in msg:
            self.done.set_result(None)
            return
        assert msg["seq"] == self.last_seq + 1, "lost or reordered tick"
        self.last_seq = msg["seq"]
        self.ticks += 1


async def main() -> None:
    server = await picows.ws_create_server(lambda request: FeedServer(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"server: listening on ws://127.0.0.1:{port}/feed")

    transport, client = await picows.ws_connect(FeedClient, f"ws://127.0.0.1:{port}/feed")
    assert isinstance(client, FeedClient)
    print("client: connected, subscribing")
    t0 = time.perf_counter()
    transport.send(WSMsgType.TEXT, "subscribe")
    await asyncio.wait_for(client.done, 30)
    elapsed = time.perf_counter() - t0
    print(f"client: {client.ticks} ticks in order in {elapsed * 1000:.1f} ms "
          f"({client.ticks / elapsed:,.0f} msg/s)")

    rtts: List[float] = []
    for i in range(2000):
        client.echo = asyncio.get_running_loop().create_future()
        start = time.perf_counter()
        transport.send(WSMsgType.BINARY, b"x" * 64)
        assert await asyncio.wait_for(client.echo, 5) == b"x" * 64
        rtts.append(time.perf_counter() - start)
    rtts.sort()
    print(f"client: 2000 echo round trips of 64 B: p50 {rtts[1000] * 1e6:.0f} us, "
          f"p99 {rtts[1980] * 1e6:.0f} us, max {rtts[-1] * 1e6:.0f} us")

    transport.send_close(WSCloseCode.OK, b"bye")
    await asyncio.wait_for(transport.wait_disconnected(), 5)
    print(f"client: disconnected, close handshake: {transport.close_handshake}")
    server.close()
    await server.wait_closed()
    print("demo: done")


if __name__ == "__main__":
    asyncio.run(main())
