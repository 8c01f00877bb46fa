"""Echo server process for benchmarks/echo.py (not meant to be run by hand).

Serves WebSocket echo on 127.0.0.1 with picows or picows_like (aiofastnet off),
over TCP or, with --certfile, TLS; prints "PORT <n>" once listening, and exits
when its stdin reaches EOF (the parent closed it or died) or after
--max-lifetime seconds, whichever is first. Every data frame is echoed back as
received: same opcode, payload, fin and rsv bits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from _bench_common import (HOST, MAX_MESSAGE, import_ws_library, loop_factory, pin_to_cpu,
                           server_ssl_context)


def make_listener_class(ws):
    class EchoListener(ws.WSListener):
        def on_ws_frame(self, transport, frame):
            if frame.msg_type == ws.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
                return
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(),
                           frame.fin, frame.rsv1, frame.rsv2, frame.rsv3)

    return EchoListener


async def serve(ws, max_lifetime: float, certfile: str | None) -> None:
    listener_class = make_listener_class(ws)
    kwargs = {"ssl": server_ssl_context(certfile)} if certfile else {}
    server = await ws.ws_create_server(lambda request: listener_class(), HOST, 0,
                                       max_frame_size=MAX_MESSAGE, use_aiofastnet=False, **kwargs)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def on_stdin() -> None:
        if not os.read(sys.stdin.fileno(), 4096) and not stop.done():
            stop.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    try:
        await asyncio.wait_for(stop, max_lifetime)
    except TimeoutError:
        print("echo server: max lifetime reached, exiting", file=sys.stderr)
    finally:
        loop.remove_reader(sys.stdin.fileno())
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impl", choices=("picows", "picows_like"), default="picows")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--certfile", help="PEM with the server certificate and key: serve TLS")
    parser.add_argument("--max-lifetime", type=float, default=3600.0)
    args = parser.parse_args()

    pin_to_cpu(args.cpu)
    ws = import_ws_library(args.impl)
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        runner.run(serve(ws, args.max_lifetime, args.certfile))


if __name__ == "__main__":
    main()
