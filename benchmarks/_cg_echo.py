"""Child of instructions.py: N strict echo round trips, client and server of
one library in this process, then exit.  Run under callgrind."""
import asyncio
import sys

lib, size, count, loop_name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

if lib == "raw":
    picows = None
elif lib.startswith("picows_like"):            # picows_like / picows_like-autoping
    import picows_like as picows
    kw = {"enable_auto_ping": True, "auto_ping_idle_timeout": 0.5,
          "auto_ping_reply_timeout": 0.5} if lib.endswith("autoping") else {}
else:                                   # picows-afn-off / picows-afn-on
    import picows
    kw = {"use_aiofastnet": lib.endswith("on")}


def frame(payload: bytes) -> bytes:
    """A masked client BINARY frame (zero mask key: XOR is the identity)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x82, 0x80 | n])
    elif n <= 0xFFFF:
        head = bytes([0x82, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x82, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


async def run_raw() -> None:
    """Floor: the loop alone. The server returns what it gets, the client
    counts bytes; no WebSocket parsing on either side."""
    loop = asyncio.get_running_loop()
    data = frame(b"x" * size)
    done = loop.create_future()

    class Echo(asyncio.Protocol):
        def connection_made(self, t):
            self.t = t

        def data_received(self, d):
            self.t.write(d)

    class Client(asyncio.Protocol):
        def connection_made(self, t):
            self.t, self.got, self.n = t, 0, 0

        def data_received(self, d):
            self.got += len(d)
            if self.got >= len(data):
                self.got -= len(data)
                self.n += 1
                if self.n < count:
                    self.t.write(data)
                elif not done.done():
                    done.set_result(None)

    server = await loop.create_server(Echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, client = await loop.create_connection(Client, "127.0.0.1", port)
    transport.write(data)
    await done
    transport.close()
    server.close()


async def run_ws() -> None:
    loop = asyncio.get_running_loop()
    BINARY = picows.WSMsgType.BINARY

    class Server(picows.WSListener):
        def on_ws_frame(self, transport, f):
            transport.send(f.msg_type, f.get_payload_as_bytes())

    class Client(picows.WSListener):
        def on_ws_frame(self, transport, f):
            self.n += 1
            if self.n < count:
                transport.send(BINARY, self.payload)
            else:
                self.done.set_result(None)

    server = await picows.ws_create_server(lambda r: Server(), "127.0.0.1", 0, **kw)
    port = server.sockets[0].getsockname()[1]
    transport, client = await picows.ws_connect(Client, f"ws://127.0.0.1:{port}/", **kw)
    client.n, client.payload, client.done = 0, b"x" * size, loop.create_future()
    transport.send(BINARY, client.payload)
    await client.done
    transport.disconnect()
    server.close()


if loop_name == "uvloop":
    import uvloop
    uvloop.install()
asyncio.run(run_raw() if picows is None else run_ws())
