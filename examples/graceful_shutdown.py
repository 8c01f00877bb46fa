"""Graceful shutdown: on SIGTERM/SIGINT, say goodbye to every client, then exit.

    python examples/graceful_shutdown.py            # demo: sends itself SIGTERM
    python examples/graceful_shutdown.py --serve    # wait for a real signal

The order matters:

1. ``server.close()``: stop accepting new connections (existing ones stay up);
2. ``transport.send_close(WSCloseCode.GOING_AWAY)`` on every open connection:
   clients see 1001 and know to reconnect (elsewhere) rather than report an
   error;
3. ``await transport.wait_disconnected()`` for each, bounded: the library
   waits at most ``close_timeout`` seconds for each peer's CLOSE and then
   drops the TCP connection, so this ends even with unresponsive clients;
4. ``await server.wait_closed()``.

Do not call ``server.wait_closed()`` before the connections are closed: on
Python >= 3.12.1 it waits for every connection to end.
"""
import argparse
import asyncio
import os
import signal
import sys
from typing import Set

import picows_like as picows
from picows_like import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport


class Session(WSListener):
    def __init__(self, sessions: Set[WSTransport]) -> None:
        self.sessions = sessions

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.sessions.add(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            transport.send(frame.msg_type, frame.get_payload_as_bytes())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.sessions.discard(transport)


class Client(WSListener):
    def __init__(self) -> None:
        self.close_code: object = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.close_code = frame.get_close_code()


async def shutdown(server: asyncio.Server, sessions: Set[WSTransport], timeout: float) -> None:
    server.close()                                            # 1. no new connections
    open_now = list(sessions)
    for transport in open_now:                                # 2. CLOSE 1001 to everyone
        transport.send_close(WSCloseCode.GOING_AWAY, b"server shutting down")
    if open_now:                                              # 3. wait, bounded
        done, pending = await asyncio.wait(
            [asyncio.ensure_future(t.wait_disconnected()) for t in open_now], timeout=timeout)
        for transport in open_now:
            if not transport.is_disconnected:
                transport.disconnect(graceful=False)
        print(f"server: {len(done)} connections closed cleanly, {len(pending)} dropped")
    await server.wait_closed()                                # 4.


async def main(serve: bool) -> int:
    sessions: Set[WSTransport] = set()
    server = await picows.ws_create_server(lambda request: Session(sessions), "127.0.0.1", 0,
                                           close_timeout=2)
    port = server.sockets[0].getsockname()[1]
    print(f"server: listening on ws://127.0.0.1:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    connections = []
    if not serve:
        connections = [await picows.ws_connect(Client, f"ws://127.0.0.1:{port}/")
                       for _ in range(3)]
        print(f"demo: {len(connections)} clients connected; sending SIGTERM to myself")
        os.kill(os.getpid(), signal.SIGTERM)

    await stop.wait()
    print("server: signal received, shutting down")
    await shutdown(server, sessions, timeout=3)

    ok = True
    for transport, client in connections:
        await asyncio.wait_for(transport.wait_disconnected(), 5)
        print(f"client: server closed with {client.close_code!r}")
        ok = ok and client.close_code == WSCloseCode.GOING_AWAY
    print("done" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help="run until SIGTERM/SIGINT")
    sys.exit(asyncio.run(main(parser.parse_args().serve)))
