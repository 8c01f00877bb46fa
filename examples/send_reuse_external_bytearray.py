"""Serialize into one preallocated bytearray and send it without a copy.

`WSTransport.send_reuse_external_bytearray(msg_type, buffer, msg_offset)`
sends `buffer[msg_offset:]` and writes the frame header into the bytes in
front of it, so the message is not copied into a write buffer first.
`msg_offset` must be at least 14 (the largest frame header).  On the client
side the payload is masked in place: the buffer's content is changed by the
call, and the buffer can be reused as soon as the call returns.

The pattern is the one of msgspec's `Encoder.encode_into(msg, buffer, offset)`:

    encoder = msgspec.json.Encoder()
    buffer = bytearray(64 * 1024)
    encoder.encode_into(msg, buffer, HEADROOM)   # writes after the 14 free bytes
    transport.send_reuse_external_bytearray(WSMsgType.TEXT, buffer, HEADROOM)

This example needs only the standard library: `encode_into` below does the
same with `json` (it still builds the JSON bytes once; msgspec writes them
straight into the buffer).  A local server acknowledges each order the same
way; run with `python examples/send_reuse_external_bytearray.py`.
"""
import asyncio
import json
from typing import Any, Optional

import picows_like
from picows_like import (WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport,
                         WSUpgradeRequest)

HEADROOM = 14       # room for the frame header in front of the message
ORDERS = 1000

_encoder = json.JSONEncoder(separators=(",", ":"))


def encode_into(obj: Any, buffer: bytearray, offset: int) -> None:
    """msgspec-style: replace buffer[offset:] with obj's JSON encoding.

    A bytearray keeps its allocation when it is shrunk and regrown, so in a
    steady state this does not reallocate.
    """
    buffer[offset:] = _encoder.encode(obj).encode()


class OrderGateway(WSListener):
    """Server: acknowledges every order from one reused bytearray."""

    def __init__(self) -> None:
        self.buffer = bytearray(HEADROOM + 256)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        order = json.loads(frame.get_payload_as_bytes())
        encode_into({"ack": order["id"], "qty": order["qty"], "status": "filled"},
                    self.buffer, HEADROOM)
        transport.send_reuse_external_bytearray(WSMsgType.TEXT, self.buffer, HEADROOM)


class Trader(WSListener):
    """Client: sends ORDERS orders, one at a time, from one reused bytearray."""

    def __init__(self) -> None:
        self.buffer = bytearray(HEADROOM + 256)
        self.next_id = 0
        self.acked = 0
        self.done: "asyncio.Future[int]" = asyncio.get_running_loop().create_future()
        self.transport: Optional[WSTransport] = None

    def send_order(self, transport: WSTransport) -> None:
        encode_into({"id": self.next_id, "sym": "BTC-USD", "side": "buy", "qty": 1 + self.next_id % 7},
                    self.buffer, HEADROOM)
        # The client masks the payload in place: self.buffer is scrambled after
        # this call, which is fine since the next order is encoded afresh.
        transport.send_reuse_external_bytearray(WSMsgType.TEXT, self.buffer, HEADROOM)
        self.next_id += 1

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.send_order(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        ack = json.loads(frame.get_payload_as_bytes())
        if ack["ack"] != self.acked or ack["status"] != "filled":
            self.done.set_exception(AssertionError(f"unexpected ack {ack!r}"))
            return
        self.acked += 1
        if self.next_id < ORDERS:
            self.send_order(transport)
        else:
            transport.send_close(WSCloseCode.OK)
            self.done.set_result(self.acked)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(
                f"disconnected after {self.acked} of {ORDERS} acks"))


async def main() -> None:
    def factory(request: WSUpgradeRequest) -> WSListener:
        return OrderGateway()

    server = await picows_like.ws_create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        transport, trader = await picows_like.ws_connect(Trader, f"ws://127.0.0.1:{port}/")
        assert isinstance(trader, Trader)
        acked = await asyncio.wait_for(trader.done, 30)
        elapsed = loop.time() - start
        await asyncio.wait_for(transport.wait_disconnected(), 5)
    finally:
        server.close()
        await server.wait_closed()
    print(f"{acked} orders sent and acknowledged with send_reuse_external_bytearray "
          f"in {elapsed * 1e3:.1f} ms ({elapsed / acked * 1e6:.1f} us per round trip)")


if __name__ == "__main__":
    asyncio.run(main())
