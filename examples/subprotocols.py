"""Subprotocols and permessage-deflate negotiation.

    python examples/subprotocols.py

``ws_create_server(..., subprotocols=[...])`` lists what the server speaks, in
its order of preference; ``ws_connect(..., subprotocols=[...])`` offers the
client's list.  The server picks the first of *its* list that the client
offered; ``transport.subprotocol`` is the agreed one on both sides (None if
there is none: the server then answers without Sec-WebSocket-Protocol and
the connection proceeds, as RFC 6455 says).  A server that chose a
protocol the client did not offer fails the client's handshake.

``compression="deflate"`` (or a ``WSPerMessageDeflate(...)`` with explicit
parameters) offers/accepts permessage-deflate; ``transport.compression`` is
the negotiated ``WSPerMessageDeflate`` or None.  ``send(..., compress=False)``
sends one message uncompressed; messages shorter than ``min_size`` (default
64 bytes) are always sent uncompressed.
"""
import asyncio
import sys
from typing import Optional, Sequence, Union

import picows_like as picows
from picows_like import WSCloseCode, WSFrame, WSListener, WSMsgType, WSPerMessageDeflate, \
    WSTransport

SERVER_PROTOCOLS = ["chat.v2", "chat.v1"]


class Chat(WSListener):
    """Answers in the dialect that was negotiated."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        text = frame.get_payload_as_utf8_text()
        if transport.subprotocol == "chat.v2":
            transport.send(WSMsgType.TEXT, '{"v":2,"echo":%s}' % len(text))
        else:
            transport.send(WSMsgType.TEXT, f"v1 echo: {len(text)} chars")


class Client(WSListener):
    def __init__(self) -> None:
        self.reply: "asyncio.Future[str]" = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT and not self.reply.done():
            self.reply.set_result(frame.get_payload_as_utf8_text())


async def talk(url: str, offer: Optional[Sequence[str]],
               compression: Union[None, str, picows.WSPerMessageDeflate]) -> str:
    transport, client = await picows.ws_connect(Client, url, subprotocols=offer,
                                                compression=compression)
    transport.send(WSMsgType.TEXT, "hello " * 100)     # 600 bytes: over min_size
    reply = await asyncio.wait_for(client.reply, 5)
    deflate = transport.compression
    print(f"offer {offer!s:<22} -> subprotocol {transport.subprotocol!r:<10} "
          f"deflate {'on (window %d)' % deflate.send_window_bits(True) if deflate else 'off':<14}"
          f" reply {reply!r}")
    transport.send_close(WSCloseCode.OK)
    await asyncio.wait_for(transport.wait_disconnected(), 5)
    return f"{transport.subprotocol}/{deflate is not None}"


async def main() -> int:
    server = await picows.ws_create_server(lambda request: Chat(), "127.0.0.1", 0,
                                           subprotocols=SERVER_PROTOCOLS,
                                           compression="deflate")
    url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/chat"
    try:
        results = [
            await talk(url, ["chat.v1", "chat.v2"], "deflate"),   # server's preference wins
            await talk(url, ["chat.v1"], None),
            await talk(url, ["mqtt"], WSPerMessageDeflate(client_max_window_bits=12)),
            await talk(url, None, None),
        ]
    finally:
        server.close()
        await server.wait_closed()
    ok = results == ["chat.v2/True", "chat.v1/False", "None/True", "None/False"]
    print("done" if ok else f"FAILED: {results}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
