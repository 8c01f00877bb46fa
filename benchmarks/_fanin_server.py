"""Fan-in server process for benchmarks/fanin.py (not meant to be run by hand).

A picows or picows_like WebSocket server (aiofastnet off) on 127.0.0.1.
Prints "PORT <n>", then obeys lines on stdin:

    START   stream to every connection: pre-built batches of small BINARY
            frames written straight to each connection's underlying asyncio
            transport (one write per batch, so the server is never the
            bottleneck), skipping connections whose transport asked us to
            pause writing
    STOP    stop streaming, send each connection a TEXT frame "END <frames
            sent to it>", answer "STOPPED {json}"

and exits when stdin closes or after --max-lifetime seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys

from _bench_common import HOST, import_ws_library, loop_factory, pin_to_cpu
from _fanin_common import END_PREFIX, StdinLines, frame, raise_nofile, say

SNDBUF = 64 * 1024      # bounds the data queued per connection (1,000 streams at once)


class Streamer:
    def __init__(self, ws, size: int, batch_frames: int):
        self.ws = ws
        self.conns: list = []
        self.batch = frame(0x2, b"\xa5" * size) * batch_frames
        self.batch_frames = batch_frames
        self.resumed = asyncio.Event()
        self.stopping = False

    def listener_class(self):
        streamer = self

        class FanInServerListener(self.ws.WSListener):
            def on_ws_connected(self, transport):
                self.raw = transport.underlying_transport
                sock = self.raw.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
                self.raw.set_write_buffer_limits(high=SNDBUF)
                self.paused = False
                self.sent = 0
                streamer.conns.append(self)

            def on_ws_disconnected(self, transport):
                if self in streamer.conns:
                    streamer.conns.remove(self)

            def pause_writing(self):
                self.paused = True

            def resume_writing(self):
                self.paused = False
                streamer.resumed.set()

        return FanInServerListener

    async def stream(self) -> None:
        batch, k = self.batch, self.batch_frames
        while not self.stopping:
            wrote = 0
            for conn in self.conns:
                if not conn.paused:
                    conn.raw.write(batch)
                    conn.sent += k
                    wrote += 1
            if wrote:
                await asyncio.sleep(0)
            else:                       # everyone is full: wait for a reader to catch up
                self.resumed.clear()
                try:
                    await asyncio.wait_for(self.resumed.wait(), 0.05)
                except asyncio.TimeoutError:
                    pass

    def finish(self) -> dict:
        for conn in self.conns:
            conn.raw.write(frame(0x1, END_PREFIX + b"%d" % conn.sent))
        sent = [conn.sent for conn in self.conns]
        return {"connections": len(sent), "frames_sent": sum(sent),
                "min_sent": min(sent, default=0), "max_sent": max(sent, default=0)}


async def serve(args) -> None:
    ws = import_ws_library(args.impl)
    streamer = Streamer(ws, args.size, args.batch_frames)
    listener_class = streamer.listener_class()
    server = await ws.ws_create_server(lambda request: listener_class(), HOST, 0,
                                       use_aiofastnet=False, backlog=args.backlog)
    loop = asyncio.get_running_loop()
    commands = StdinLines(loop)
    say("PORT", str(server.sockets[0].getsockname()[1]))
    task = None
    try:
        async with asyncio.timeout(args.max_lifetime):
            while True:
                command = await commands.get()
                if command == "START" and task is None:
                    task = asyncio.create_task(streamer.stream())
                elif command == "STOP" and task is not None:
                    streamer.stopping = True
                    await task
                    say("STOPPED", json.dumps(streamer.finish()))
                elif command == "":
                    break
                else:
                    print(f"fan-in server: unexpected command {command!r}", file=sys.stderr)
    except TimeoutError:
        print("fan-in server: max lifetime reached, exiting", file=sys.stderr)
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impl", choices=("picows", "picows_like"), default="picows")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-frames", type=int, default=64)
    parser.add_argument("--max-lifetime", type=float, default=600.0)
    args = parser.parse_args()
    args.backlog = min(4096, args.connections + 16)
    raise_nofile(args.connections + 64)
    pin_to_cpu(args.cpu)
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        runner.run(serve(args))


if __name__ == "__main__":
    main()
