"""Broadcast: one server pushes every update to all connected clients.

    python examples/broadcast_server.py [--clients 50] [--updates 2000]

The server keeps a set of connected transports (added in on_ws_connected,
removed in on_ws_disconnected) and sends each update to all of them.  The
payload is encoded once; ``transport.send`` copies it into each
connection's frame, so a broadcast costs one header write and one
sendmsg() (or one buffered write) per client, no per-client Python object.

A slow client must not hold up the others: the server skips clients whose
write buffer is above a limit (the conflation policy of most market-data
servers: a client that cannot keep up misses updates rather than making the
server buffer without bound).  See backpressure.py for the pause_writing
signal.
"""
import argparse
import asyncio
import sys
import time
from typing import List, Set

import picows_like as picows
from picows_like import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

MAX_BUFFERED = 1024 * 1024     # skip a client whose write buffer holds more than this


class Hub:
    def __init__(self) -> None:
        self.clients: Set[WSTransport] = set()
        self.skipped = 0

    def broadcast(self, payload: bytes) -> None:
        for transport in self.clients:
            if transport.underlying_transport.get_write_buffer_size() > MAX_BUFFERED:
                self.skipped += 1
                continue
            transport.send(WSMsgType.TEXT, payload)


class Subscriber(WSListener):
    """Server side of one connection: registers itself with the hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.hub.clients.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.hub.clients.discard(transport)


class Client(WSListener):
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.received = 0
        self.done: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.received += 1
            if self.received == self.expected and not self.done.done():
                self.done.set_result(None)


async def main(n_clients: int, updates: int) -> int:
    hub = Hub()
    server = await picows.ws_create_server(lambda request: Subscriber(hub), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        connections = await asyncio.gather(*(
            picows.ws_connect(lambda: Client(updates), f"ws://127.0.0.1:{port}/")
            for _ in range(n_clients)))
        for _ in range(100):                  # on_ws_connected runs on the server's side
            if len(hub.clients) == n_clients:
                break
            await asyncio.sleep(0.01)
        print(f"server: {len(hub.clients)} subscribers")
        t0 = time.perf_counter()
        for seq in range(updates):
            hub.broadcast(b'{"seq":%d,"sym":"ETH-USD","bid":3000.25,"ask":3000.5}' % seq)
            if seq % 100 == 99:
                await asyncio.sleep(0)        # let the clients' callbacks run
        clients: List[Client] = [client for _, client in connections]
        await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), 10)
        elapsed = time.perf_counter() - t0
        total = sum(c.received for c in clients)
        print(f"broadcast {updates} updates to {n_clients} clients: {total} messages "
              f"delivered in {elapsed * 1e3:.0f} ms ({total / elapsed:,.0f} msg/s), "
              f"{hub.skipped} skipped")
        for transport, _ in connections:
            transport.send_close(WSCloseCode.OK)
        await asyncio.wait_for(
            asyncio.gather(*(t.wait_disconnected() for t, _ in connections)), 5)
        ok = total == n_clients * updates
    finally:
        server.close()
        await server.wait_closed()
    print("done" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--updates", type=int, default=2000)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.clients, args.updates)))
