"""A trio feed client that reconnects: picows_like.trio (trio-websocket's API).

The client reads a stream of numbered ticks.  When the connection goes away
(the server restarts, drops the TCP connection, or is not there yet) it
reconnects with a jittered exponential back-off, asks the server to resume
after the last tick it saw (``?after=N`` in the URL), and checks that no tick
is lost or repeated.  A heartbeat task pings the server: a connection that
stops answering is closed and replaced.

To run on its own, the program starts a deliberately flaky feed server on
127.0.0.1: it is down for the first attempt, then every few ticks it either
closes with 1012 (service restart) or drops the TCP connection without a
closing handshake.  The client stops after --ticks ticks.

    python examples/trio_feed_client.py [--ticks 60]
"""
import argparse
import json
import random
import urllib.parse
from typing import Any, Dict, List

import trio

from picows_like import trio as trio_websocket   # or: import trio_websocket


# -- the client ---------------------------------------------------------------------

async def heartbeat(ws: trio_websocket.WebSocketConnection, interval: float,
                    timeout: float) -> None:
    """Ping every `interval` s; no pong within `timeout` s: close the connection."""
    try:
        while True:
            await trio.sleep(interval)
            with trio.move_on_after(timeout) as scope:
                await ws.ping()
            if scope.cancelled_caught:
                print("client: no pong, closing")
                await ws.aclose(1011, "heartbeat timeout")
                return
    except trio_websocket.ConnectionClosed:
        return                          # the reader sees it too, and reconnects


async def receive_ticks(ws: trio_websocket.WebSocketConnection, ticks: List[Dict[str, Any]],
                        wanted: int) -> None:
    """Append ticks until `wanted` are there or the connection closes."""
    try:
        while len(ticks) < wanted:
            tick = json.loads(await ws.get_message())
            assert tick["seq"] == len(ticks) + 1, (tick, len(ticks))   # none lost
            ticks.append(tick)
    except trio_websocket.ConnectionClosed as exc:
        why = f"{exc.reason.code} {exc.reason.name}" if exc.reason else "?"
        print(f"client: closed ({why}) after tick {len(ticks)}, reconnecting")


async def read_feed(url: str, wanted: int) -> List[Dict[str, Any]]:
    ticks: List[Dict[str, Any]] = []
    delay, attempts = 0.05, 0
    while len(ticks) < wanted:
        attempts += 1
        after = ticks[-1]["seq"] if ticks else 0
        try:
            async with trio_websocket.open_websocket_url(f"{url}?after={after}",
                                                         connect_timeout=5,
                                                         disconnect_timeout=2) as ws:
                delay = 0.05                     # connected: reset the back-off
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(heartbeat, ws, 0.2, 1.0)
                    await receive_ticks(ws, ticks, wanted)
                    nursery.cancel_scope.cancel()
        except (trio_websocket.HandshakeError, OSError) as exc:
            print(f"client: cannot connect ({type(exc).__name__}), retrying in {delay:.2f} s")
            await trio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)
    print(f"client: {len(ticks)} ticks in order over {attempts} connection attempts")
    return ticks


# -- a flaky feed server, so that the example runs by itself --------------------------

class FlakyFeed:
    """Serves TCP streams itself (trio.serve_tcp) and runs the WebSocket on them
    with wrap_server_stream(), so that it can also end a stream abruptly."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connections = 0

    async def handle_stream(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        how = ("restart", "drop")[self.connections % 2]
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(nursery, stream)
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
            seq = int(query.get("after", ["0"])[0])
            ws = await request.accept()
            try:
                for _ in range(7):
                    seq += 1
                    await ws.send_message(json.dumps({"seq": seq, "price": 100 + seq % 7}))
                    await trio.sleep(0.005)
                if how == "restart":
                    await ws.aclose(1012, "service restart")
                else:
                    await stream.aclose()      # the TCP connection just ends
            except trio_websocket.ConnectionClosed:
                pass
            await ws.aclose()

    async def run(self, *,
                  task_status: "trio.TaskStatus[None]" = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep(0.2)                  # down at first: the client must retry
        await trio.serve_tcp(self.handle_stream, self.port, host="127.0.0.1")


async def main(ticks: int) -> None:
    with trio.socket.socket() as sock:          # pick a free loopback port
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(FlakyFeed(port).run)
        with trio.fail_after(20):
            await read_feed(f"ws://127.0.0.1:{port}/ticks", ticks)
        nursery.cancel_scope.cancel()
    print("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=60)
    trio.run(main, parser.parse_args().ticks)
