"""A WebSocket client on a ``selectors`` loop, with no asyncio in the client.

    python examples/sansio_client.py

The connection's rules live in ``ClientProtocol`` (websockets' sans-I/O API
on picows_like's engine); this file only moves bytes: it reads what the
socket has into ``receive_data``, writes what ``data_to_send`` returns, and
reacts to ``events_received``.  The socket is non-blocking and registered
for writing only while bytes wait to be written.  The server is a
picows_like echo server running in a thread on its own asyncio loop.
"""
import asyncio
import selectors
import socket
import threading
import time
from typing import List

import picows_like as picows
from picows_like.websockets.client import ClientProtocol
from picows_like.websockets.frames import Opcode
from picows_like.websockets.http11 import Response
from picows_like.websockets.protocol import State

MESSAGES = [f"message {i}" for i in range(5)] + ["x" * 100_000]
CLOSE_TIMEOUT = 5.0


class Echo(picows.WSListener):
    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.TEXT:
            transport.send(picows.WSMsgType.TEXT, frame.get_payload_as_bytes())
        elif frame.msg_type == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


def start_server() -> int:
    """An echo server in a daemon thread; returns its port."""
    ready = threading.Event()
    port: List[int] = []

    async def main() -> None:
        server = await picows.ws_create_server(lambda request: Echo(), "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True).start()
    if not ready.wait(10):
        raise RuntimeError("the server did not start")
    return port[0]


def run_client(port: int) -> List[str]:
    protocol = ClientProtocol(f"ws://127.0.0.1:{port}/")
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    pending = bytearray()          # bytes the socket did not take yet
    eof_pending = False            # half-close once `pending` is written
    received: List[str] = []
    deadline = time.monotonic() + 10

    def queue_output() -> None:
        nonlocal eof_pending
        for data in protocol.data_to_send():
            if data:
                pending.extend(data)
            else:
                eof_pending = True

    protocol.send_request(protocol.connect())
    queue_output()
    done = False
    while not done:
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0)
        sel.modify(sock, events)
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            raise TimeoutError("the exchange took too long")
        for _, mask in sel.select(timeout):
            if mask & selectors.EVENT_WRITE and pending:
                del pending[:sock.send(pending)]
            if mask & selectors.EVENT_READ:
                data = sock.recv(65536)
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                    done = True
        if eof_pending and not pending:
            sock.shutdown(socket.SHUT_WR)
            eof_pending = False
        for event in protocol.events_received():
            if isinstance(event, Response):
                if protocol.handshake_exc is not None:
                    raise protocol.handshake_exc
                for text in MESSAGES:
                    protocol.send_text(text.encode())
            elif event.opcode == Opcode.TEXT:
                received.append(event.data.decode())
                if len(received) == len(MESSAGES):
                    protocol.send_close(1000, "done")
        queue_output()
        if protocol.close_expected():
            # The server should close TCP now; do not wait for it forever.
            deadline = min(deadline, time.monotonic() + CLOSE_TIMEOUT)
    sel.close()
    sock.close()
    assert protocol.state is State.CLOSED, protocol.state
    return received


def main() -> None:
    port = start_server()
    received = run_client(port)
    assert received == MESSAGES, [len(m) for m in received]
    print(f"{len(received)} messages echoed, closed cleanly: done")


if __name__ == "__main__":
    main()
