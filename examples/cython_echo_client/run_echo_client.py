"""Start a local picows_like echo server, run the Cython echo client against
it and print the round trips.

    python setup.py build_ext --inplace     # builds echo_client from echo_client.pyx
    python run_echo_client.py [--rounds N] [--size BYTES] [--show K]
"""
import argparse
import asyncio
import statistics

import echo_client  # the compiled module built by setup.py

import picows_like
from picows_like import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest


class EchoServer(WSListener):
    """The other end: a plain Python echo listener."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)


async def main(rounds: int, size: int, show: int) -> None:
    def factory(request: WSUpgradeRequest) -> WSListener:
        return EchoServer()

    server = await picows_like.ws_create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        rtts = await echo_client.run(f"ws://127.0.0.1:{port}/", rounds, size)
    finally:
        server.close()
        await server.wait_closed()
    us = [t * 1e6 for t in rtts]
    for i, t in enumerate(us[:show]):
        print(f"round trip {i + 1}: {t:.1f} us")
    us.sort()
    print(f"{len(us)} round trips of {size} bytes: min {us[0]:.1f} us, "
          f"median {statistics.median(us):.1f} us, "
          f"p99 {us[min(len(us) - 1, int(len(us) * 0.99))]:.1f} us, max {us[-1]:.1f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--show", type=int, default=5, help="print the first SHOW round trips")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.size, args.show))
