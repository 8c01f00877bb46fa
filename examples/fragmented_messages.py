"""Fragmented messages: send a message in pieces, reassemble it on receive.

    python examples/fragmented_messages.py

picows_like (like picows) delivers every *frame* to on_ws_frame; a message
sent in fragments arrives as a TEXT/BINARY frame with fin=False, zero or more
CONTINUATION frames, and a last frame with fin=True.  The listener below
collects the fragments and handles the whole message once fin=True.

Sending in fragments: ``transport.send(WSMsgType.BINARY, part, fin=False)``
for the first piece, ``transport.send(WSMsgType.CONTINUATION, part,
fin=False)`` for the middle ones and ``fin=True`` for the last.  With
permessage-deflate negotiated (compression="deflate") the sender compresses
each fragment as part of one deflate stream and the receiver delivers the
*decompressed* fragments: the reassembly code does not change.
"""
import asyncio
import hashlib
import sys
from typing import List, Optional

import picows_like as picows
from picows_like import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

CHUNK = 16 * 1024


class Reassembler(WSListener):
    """Collects fragments; answers each whole message with its SHA-256."""

    def __init__(self) -> None:
        self.parts: List[bytes] = []
        self.msg_type: Optional[WSMsgType] = None
        self.frames = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            return
        self.frames += 1
        if frame.msg_type != WSMsgType.CONTINUATION:
            self.msg_type = frame.msg_type          # first frame of a message
            self.parts = []
        # The frame is a view into the read buffer: copy what you keep.
        self.parts.append(frame.get_payload_as_bytes())
        if frame.fin:
            message = b"".join(self.parts)
            self.parts = []
            reply = b"%d frames, %d bytes, sha256 %s" % (
                self.frames, len(message), hashlib.sha256(message).hexdigest().encode())
            self.frames = 0
            transport.send(WSMsgType.TEXT, reply)


class Client(WSListener):
    def __init__(self) -> None:
        self.replies: "asyncio.Queue[str]" = asyncio.Queue()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.replies.put_nowait(frame.get_payload_as_utf8_text())


def send_fragmented(transport: WSTransport, msg_type: WSMsgType, data: bytes,
                    chunk: int) -> int:
    """Send `data` as one message of ceil(len/chunk) frames; returns the count."""
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] or [b""]
    for i, piece in enumerate(pieces):
        transport.send(msg_type if i == 0 else WSMsgType.CONTINUATION, piece,
                       fin=i == len(pieces) - 1)
    return len(pieces)


async def main() -> int:
    server = await picows.ws_create_server(lambda request: Reassembler(), "127.0.0.1", 0,
                                           compression="deflate")
    port = server.sockets[0].getsockname()[1]
    ok = True
    try:
        for compression in (None, "deflate"):
            transport, client = await picows.ws_connect(
                Client, f"ws://127.0.0.1:{port}/", compression=compression)
            print(f"connected, permessage-deflate: {transport.compression is not None}")
            data = bytes(range(256)) * 1024                     # 256 KiB
            sent = send_fragmented(transport, WSMsgType.BINARY, data, CHUNK)
            reply = await asyncio.wait_for(client.replies.get(), 5)
            expected = f"{sent} frames, {len(data)} bytes, " \
                       f"sha256 {hashlib.sha256(data).hexdigest()}"
            print(f"  sent {len(data)} bytes in {sent} frames -> server: {reply[:40]}...")
            ok = ok and reply == expected
            # Control frames may be interleaved between fragments (RFC 6455 5.4).
            transport.send(WSMsgType.TEXT, "hello, ", fin=False)
            transport.send_ping(b"between fragments")
            transport.send(WSMsgType.CONTINUATION, "world", fin=True)
            reply = await asyncio.wait_for(client.replies.get(), 5)
            print(f"  text in 2 frames with a PING in between -> server: {reply[:25]}...")
            ok = ok and reply.startswith("2 frames, 12 bytes")
            transport.send_close(WSCloseCode.OK)
            await asyncio.wait_for(transport.wait_disconnected(), 5)
    finally:
        server.close()
        await server.wait_closed()
    print("done" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
