"""Backpressure: stop producing when the peer cannot keep up (pause_writing).

    python examples/backpressure.py

When the asyncio transport's write buffer goes over its high-water mark the
library calls ``WSListener.pause_writing()``; when it drains below the
low-water mark, ``resume_writing()``.  A producer that keeps sending while
paused only grows memory.  Here the server streams 64 KiB chunks as fast as
it may, stops on pause_writing and continues on resume_writing; the client
stops reading for a moment (``underlying_transport.pause_reading()``, as a
slow consumer would) and the server's buffer stays bounded by the
high-water mark plus one message.

Tune the marks with
``transport.underlying_transport.set_write_buffer_limits(high=..., low=...)``.
"""
import asyncio
import sys

import picows_like as picows
from picows_like import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

CHUNK = b"x" * (64 * 1024)
TOTAL = 400                 # chunks to stream (25 MiB)
HIGH_WATER = 256 * 1024


class Producer(WSListener):
    def __init__(self) -> None:
        self.transport: "WSTransport | None" = None
        self.paused = False
        self.sent = 0
        self.pauses = 0
        self.max_buffered = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        transport.underlying_transport.set_write_buffer_limits(high=HIGH_WATER)
        self.produce()

    def produce(self) -> None:
        assert self.transport is not None
        while not self.paused and self.sent < TOTAL and not self.transport.is_disconnected:
            self.transport.send(WSMsgType.BINARY, CHUNK)
            self.sent += 1
            self.max_buffered = max(self.max_buffered,
                                    self.transport.underlying_transport.get_write_buffer_size())
        if self.sent == TOTAL and not self.transport.is_close_frame_sent:
            self.transport.send_close(WSCloseCode.OK, b"end of stream")

    def pause_writing(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_writing(self) -> None:
        self.paused = False
        asyncio.get_running_loop().call_soon(self.produce)


class SlowConsumer(WSListener):
    def __init__(self) -> None:
        self.received = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        # A slow consumer: read nothing for 0.3 s, then at full speed.
        transport.underlying_transport.pause_reading()
        asyncio.get_running_loop().call_later(0.3, transport.underlying_transport.resume_reading)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.BINARY:
            self.received += frame.payload_size


async def main() -> int:
    producers: "list[Producer]" = []

    def factory(request: picows.WSUpgradeRequest) -> Producer:
        producers.append(Producer())
        return producers[-1]

    server = await picows.ws_create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        transport, client = await picows.ws_connect(SlowConsumer, f"ws://127.0.0.1:{port}/")
        await asyncio.wait_for(transport.wait_disconnected(), 10)
    finally:
        server.close()
        await server.wait_closed()
    producer = producers[0]
    print(f"server: sent {producer.sent} x 64 KiB, paused {producer.pauses} times, "
          f"write buffer peaked at {producer.max_buffered // 1024} KiB "
          f"(high-water mark {HIGH_WATER // 1024} KiB)")
    print(f"client: received {client.received // 1024} KiB")
    ok = (client.received == TOTAL * len(CHUNK) and producer.pauses > 0
          and producer.max_buffered <= HIGH_WATER + 2 * len(CHUNK))
    print("done" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
