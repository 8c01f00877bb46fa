"""Round-trip time: ``await transport.measure_roundtrip_time(rounds)``.

    python examples/roundtrip_time.py [--rounds 200]

measure_roundtrip_time sends `rounds` pings one after the other through the
listener's ``send_user_specific_ping`` hook and returns the time until each
answer was recognised by ``is_user_specific_pong``.  With the default hooks
these are WebSocket PING/PONG frames (the peer's auto-pong answers them);
override both hooks for an application-level heartbeat such as
{"op":"ping"} (see json_heartbeat_client.py).  It also works while
enable_auto_ping is on: an in-flight auto-ping's pong is awaited first.
"""
import argparse
import asyncio
import statistics
import sys

import picows_like as picows
from picows_like import WSCloseCode, WSFrame, WSListener, WSTransport


class Idle(WSListener):
    """Server side: nothing to do, the library answers PINGs (enable_auto_pong)."""


class AppPingClient(WSListener):
    """Application-level ping: a TEXT "ping" answered by a TEXT "pong"."""

    def send_user_specific_ping(self, transport: WSTransport) -> None:
        transport.send(picows.WSMsgType.TEXT, b"ping")

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        return frame.get_payload_as_bytes() == b"pong"


class AppPingServer(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.get_payload_as_bytes() == b"ping":
            transport.send(picows.WSMsgType.TEXT, b"pong")


def summary(name: str, rtts: "list[float]") -> str:
    us = sorted(x * 1e6 for x in rtts)
    return (f"{name:<22} {len(us)} rounds: min {us[0]:.0f} us, "
            f"median {statistics.median(us):.0f} us, "
            f"p99 {us[min(len(us) - 1, int(len(us) * 0.99))]:.0f} us, max {us[-1]:.0f} us")


async def main(rounds: int) -> int:
    server = await picows.ws_create_server(
        lambda request: AppPingServer() if request.path == b"/app" else Idle(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        transport, _ = await picows.ws_connect(WSListener, f"ws://127.0.0.1:{port}/")
        rtts = await asyncio.wait_for(transport.measure_roundtrip_time(rounds), 10)
        print(summary("PING/PONG frames:", rtts))
        transport.send_close(WSCloseCode.OK)
        await asyncio.wait_for(transport.wait_disconnected(), 5)

        transport, _ = await picows.ws_connect(AppPingClient, f"ws://127.0.0.1:{port}/app")
        app_rtts = await asyncio.wait_for(transport.measure_roundtrip_time(rounds), 10)
        print(summary('"ping"/"pong" text:', app_rtts))
        transport.send_close(WSCloseCode.OK)
        await asyncio.wait_for(transport.wait_disconnected(), 5)
    finally:
        server.close()
        await server.wait_closed()
    ok = len(rtts) == rounds and len(app_rtts) == rounds and all(x > 0 for x in rtts + app_rtts)
    print("done" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    sys.exit(asyncio.run(main(parser.parse_args().rounds)))
